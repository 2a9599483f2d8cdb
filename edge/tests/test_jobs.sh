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
. "$top_srcdir/edge/tests/edge-lib.sh"
ch_begin openssl psql cmp dcmqrscp dcmsend echoscu
edge_paths

# --- the clearinghouse, on fixed ports so that it can come back ---
check "the test PKI was generated" ch_pki
check "the clearinghouse starts" edge_ch

# --- the PACS ---
pacs_conf
check "dcmqrscp starts" pacs_start
check "synthetic studies are loaded into the PACS" \
    'study a P100 J100 1.2.826.77.1 6 && study b P200 J200 1.2.826.77.2 4 &&
     study d P400 J400 1.2.826.77.4 4 && study e P500 J500 1.2.826.77.5 4 &&
     study f P600 J600 1.2.826.77.6 60 && study g P800 J800 1.2.826.77.8 3 &&
     study h P900 J900 1.2.826.77.9 5 && study i P950 J950 1.2.826.77.10 4'

# --- the patient's identity and the wrapped content key ---
edge_keys
check "a KEK (mode 0600) and the content key wrapped under it" \
    '[ "$(stat -c %a kek.bin)" = 600 ] && [ ${#wrapped} = 122 ]'

# --- the edge ---
edge_db
edge_yaml "$pacs_port"
check "the configuration with pacs, dicom, clearinghouse and jobs is valid" \
    '"$edge" -n -f edge.yaml 2>&1 | grep -qx "configuration OK"'
check "isn-edge starts with the job runner and its storage SCP" \
    'edge_start && ewait "jobs storage SCP ready port=$scp_port"'


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
check "its history: 23 retrieving (and registering), 30 retrieved, 31 preparing, 34 submitting, 40" \
    '[ "$(history $j1)" = "23 30 31 34 40" ]'
check "the patient was registered (ITI-18 check, ITI-8) beside the C-MOVE" \
    'grep -q "job id=$j1 patient registered beside the retrieval already=0" elog &&
     [ "$(esql "SELECT reason FROM job_history WHERE job_id = $j1 AND status = 34")" = "patient registered during the retrieval; submitting the documents" ]'
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
check "after the delay it is sent (40), history 21 22 23 30 31 34 40" \
    'waitstatus $j2 40 200 && [ "$(history $j2)" = "21 22 23 30 31 34 40" ]'
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
# (the registration run beside the C-MOVE is not the one that hangs)
printf '#!/bin/sh\ncase "$*" in *--register-only*) exec "%s" "$@" ;; esac\n"%s" "$@"; touch "%s/submitted"; exec sleep 30\n' \
    "$submit" "$submit" "$tmp" > slow-submit
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
check "run again from the start (status 1 set with SQL), the registration beside the C-MOVE finds the set: 40 without sending (23 30 31 40)" \
    'esql "UPDATE jobs SET status = 1, next_attempt = now() WHERE id = $j8" &&
     waitstatus $j8 40 400 && history $j8 | grep -q "23 30 31 40$" &&
     [ "$(esql "SELECT reason FROM job_history WHERE job_id = $j8 ORDER BY id DESC LIMIT 1")" = "already stored by an earlier attempt" ] &&
     grep -q "job id=$j8 patient registered beside the retrieval already=1" elog &&
     [ "$(sets)" = $((sets0 + 1)) ] && [ ! -e spool/jobs/$j8 ]'

# --- 9. the staff API: the job set made as staff would, then the PHR ---
echo "# the staff API: search, a job set for the patient, the handout's token"
check "the API refuses a request without its token (401)" \
    '[ "$(curl -s -o /dev/null -w "%{http_code}" "http://127.0.0.1:$api_port/api/patients?q=P1")" = 401 ]'
order P950 J950 > /dev/null && result P950 J950 F "FINAL I" > /dev/null
api GET "/api/patients?q=p95"
check "search by MRN prefix finds the patient and the exam's final status" \
    '[ "$code" = 200 ] && grep -q "\"mrn\": *\"P950\"" api.out &&
     grep -q "J950" api.out && grep -q "final" api.out'
pid950=$(esql "SELECT id FROM patients WHERE mrn = 'P950'")
ex950=$(esql "SELECT e.id FROM exams e JOIN patients p ON p.id = e.patient_id WHERE p.mrn = 'P950'")
api POST /api/job-sets "{\"patient\": $pid950, \"exams\": [$ex950], \"destination\": \"patient\", \"urgency\": \"final\", \"dob\": \"1960-01-02\", \"password\": \"handout-pass\"}"
token950=$(sed -n 's/.*"token": *"\([a-z0-9-]*\)".*/\1/p' api.out)
check "a job set through the API: 201 with the handout's token" \
    '[ "$code" = 201 ] && [ -n "$token950" ]'
j9=$(esql "SELECT j.id FROM jobs j JOIN job_sets s ON s.id = j.job_set_id WHERE s.patient_id = $pid950")
check "its job reaches 40" 'waitstatus $j9 40 400'
rm -rf got10
PW=handout-pass "$phr" retrieve --url "$URL" --ca ca.pem --cert consumer.pem \
    --key consumer.key --oid 1.2.260 --token "$token950" --dob 1960-01-02 \
    --password-env PW --out got10 > got10.log 2>&1
check "the patient's PHR, with the handout's token and the password, gets it byte for byte" \
    'same i 1.2.826.77.10 got10'

check "SIGTERM stops the daemon (exit 0)" \
    'kill -TERM $epid; wait $epid'

echo "1..$n"
[ $failed = 0 ]
