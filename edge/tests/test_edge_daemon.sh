#!/bin/sh
# test_edge_daemon.sh: isn-edge -n, -V, -m on a throwaway PostgreSQL, then
# a foreground run: the RIS port answers, SIGHUP with a broken and with a
# valid configuration, SIGTERM; then a background run with a pid file.
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
edge=$top_builddir/edge/isn-edge
send=$top_builddir/edge/tests/ris-send
data=$top_srcdir/edge/tests/data
schemas=$top_srcdir/schemas/edge
for v in edge send data schemas; do
	eval "p=\$$v"
	case $p in /*) ;; *) eval "$v=\$PWD/\$p" ;; esac
done
. "$top_srcdir/clearinghouse/tests/pg.sh"
. "$top_srcdir/clearinghouse/tests/lib.sh"
tmp=$(mktemp -d)
pid=
cleanup() {
	[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
	[ -f "$tmp/bg.pid" ] && kill -KILL "$(cat "$tmp/bg.pid")" 2>/dev/null
	cd /
	rm -rf "$tmp"
	pg_stop
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
WAITLOG_TRIES=200

# Without a database: -n, -V, options.
out=$("$edge" -n -f "$top_srcdir/edge/edge.yaml.sample" 2>&1); rc=$?
check "-n on the sample configuration" \
    '[ $rc = 0 ] && [ "$out" = "configuration OK" ]'
out=$("$edge" -n -f "$tmp/absent.yaml" 2>&1); rc=$?
check "-n on a missing file" '[ $rc = 1 ] && [ "$out" = \
    "$tmp/absent.yaml: could not open file: No such file or directory" ]'
printf 'database: {conninfo: x}\nris:\n  accession_field: obr-9\n  max_message: 1x\n' \
    > "$tmp/bad.yaml"
out=$(cd "$tmp" && "$edge" -n -f bad.yaml 2>&1); rc=$?
check "-n names each error with file:line:column" \
    '[ $rc = 1 ] && echo "$out" | grep -q "^bad.yaml:3:20: .*obr-9" &&
     echo "$out" | grep -q "^bad.yaml:4:16: .*1x"'
printf 'database: {conninfo: x}\nris:\n  tls: {cert: c.pem}\n' > "$tmp/bad2.yaml"
out=$(cd "$tmp" && "$edge" -n -f bad2.yaml 2>&1); rc=$?
check "-n reports the cross-key checks" \
    '[ $rc = 1 ] && echo "$out" | grep -qx "bad2.yaml: ris.tls: give both .cert. and .key., or neither"'
out=$("$edge" -n -v -f "$top_srcdir/edge/edge.yaml.sample" 2>/dev/null)
check "-n -v prints the effective configuration without the conninfo" \
    'echo "$out" | grep -q "accession_field: obr-3" &&
     ! echo "$out" | grep -q "dbname=isn_edge"'
out=$("$edge" -V); check "-V prints the version" \
    'echo "$out" | grep -q "^isn-edge [0-9]"'
"$edge" -x > /dev/null 2>&1; check "an unknown option is refused" '[ $? = 1 ]'
"$edge" -n -m > /dev/null 2>&1; check "-n with -m is refused" '[ $? = 1 ]'

if ! pg_start; then
	if [ "${ISN_REQUIRE_PG:-0}" = 1 ]; then
		echo "Bail out! PostgreSQL did not start: $PG_ERROR"; exit 1
	fi
	skip "the rest needs PostgreSQL: $PG_ERROR"; echo "1..$n"; exit 0
fi
trap cleanup EXIT
cd "$tmp" || exit 1
cat > edge.yaml <<EOT
site: {name: test-edge}
database: {conninfo: "$ISN_PG_CONNINFO", pool_size: 2, schema_dir: "$schemas"}
ris: {listen: "127.0.0.1:0"}
EOT
cp edge.yaml good.yaml
out=$("$edge" -m -f edge.yaml 2> m.err); rc=$?
check "-m applies the migrations" \
    '[ $rc = 0 ] && [ "$out" = "schema version 2 (2 migrations applied)" ] &&
     grep -q "migrate applied version=1 file=0001-edge.sql" m.err &&
     grep -q "migrate applied version=2 file=0002-import.sql" m.err'
out=$("$edge" -m -f edge.yaml 2> m.err); rc=$?
check "-m again applies nothing" \
    '[ $rc = 0 ] && [ "$out" = "schema version 2 (0 migrations applied)" ]'
check "the schema has the RSNA status codes" \
    '[ "$(ch_sql "SELECT count(*) FROM status_codes")" = 20 ] &&
     [ "$(ch_sql "SELECT meaning FROM status_codes WHERE code = 40")" = \
       "Completed transfer to clearinghouse" ]'
sed 's/port=[0-9]*/port=1/' edge.yaml > nodb.yaml
out=$("$edge" -m -f nodb.yaml 2>&1); rc=$?
check "-m without a database fails" '[ $rc = 1 ] && echo "$out" | grep -q "database:"'

: > log
"$edge" -d -f edge.yaml 2>> log & pid=$!
check "the daemon starts" 'waitlog " started version="'
check "the migrations are checked at start" \
    'grep -q "database schema version=2 applied=0" log'
port=$(sed -n 's/.*ris listening addr=[^ ]* port=\([0-9]*\).*/\1/p' log)
check "the RIS port is logged" '[ -n "$port" ] && [ "$port" != 0 ]'
"$send" -l "127.0.0.1:$port" "$data/adt-a08.hl7" > ack 2>&1
check "the RIS feed answers AA" 'grep -q "^MSA|AA|ctl-a08-1" ack'

# SIGHUP with two errors: both logged, old configuration kept.
printf 'drain_timeout: 1x\npacs: [{name: a}]\n' >> edge.yaml
kill -HUP $pid
check "a broken reload is refused" 'waitlog "conf reload-failed errors="'
check "each reload error is logged with its position" \
    'grep -q "conf error: $tmp/edge.yaml:4:16: invalid value \"1x\"" log'
"$send" -l "127.0.0.1:$port" "$data/adt-a08.hl7" > ack 2>&1
check "the feed still answers after a broken reload" 'grep -q "^MSA|AA|" ack'

# SIGHUP with a valid change and a restart-only change.
sed 's/127.0.0.1:0/127.0.0.1:1/' good.yaml > edge.yaml
echo "drain_timeout: 5s" >> edge.yaml
kill -HUP $pid
check "a valid reload is applied" 'waitlog "conf reloaded"'
check "a changed restart-only key is named" \
    'grep -q "conf restart-required key=ris.listen" log'
"$send" -l "127.0.0.1:$port" "$data/adt-a08.hl7" > ack 2>&1
check "the RIS port is unchanged after the reload" 'grep -q "^MSA|AA|" ack'

kill -TERM $pid; wait $pid; rc=$?; pid=
check "SIGTERM stops with status 0" '[ $rc = 0 ] && grep -q "stop idle" log'
"$send" -l "127.0.0.1:$port" "$data/adt-a08.hl7" > ack 2>&1; rc=$?
check "the RIS port is closed" '[ $rc = 1 ]'

# In the background: the parent returns once the child is up.
cp good.yaml bg.yaml
echo "pid_file: bg.pid" >> bg.yaml
"$edge" -f "$tmp/bg.yaml" > bg.out 2>&1; rc=$?
check "daemonised start returns 0" '[ $rc = 0 ] && [ -s bg.pid ]'
bgpid=$(cat bg.pid 2>/dev/null)
check "the pid file names a live process" 'kill -0 "$bgpid" 2>/dev/null'
"$edge" -f "$tmp/bg.yaml" > bg2.out 2>&1; rc=$?
check "a second instance is refused" \
    '[ $rc = 1 ] && grep -q "is locked: another instance is running" bg2.out'
kill -TERM "$bgpid"
i=0; while kill -0 "$bgpid" 2>/dev/null && [ $i -lt 200 ]; do
	i=$((i + 1)); sleep 0.05; done
check "the background daemon stops and removes its pid file" \
    '! kill -0 "$bgpid" 2>/dev/null && [ ! -e bg.pid ]'
[ $failed = 0 ] || sed 's/^/# /' log | tail -n 30
echo "1..$n"
[ $failed = 0 ]
