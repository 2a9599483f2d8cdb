#!/bin/sh
# bench.sh: the clearinghouse performance benchmark of issue 4 (`make
# bench`; docs/design/bench.md). Not a test: it is never run by make check.
#
# A private PostgreSQL (tests/pg.sh), a test PKI (tests/certs.sh) and the
# real daemon on loopback (tests/lib.sh), then three measurements, each
# printed as one line with its ratio against a baseline run here too:
#  ingest  one ITI-41 of a BENCH_INSTANCES-instance study over mutual TLS
#          (MTOM, written by tests/xds-tool pnr), MB/s, against writing the same bytes
#          with fsync into the blob directory's filesystem (target >= 0.7);
#  rss     the daemon's peak RSS (VmHWM) during one ITI-41 of
#          BENCH_BIG_DOCS x BENCH_BIG_SIZE bytes, against its idle RSS and
#          the 64 MB target;
#  query   ITI-18 FindSubmissionSets latency p50/p99 and queries/second by
#          bench-query (BENCH_CLIENTS keep-alive mutual-TLS clients, random
#          existing patients) with BENCH_PATIENTS patients and BENCH_DOCS
#          document entries bulk-loaded, against the same SQL run by
#          pgbench on the database alone, and the 10 ms p99 target.
# Then a summary block. Environment (defaults = the issue's scale):
#  BENCH_PARTS="ingest rss query"  BENCH_PATIENTS=1000000
#  BENCH_DOCS=10000000  BENCH_DOCS_PER_SET=10  BENCH_INSTANCES=500
#  BENCH_INSTANCE_SIZE=524288  BENCH_ROUNDS=3  BENCH_BIG_DOCS=4
#  BENCH_BIG_SIZE=536870912  BENCH_CLIENTS=2  BENCH_SECONDS=30
#  BENCH_TMPDIR (${TMPDIR:-/tmp}): where the daemon's files and blobs go;
#  BENCH_KEEP=1 keeps them (the daemon's log) for a look afterwards;
#  BENCH_DAEMON: another isn-clearinghouse binary to run.
# Exit 0 when every part ran (whether or not a target was met), 1 when
# something failed, 2 when the disk is too small.
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}

. "$top_srcdir/clearinghouse/tests/pg.sh"
. "$top_srcdir/clearinghouse/tests/certs.sh"
. "$top_srcdir/clearinghouse/tests/lib.sh"

parts=${BENCH_PARTS:-ingest rss query}
np=${BENCH_PATIENTS:-1000000}
nd=${BENCH_DOCS:-10000000}
dps=${BENCH_DOCS_PER_SET:-10}
ninst=${BENCH_INSTANCES:-500}
isize=${BENCH_INSTANCE_SIZE:-524288}
rounds=${BENCH_ROUNDS:-3}
nbig=${BENCH_BIG_DOCS:-4}
bsize=${BENCH_BIG_SIZE:-536870912}
clients=${BENCH_CLIENTS:-2}
secs=${BENCH_SECONDS:-30}
domain=1.2.260

die() { echo "bench: $*" >&2; exit 1; }
[ -x /usr/bin/time ] || die "/usr/bin/time (Debian: time) is needed"
for t in openssl curl psql awk; do
	command -v $t >/dev/null 2>&1 || die "$t is needed"
done
ch_paths
ch=${BENCH_DAEMON:-$ch}	# e.g. a copy, safe from a rebuild during a long run
bin=$top_builddir/clearinghouse/bench
case $bin in /*) ;; *) bin=$PWD/$bin ;; esac
for p in "$ch" "$send" "$xdstool" "$bin/bench-query"; do
	[ -x "$p" ] || die "$p is not built (run make bench)"
done

# Timing and arithmetic.
now() { date +%s.%N; }
calc() { awk "BEGIN { printf \"$1\", $2 }"; }
has() { case " $parts " in *" $1 "*) return 0 ;; esac; return 1; }

# Disk: requests and blobs of the ingest rounds and of the big submission
# (the request file and its blobs), and about 1 kB a document entry with
# its indexes and WAL.
work=${BENCH_TMPDIR:-${TMPDIR:-/tmp}}
need=0
has ingest && need=$(calc %d "2 * $rounds * $ninst * $isize / 1048576")
has rss && need=$(calc %d "$need + 2 * $nbig * $bsize / 1048576")
has query && need=$(calc %d "$need + $nd / 1000 + $np / 2000 + 512")
avail=$(df -Pk "$work" | awk 'NR == 2 { printf "%d", $4 / 1024 }')
if [ "$avail" -lt "$need" ]; then
	echo "bench: $work has $avail MB free, about $need MB are needed" >&2
	exit 2
fi
echo "# bench: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores," \
    "$(uname -srm), parts: $parts; $avail MB free, ~$need MB needed"

pg_start || die "PostgreSQL did not start: $PG_ERROR"
# Fewer checkpoints during the bulk load (pg.sh already runs with fsync off).
# Statements slower than 5 ms go to the server log (kept as pg.log with
# BENCH_KEEP), without their parameters: the ingest's multi-row
# statements carry megabytes of text[], which PostgreSQL would format
# (array_out) for the log inside the measured time. logset turns them on
# for the capture of bench-query's statement.
psql -X -q -c "ALTER SYSTEM SET max_wal_size = '8GB'" \
    -c "ALTER SYSTEM SET log_min_duration_statement = '5ms'" \
    -c "ALTER SYSTEM SET log_parameter_max_length = 0" \
    -c "SELECT pg_reload_conf()" >/dev/null || die "psql failed"
tmp=$(mktemp -d "$work/isn-bench.XXXXXX") || die "mktemp failed"
pid=
cleanup() {
	[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
	if [ -n "${BENCH_KEEP:-}" ]; then
		cp "$PG_DIR/log" "$tmp/pg.log" 2>/dev/null
		echo "# kept $tmp" >&2
	else
		rm -rf "$tmp"
	fi
	pg_stop
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
cd "$tmp" || exit 1
ch_pki || die "the test PKI could not be made"
ch_conf "limits: {max_document_size: 4G, max_documents: 20000}"
ch_start || { tail -n 20 log >&2; die "the daemon did not start"; }
echo "# daemon pid $pid, xds port $xds, PostgreSQL port $PGPORT"

# post FILE CONTENT-TYPE: ITI-41 by the source peer, streamed from the file
# (-T, no Expect); HTTP status and total seconds in $code and $secs_total.
post() {
	set -- $(/usr/bin/time -f '%U %S' -o curl.cpu curl -s -m 3600 \
	    --cacert ca.pem --cert source.pem \
	    --key source.key -X POST -T "$1" -H "Content-Type: $2" \
	    -H "Expect:" -o resp -w '%{http_code} %{time_total}' \
	    "https://127.0.0.1:$xds/services/xdsrepositoryb" 2> curl.err)
	code=$1 secs_total=$2
	[ "$code" = 200 ] && grep -q "ResponseStatusType:Success" resp
}
# gen FILE NDOCS SIZE PATIENT UID SEED: the request (xds-tool pnr: one
# isn2 SubmissionSet UID, NDOCS image entries of one study, each a part of
# SIZE pseudo-random bytes, streamed in bounded memory); its type in $ct.
gen() {
	"$xdstool" pnr -n "$2" -z "$3" -c "$6" -p "$4^^^&$domain&ISO" \
	    -s "$5" "$1" ct.txt || die "xds-tool pnr failed"
	ct=$(cat ct.txt)
}
# logset VALUE: log_min_duration_statement, reloaded; parameters are
# logged only while every statement is (0).
logset() {
	psql -X -q -c "ALTER SYSTEM SET log_min_duration_statement = '$1'" \
	    -c "ALTER SYSTEM SET log_parameter_max_length = $(
	    [ "$1" = 0 ] && echo -1 || echo 0)" \
	    -c "SELECT pg_reload_conf()" >/dev/null || die "psql failed"
}
# pgcpu: ch_cpu summed over the PostgreSQL server's processes.
pgcpu() {
	pm=$(head -n 1 "$PG_DIR/data/postmaster.pid")
	for p in "$pm" $(pgrep -P "$pm"); do
		ch_cpu "$p" 2>/dev/null
	done | awk '{ s += $1 } END { printf "%.2f\n", s }'
}
# load: the 1-minute load average now (the figures are only as good as
# the machine is otherwise idle).
load() { echo "load $(cut -d' ' -f1 /proc/loadavg)"; }
kb() { awk "/^$1:/ { print \$2 }" "/proc/$pid/status"; }
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# ---- (a) ingest ----
if has ingest; then
	ch_register BENCHA || die "ITI-8 registration failed"
	: > ingest.rates; : > base.rates; : > files.rates
	r=1
	while [ $r -le "$rounds" ]; do
		gen study.req "$ninst" "$isize" BENCHA \
		    "1.2.826.0.1.3680043.10.543.1.$r" "$r"
		bytes=$(wc -c < study.req)
		ch_ballast blobs "$bytes"
		t0=$(now)
		dd if=study.req of=blobs/bench-baseline bs=1M conv=fsync \
		    2>/dev/null || die "dd failed"
		t1=$(now)
		rm -f blobs/bench-baseline
		calc "%.1f\n" "$bytes / ($t1 - $t0) / 1e6" >> base.rates
		# The same bytes as one file per instance made durable by one
		# syncfs, as the blob store's batch commit does (blob.md).
		mkdir blobs/bench-files || die "mkdir failed"
		ch_ballast blobs "$bytes"
		t0=$(now)
		split -b "$isize" -a 4 study.req blobs/bench-files/p. &&
		    sync -f blobs/bench-files || die "split or sync failed"
		t1=$(now)
		rm -rf blobs/bench-files
		calc "%.1f\n" "$bytes / ($t1 - $t0) / 1e6" >> files.rates
		ch_ballast blobs "$bytes"
		c0=$(ch_cpu "$pid"); p0=$(pgcpu)
		post study.req "$ct" || { cat curl.err resp >&2;
		    die "ingest round $r: HTTP $code"; }
		c1=$(ch_cpu "$pid"); p1=$(pgcpu)
		calc "%.1f\n" "$bytes / $secs_total / 1e6" >> ingest.rates
		echo "# ingest round $r: $(tail -n 1 ingest.rates) MB/s," \
		    "fsync baseline $(tail -n 1 base.rates) MB/s," \
		    "as $ninst files $(tail -n 1 files.rates) MB/s;" \
		    "CPU s: daemon $(calc %.2f "$c1 - $c0")," \
		    "PostgreSQL $(calc %.2f "$p1 - $p0")," \
		    "curl $(awk '{ printf "%.2f", $1 + $2 }' curl.cpu)," \
		    "wall $secs_total"
		rm -f study.req
		r=$((r + 1))
	done
	ing=$(median < ingest.rates); base=$(median < base.rates)
	files=$(median < files.rates)
	mb=$(calc %.1f "$bytes / 1e6")
	ratio=$(calc %.2f "$ing / $base")
	fratio=$(calc %.2f "$ing / $files")
	ok=$(calc %s "($ratio >= 0.7) ? \"met\" : \"NOT met\"")
	line_a="ingest: $ninst instances, $mb MB in one ITI-41 (MTOM, mutual TLS): $ing MB/s; fsync write of the same bytes $base MB/s; ratio $ratio (target >= 0.7, $ok); the same bytes as $ninst files and one syncfs $files MB/s, ratio $fratio [median of $rounds]; $(load)"
	echo "$line_a"
fi

# ---- (b) peak RSS ----
if has rss; then
	ch_register BENCHB || die "ITI-8 registration failed"
	gen big.req "$nbig" "$bsize" BENCHB 1.2.826.0.1.3680043.10.543.2 7
	bytes=$(wc -c < big.req)
	# Reset the peak to the current RSS (Linux >= 4.0), so that the
	# figure is this submission's, whatever ran before.
	before=$(kb VmHWM)
	if echo 5 > "/proc/$pid/clear_refs" 2>/dev/null; then
		since="reset before the submission"
	else
		since="since the daemon started"
	fi
	idle=$(kb VmRSS)
	post big.req "$ct" || { cat curl.err resp >&2;
	    die "2 GB submission: HTTP $code"; }
	hwm=$(kb VmHWM)
	rm -f big.req
	gb=$(calc %.2f "$bytes / 1e9")
	rate=$(calc %.1f "$bytes / $secs_total / 1e6")
	peak=$(calc %.1f "$hwm / 1024")
	idlem=$(calc %.1f "$idle / 1024")
	ratio=$(calc %.2f "$hwm / 1024 / 64")
	ok=$(calc %s "($hwm / 1024 <= 64) ? \"met\" : \"NOT met\"")
	line_b="rss: peak $peak MB (VmHWM, $since) during one $gb GB ITI-41 of $nbig documents at $rate MB/s; idle RSS $idlem MB (ratio $(calc %.2f "$hwm / $idle")), peak since start $(calc %.1f "$before / 1024") MB; ratio to the 64 MB target $ratio ($ok); $(load)"
	echo "$line_b"
fi

# ---- (c) ITI-18 FindSubmissionSets ----
if has query; then
	# One real submission: its stored SubmissionSet is the template of
	# the bulk-loaded ones (its ebrim, with id and patient replaced).
	ch_register BENCHQ || die "ITI-8 registration failed"
	gen tpl.req 1 1024 BENCHQ 1.2.826.0.1.3680043.10.543.3 3
	post tpl.req "$ct" || die "template submission: HTTP $code"
	nsets=$(( (nd + dps - 1) / dps ))
	echo "# loading $np patients, $nsets submission sets, $nd document entries"
	t0=$(now)
	psql -X -q -v ON_ERROR_STOP=1 -v np="$np" -v nd="$nd" -v dps="$dps" \
	    -v nsets="$nsets" -v domain="$domain" > load.log 2>&1 <<'EOSQL' ||
SET session_replication_role = replica;	-- no FK triggers while loading
SET maintenance_work_mem = '512MB';
SET synchronous_commit = off;
SELECT COALESCE(max(id), 0) AS pbase FROM patients \gset
SELECT COALESCE(max(id), 0) AS sbase FROM submission_sets \gset
SELECT COALESCE(max(id), 0) AS dbase FROM documents \gset
SELECT s.entry_uuid AS tuuid FROM submission_sets s JOIN patients p
    ON p.id = s.patient_id WHERE p.pid = 'BENCHQ' \gset
-- The secondary indexes and unique constraints are built after the load.
CREATE TEMP TABLE bench_ddl AS
    SELECT 'ALTER TABLE ' || conrelid::regclass || ' ADD CONSTRAINT ' ||
	quote_ident(conname) || ' ' || pg_get_constraintdef(oid) AS ddl,
	'ALTER TABLE ' || conrelid::regclass || ' DROP CONSTRAINT ' ||
	quote_ident(conname) AS undo
    FROM pg_constraint WHERE contype = 'u' AND conrelid IN
	('patients'::regclass, 'submission_sets'::regclass,
	 'documents'::regclass)
    UNION ALL
    SELECT indexdef, 'DROP INDEX ' || quote_ident(indexname)
    FROM pg_indexes WHERE schemaname = 'public' AND tablename IN
	('patients', 'submission_sets', 'documents') AND indexname NOT IN
	(SELECT conname FROM pg_constraint WHERE contype IN ('p', 'u'));
SELECT undo FROM bench_ddl \gexec
INSERT INTO patients (id, pid, domain_oid)
    SELECT :pbase + i, 'P' || i, :'domain' FROM generate_series(1, :np) i;
SELECT setval('patients_id_seq', :pbase + :np);
INSERT INTO submission_sets (id, entry_uuid, unique_id, source_id,
    patient_id, status, submission_time, content_type_code,
    content_type_scheme, ebrim, expires_at)
    SELECT :sbase + j, u, '1.2.826.0.1.3680043.10.543.4.' || j,
	t.source_id, :pbase + k, t.status,
	to_char(timestamp '2026-11-01' + j * interval '1 second',
	    'YYYYMMDDHH24MISS'),
	t.content_type_code, t.content_type_scheme,
	replace(replace(t.ebrim, t.entry_uuid, u), 'BENCHQ^^^',
	    'P' || k || '^^^'),
	now() + interval '30 days'
    FROM submission_sets t,
	LATERAL generate_series(1, :nsets) j,
	LATERAL (SELECT 'urn:uuid:00000000-0000-4000-8000-' ||
	    lpad(to_hex(j), 12, '0') AS u, (j - 1) % :np + 1 AS k) x
    WHERE t.entry_uuid = :'tuuid';
SELECT setval('submission_sets_id_seq', :sbase + :nsets);
INSERT INTO documents (id, entry_uuid, unique_id, repository_unique_id,
    submission_set_id, patient_id, status, object_type, mime_type, hash,
    size, creation_time, service_start_time, class_code, class_scheme,
    type_code, type_scheme, format_code, format_scheme, ebrim)
    SELECT :dbase + i, u, '1.2.826.0.1.3680043.10.543.5.' || i, '1.2.3',
	:sbase + j, :pbase + (j - 1) % :np + 1,
	'urn:oasis:names:tc:ebxml-regrep:StatusType:Approved',
	'urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1', 'application/dicom',
	md5(i::text) || '00000000', 524288, '20261127110000',
	'20261127100000', 'IMAGES', '1.3.6.1.4.1.19376.1.2.6.1',
	'Imaging Exam', '1.3.6.1.4.1.19376.3.840.1.1.2',
	'1.2.840.10008.5.1.4.1.1.2', '1.2.840.10008.2.6.1',
	'<rim:ExtrinsicObject id="' || u || '" mimeType="application/dicom"'
	|| ' objectType="urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1"/>'
    FROM generate_series(1, :nd) i,
	LATERAL (SELECT 'urn:uuid:00000000-0000-4000-9000-' ||
	    lpad(to_hex(i), 12, '0') AS u, (i - 1) / :dps + 1 AS j) x;
SELECT setval('documents_id_seq', :dbase + :nd);
SELECT ddl FROM bench_ddl \gexec
RESET session_replication_role;
ANALYZE patients;
ANALYZE submission_sets;
ANALYZE documents;
EOSQL
	    { cat load.log >&2; die "bulk load failed"; }
	t1=$(now)
	loadt=$(calc %.0f "$t1 - $t0")
	dbsize=$(ch_sql "SELECT pg_size_pretty(pg_database_size('isn'))")
	echo "# loaded in $loadt s, database $dbsize"
	check_np=$(ch_sql "SELECT count(*) FROM patients")
	[ "$check_np" -ge "$np" ] || die "the patients were not loaded"

	# Baseline: the very statement the daemon runs for this query, on the
	# database alone. One second of queries (also a warm-up) with every
	# statement logged gives its text and parameters; pgbench then runs
	# it in the same way (extended protocol, a named prepared statement
	# per connection, as db_query_prepared) with the patient drawn at
	# random, as many clients as bench-query.
	sqlqps=
	if command -v pgbench >/dev/null 2>&1; then
		logset 0
		"$bin/bench-query" "https://127.0.0.1:$xds/services/xdsregistryb" \
		    "$PWD/consumer.pem" "$PWD/consumer.key" "$PWD/ca.pem" \
		    "$np" P "$domain" 1 1 > /dev/null ||
		    die "bench-query failed"
		logset 5ms
		grep -A 1 'execute [^ ]*: SELECT 1 AS k' "$PG_DIR/log" |
		    tail -n 2 > stmt.log
		stmt=$(sed -n 's/.*execute [^ ]*: //p' stmt.log)
		params=$(sed -n 's/.*DETAIL: *parameters: //p' stmt.log)
		set --
		i=1
		while echo "$stmt" | grep -q "\\\$$i\\([^0-9]\\|\$\\)"; do
			if [ $i -gt 1 ]; then
				v=$(echo "$params" |
				    sed -n "s/.*\\\$$i = '\\([^']*\\)'.*/\\1/p")
				set -- "$@" -D "p$i=$v"
			fi
			i=$((i + 1))
		done
		if [ -n "$stmt" ] && echo "$params" | grep -q "^\\\$1 = 'P"; then
			{
				echo "\\set k random(1, $np)"
				echo "$stmt;" | sed -e "s/\\\$1\\([^0-9]\\)/('P' || CAST(:k AS text))\\1/g" \
				    -e 's/\$\([2-9]\)/:p\1/g'
			} > q.sql
			pgbench -n -M prepared -f q.sql -c "$clients" \
			    -j "$clients" "$@" \
			    -T "$(calc %d "($secs + 2) / 3")" > pgbench.out 2>&1 &&
			    sqlqps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' \
			    pgbench.out)
			sqllat=$(sed -n 's/^latency average = \([0-9.]*\) ms.*/\1/p' \
			    pgbench.out)
		fi
		[ -n "$sqlqps" ] || echo "# no SQL baseline (see pgbench.out)"
	fi
	# qrun: bench-query against the running daemon; figures in $qps,
	# $p50, $p99, $found, $nq, $qok.
	qrun() {
		out=$("$bin/bench-query" \
		    "https://127.0.0.1:$xds/services/xdsregistryb" \
		    "$PWD/consumer.pem" "$PWD/consumer.key" "$PWD/ca.pem" \
		    "$np" P "$domain" "$clients" "$secs")
		echo "# bench-query: $out"
		case $out in
		*queries=*) ;;
		*) die "bench-query failed" ;;
		esac
		qps=$(val qps); p50=$(val p50_ms); p99=$(val p99_ms)
		found=$(val found); nq=$(val queries); qerr=$(val errors)
		nconn=$(val connects); p99r=$(val p99_reuse_ms)
		qok=$(calc %s "($p99 <= 10) ? \"met\" : \"NOT met\"")
	}
	val() { echo "$out" | sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }
	qrun
	if [ -n "$sqlqps" ]; then
		base="SQL alone (pgbench) $(calc %.0f "$sqlqps") q/s, avg $sqllat ms; ratio $(calc %.2f "$qps / $sqlqps")"
	else
		base="no pgbench baseline"
	fi
	line_c="query: FindSubmissionSets (LeafClass) with $np patients, $nd document entries, $clients clients, ${secs} s: p50 $p50 ms, p99 $p99 ms (target <= 10 ms, $qok; ratio $(calc %.2f "$p99 / 10")), $qps q/s ($found of $nq answers non-empty, $qerr errors; $nconn connections opened, p99 on open ones $p99r ms); $base; $(calc %.0f "$qps * 3600 / 600")x the reference registry's 600 q/h; $(load)"
	echo "$line_c"
fi

ch_stop
[ "$rc" = 0 ] || echo "# the daemon exited with status $rc"
echo
echo "=== clearinghouse benchmark summary ($(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores) ==="
[ -n "${line_a:-}" ] && echo "$line_a"
[ -n "${line_b:-}" ] && echo "$line_b"
[ -n "${line_c:-}" ] && echo "$line_c"
echo "==="
exit 0
