#!/bin/sh
# test_ris_feed.sh: the RIS feed of isn-edge end to end: a throwaway PostgreSQL
# (pg.sh), the daemon on loopback, the golden fixtures of tests/data sent
# over MLLP with ris-send (plain; LF, CR and CRLF separators) and with
# clearinghouse/tests/mllp-send over mutual TLS (certs.sh); ACK codes and
# ERR segments checked, rows checked with psql.
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
edge=$top_builddir/edge/isn-edge
send=$top_builddir/edge/tests/ris-send
tlssend=$top_builddir/clearinghouse/tests/mllp-send
data=$top_srcdir/edge/tests/data
schemas=$top_srcdir/schemas/edge
for v in edge send tlssend data schemas; do
	eval "p=\$$v"
	case $p in /*) ;; *) eval "$v=\$PWD/\$p" ;; esac
done
. "$top_srcdir/clearinghouse/tests/pg.sh"
. "$top_srcdir/clearinghouse/tests/certs.sh"
. "$top_srcdir/clearinghouse/tests/lib.sh"
if ! command -v openssl >/dev/null 2>&1 || ! command -v psql >/dev/null 2>&1
then
	echo "1..0 # SKIP no openssl or psql"; exit 0
fi
pg_start || pg_unavailable
tmp=$(mktemp -d); pid=
cleanup() {
	[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
	cd /
	rm -rf "$tmp"
	pg_stop
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
cd "$tmp" || exit 1
WAITLOG_TRIES=200
sql() { ch_sql "$1"; }

conf() {	# [extra ris keys]
	cat > edge.yaml <<EOT
site: {name: test-edge, time_zone: America/New_York}
database: {conninfo: "$ISN_PG_CONNINFO", pool_size: 2, schema_dir: "$schemas"}
ris:
  listen: "127.0.0.1:0"
  max_message: 8k
  accession_field: ${ACC:-obr-3}
${1:-}
EOT
}
start() {
	: >> log
	"$edge" -d -f edge.yaml 2>> log & pid=$!
	waitlog " started version=" "$(($(grep -c " started version=" log) + 1))" ||
	    return 1
	port=$(sed -n 's/.*ris listening addr=[^ ]* port=\([0-9]*\).*/\1/p' log |
	    tail -n 1)
	[ -n "$port" ]
}
# rs FILE [ris-send options]: send (LF to CR), the ACK in ./ack.
rs() { f=$1; shift; "$send" -l "$@" "127.0.0.1:$port" "$f" > ack 2> ack.err; }
raw() { "$send" "127.0.0.1:$port" "$1" > ack 2> ack.err; }
msa() { sed -n 's/^MSA|\([A-Z]*\)|.*/\1/p' ack; }
ctl() { sed -n 's/^MSA|[A-Z]*|\([^|]*\).*/\1/p' ack; }
# The ERR of a v2.3/2.4 ACK (ERR-1 ^^^code&text&HL70357 at SEG^seq^field)
# or of a v2.5 ACK (ERR-2 SEG^seq^field, ERR-3 code^text^HL70357).
errcode() { grep '^ERR|' ack | grep -o '[0-9][0-9][0-9][&^][^&^|]*[&^]HL70357' |
    head -n 1 | cut -c1-3; }
errloc() { grep -q "^ERR|$1^\|^ERR|[^|]*|$1^\|^ERR|$1|\|^ERR|[^|]*|$1|" ack; }
status_rows() { sql "SELECT count(*) FROM exam_status"; }
latest() {	# accession: status|raw|field|UTC time of the newest row
	sql "SELECT s.status || '|' || s.status_raw || '|' || s.status_field || '|' ||
	    to_char(s.status_time AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI')
	    FROM exam_status s JOIN exams e ON e.id = s.exam_id
	    WHERE e.accession = '$1' ORDER BY s.id DESC LIMIT 1"
}

conf
check "the daemon starts" start
check "the migration was applied at start" \
    'grep -q "database schema version=2 applied=2" log'

# An order, then preliminary, final and corrected results.
rs "$data/orm-new.hl7"
check "ORM^O01 new order is AA after commit" \
    '[ "$(msa)" = AA ] && [ "$(ctl)" = ctl-orm-1 ]'
check "the patient is stored with MRN, authority and demographics" \
    '[ "$(sql "SELECT family_name||given_name||middle_name||birth_date||sex FROM patients WHERE mrn = '"'123456'"' AND authority = '"'HOSP'"'")" = "DOEJANEQ1960-01-02F" ]'
check "the exam is stored with description and modality" \
    '[ "$(sql "SELECT description||'"'/'"'||modality FROM exams WHERE accession = '"'ACC1001'"'")" = "CT CHEST W/O CONTRAST/CT" ]'
check "ORC-5 SC at local 10:00 New York is scheduled at 15:00 UTC" \
    '[ "$(latest ACC1001)" = "scheduled|SC|ORC-5|2026-11-27 15:00" ]'
rs "$data/oru-prelim.hl7"
check "ORU^R01 preliminary is AA" '[ "$(msa)" = AA ]'
check "the preliminary report is stored unescaped" \
    '[ "$(latest ACC1001)" = "preliminary|P|OBR-25|2026-11-27 16:00" ] &&
     [ "$(sql "SELECT report_text FROM exam_status WHERE status = '"'preliminary'"'")" = "FINDINGS: lungs clear & no effusion.
IMPRESSION: normal | preliminary." ]'
before=$(status_rows)
rs "$data/oru-prelim.hl7"
check "a repeated message is AA and stored once" \
    '[ "$(msa)" = AA ] && [ "$(status_rows)" = "$before" ] &&
     grep -q "control_id=ctl-oru-1 .*stored=0 repeats=1" log'
rs "$data/oru-final.hl7"
check "ORU^R01 final v2.5.1 is AA" '[ "$(msa)" = AA ]'
check "the final with an offset is stored at 11:00 UTC with its signer" \
    '[ "$(latest ACC1001)" = "final|F|OBR-25|2026-11-27 11:00" ] &&
     [ "$(sql "SELECT signer FROM exam_status WHERE status = '"'final'"'")" = "1234^WELBY^MARCUS" ]'
rs "$data/oru-corrected.hl7"
check "a corrected (addended) final is AA and appended" \
    '[ "$(msa)" = AA ] && [ "$(latest ACC1001)" = "corrected|C|OBR-25|2026-11-28 14:00" ] &&
     sql "SELECT report_text FROM exam_status WHERE status = '"'corrected'"'" | grep -q "^ADDENDUM: small nodule"'
check "the history keeps every status in order" \
    '[ "$(sql "SELECT string_agg(s.status, '"','"' ORDER BY s.id) FROM exam_status s JOIN exams e ON e.id = s.exam_id WHERE e.accession = '"'ACC1001'"'")" = "scheduled,preliminary,final,corrected" ]'
rs "$data/orm-cancel.hl7"
check "a cancelled order is AA and stored as cancelled" \
    '[ "$(msa)" = AA ] && [ "$(latest ACC1002)" = "cancelled|CA|ORC-5|2026-11-27 18:00" ]'

# ADT: update, then a merge.
rs "$data/adt-a08.hl7"
check "ADT^A08 updates the demographics" \
    '[ "$(msa)" = AA ] && [ "$(sql "SELECT family_name||birth_date FROM patients WHERE mrn = '"'123456'"'")" = "SMITH1960-01-03" ]'
rs "$data/orm-prior.hl7"
check "v2.3 order for a second MRN is AA" \
    '[ "$(msa)" = AA ] && [ "$(latest ACC2001)" = "scheduled|SC|ORC-5|2026-11-27 20:00" ]'
rs "$data/adt-a40.hl7"
check "ADT^A40 is AA" '[ "$(msa)" = AA ] && grep -q "control_id=ctl-a40-1 .*moved=1" log'
check "the prior MRN's exam moved to the surviving patient" \
    '[ "$(sql "SELECT p.mrn FROM exams e JOIN patients p ON p.id = e.patient_id WHERE e.accession = '"'ACC2001'"'")" = 123456 ]'
check "the prior patient points at the survivor; the merge is recorded" \
    '[ "$(sql "SELECT s.mrn FROM patients p JOIN patients s ON s.id = p.merged_into WHERE p.mrn = '"'654321'"'")" = 123456 ] &&
     [ "$(sql "SELECT event||exams_moved||control_id FROM patient_merges")" = A401ctl-a40-1 ]'
rs "$data/orm-prior.hl7"
check "a later order for the merged MRN reaches the survivor" \
    '[ "$(msa)" = AA ] && [ "$(sql "SELECT count(*) FROM exams WHERE accession = '"'ACC2001'"'")" = 1 ]'

# Segment separators: LF (sent raw), CR (-l) and CRLF.
raw "$data/oru-lf.hl7"
check "LF separators are accepted" \
    '[ "$(msa)" = AA ] && [ "$(latest ACC3001)" = "final|F|OBR-25|2026-11-27 22:00" ]'
sed -e 's/ACC3001/ACC3002/' -e 's/ctl-oru-lf/ctl-oru-crlf/' -e 's/$/\r/' \
    "$data/oru-lf.hl7" > crlf.hl7
raw crlf.hl7
check "CRLF separators are accepted" \
    '[ "$(msa)" = AA ] && [ "$(latest ACC3002)" = "final|F|OBR-25|2026-11-27 22:00" ]'
p18='||||||||||||||||||'
printf 'MSH|^~\\&|RIS|H|E|S|20261127||ORU^R01|ctl-latin1|P|2.3\rPID|1||777000^^^HOSP^MR||M\334LLER^J\326RG\rOBR|1||ACC3003|^XR%s202611271700|||F\rOBX|1|TX|^R||Caf\351\r' \
    "$p18" > latin1.hl7
raw latin1.hl7
check "ISO 8859-1 text is stored as UTF-8" \
    '[ "$(msa)" = AA ] && [ "$(sql "SELECT report_text FROM exam_status s JOIN exams e ON e.id = s.exam_id WHERE accession = '"'ACC3003'"'")" = "Café" ]'

# The accession in OBR-18: default OBR-3, then obr-18 after a reload.
rs "$data/orm-obr18.hl7"
check "accession_field obr-3 takes OBR-3" \
    '[ "$(msa)" = AA ] && [ "$(latest FIL4001)" = "in-progress|IP|ORC-5|2026-11-27 23:00" ]'
ACC=obr-18 conf
kill -HUP $pid
check "a reload switches to obr-18" 'waitlog "conf reloaded"'
rs "$data/orm-obr18.hl7"
check "accession_field obr-18 takes OBR-18" \
    '[ "$(msa)" = AA ] && [ "$(latest ACC4001)" = "in-progress|IP|ORC-5|2026-11-27 23:00" ]'
ACC=obr-3 conf
kill -HUP $pid
waitlog "conf reloaded" 2

# Refusals: the right code and location, nothing stored.
counts() { sql "SELECT (SELECT count(*) FROM patients) || '/' ||
    (SELECT count(*) FROM exams) || '/' || (SELECT count(*) FROM exam_status)"; }
before=$(counts)
refused() {	# file ack code seg field what
	rs "$data/$1"
	if [ "$(msa)" = "$2" ] && [ "$(errcode)" = "$3" ] && errloc "$4^1^$5" &&
	    [ "$(counts)" = "$before" ]; then
		ok "$6: $2 $3 at $4-$5"
	else
		nok "$6: $2 $3 at $4-$5"; sed 's/^/# /' ack
	fi
}
refused err-no-accession.hl7 AE 101 OBR 3 "missing accession"
refused err-no-time.hl7 AE 101 OBR 22 "missing status time"
refused err-bad-time.hl7 AE 102 OBR 22 "invalid status time"
refused err-bad-status.hl7 AE 103 OBR 25 "unknown status"
refused err-type.hl7 AR 200 MSH 9 "unsupported message type"
refused err-version.hl7 AR 203 MSH 12 "unsupported version"
refused err-no-pid.hl7 AE 101 PID 3 "missing PID"
check "the ERR text names the field, never its value" \
    'rs "$data/err-bad-status.hl7" && grep -q "OBR-25: unknown status code" ack &&
     ! grep -q "BADSTATUS\|888000" ack'
printf 'this is not HL7 \001\002\003' > garbage.bin
raw garbage.bin
check "garbage bytes are AR 100 with an ERR" \
    '[ "$(msa)" = AR ] && [ "$(errcode)" = 100 ] && [ "$(counts)" = "$before" ]'
{
	sed 's/ctl-oru-lf/ctl-big/' "$data/oru-lf.hl7"
	printf 'OBX|2|TX|^REPORT||'
	i=0; while [ $i -lt 200 ]; do printf 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'; i=$((i + 1)); done
	printf '\n'
} > big.hl7
rs big.hl7
check "a message over max_message is AR 207 naming the size" \
    '[ "$(msa)" = AR ] && [ "$(ctl)" = ctl-big ] && [ "$(errcode)" = 207 ] &&
     grep -q "larger than 8192 bytes" ack && [ "$(counts)" = "$before" ]'

# A database failure: AE 207 and nothing stored, then AA once it is back.
sql "ALTER FUNCTION edge_exam_status RENAME TO edge_exam_status_away" > /dev/null
sed 's/ACC3001/ACC3009/; s/ctl-oru-lf/ctl-dbfail/' "$data/oru-lf.hl7" > dbfail.hl7
rs dbfail.hl7
check "a database error is AE 207, so the RIS sends again" \
    '[ "$(msa)" = AE ] && [ "$(errcode)" = 207 ] && [ "$(counts)" = "$before" ] &&
     grep -q "control_id=ctl-dbfail event=O01\|control_id=ctl-dbfail event=R01" log'
sql "ALTER FUNCTION edge_exam_status_away RENAME TO edge_exam_status" > /dev/null
rs dbfail.hl7
check "the same message is AA once the database works" \
    '[ "$(msa)" = AA ] && [ "$(latest ACC3009)" = "final|F|OBR-25|2026-11-27 22:00" ]'

rs "$data/adt-a18.hl7"
check "ADT^A18 of an unknown prior MRN is AA and records it merged" \
    '[ "$(msa)" = AA ] &&
     [ "$(sql "SELECT s.mrn FROM patients p JOIN patients s ON s.id = p.merged_into WHERE p.mrn = '"'999111'"'")" = 777000 ] &&
     [ "$(sql "SELECT event||exams_moved FROM patient_merges WHERE control_id = '"'ctl-a18-1'"'")" = A180 ]'
check "the status history is append-only" \
    'sql "UPDATE exam_status SET status = '"'final'"'" | grep -q "append-only" &&
     sql "DELETE FROM exam_status" | grep -q "append-only"'
check "log lines carry control ids and counts, no patient data" \
    'grep -q "control_id=ctl-orm-1 event=O01 exams=1 stored=1" log &&
     ! sed -E "s/\[[0-9]+\]//; s/(conn|fingerprint|port)=[^ ]*//g" log |
     grep -q "123456\|654321\|777000\|999111\|DOE\|SMITH\|JANE\|FINDINGS\|ADDENDUM\|19600102\|19600103\|19751231\|19800101"'
kill -TERM $pid; wait $pid; rc=$?; pid=
check "SIGTERM stops with status 0" '[ $rc = 0 ] && grep -q "stop idle" log'

# Mutual TLS: only clients with a certificate of the CA get an answer.
certs_make && cert ris "/O=ISN Test/CN=ris" && cert stranger "/CN=stranger"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout other.key -out other.pem -days 2 -subj "/CN=other" >/dev/null 2>&1
conf "  tls: {cert: server.pem, key: server.key, ca: ca.pem}"
check "the daemon starts with mutual TLS" 'start && grep -q "tls=mutual" log'
sed 's/ctl-a08-1/ctl-tls/' "$data/adt-a08.hl7" > tls.hl7
"$tlssend" "127.0.0.1:$port" ris.pem ris.key ca.pem tls.hl7 > ack 2> ack.err
check "mllp-send over mutual TLS is AA" \
    '[ "$(msa)" = AA ] && [ "$(ctl)" = ctl-tls ]'
"$send" -l -c ris.pem -k ris.key -a ca.pem "127.0.0.1:$port" "$data/oru-lf.hl7" \
    > ack 2> ack.err
check "ris-send over mutual TLS is AA" '[ "$(msa)" = AA ]'
"$send" -l -a ca.pem "127.0.0.1:$port" tls.hl7 > ack 2> ack.err; rc=$?
check "a client without a certificate gets no answer" '[ $rc = 1 ] && [ ! -s ack ]'
"$send" -l -c other.pem -k other.key -a ca.pem "127.0.0.1:$port" tls.hl7 \
    > ack 2> ack.err; rc=$?
check "a certificate of another CA gets no answer" '[ $rc = 1 ] && [ ! -s ack ]'
"$send" -l "127.0.0.1:$port" tls.hl7 > ack 2> ack.err; rc=$?
check "plain MLLP on the TLS port gets no answer" '[ $rc = 1 ] && [ ! -s ack ]'
kill -TERM $pid; wait $pid; rc=$?; pid=
check "SIGTERM stops the TLS daemon" '[ $rc = 0 ]'
[ $failed = 0 ] || sed 's/^/# /' log | tail -n 40
echo "1..$n"
[ $failed = 0 ]
