#!/bin/sh
# test_pixfeed.sh: the ITI-8 feed of isn-clearinghouse end to end: a
# throwaway PostgreSQL (pg.sh), the test PKI (certs.sh) and the daemon on
# loopback as lib.sh sets them up, plus a stranger's certificate; messages
# sent with tests/mllp-send over MLLP/TLS, rows checked with psql.
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}

. "$top_srcdir/clearinghouse/tests/pg.sh"
. "$top_srcdir/clearinghouse/tests/certs.sh"
. "$top_srcdir/clearinghouse/tests/lib.sh"
ch_begin openssl
sql() { ch_sql "$1"; }

# lib.sh's PKI (source by fingerprint, consumer by subject) and a
# stranger; the affinity domain of the messages, an audit file.
check "the test PKI was generated" \
    'ch_pki && cert stranger "/O=ISN Test/CN=stranger" && [ -s stranger.pem ]'
subj=$(cert_subject consumer.pem)
D=1.3.6.1.4.1.19376.3.840.1.1.1
CH_DOMAIN=$D
ch_conf "audit: {destination: file, file: audit.log}
limits: {max_connections: 2}"
check "the daemon starts, every listener on a port" ch_start
check "the migrations were applied" \
    'grep -q "database schema version=[1-9][0-9]* applied=[1-9]" log'
check "nothing is logged as not built" '! grep -q "not-built" log'

P1=83f59bf2b530007175cd5fb00f8dfc7f
P2=0123456789abcdef0123456789abcdef
msg() {	# file type control version pid [extra segment]
	{
		printf 'MSH|^~\\&|RIS|SITE|ISN|CH|20261127120000||%s|%s|P|%s\n' \
		    "$2" "$3" "$4"
		printf 'EVN||20261127120000\n'
		[ -n "$5" ] &&
		    printf 'PID|||%s^^^&%s&ISO||DOE^JANE\n' "$5" "$D"
		[ -n "$6" ] && printf '%s\n' "$6"
		printf 'PV1||O\n'
	} > "$1"
}
# send port certname file: the ACK in $tmp/ack, exit status of mllp-send.
send() {
	"$send" "127.0.0.1:$1" "$2.pem" "$2.key" ca.pem "$3" > ack 2> ack.err
}
msa() { sed -n 's/^MSA|\([A-Z]*\)|.*/\1/p' ack; }
rows() { sql "SELECT count(*) FROM patients"; }

msg a04 "ADT^A04^ADT_A01" c1 2.3.1 "$P1"
send "$pix" source a04; rc=$?
check "A04 is accepted (AA)" '[ $rc = 0 ] && [ "$(msa)" = AA ]'
check "the ACK answers the control id" 'grep -q "^MSA|AA|c1" ack'
check "the patient is in the registry" \
    '[ "$(sql "SELECT count(*) FROM patients WHERE pid = '"'$P1'"' AND domain_oid = '"'$D'"' AND merged_into IS NULL")" = 1 ]'
send "$reg" source a04; rc=$?
check "the same A04 on the registry feed is AA" '[ $rc = 0 ] && [ "$(msa)" = AA ]'
check "still one row" '[ "$(rows)" = 1 ]'
msg a08 "ADT^A08^ADT_A01" c2 2.3.1 "$P1"
send "$pix" source a08; rc=$?
check "A08 update is AA" '[ $rc = 0 ] && [ "$(msa)" = AA ] && [ "$(rows)" = 1 ]'
msg a40 "ADT^A40^ADT_A39" c3 2.3.1 "$P2" "MRG|$P1^^^&$D&ISO"
send "$pix" source a40; rc=$?
check "A40 merge is AA" '[ $rc = 0 ] && [ "$(msa)" = AA ]'
check "the prior id is merged into the surviving one" \
    '[ "$(sql "SELECT s.pid FROM patients p JOIN patients s ON s.id = p.merged_into WHERE p.pid = '"'$P1'"'")" = "$P2" ]'
msg v25 "ADT^A04^ADT_A01" c4 2.5 "$P1"
send "$pix" source v25; rc=$?
check "version 2.5 is AE with ERR code 203" \
    '[ $rc = 0 ] && [ "$(msa)" = AE ] && grep -q "^ERR|.*203^" ack'
msg nopid "ADT^A04^ADT_A01" c5 2.3.1 ""
send "$pix" source nopid; rc=$?
check "a message without PID is AE with code 100" \
    '[ $rc = 0 ] && [ "$(msa)" = AE ] && grep -q "^ERR|^^^100&" ack'
before=$(rows)
msg new "ADT^A04^ADT_A01" c6 2.3.1 "fedcba9876543210fedcba9876543210"
send "$pix" stranger new; rc=$?
check "an unknown client certificate is AR 207" \
    '[ $rc = 0 ] && [ "$(msa)" = AR ] && grep -q "^MSA|AR|c6" ack && grep -q "^ERR|^^^207&" ack'
send "$pix" consumer new; rc=$?
check "a consumer-only peer is AR" '[ $rc = 0 ] && [ "$(msa)" = AR ]'
# Another CA's certificate: the handshake is refused after the sender has
# written its frame (TLS 1.3); the clearinghouse drains before closing, so
# the sender reads the alert rather than a reset, every time.
mkdir other && (cd other && certs_ca &&
    cert source "/O=ISN Test/CN=source site") 2>/dev/null
alerts=0
for k in 1 2 3 4 5 6 7 8; do
	send "$pix" other/source new && continue
	grep -q "alert" ack.err && alerts=$((alerts + 1))
done
check "another CA's certificate: refused, the sender reads the alert ($alerts of 8)" \
    '[ $alerts = 8 ]'
# The drain ends 2 s after the refusal even when the sender writes again
# just before then (libevent restarts a read event's timeout at each
# read: the old code kept such a connection 3.8 s).
if command -v python3 >/dev/null 2>&1 && command -v ss >/dev/null 2>&1; then
	held=$(python3 "$top_srcdir/clearinghouse/tests/linger.py" "$pix" \
	    ca.pem other/source.pem other/source.key 1.8)
	check "a refused sender writing again at 1.8 s is closed by 2 s ($held s)" \
	    '[ "$held" != none ] && [ "${held%%.*}" -lt 3 ]'
else
	skip "python3 and ss (iproute2) are needed for the drain's bound"
fi
check "no row for refused peers" '[ "$(rows)" = "$before" ]'
printf 'MSH|^~\\&|||||20261127120000||ADT^A04^ADT_A01|1234567890123456789|P|2.3.1||||||ASCII\rEVN|A04|20261127120000\rPID|||%s^^^&%s&ISO||RSNA ISN^RSNA ISN\rPV1||O\r' \
    "00000000000000000000000000000001" "$D" > rsna
send "$reg" source rsna; rc=$?
check "the RSNA edge form is AA" '[ $rc = 0 ] && [ "$(msa)" = AA ] && [ "$(rows)" = $((before + 1)) ]'
check "log lines carry control id, event and outcome, not the patient id" \
    'grep -q "control_id=c1 trigger=A04 .*outcome=accepted" log &&
     ! grep -q "$P1\|$P2\|DOE" log'
check "peers are named, the stranger by fingerprint" \
    'grep -q "peer=\"source-site\"" log && grep -q "outcome=unauthorised" log'

# ATNA (audit.log): one Patient Record line per answered message, two for
# an accepted A40 (U survivor, D merged); outcome 0 AA, 4 AE, 8 AR.
# audit_lines ACTION OUTCOME [CONTROL-ID [PATIENT-ID [PEER-SUBJECT]]]: the
# matching lines of audit.log; audits ...: how many.
audit_lines() {
	grep -F "EventActionCode=\"$1\"" audit.log |
	    grep -F "EventOutcomeIndicator=\"$2\"" |
	    if [ -n "$3" ]; then
		grep -F "type=\"MSH-10\" value=\"$(printf %s "$3" | base64)\""
	    else cat; fi |
	    if [ -n "$4" ]; then
		grep -F "ParticipantObjectID=\"$4^^^&amp;$D&amp;ISO\""
	    else cat; fi |
	    if [ -n "$5" ]; then grep -F "ActiveParticipant UserID=\"$5\""
	    else cat; fi
}
audits() { audit_lines "$@" | grep -c .; }
check "the audit file has one RFC 5424 line per message, two for the A40" \
    '[ "$(grep -c "^<85>1 [^ ]* [^ ]* isn-clearinghouse [0-9]* IHE+RFC-3881 - " audit.log)" = 10 ] &&
     [ "$(wc -l < audit.log)" = 10 ]'
check "the A04 is audited: Patient Record C, outcome 0, CX, MSH-10, peer subject and address" \
    '[ "$(audits C 0 c1 "$P1" "CN=source site,O=ISN Test")" = 1 ] &&
     audit_lines C 0 c1 "$P1" | grep -q "NetworkAccessPointID=\"127.0.0.1\"" &&
     grep -F "EventActionCode=\"C\"" audit.log | grep -q "csd-code=\"110110\".*csd-code=\"ITI-8\""'
check "the re-registration of the A04 is audited as an update (U, 0)" \
    '[ "$(audits U 0 c1 "$P1")" = 1 ]'
check "the A08 is audited as U with outcome 0" '[ "$(audits U 0 c2 "$P1")" = 1 ]'
check "the A40 is audited twice: U for the survivor, D for the merged id" \
    '[ "$(audits U 0 c3 "$P2")" = 1 ] && [ "$(audits D 0 c3 "$P1")" = 1 ]'
check "the rejected v2.5 message (AE) is audited with outcome 4" \
    '[ "$(audits C 4 c4 "$P1")" = 1 ]'
check "the message without PID (AE) is audited with outcome 4, no patient" \
    '[ "$(audit_lines C 4 | grep -v -c ParticipantObjectIdentification)" = 1 ]'
check "refused peers (AR) are audited with outcome 8 and their subject" \
    '[ "$(audits C 8 "" "" "CN=stranger,O=ISN Test")" = 1 ] &&
     [ "$(audits C 8 "" "" "$subj")" = 1 ]'
check "the audit file is private (mode 0600)" \
    '[ "$(stat -c %a audit.log)" = 600 ]'

# SIGHUP re-reads the TLS files; a broken key keeps the running context.
echo "not a key" > broken.key
sed 's/key: server.key/key: broken.key/' ch.yaml > ch2.yaml && mv ch2.yaml ch.yaml
kill -HUP $pid
check "a broken TLS reload is refused" 'waitlog "tls reload-failed"'
msg a08b "ADT^A08^ADT_A01" c7 2.3.1 "$P2"
send "$pix" source a08b; rc=$?
check "the running TLS context still serves" '[ $rc = 0 ] && [ "$(msa)" = AA ]'
sed 's/key: broken.key/key: server.key/' ch.yaml > ch2.yaml && mv ch2.yaml ch.yaml
kill -HUP $pid
check "a good TLS reload is applied" 'waitlog "tls reloaded"'
send "$pix" source a08b; rc=$?
check "new connections use the rebuilt context" \
    '[ $rc = 0 ] && [ "$(msa)" = AA ]'
# limits.max_connections (2 here) holds for the PIX feed: two idle TLS
# connections (closed 3 s later) fill it; a third sender waits in the
# backlog and is served once they close.
for k in 1 2; do
	sleep 3 | openssl s_client -quiet -no_ign_eof -connect "127.0.0.1:$pix" \
	    -CAfile ca.pem -cert source.pem -key source.key \
	    > /dev/null 2>&1 &
done
check "two connections reach limits.max_connections: the PIX feed pauses" \
    'waitlog "mllp event=conn-limit conns=2"'
send "$pix" source a08b; rc=$?
check "a third sender is served once they close (AA)" \
    '[ $rc = 0 ] && [ "$(msa)" = AA ]'
check "the metrics count accepted and refused messages" \
    'ch_metrics | grep -q "^isn_ch_iti8_messages_total{event=\"A04\",outcome=\"accepted\"} 3$"'

ch_stop
check "SIGTERM stops with status 0" '[ $rc = 0 ] && grep -q "stop idle" log'
check "the daemon log has no patient id, no audit write failure" \
    '! grep -q "$P1\|$P2\|fedcba9876543210\|00000000000000000000000000000001\|DOE" log &&
     ! grep -q "audit write-failed" log && [ "$(wc -l < audit.log)" = 13 ]'
[ $failed = 0 ] || sed 's/^/# /' log | tail -n 40
echo "1..$n"
[ $failed = 0 ]
