#!/bin/sh
# bench.sh: the edge's performance benchmark of issue 6 (not a test; make
# check never runs it; docs/design/jobs.md "Benchmark"). With the harness
# of test_jobs.sh (edge/tests/edge-lib.sh): a private PostgreSQL, the
# clearinghouse over mutual TLS, dcmqrscp holding a synthetic CT study of
# BENCH_SLICES slices (default 500: 512 x 512 x 16 bit, ~263 MB, from
# isn-mksub --ct), and the isn-edge daemon.
#  edge      a job set of urgency "final" for the exam, then the RIS's
#            final report; the clock starts before the job is made and
#            stops at status 40 (C-FIND, C-MOVE into the edge's SCP with
#            the ITI-18 check and ITI-8 beside it, ITI-41 isn2 through
#            isn-edge-submit)
#  baseline  DCMTK's movescu fetching the same study into storescp, plus
#            curl POSTing the same instances as one ITI-41 (made by
#            isn-mksub from the received files) over the same mutual TLS
#  ratio     edge / baseline per round, edge then baseline; the median
#            of BENCH_ROUNDS rounds (target <= 1.25), as single runs swing
#            by a third on a small machine; a small ITI-41 first warms
#            the clearinghouse up for both
#  rss       the daemon's peak RSS (VmHWM) and the largest of its helper
#            processes (GNU time's maximum resident set), target <= 64 MB
# Environment: BENCH_SLICES (500), BENCH_ROUNDS (5), BENCH_KEEP (keep the
# work directory).
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
. "$top_srcdir/clearinghouse/tests/pg.sh"
. "$top_srcdir/clearinghouse/tests/certs.sh"
. "$top_srcdir/clearinghouse/tests/lib.sh"
. "$top_srcdir/edge/tests/edge-lib.sh"
[ -n "${BENCH_KEEP:-}" ] && export CH_KEEP=1
ch_begin openssl psql curl dcmqrscp dcmsend echoscu movescu storescp
[ -x /usr/bin/time ] || { echo "bench: /usr/bin/time (package time) is needed" >&2; exit 1; }
die() { echo "bench: $*" >&2; exit 1; }
slices=${BENCH_SLICES:-500}
mksub=$(abs "$top_builddir/testnet/isn-mksub")
edge_paths
clock_s() { date +%s.%N; }
load() { echo "load $(cut -d' ' -f1 /proc/loadavg)"; }
calc() { awk "BEGIN { printf \"$1\", $2 }"; }

ch_pki >/dev/null || die "PKI"
edge_ch || die "the clearinghouse did not start"
base_port=$("$tool" ports 1)
PACS_HOSTS="base    = (BASE, 127.0.0.1, $base_port)" PACS_QUOTA=4096mb pacs_conf
pacs_start || die "dcmqrscp did not start"
ST=1.2.826.0.1.3680043.10.543.500
mkdir -p src/ct
PW=x "$mksub" --token abcd-efgh --dob 19600102 --password-env PW \
    --repository 1.2.3 --ct "$slices" --patient-id P1 \
    --patient-name "BENCH^CT" --accession A1 --study-uid "$ST" \
    --save-synthetic src/ct --out /dev/null --content-type-file /dev/null \
    > /dev/null || die "isn-mksub failed"
dcmsend -aet LOADER -aec PACS 127.0.0.1 "$pacs_port" src/ct/*.dcm \
    > load.log 2>&1 || die "dcmsend failed"
bytes=$(cat src/ct/*.dcm | wc -c)
# The clearinghouse makes its blobs durable with syncfs(2), which writes
# every dirty page of the file system: data written by the set-up (the
# PACS's copy of the study, the baseline's request) is flushed first, so
# that a measured submission pays for its own writes only.
sync
echo "# the PACS holds $slices CT slices, $(calc %.1f "$bytes / 1e6") MB; $(load)"

# Warm-up: one small ITI-41 (5 slices), so that neither measured
# submission pays the clearinghouse's first-request costs (its pool
# connections preparing their statements, the first blob directories).
mkdir -p warm
PW=x "$mksub" --token wwww-wwww --dob 19600102 --password-env PW \
    --oid 1.2.260 --repository 1.2.3 --ct 5 --accession W1 \
    --info warm.txt --out warm.req --content-type-file warm.ct \
    > /dev/null || die "isn-mksub (warm-up)"
ch_register "$(sed -n 's/^rsna-id //p' warm.txt)" rw 1.2.260 || die "ITI-8"
ch_post both warm.req "$(cat warm.ct)" /services/xdsrepositoryb
[ "$code" = 200 ] || die "the warm-up ITI-41 failed: HTTP $code"

# --- the edge ---
edge_keys
edge_db
for h in submit dcmhelper; do
	eval "real=\$$h"
	# setpriv: the helper is time's child, so the daemon's parent-death
	# signal (dcmc.c) reaches time only; without it a storage SCP outlived
	# each run and loaded the next ones.
	printf '#!/bin/sh\nexec /usr/bin/time -a -o "%s/rss-%s" -f %%M setpriv --pdeathsig TERM "%s" "$@"\n' \
	    "$tmp" "$h" "$real" > "wrap-$h"
	chmod +x "wrap-$h"
done
SUBMIT_HELPER=$tmp/wrap-submit DCM_HELPER=$tmp/wrap-dcmhelper edge_yaml "$pacs_port"
sed -i 's/move_timeout: 20s/move_timeout: 10m/; s/timeout: 10s/timeout: 120s/' edge.yaml
edge_start && ewait "jobs storage SCP ready" || die "isn-edge did not start"
order P1 A1 || die "the order was refused"
mkdir -p base
storescp -aet BASE -od base "$base_port" > storescp.log 2>&1 & spid=$!
bgpids="$bgpids $spid"
i=0; until echoscu -aec BASE 127.0.0.1 "$base_port" >/dev/null 2>&1; do
	i=$((i + 1)); [ $i -gt 200 ] && die "storescp did not start"; sleep 0.05
done

# One round: the edge, then the baseline. Each round's job is a new job
# set for the exam, due when the RIS's final report (sent again in later
# rounds: a RIS resending a report) wakes the runner; the clock starts
# before the job is made. Each timed step follows a ballast (lib.sh
# ch_ballast: three times the study written, synced and removed), so that
# each writes into just freed page-cache memory: on a virtual machine
# memory the host has not backed lately is several times slower to write
# (docs/design/bench.md, "Latest").
round() {
	ch_ballast . $((3 * bytes))
	t0=$(clock_s)
	job P1 A1 final || die "no job"
	result P1 A1 F "FINDINGS: synthetic. IMPRESSION: benchmark." ||
	    die "report"
	waitstatus "$job" 40 12000 ||
	    die "the job did not complete: $(history "$job")"
	# When the edge wrote 40 (the same clock), not when the poll saw it.
	t1=$(esql "SELECT extract(epoch FROM at) FROM job_history WHERE
	    job_id = $job AND status = 40")
	edge_s=$(calc %.2f "$t1 - $t0")
	phases=$(esql "SELECT string_agg(status || ' +' || d, ', ' ORDER BY
	    id) FROM (SELECT id, status, round(coalesce(extract(epoch FROM at
	    - lag(at) OVER (ORDER BY id)), 0)::numeric, 2) AS d FROM
	    job_history WHERE job_id = $job) h")
	echo "# round $1 edge: $edge_s s; statuses and the seconds each took to reach: $phases; $(load)"

	rm -rf base/* base.req
	ch_ballast . $((3 * bytes))
	t2=$(clock_s)
	movescu -S -aet BASE -aec PACS -aem BASE -k QueryRetrieveLevel=STUDY \
	    -k StudyInstanceUID="$ST" 127.0.0.1 "$pacs_port" > movescu.log 2>&1 ||
	    die "movescu failed"
	t3=$(clock_s)
	[ "$(ls base | wc -l)" = "$slices" ] ||
	    die "movescu: $(ls base | wc -l) files"
	PW=x "$mksub" --token zzzz-zzz$1 --dob 19600102 --password-env PW \
	    --oid 1.2.260 --repository 1.2.3 --accession A1 --info info.txt \
	    --out base.req --content-type-file base.ct base/* > /dev/null ||
	    die "isn-mksub (baseline)"
	ch_register "$(sed -n 's/^rsna-id //p' info.txt)" rb$1 1.2.260 ||
	    die "ITI-8"
	sync base.req	# set-up (see above): base/ stays dirty as the edge's spool
	ch_ballast . $((3 * bytes)) only
	t4=$(clock_s)
	ch_post both base.req "$(cat base.ct)" /services/xdsrepositoryb
	t5=$(clock_s)
	[ "$code" = 200 ] && grep -q "ResponseStatusType:Success" resp ||
	    die "the baseline's ITI-41 failed: HTTP $code"
	move_s=$(calc %.2f "$t3 - $t2"); curl_s=$(calc %.2f "$t5 - $t4")
	base_s=$(calc %.2f "$move_s + $curl_s")
	ratio=$(calc %.2f "$edge_s / $base_s")
	echo "# round $1: edge $edge_s s; movescu $move_s s + curl ITI-41 $curl_s s = $base_s s; ratio $ratio"
	ratios="$ratios $ratio"
	edges="$edges $edge_s"
	bases="$bases $base_s"
}

# median WORDS...: the middle value (the lower middle of an even count).
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

rounds=${BENCH_ROUNDS:-5}
ratios= edges= bases=
# Later rounds' tokens: z-base-32 letters (the alphabet has no 0 or 2).
for r in $(echo ybndrfg8ejkmcpqxot | cut -c1-"$rounds" | sed 's/./& /g'); do
	round "$r"
done
edge_rss=$(sed -n 's/^VmHWM:[ \t]*\([0-9]*\) kB/\1/p' "/proc/$epid/status")
helper_rss=$(cat rss-* 2>/dev/null | sort -n | tail -n 1)
ratio=$(median $ratios)
ok=$(calc %s "($ratio <= 1.25) ? \"met\" : \"NOT met\"")
rok=$(calc %s "($edge_rss <= 65536 && ${helper_rss:-0} <= 65536) ? \"met\" : \"NOT met\"")
echo "=== edge benchmark ($(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $rounds rounds) ==="
echo "time: $slices CT slices, $(calc %.1f "$bytes / 1e6") MB, final report to completed submission: median $(median $edges) s; movescu + curl ITI-41 median $(median $bases) s; ratio median $ratio (of$ratios; target <= 1.25, $ok); $(load)"
echo "rss: isn-edge peak $(calc %.1f "$edge_rss / 1024") MB, largest helper $(calc %.1f "${helper_rss:-0} / 1024") MB (target <= 64 MB, $rok)"
