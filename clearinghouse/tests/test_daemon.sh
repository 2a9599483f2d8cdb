#!/bin/sh
# test_daemon.sh: isn-clearinghouse -n on good and bad configurations,
# then a foreground run: /health, /metrics, SIGHUP with a broken and with
# a valid configuration, SIGTERM; then a background run with a pid file.
ch=${top_builddir:-.}/clearinghouse/isn-clearinghouse
src=${top_srcdir:-.}/clearinghouse
data=$src/tests/data/daemon
tmp=$(mktemp -d)
pid=
cleanup() {
	[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
	[ -f "$tmp/bg.pid" ] && kill -KILL "$(cat "$tmp/bg.pid")" 2>/dev/null
	rm -rf "$tmp"
	pg_stop
}
# The daemon needs its registry (migrations at start) and a TLS context.
. "$src/tests/pg.sh"
. "$src/tests/lib.sh"
if ! command -v openssl >/dev/null 2>&1; then
	rm -rf "$tmp"; echo "1..0 # SKIP no openssl CLI"; exit 0
fi
pg_start || { rm -rf "$tmp"; pg_unavailable; }
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
# Log waits: at most 10 s.
WAITLOG_TRIES=200
get() { curl -s -m 5 "http://127.0.0.1:$port$1"; }

case $ch in /*) ;; *) ch=$PWD/$ch ;; esac

# -n: exact output and exit status of each golden case. The errors name
# the file as given, so run from the data directory.
for want in "$data"/*.out; do
	name=$(basename "$want" .out)
	want_rc=$(sed -n 's/^# exit: //p' "$want")
	grep -v '^# ' "$want" > "$tmp/want"
	(cd "$data" && "$ch" -n -f "$name.yaml" > "$tmp/got" 2>&1)
	rc=$?
	if [ "$rc" = "$want_rc" ] && cmp -s "$tmp/got" "$tmp/want"; then
		ok "-n $name"
	else
		nok "-n $name (exit $rc, want $want_rc)"
		diff "$tmp/want" "$tmp/got" | sed 's/^/# /'
	fi
done

out=$("$ch" -n -f "$src/clearinghouse.yaml.sample" 2>&1); rc=$?
check "-n on the sample configuration" \
    '[ $rc = 0 ] && [ "$out" = "configuration OK" ]'
out=$("$ch" -n -f "$tmp/absent.yaml" 2>&1); rc=$?
check "-n on a missing file" '[ $rc = 1 ] && [ "$out" = \
    "$tmp/absent.yaml: could not open file: No such file or directory" ]'
out=$("$ch" -V); check "-V prints the version" \
    'echo "$out" | grep -q "^isn-clearinghouse [0-9]"'
"$ch" -x > /dev/null 2>&1; check "an unknown option is refused" '[ $? = 1 ]'

# A foreground run on loopback, health on a port the kernel picks.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$tmp/k.pem" -out "$tmp/c.pem" -days 2 -subj "/CN=127.0.0.1" \
    >/dev/null 2>&1
cp "$tmp/c.pem" "$tmp/ca.pem"
mkdir "$tmp/blobs" "$tmp/other"
schemas=${top_srcdir:-.}/schemas/clearinghouse
case $schemas in /*) ;; *) schemas=$PWD/$schemas ;; esac
cat > "$tmp/ch.yaml" <<EOT
listen:
  xds: "127.0.0.1:0"
  pix_feed: "127.0.0.1:0"
  registry_feed: "127.0.0.1:0"
  health: "127.0.0.1:0"
tls: {cert: c.pem, key: k.pem, ca: ca.pem}
repository_unique_id: "1.2.3"
home_community_id: "urn:oid:1.2.4"
database: {conninfo: "$ISN_PG_CONNINFO", schema_dir: "$schemas"}
blob_dir: blobs
EOT
cp "$tmp/ch.yaml" "$tmp/good.yaml"
: > "$tmp/log"
"$ch" -d -f "$tmp/ch.yaml" 2>> "$tmp/log" & pid=$!
check "the daemon starts" 'waitlog " started version="'
port=$(sed -n 's/.*health listening addr=127\.0\.0\.1:\([0-9]*\).*/\1/p' \
    "$tmp/log")
check "the health port is logged" '[ -n "$port" ] && [ "$port" != 0 ]'
check "no XDS transaction is logged as not built" \
    '! grep -q "transaction not-built" "$tmp/log"'
check "GET /health answers ok" '[ "$(get /health)" = ok ]'
code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' \
    "http://127.0.0.1:$port/nope")
check "an unknown path is 404" '[ "$code" = 404 ]'
get /metrics > "$tmp/m1"
check "/metrics counts /health" \
    'grep -qx "isn_ch_health_requests_total{path=\"/health\",code=\"200\"} 1" "$tmp/m1"'
check "/metrics counts the 404" \
    'grep -qx "isn_ch_health_requests_total{path=\"other\",code=\"404\"} 1" "$tmp/m1"'
check "/metrics has the latency histogram" \
    'grep -qx "isn_ch_health_request_duration_seconds_count 3" "$tmp/m1"'
check "/metrics has the uptime and no reload yet" \
    'grep -q "^isn_ch_uptime_seconds [0-9]" "$tmp/m1" &&
     grep -qx "isn_ch_config_reloads_total{result=\"ok\"} 0" "$tmp/m1"'

# SIGHUP with two errors: both logged, old configuration kept.
printf 'retention: 1x\nlimits: {max_documents: 0}\n' >> "$tmp/ch.yaml"
kill -HUP $pid
check "a broken reload is refused" 'waitlog "conf reload-failed errors=2"'
check "each reload error is logged with its position" \
    'grep -q "conf error: $tmp/ch.yaml:11:12: invalid value \"1x\" for \"retention\"" "$tmp/log" &&
     grep -q "conf error: $tmp/ch.yaml:12:25: invalid value \"0\" for \"limits.max_documents\"" "$tmp/log"'
check "health still answers after a broken reload" '[ "$(get /health)" = ok ]'
check "the failed reload is counted" \
    'get /metrics | grep -qx "isn_ch_config_reloads_total{result=\"error\"} 1"'

# SIGHUP with a valid change and a restart-only change.
cp "$tmp/good.yaml" "$tmp/ch.yaml"
printf 'retention: 40d\nblob_dir: other\n' >> "$tmp/ch.yaml"
sed -i '/^blob_dir: blobs$/d' "$tmp/ch.yaml"
kill -HUP $pid
check "a valid reload is applied" 'waitlog "conf reloaded"'
check "a changed restart-only key is named" \
    'grep -q "conf restart-required key=blob_dir" "$tmp/log"'
check "the reload counter goes up" \
    'get /metrics | grep -qx "isn_ch_config_reloads_total{result=\"ok\"} 1"'

kill -TERM $pid; wait $pid; rc=$?; pid=
check "SIGTERM stops with status 0" '[ $rc = 0 ] && grep -q "stop idle" "$tmp/log"'
curl -s -m 5 "http://127.0.0.1:$port/health" > /dev/null 2>&1; rc=$?
check "the health port is closed" '[ $rc = 7 ]'

# In the background: the parent returns once the child is up.
cp "$tmp/good.yaml" "$tmp/bg.yaml"
echo "pid_file: bg.pid" >> "$tmp/bg.yaml"
"$ch" -f "$tmp/bg.yaml" > "$tmp/bg.out" 2>&1; rc=$?
check "daemonised start returns 0" '[ $rc = 0 ] && [ -s "$tmp/bg.pid" ]'
bgpid=$(cat "$tmp/bg.pid" 2>/dev/null)
check "the pid file names a live process" 'kill -0 "$bgpid" 2>/dev/null'
"$ch" -f "$tmp/bg.yaml" > "$tmp/bg2.out" 2>&1; rc=$?
check "a second instance is refused" \
    '[ $rc = 1 ] && grep -q "is locked: another instance is running" "$tmp/bg2.out"'
kill -TERM "$bgpid"
i=0; while kill -0 "$bgpid" 2>/dev/null && [ $i -lt 200 ]; do
	i=$((i + 1)); sleep 0.05; done
check "the background daemon stops and removes its pid file" \
    '! kill -0 "$bgpid" 2>/dev/null && [ ! -e "$tmp/bg.pid" ]'

echo "1..$n"
[ $failed = 0 ]
