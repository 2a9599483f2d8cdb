#!/bin/sh
# test_negative.sh: negative cases against the running daemon over mutual
# TLS, each with its error AND nothing stored (submission sets, documents
# and every file under the blob store counted before and after): no client
# certificate, another CA, an unknown peer, a consumer submitting, unknown
# patient, wrong hash, duplicate uniqueId with another hash, the same
# submission twice (one copy), malformed MIME, oversized headers, a
# slowloris head, a stalled body, a document over max_document_size, more
# documents than max_documents; then expiry: a submission found by ITI-18,
# moved past its expiry in the database, is no longer found and the reaper
# removes its rows and blob. The list: docs/design/conformance.md.
# CH_KEEP=1 keeps the temp directory (log, responses) for a look.
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
dir=$top_srcdir/clearinghouse/tests

. "$dir/lib.sh"
ch_begin openssl curl psql od
slow=; drib=
trap 'bgpids="$slow $drib"; ch_end' EXIT
sql() { ch_sql "$1"; }

# state: submission sets / documents / files in the blob store.
state() {
	echo "$(sql "SELECT (SELECT count(*) FROM submission_sets) || '/' || (SELECT count(*) FROM documents)")/$(find blobs -type f | wc -l | tr -d ' ')"
}
# unchanged: the state is what it was in $before.
unchanged() { [ "$(state)" = "$before" ]; }
# fault CODE: an HTTP status and a SOAP Sender fault in ./resp.
fault() { [ "$code" = "$1" ] && grep -q "Fault>" resp && grep -q "Sender" resp; }
# xdserr CODE: a RegistryResponse with Failure and that error code.
xdserr() {
	[ "$code" = 200 ] && grep -q "ResponseStatusType:Failure" resp &&
	    grep -q "errorCode=\"$1\"" resp
}
success() { [ "$code" = 200 ] && grep -q "ResponseStatusType:Success" resp; }
REPO=/services/xdsrepositoryb
submit() {	# cert file content-type
	ch_post "$1" "$2" "$3" $REPO
}

check "the test PKI was generated" 'ch_pki &&
    cert stranger "/O=ISN Test/CN=stranger" && [ -s stranger.pem ] &&
    mkdir other && (cd other && certs_ca &&
    cert source "/O=ISN Test/CN=source site") && [ -s other/source.pem ]'
ch_conf "retention: 1h
reaper: {interval: 1s, batch_size: 10}
limits: {max_header_bytes: 4k, max_document_size: 4k, max_documents: 2}
timeouts: {header: 2s, io: 2s}"
if ch_start; then ok "the daemon starts"; else
	nok "the daemon starts"; sed 's/^/# /' log | tail -n 20; echo "1..$n"; exit 1
fi
check "the patient is registered over ITI-8" 'ch_register RPAT1'

# gen NAME XDS-TOOL-OPTION...: NAME.mime, a submission for RPAT1 (unless
# -p); prints its Content-Type. Submissions: A (two documents of 1000
# bytes), B (A's first uniqueId, other bytes), and the bad ones.
gen() {
	g=$1; shift
	"$xdstool" pnr -p "RPAT1^^^&1.2.260&ISO" "$@" "$g.mime" "$g.ct" &&
	    cat "$g.ct"
}
ct=$(gen A -n 2 -z 1000 -s 1.2.3.77.1 -u 1.2.3.77.100)
ctb=$(gen B -n 1 -z 1000 -c 9 -s 1.2.3.77.2 -u 1.2.3.77.100)
ctu=$(gen U -p "NOBODY^^^&1.2.260&ISO" -s 1.2.3.77.3 -u 1.2.3.77.300)
cth=$(gen H -H -s 1.2.3.77.4 -u 1.2.3.77.400)
ctl=$(gen L -z 5000 -s 1.2.3.77.5 -u 1.2.3.77.500)
ctn=$(gen N -n 3 -s 1.2.3.77.6 -u 1.2.3.77.600)
check "the submissions were generated" \
    '[ -s A.mime ] && [ -s B.mime ] && [ -s U.mime ] && [ -s H.mime ] &&
     [ -s L.mime ] && [ -s N.mime ] && [ -n "$ct" ]'
before=$(state)
check "the store starts empty ($before)" '[ "$before" = 0/0/0 ]'

# --- Who may connect. ---
curl -s -m 20 --cacert ca.pem -o resp -H "Content-Type: $ct" \
    --data-binary @A.mime "https://127.0.0.1:$xds$REPO" 2> curl.err; rc=$?
check "no client certificate: the handshake fails (curl $rc), nothing stored" \
    '{ [ $rc = 35 ] || [ $rc = 55 ] || [ $rc = 56 ]; } && unchanged'
curl -s -m 20 --cacert ca.pem --cert other/source.pem --key other/source.key \
    -o resp -H "Content-Type: $ct" --data-binary @A.mime \
    "https://127.0.0.1:$xds$REPO" 2> curl.err; rc=$?
check "a certificate from another CA: the handshake fails (curl $rc), nothing stored" \
    '{ [ $rc = 35 ] || [ $rc = 55 ] || [ $rc = 56 ]; } && unchanged'
submit stranger A.mime "$ct"
check "a valid certificate of an unknown peer: 403 SOAP fault, nothing stored" \
    'fault 403 && unchanged'
submit consumer A.mime "$ct"
check "a consumer submitting: 403 SOAP fault, nothing stored" \
    'fault 403 && unchanged'

# --- XDS errors. ---
submit source U.mime "$ctu"
check "unknown patient: XDSUnknownPatientId, nothing stored" \
    'xdserr XDSUnknownPatientId && unchanged'
submit source H.mime "$cth"
check "wrong hash in the metadata: XDSRepositoryMetadataError, nothing stored" \
    'xdserr XDSRepositoryMetadataError && unchanged'
submit source A.mime "$ct"
check "a good submission of two documents: Success, stored" \
    'success && [ "$(state)" = 1/2/2 ]'
before=$(state)
submit source B.mime "$ctb"
check "a stored uniqueId with another hash: XDSNonIdenticalHash, nothing stored" \
    'xdserr XDSNonIdenticalHash && unchanged'
submit source A.mime "$ct"
check "the same submission again (a safe retry): Success, one copy" \
    'success && unchanged &&
     [ "$(sql "SELECT count(*) FROM documents WHERE unique_id = '"'1.2.3.77.100.1'"'")" = 1 ]'

# --- Malformed messages. ---
sed 's/MIMEBoundary_/MIMEBoundarX_/' A.mime > badb.mime
submit source badb.mime "$ct"
check "a body whose boundary is not the header's: Sender fault, nothing stored" \
    '{ fault 400 || [ "$code" = 400 ]; } && unchanged'
head -c $(($(wc -c < A.mime) / 2)) A.mime > trunc.mime
submit source trunc.mime "$ct"
check "a truncated multipart body: Sender fault, nothing stored" \
    '{ fault 400 || [ "$code" = 400 ]; } && unchanged'
submit source L.mime "$ctl"
check "a document over limits.max_document_size: Sender fault, nothing stored" \
    'fault 400 && unchanged'
submit source N.mime "$ctn"
check "more documents than limits.max_documents: Sender fault, nothing stored" \
    'fault 400 && unchanged'

# --- The blob store cannot commit: every directory under data/ made
# immutable (root ignores mode bits), so the batch cannot link its blobs
# in: XDSRepositoryError, no row, and the temp files gone.
ctf=$(gen F -n 2 -z 1000 -s 1.2.3.77.8 -u 1.2.3.77.800)
dirs=$(find blobs/data -type d)
# shellcheck disable=SC2086
if chattr +i $dirs 2> /dev/null; then
	submit source F.mime "$ctf"
	chattr -i $dirs
	check "a blob commit that fails: XDSRepositoryError, nothing stored (the next submissions show the store works again)" \
	    'xdserr XDSRepositoryError && unchanged &&
	     [ "$(sql "SELECT count(*) FROM submission_sets WHERE unique_id = '"'1.2.3.77.8'"'")" = 0 ]'
else
	skip "chattr +i is not possible here (no CAP_LINUX_IMMUTABLE)"
fi
pad=$(head -c 6000 /dev/zero | tr '\0' a)
code=$(curl -s -m 20 --cacert ca.pem --cert source.pem --key source.key \
    -o resp -w '%{http_code}' -H "Content-Type: $ct" -H "X-Pad: $pad" \
    --data-binary @A.mime "https://127.0.0.1:$xds$REPO" 2> curl.err)
check "a head over limits.max_header_bytes: HTTP $code (431 or 400), nothing stored" \
    '{ [ "$code" = 431 ] || [ "$code" = 400 ]; } && unchanged'

# --- Slow clients (timeouts.header and timeouts.io are 2s). ---
# dribble FILE DELAY: FILE's bytes one at a time, DELAY seconds apart,
# until stop.flag exists; then nothing until stop.flag or 30 s.
dribble() {
	for o in $(od -An -v -to1 "$1"); do
		[ -e stop.flag ] && return
		printf "\\$o"
		[ "$2" = 0 ] || sleep "$2"
	done
	i=0
	while [ ! -e stop.flag ] && [ $i -lt 300 ]; do
		sleep 0.1; i=$((i + 1))
	done
}
# raw FILE DELAY: dribble through openssl s_client as the source peer in
# the background (client pid $slow, writer $drib, output ./raw.out).
raw() {
	[ -z "$slow" ] || kill -KILL "$slow" 2>/dev/null
	rm -f stop.flag raw.fifo; mkfifo raw.fifo
	dribble "$1" "$2" > raw.fifo 2>/dev/null & drib=$!
	openssl s_client -quiet -connect "127.0.0.1:$xds" -cert source.pem \
	    -key source.key -CAfile ca.pem < raw.fifo > raw.out 2> raw.err &
	slow=$!
}
# closed SECONDS: the raw client ended within that many seconds (the
# server closed the connection); the writer is stopped either way.
closed() {
	i=0; r=0
	while kill -0 "$slow" 2>/dev/null; do
		i=$((i + 1)); [ $i -gt $(($1 * 10)) ] && { r=1; break; }
		sleep 0.1
	done
	: > stop.flag; wait "$drib" 2>/dev/null; drib=
	[ $r = 0 ] && { wait "$slow" 2>/dev/null; slow=; }
	return $r
}
printf 'GET /services/xdsregistryb HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n' > slow.head
t0=$(date +%s)
raw slow.head 0.2
# A normal request on another connection meanwhile.
ch_iti18 fss urn:uuid:f26abbcb-ac74-4422-8a30-edb644bbc1a9 ObjectRef \
    "\$XDSSubmissionSetPatientId='RPAT1^^^&1.2.260&ISO'" \
    "\$XDSSubmissionSetStatus=('urn:oasis:names:tc:ebxml-regrep:StatusType:Approved')"
query() {
	ch_post consumer fss "application/soap+xml; charset=UTF-8" \
	    /services/xdsregistryb
}
# nsets: ObjectRefs in the last answer.
nsets() { grep -o "<[a-zA-Z0-9]*:*ObjectRef[ >]" resp | wc -l | tr -d ' '; }
query
check "meanwhile a normal request on another connection succeeds" \
    'success && [ "$(nsets)" = 1 ]'
check "a slowloris head (a byte every 0.2 s) is cut by the server" 'closed 20'
t1=$(date +%s)
check "  within the header timeout, with 408 ($((t1 - t0)) s)" \
    '[ $((t1 - t0)) -le 12 ] && grep -q "^HTTP/1.1 408" raw.out'

# A stalled body: the head and 200 bytes of a body of A's length.
{
	printf 'POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: %s\r\nContent-Length: %s\r\n\r\n' \
	    $REPO "$ct" "$(wc -c < A.mime | tr -d ' ')"
	head -c 200 A.mime
} > stall.req
before=$(state)
t0=$(date +%s)
raw stall.req 0
check "a body that stalls is cut by the server (timeouts.io)" 'closed 20'
t1=$(date +%s)
check "  within the io timeout ($((t1 - t0)) s), request aborted, nothing stored" \
    '[ $((t1 - t0)) -le 12 ] && waitlog "request-aborted" && unchanged'

# --- Expiry (retention 1h, reaper every 1 s; the clock is moved by
# setting expires_at in the past). ---
ctx=$(gen X -z 300 -c 5 -s 1.2.3.77.7 -u 1.2.3.77.700)
submit source X.mime "$ctx"
check "a second submission: Success" 'success && [ "$(state)" = 2/3/3 ]'
bid=$(sql "SELECT blob_id FROM documents WHERE unique_id = '1.2.3.77.700.1'")
query
check "ITI-18 FindSubmissionSets finds both sets" 'success && [ "$(nsets)" = 2 ]'
check "it expires in about an hour" \
    '[ "$(sql "SELECT count(*) FROM submission_sets WHERE unique_id = '"'1.2.3.77.7'"' AND expires_at BETWEEN now() + interval '"'59 minutes'"' AND now() + interval '"'61 minutes'"'")" = 1 ]'
# received_at moves too: CHECK (expires_at >= received_at).
moved=$(sql "UPDATE submission_sets SET received_at = received_at - interval '2 hours', expires_at = now() - interval '1 second' WHERE unique_id = '1.2.3.77.7' RETURNING unique_id")
check "the clock is moved: the set has expired" '[ "$moved" = 1.2.3.77.7 ]'
query
check "once expired, ITI-18 no longer finds it" 'success && [ "$(nsets)" = 1 ]'
gone() {
	[ "$(sql "SELECT count(*) FROM submission_sets WHERE unique_id = '1.2.3.77.7'")" = 0 ] &&
	    [ "$(sql "SELECT count(*) FROM documents WHERE unique_id = '1.2.3.77.700.1'")" = 0 ] &&
	    [ -n "$bid" ] && [ -z "$(find blobs -name "$bid")" ]
}
waitgone() {
	i=0
	while ! gone; do
		i=$((i + 1)); [ $i -gt 200 ] && return 1
		sleep 0.05
	done
}
check "the reaper removes its rows and its blob" waitgone
check "  and nothing else" '[ "$(state)" = 1/2/2 ]'
check "the reaper's counters say so" \
    'ch_waitmetric "^isn_ch_reaper_sets_deleted_total 1$"'

# --- Failed lookups, rate-limited per certificate: a reload sets a
# burst of 2 and 1 a minute; queries for an unknown patient fail. ---
sed 's/^limits: {/limits: {failed_lookups_per_minute: 1, failed_lookups_burst: 2, /' \
    ch.yaml > ch.yaml.new && mv ch.yaml.new ch.yaml
kill -HUP "$pid"
check "a reload sets the failed-lookup limits" 'waitlog "conf reloaded"'
sed 's/RPAT1^^^/NOSUCH9^^^/' fss > fss-unknown
lookup() {
	ch_post "$1" fss-unknown "application/soap+xml; charset=UTF-8" \
	    /services/xdsregistryb
}
lookup consumer
check "a lookup for an unknown patient: Success, nothing found" \
    'success && [ "$(nsets)" = 0 ]'
lookup consumer
check "a second failed lookup is still answered" 'success'
curl -s -m 20 --cacert ca.pem --cert consumer.pem --key consumer.key \
    -D hdr -o resp -H "Content-Type: application/soap+xml; charset=UTF-8" \
    --data-binary @fss-unknown \
    "https://127.0.0.1:$xds/services/xdsregistryb" 2> curl.err
check "the third: Failure XDSRegistryBusy with a Retry-After header" \
    'grep -q "ResponseStatusType:Failure" resp &&
     grep -q "XDSRegistryBusy" resp && grep -qi "^Retry-After: [1-9]" hdr'
check "  before any registry work, logged without patient data" \
    'waitlog "event=rate-limited fingerprint=" && ! grep -q NOSUCH9 log'
query
check "  while exhausted, a lookup that would find is refused too" \
    'grep -q "XDSRegistryBusy" resp'
ch_post both fss "application/soap+xml; charset=UTF-8" /services/xdsregistryb
check "another certificate is not limited" 'success && [ "$(nsets)" = 1 ]'
check "the metrics count failed lookups and refusals" \
    'ch_waitmetric "^isn_ch_failed_lookups_total{transaction=\"ITI-18\"} 2$" &&
     ch_metrics | grep -q "^isn_ch_rate_limited_total{transaction=\"ITI-18\"} 2$"'

ch_stop
check "SIGTERM stops with status 0" '[ $rc = 0 ]'
[ $failed = 0 ] || sed 's/^/# /' log | tail -n 40
echo "1..$n"
[ $failed = 0 ]
