#!/bin/sh
# test_jobs_policy.sh: what the job runner does with a partial study
# (jobs.partial: retry, last, send) and with a job staff cancel while it
# runs. Everything real on loopback as in test_jobs.sh (edge-lib.sh):
# PostgreSQL, the clearinghouse with mutual TLS, dcmqrscp as the PACS,
# isn-edge with its staff API. A partial study is made by deleting one
# instance's file from dcmqrscp's storage after loading: its index still
# lists it, so the C-MOVE fails that one sub-operation and sends the rest.
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}

. "$top_srcdir/clearinghouse/tests/pg.sh"
. "$top_srcdir/clearinghouse/tests/certs.sh"
. "$top_srcdir/clearinghouse/tests/lib.sh"
. "$top_srcdir/edge/tests/edge-lib.sh"
ch_begin openssl psql cmp dcmqrscp dcmsend echoscu dcmdump curl
edge_paths

check "the test PKI was generated" ch_pki
check "the clearinghouse starts" edge_ch
pacs_conf
check "dcmqrscp starts" pacs_start

# lose NAME UID: delete one instance of study UID from dcmqrscp's storage
# and from src/NAME (what should arrive).
lose() {
	for f in db/PACS/*; do
		dcmdump -q +P 0020,000d "$f" 2>/dev/null | grep -q "\[$2\]" ||
		    continue
		sop=$(dcmdump -q +P 0008,0018 "$f" | sed 's/.*\[\(.*\)\].*/\1/')
		rm -f "$f" "src/$1/$sop.dcm"
		return 0
	done
	return 1
}
check "three 5-instance studies, each with one file lost from the PACS" \
    'study q P10 J10 1.2.826.77.11 5 && study r P20 J20 1.2.826.77.12 5 &&
     study s P30 J30 1.2.826.77.13 5 && study t P40 J40 1.2.826.77.14 4 &&
     study u P50 J50 1.2.826.77.15 4 &&
     lose q 1.2.826.77.11 && lose r 1.2.826.77.12 && lose s 1.2.826.77.13 &&
     [ "$(ls src/r | wc -l)" = 4 ]'

edge_keys
edge_db
edge_yaml "$pacs_port"
check "isn-edge starts (jobs.partial unset: retry)" \
    'edge_start && ewait "jobs storage SCP ready port=$scp_port"'

# reasons JOB STATUS: the reasons of the job's rows with that status.
reasons() {
	esql "SELECT reason FROM job_history WHERE job_id = $1 AND status = $2
	    ORDER BY id"
}
# policy VALUE: jobs.partial set in edge.yaml and reloaded.
policy() {
	sed -i -e '/^  partial: /d' -e "s/^  move_grace: 1s$/&\n  partial: $1/" \
	    edge.yaml
	c=$(grep -c "conf reloaded" elog)
	kill -HUP "$epid" && ewait "conf reloaded" $((c + 1))
}

# --- 1. retry (the default) ---
echo "# jobs.partial retry: -23, retried, final when none are left"
order P10 J10 > /dev/null && result P10 J10 F "FINAL Q" > /dev/null
check "a short study fails with -23: 4 of 5 instances, retried" \
    'job P10 J10 final && jq=$job && waitstatus $jq -23 &&
     reasons $jq -23 | head -n 1 | grep -q "partial study from main: 4 of 5 instances arrived; retry in 1s"'
check "after 3 retries it stops at -23, no retries left, spool gone" \
    'i=0; until reasons $jq -23 | grep -q "no retries left"; do i=$((i+1)); [ $i -gt 300 ] && break; sleep 0.05; done;
     [ "$(reasons $jq -23 | wc -l)" = 4 ] &&
     [ "$(esql "SELECT next_attempt IS NULL FROM jobs WHERE id = $jq")" = t ] &&
     [ ! -e spool/jobs/$jq ] && [ ! -e spool/1.2.826.77.11 ]'
check "nothing of it reached the clearinghouse" '[ "$(sets)" = 0 ]'

# --- 2. last: the last attempt sends what arrived ---
echo "# jobs.partial last: retried, then the last attempt sends the 4"
check "SIGHUP with jobs.partial: last" 'policy last'
order P20 J20 > /dev/null && result P20 J20 F "FINAL R" > /dev/null
check "the job fails three times with -23, then sends 4 of 5 (40)" \
    'job P20 J20 final && jr=$job && waitstatus $jr 40 600 &&
     [ "$(reasons $jr -23 | wc -l)" = 3 ] &&
     reasons $jr 30 | grep -q "retrieved 4 of 5 instances of study 1.2.826.77.12 from main: sending the partial study"'
retrieve 1.2.826.77.12 gotr
check "the PHR gets the 4 that arrived (and the KOS), byte for byte" \
    'same r 1.2.826.77.12 gotr &&
     [ "$(find gotr -name "*.dcm" ! -name kos.dcm | wc -l)" = 4 ]'

# --- 3. send: at once ---
echo "# jobs.partial send: the 4 go at the first attempt"
check "SIGHUP with jobs.partial: send" 'policy send'
order P30 J30 > /dev/null && result P30 J30 F "FINAL S" > /dev/null
check "the job sends 4 of 5 at once: history 23 30 31 34 40" \
    'job P30 J30 final && js=$job && waitstatus $js 40 600 &&
     [ "$(history $js)" = "23 30 31 34 40" ]'
retrieve 1.2.826.77.13 gots
check "the PHR gets the 4, byte for byte" 'same s 1.2.826.77.13 gots'

# --- 4. staff cancel a running job ---
echo "# staff cancel a job whose submission helper runs: the run stops"
# (the registration run beside the C-MOVE goes through unhindered)
printf '#!/bin/sh\ncase "$*" in *--register-only*) exec "%s" "$@" ;; esac\necho $$ > "%s/helper.pid"\nsleep 30\nexec "%s" "$@"\n' \
    "$submit" "$tmp" "$submit" > slow-submit
chmod +x slow-submit
sed -i "s|submit_helper: .*|submit_helper: \"$tmp/slow-submit\"|" edge.yaml
c=$(grep -c "conf reloaded" elog)
kill -HUP "$epid" && ewait "conf reloaded" $((c + 1))
order P40 J40 > /dev/null && result P40 J40 F "FINAL T" > /dev/null
sets0=$(sets)
rm -f helper.pid
check "a job is at 34 with its helper running" \
    'job P40 J40 final && jt=$job && waitstatus $jt 34 400 &&
     i=0; until [ -s helper.pid ]; do i=$((i+1)); [ $i -gt 100 ] && break; sleep 0.05; done;
     hp=$(cat helper.pid) && kill -0 "$hp"'
api POST "/api/jobs/$jt/cancel"
check "the API cancels it: 200, -21 cancelled by staff" \
    '[ "$code" = 200 ] && [ "$(status $jt)" = -21 ] &&
     reasons $jt -21 | grep -qx "cancelled by staff"'
check "the helper is killed at once and the job's spool removed" \
    'i=0; while kill -0 "$hp" 2>/dev/null; do i=$((i+1)); [ $i -gt 40 ] && break; sleep 0.05; done;
     ! kill -0 "$hp" 2>/dev/null && [ ! -e spool/jobs/$jt ] &&
     ewait "job id=$jt changed by staff: run stopped"'
sleep 2
check "it stays cancelled: nothing written after, nothing submitted" \
    '[ "$(status $jt)" = -21 ] && [ "$(history $jt | sed "s/.* //")" = -21 ] &&
     [ "$(sets)" = "$sets0" ]'

# --- 5. a cancel the runner was not told about ---
echo "# a cancel written behind the runner's back (SQL): its next write is refused"
printf '#!/bin/sh\ncase "$*" in *--register-only*) exec "%s" "$@" ;; esac\necho $$ > "%s/helper.pid"\nsleep 2\nexec "%s" "$@"\n' \
    "$submit" "$tmp" "$submit" > slow-submit
order P50 J50 > /dev/null && result P50 J50 F "FINAL U" > /dev/null
rm -f helper.pid
check "a job is at 34 with its helper running" \
    'job P50 J50 final && ju=$job && waitstatus $ju 34 400'
esql "WITH u AS (UPDATE jobs SET remaining_retries = 0, next_attempt = NULL
    WHERE id = $ju RETURNING id) INSERT INTO job_history (job_id, status,
    reason) SELECT id, -21, 'cancelled by admin' FROM u" > /dev/null
check "the runner's next status write is refused and the run stops" \
    'ewait "job id=$ju changed by staff: run stopped" &&
     [ "$(status $ju)" = -21 ] && [ "$(history $ju | sed "s/.* //")" = -21 ] &&
     [ ! -e spool/jobs/$ju ]'
sleep 1
check "still -21 a second later" '[ "$(status $ju)" = -21 ]'
check "only the two short studies were sent as partial (t and u were whole)" \
    '[ "$(esql "SELECT count(*) FROM job_history WHERE reason LIKE
     '"'"'%sending the partial study%'"'"'")" = 2 ] &&
     reasons $jt 30 | grep -q "^retrieved 4 instances of study"'

check "SIGTERM stops the daemon (exit 0)" \
    'kill -TERM $epid; wait $epid'

echo "1..$n"
[ $failed = 0 ]
