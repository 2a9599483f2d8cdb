#!/bin/sh
# test_jobs.sh: the job runner end to end, everything real on loopback:
# one private PostgreSQL (database "isn" for the clearinghouse, "edge" for
# the edge), the clearinghouse with mutual TLS (the edge is its "both"
# peer: source and consumer), dcmqrscp as the PACS loaded with synthetic
# studies (jobs-tool gen), the isn-edge daemon fed HL7 by ris-send. Job
# sets are made with SQL (the API comes later) with an isn2 content key
# wrapped under a KEK file (jobs-tool). isn-phr then retrieves what was
# sent. Cases: final urgency (happy path, byte for byte, newest final
# report text), routine (waits for the final report, then the delay),
# cancelled exam, study missing, PACS down then back, clearinghouse down
# then back, and the daemon killed mid-job and restarted.
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}

. "$top_srcdir/clearinghouse/tests/pg.sh"
. "$top_srcdir/clearinghouse/tests/certs.sh"
. "$top_srcdir/clearinghouse/tests/lib.sh"
ch_begin openssl psql cmp dcmqrscp dcmsend echoscu
abs() { case $1 in /*) echo "$1" ;; *) echo "$OLDPWD/$1" ;; esac; }
edge=$(abs "$top_builddir/edge/isn-edge")
tool=$(abs "$top_builddir/edge/tests/jobs-tool")
rissend=$(abs "$top_builddir/edge/tests/ris-send")
submit=$(abs "$top_builddir/edge/isn-edge-submit")
dcmhelper=$(abs "$top_builddir/edge/isn-edge-dicom")
phr=$(abs "$top_builddir/phr-client/isn-phr")
eschemas=$(abs "$top_srcdir/schemas/edge")
export TCP_NODELAY=1
WAITLOG_TRIES=300

set -- $("$tool" ports 8)
ris_port=$1 scp_port=$2 pacs_port=$3 xds_port=$4 pix_port=$5 reg_port=$6
health_port=$7 dead_port=$8

# --- the clearinghouse, on fixed ports so that it can come back ---
check "the test PKI was generated" ch_pki
ch_conf
sed -i -e "s/xds: \"127.0.0.1:0\"/xds: \"127.0.0.1:$xds_port\"/" \
    -e "s/pix_feed: \"127.0.0.1:0\"/pix_feed: \"127.0.0.1:$pix_port\"/" \
    -e "s/registry_feed: \"127.0.0.1:0\"/registry_feed: \"127.0.0.1:$reg_port\"/" \
    -e "s/health: \"127.0.0.1:0\"/health: \"127.0.0.1:$health_port\"/" ch.yaml
check "the clearinghouse starts" ch_start
chpid=$pid; pid=; bgpids="$bgpids $chpid"
URL=https://127.0.0.1:$xds_port

# --- the PACS ---
mkdir -p db/PACS spool src
cat > dcmqrscp.cfg <<EOF
NetworkTCPPort  = $pacs_port
MaxPDUSize      = 16384
MaxAssociations = 16
HostTable BEGIN
isn     = (RSNA-ISN, 127.0.0.1, $scp_port)
HostTable END
VendorTable BEGIN
VendorTable END
AETable BEGIN
PACS   $tmp/db/PACS    RW (200, 1024mb)   ANY
AETable END
EOF
qrpid=
pacs_start() {
	dcmqrscp -c dcmqrscp.cfg > dcmqrscp.log 2>&1 & qrpid=$!
	bgpids="$bgpids $qrpid"
	i=0
	until echoscu -aec PACS 127.0.0.1 "$pacs_port" >/dev/null 2>&1; do
		i=$((i + 1)); [ $i -gt 200 ] && return 1
		sleep 0.05
	done
}
pacs_stop() { kill -TERM "$qrpid"; wait "$qrpid" 2>/dev/null; qrpid=; }
# study NAME MRN ACC UID N: N instances in src/NAME, stored in the PACS.
study() {
	mkdir -p "src/$1" && "$tool" gen "src/$1" "$2" "$3" "$4" "$5" &&
	    dcmsend -aet LOADER -aec PACS 127.0.0.1 "$pacs_port" \
	    src/"$1"/*.dcm >> load.log 2>&1
}
check "dcmqrscp starts" pacs_start
check "synthetic studies are loaded into the PACS" \
    'study a P100 J100 1.2.826.77.1 6 && study b P200 J200 1.2.826.77.2 4 &&
     study d P400 J400 1.2.826.77.4 4 && study e P500 J500 1.2.826.77.5 4 &&
     study f P600 J600 1.2.826.77.6 60 && study g P800 J800 1.2.826.77.8 3 &&
     study h P900 J900 1.2.826.77.9 5'

# --- the patient's identity and the wrapped content key ---
export PW=quackquack
"$phr" rsna-id --scheme isn2 --token abcd-efgh --dob 1960-01-02 \
    --password-env PW --show-key > idkey 2> /dev/null
rsnaid=$(sed -n 1p idkey); ckey=$(sed -n 2p idkey)
"$tool" kek kek.bin
wrapped=$("$tool" wrap kek.bin "$rsnaid" "$ckey")
check "a KEK (mode 0600) and the content key wrapped under it" \
    '[ "$(stat -c %a kek.bin)" = 600 ] && [ ${#wrapped} = 122 ]'

# --- the edge ---
psql -X -q -c "CREATE DATABASE edge" > /dev/null 2>&1
EDGE_CONNINFO="host=127.0.0.1 port=$PGPORT user=isn dbname=edge"
esql() { PGDATABASE=edge psql -X -A -t -q -c "$1" 2>&1; }
# edge_yaml PACS-PORT: the configuration, PACS at that port.
edge_yaml() {
	cat > edge.yaml <<EOT
site: {name: test-edge}
database: {conninfo: "$EDGE_CONNINFO", pool_size: 2, schema_dir: "$eschemas"}
ris: {listen: "127.0.0.1:$ris_port"}
pacs:
  - {name: down, ae_title: NOPE, host: 127.0.0.1, port: $dead_port}
  - {name: main, ae_title: PACS, host: 127.0.0.1, port: $1}
dicom: {ae_title: RSNA-ISN, port: $scp_port, spool_dir: spool, helper: "$dcmhelper"}
clearinghouse:
  url: "$URL/services/xdsrepositoryb"
  registry_url: "$URL/services/xdsregistryb"
  pix: "127.0.0.1:$pix_port"
  registry: "127.0.0.1:$reg_port"
  ca: ca.pem
  cert: both.pem
  key: both.key
  affinity_domain: "1.2.260"
  repository_uid: "1.2.3"
  timeout: 10s
jobs:
  key_file: kek.bin
  poll_interval: 1s
  concurrency: 4
  retries: 3
  retry_interval: 1s
  move_timeout: 20s
  move_grace: 1s
  submit_helper: "$submit"
EOT
}
edge_yaml "$pacs_port"
check "the configuration with pacs, dicom, clearinghouse and jobs is valid" \
    '"$edge" -n -f edge.yaml 2>&1 | grep -qx "configuration OK"'
# ewait PATTERN [COUNT]: waitlog on the edge's log (elog).
ewait() {
	i=0
	while [ "$(grep -c -- "$1" elog 2>/dev/null)" -lt "${2:-1}" ]; do
		kill -0 "$epid" 2>/dev/null || return 1
		i=$((i + 1)); [ $i -gt 300 ] && return 1
		sleep 0.05
	done
}
edge_start() {
	: >> elog
	c=$(grep -c " started version=" elog)
	${ISN_TEST_WRAPPER:-} "$edge" -d -f edge.yaml 2>> elog & epid=$!
	bgpids="$bgpids $epid"
	ewait " started version=" $((c + 1))
}
check "isn-edge starts with the job runner and its storage SCP" \
    'edge_start && ewait "jobs storage SCP ready port=$scp_port"'

# --- HL7 from the RIS ---
now() { date -u +%Y%m%d%H%M%S+0000; }
ctl=0
# order MRN ACC: ORM^O01 NW (scheduled).
order() {
	t=$(now); ctl=$((ctl + 1))
	printf 'MSH|^~\\&|RIS|GH|ISN-EDGE|SITE|%s||ORM^O01|o-%s|P|2.3.1\rPID|1||%s^^^HOSP^MR||DOE^JANE^Q||19600102|F\rORC|NW|P%s|%s||SC||||%s||||||%s\rOBR|1|P%s|%s|71250^CT CHEST^CPT||||||||||||||||||||CT\r' \
	    "$t" "m$ctl" "$1" "$2" "$2" "$t" "$t" "$2" "$2" > "o-$2.hl7"
	"$rissend" "127.0.0.1:$ris_port" "o-$2.hl7" > "o-$2.ack" 2>&1 &&
	    grep -q "MSA|AA" "o-$2.ack"
}
# result MRN ACC STATUS TEXT: ORU^R01 with OBR-25 STATUS, now.
result() {
	t=$(now); ctl=$((ctl + 1))
	printf 'MSH|^~\\&|RIS|GH|ISN-EDGE|SITE|%s||ORU^R01|r-%s|P|2.5.1\rPID|1||%s^^^HOSP^MR||DOE^JANE^Q||19600102|F\rORC|RE|P%s|%s||CM\rOBR|1|P%s|%s|71250^CT CHEST^CPT||||||||||||||||||%s|||%s\rOBX|1|FT|71250^REPORT||%s\r' \
	    "$t" "m$ctl" "$1" "$2" "$2" "$2" "$2" "$t" "$3" "$4" \
	    > "r-$2.hl7"
	"$rissend" "127.0.0.1:$ris_port" "r-$2.hl7" > "r-$2.ack" 2>&1 &&
	    grep -q "MSA|AA" "r-$2.ack"
}
# cancel MRN ACC: ORM^O01 CA.
cancel() {
	t=$(now); ctl=$((ctl + 1))
	printf 'MSH|^~\\&|RIS|GH|ISN-EDGE|SITE|%s||ORM^O01|c-%s|P|2.3.1\rPID|1||%s^^^HOSP^MR||DOE^JANE^Q||19600102|F\rORC|CA|P%s|%s||CA||||%s||||||%s\rOBR|1|P%s|%s|71250^CT CHEST^CPT||||||||||||||||||||CT\r' \
	    "$t" "m$ctl" "$1" "$2" "$2" "$t" "$t" "$2" "$2" > "c-$2.hl7"
	"$rissend" "127.0.0.1:$ris_port" "c-$2.hl7" > "c-$2.ack" 2>&1 &&
	    grep -q "MSA|AA" "c-$2.ack"
}
# job MRN ACC URGENCY [DELAY [SCHEME ID KEY]]: a job set of one exam; its
# job id in $job.
job() {
	job=$(esql "WITH s AS (INSERT INTO job_sets (patient_id, destination,
	    scheme, urgency, delay, rsna_id, wrapped_key, created_by)
	    SELECT id, 'patient', '${5:-isn2}', '$3', '${4:-72 hours}',
	    '${6:-$rsnaid}', decode('${7-$wrapped}', 'hex'), 'test'
	    FROM patients WHERE mrn = '$1'
	    RETURNING id, patient_id)
	    INSERT INTO jobs (job_set_id, exam_id) SELECT s.id, e.id FROM s
	    JOIN exams e ON e.patient_id = s.patient_id AND e.accession = '$2'
	    RETURNING id")
	case $job in ''|*[!0-9]*) echo "# job: $job"; return 1 ;; esac
}
status() { esql "SELECT status FROM jobs WHERE id = $1"; }
# waitstatus JOB CODE [TRIES]: bounded wait (50 ms steps) for the status.
waitstatus() {
	i=0
	while [ "$(status "$1")" != "$2" ]; do
		i=$((i + 1)); [ $i -gt "${3:-300}" ] && {
			echo "# job $1 status $(status "$1"), wanted $2"
			return 1; }
		sleep 0.05
	done
}
history() {
	esql "SELECT string_agg(status::text, ' ' ORDER BY id) FROM job_history
	    WHERE job_id = $1"
}
# dataset FILE: the bytes after the Part 10 meta header (whose group
# length is at offset 140): dcmqrscp and the SCP write their own meta
# header, the dataset must travel unchanged.
dataset() {
	m=$(od -An -tu4 -j140 -N4 "$1" | tr -d ' ')
	tail -c +$((145 + m)) "$1"
}
# same NAME STUDY DIR: what isn-phr retrieved equals src/NAME/.
same() {
	for f in src/"$1"/*.dcm; do
		u=${f##*/}; u=${u%.dcm}
		[ -f "$3/$2/${u%.*}/$u.dcm" ] &&
		    dataset "$f" > want.bin &&
		    dataset "$3/$2/${u%.*}/$u.dcm" > got.bin &&
		    [ -s got.bin ] && cmp -s want.bin got.bin ||
		    { echo "# differs: $u"; return 1; }
	done
}
retrieve() {
	rm -rf "$2"
	"$phr" retrieve --url "$URL" --ca ca.pem --cert consumer.pem \
	    --key consumer.key --oid 1.2.260 ${3:---token abcd-efgh} \
	    --dob 1960-01-02 --password-env PW --study "$1" --out "$2" \
	    > "$2.log" 2>&1
}
sets() { ch_sql "SELECT count(*) FROM submission_sets"; }

# --- 1. final urgency: the happy path, with a corrected report ---
echo "# final urgency: order, final report, a corrected final; the job set"
check "the RIS order and final report are stored (AA)" \
    'order P100 J100 && result P100 J100 F "FIRST TEXT: superseded"'
check "a corrected final report is stored (AA)" \
    'result P100 J100 C "FINDINGS: lungs clear.\\.br\\IMPRESSION: normal."'
check "a job set for the exam (final urgency) is created with SQL" \
    'job P100 J100 final'
j1=$job
check "the job reaches 40 (completed transfer to the clearinghouse)" \
    'waitstatus $j1 40'
check "its history: 23 retrieving, 30 retrieved, 31 preparing, 32 registering, 34, 40" \
    '[ "$(history $j1)" = "23 30 31 32 34 40" ]'
check "a fresh job got jobs.retries (3) as remaining_retries" \
    '[ "$(esql "SELECT remaining_retries FROM jobs WHERE id = $j1")" = 3 ]'
check "the spool of the job is removed after success" \
    '[ ! -e spool/jobs/$j1 ] && [ ! -e spool/1.2.826.77.1 ]'
retrieve 1.2.826.77.1 got1
check "isn-phr retrieves every instance byte for byte" \
    'same a 1.2.826.77.1 got1'
check "and the report is the newest final text" \
    '[ "$(cat got1/1.2.826.77.1/report.txt)" = "$(printf "FINDINGS: lungs clear.\nIMPRESSION: normal.")" ]'
check "the clearinghouse holds the study once (6 instances, KOS, report)" \
    '[ "$(ch_sql "SELECT count(*) FROM documents")" = 8 ]'
check "the edge log names no patient (no MRN, accession, name)" \
    '! grep -q -e P100 -e J100 -e DOE -e 19600102 elog'

# --- 1b. rsna-token: the job set keeps the RSNA-ID only ---
echo "# rsna-token scheme: the job set holds the RSNA-ID, no key"
tokid=$("$phr" rsna-id --scheme rsna-token --token fpzddg --dob 1960-01-02 \
    --password-env PW 2> /dev/null)
order P800 J800 > /dev/null && result P800 J800 F "FINAL G" > /dev/null
check "an rsna-token job (no wrapped key) reaches 40" \
    'job P800 J800 final "0" rsna-token "$tokid" "" && waitstatus $job 40'
retrieve 1.2.826.77.8 got8 "--scheme rsna-token --token fpzddg"
check "retrieved byte for byte with the rsna-token details" \
    'same g 1.2.826.77.8 got8'

wrong=$("$tool" wrap kek.bin "$tokid" "$ckey")
check "a key wrapped for another RSNA-ID fails with -20, no retry, spool gone" \
    'job P800 J800 final "0" isn2 "$rsnaid" "$wrong" && waitstatus $job -20 &&
     [ "$(esql "SELECT next_attempt IS NULL FROM jobs WHERE id = $job")" = t ] &&
     [ ! -e spool/jobs/$job ]'

# --- 2. routine: waits for the final report, then the delay ---
echo "# routine urgency: preliminary report, then final, then a 3 s delay"
order P200 J200 > /dev/null && result P200 J200 P "PRELIMINARY" > /dev/null
check "a routine job with a preliminary report waits for the final (21)" \
    'job P200 J200 routine "3 seconds" && waitstatus $job 21'
j2=$job
check "the final report moves it to 22 (waiting for the delay)" \
    'result P200 J200 F "FINAL TEXT" && waitstatus $j2 22'
check "after the delay it is sent (40), history 21 22 23 30 31 32 34 40" \
    'waitstatus $j2 40 200 && [ "$(history $j2)" = "21 22 23 30 31 32 34 40" ]'
retrieve 1.2.826.77.2 got2
check "retrieved byte for byte" 'same b 1.2.826.77.2 got2'

# --- 3. cancelled exam ---
echo "# a cancelled exam fails with -24 and a reason; no retry"
order P300 J300 > /dev/null
check "the exam is cancelled by the RIS (AA)" 'cancel P300 J300'
check "its job fails with -24" 'job P300 J300 immediate && waitstatus $job -24'
check "the reason names the cancellation; no next attempt" \
    '[ "$(esql "SELECT reason FROM job_history WHERE job_id = $job AND status = -24")" = "exam J300 was cancelled by the RIS" ] &&
     [ "$(esql "SELECT next_attempt IS NULL FROM jobs WHERE id = $job")" = t ]'

# --- 4. a study the PACS does not have ---
echo "# a study missing from the PACS: -21, retried until no retries left"
order P700 J700 > /dev/null && result P700 J700 P "PRELIMINARY" > /dev/null
check "an immediate job whose study is missing fails with -21 (retried)" \
    'job P700 J700 immediate && waitstatus $job -21 &&
     esql "SELECT reason FROM job_history WHERE job_id = $job" | grep -q "no PACS has a study of accession J700; retry in 1s"'
j4=$job
check "after 3 retries it stops with -21 and no retries left" \
    'i=0; until esql "SELECT reason FROM job_history WHERE job_id = $j4" | grep -q "no retries left"; do i=$((i+1)); [ $i -gt 200 ] && break; sleep 0.05; done;
     [ "$(esql "SELECT count(*) FROM job_history WHERE job_id = $j4 AND status = -21")" = 4 ] &&
     [ "$(esql "SELECT next_attempt IS NULL FROM jobs WHERE id = $j4")" = t ]'

# --- 5. PACS down, then back ---
echo "# the PACS is down: -1 (no devices), retried, 40 when it is back"
pacs_stop
order P400 J400 > /dev/null && result P400 J400 F "FINAL D" > /dev/null
check "with no PACS answering C-ECHO the job fails with -1" \
    'job P400 J400 final && waitstatus $job -1'
j5=$job
check "dcmqrscp comes back" pacs_start
check "the retry completes the job (40)" 'waitstatus $j5 40'
retrieve 1.2.826.77.4 got4
check "retrieved byte for byte" 'same d 1.2.826.77.4 got4'

# --- 6. clearinghouse down, then back ---
echo "# the clearinghouse is down: -30 (exit 75 at the ITI-18 check), then 40"
kill -TERM "$chpid"; wait "$chpid" 2>/dev/null
order P500 J500 > /dev/null && result P500 J500 F "FINAL E" > /dev/null
check "the job fails with -30 and will retry; the spool is kept" \
    'job P500 J500 final && waitstatus $job -30 &&
     esql "SELECT reason FROM job_history WHERE job_id = $job AND status = -30" | grep -q "exit 75 stage iti18.*retry in 1s" &&
     [ "$(ls spool/jobs/$job/*.dcm | wc -l)" = 4 ]'
j6=$job
check "the clearinghouse comes back" 'ch_start'
chpid=$pid; pid=; bgpids="$bgpids $chpid"
check "the retry submits the kept spool (-30 30 31 32 34 40, no new C-MOVE)" \
    'waitstatus $j6 40 && history $j6 | grep -q -- "-30 30 31 32 34 40$" &&
     [ "$(history $j6 | tr " " "\n" | grep -c "^23$")" = 1 ]'
retrieve 1.2.826.77.5 got5
check "retrieved byte for byte" 'same e 1.2.826.77.5 got5'

# --- 7. the daemon killed mid-job ---
echo "# isn-edge killed (SIGKILL) mid-job and restarted: the job completes once"
order P600 J600 > /dev/null && result P600 J600 F "FINAL F" > /dev/null
sets0=$(sets)
job P600 J600 final; j7=$job
i=0
while :; do
	st=$(status "$j7")
	case $st in 23|30|31|32|34|40) break ;; esac
	i=$((i + 1)); [ $i -gt 500 ] && break
	sleep 0.02
done
kill -KILL "$epid"; wait "$epid" 2>/dev/null
echo "# killed at status $st"
check "the job was in flight when the daemon was killed" \
    'case $st in 23|30|31|32|34) true ;; *) false ;; esac'
check "the restarted daemon recovers and completes the job (40)" \
    'edge_start && waitstatus $j7 40 400'
check "the history records the restart" \
    '[ "$(esql "SELECT count(*) FROM job_history WHERE job_id = $j7 AND reason LIKE '"'"'the edge restarted%'"'"'")" -ge 1 ]'
check "one submission set more in the clearinghouse, not two" \
    '[ "$(sets)" = $((sets0 + 1)) ]'
retrieve 1.2.826.77.6 got6
check "retrieved byte for byte (60 instances)" 'same f 1.2.826.77.6 got6'
# --- 8. killed after the clearinghouse stored the study, before 40 ---
echo "# killed after the submission was stored but before its 40 was written:"
echo "# the retry finds the set with ITI-18 (already=1) and stores nothing"
printf '#!/bin/sh\n"%s" "$@"; touch "%s/submitted"; exec sleep 30\n' \
    "$submit" "$tmp" > slow-submit
chmod +x slow-submit
sed -i "s|submit_helper: .*|submit_helper: \"$tmp/slow-submit\"|" edge.yaml
kill -HUP "$epid" && ewait "conf reloaded" 1
order P900 J900 > /dev/null && result P900 J900 F "FINAL H" > /dev/null
sets0=$(sets)
check "a job submits through a helper that then hangs: stored, job at 34" \
    'job P900 J900 final && j8=$job &&
     i=0; until [ -f submitted ]; do i=$((i+1)); [ $i -gt 300 ] && break; sleep 0.05; done;
     [ -f submitted ] && [ "$(status $j8)" = 34 ] && [ "$(sets)" = $((sets0 + 1)) ]'
kill -KILL "$epid"; wait "$epid" 2>/dev/null
sed -i "s|submit_helper: .*|submit_helper: \"$submit\"|" edge.yaml
check "restarted, the job ends at 40: already stored by the earlier attempt" \
    'edge_start && waitstatus $j8 40 400 &&
     [ "$(esql "SELECT reason FROM job_history WHERE job_id = $j8 AND status = 40")" = "already stored by an earlier attempt" ]'
check "the clearinghouse still has one submission set for it" \
    '[ "$(sets)" = $((sets0 + 1)) ]'
retrieve 1.2.826.77.9 got9
check "retrieved byte for byte" 'same h 1.2.826.77.9 got9'

check "SIGTERM stops the daemon (exit 0)" \
    'kill -TERM $epid; wait $epid'

echo "1..$n"
[ $failed = 0 ]
