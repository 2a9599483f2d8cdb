# lib.sh: TAP helpers for the clearinghouse's shell tests (POSIX sh).
# Counts in $n and $failed; the caller prints the plan ("1..$n") at the end.
n=0; failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
check() { if eval "$2"; then ok "$1"; else nok "$1"; fi; }
skip() { n=$((n + 1)); echo "ok $n # SKIP $1"; }

# waitlog PATTERN [COUNT]: wait until PATTERN matches COUNT (1) lines of
# $tmp/log, at most WAITLOG_TRIES (400) x 50 ms; give up early if the
# daemon $pid (when set) has exited.
waitlog() {
	i=0
	while :; do
		c=$(grep -c -- "$1" "$tmp/log" 2>/dev/null)
		[ "${c:-0}" -ge "${2:-1}" ] && return 0
		[ -z "$pid" ] || kill -0 "$pid" 2>/dev/null || return 1
		i=$((i + 1)); [ $i -gt "${WAITLOG_TRIES:-400}" ] && return 1
		sleep 0.05
	done
}

# --- A whole daemon for an end-to-end test (test_xds.sh is the model). ---
# The caller sets top_srcdir/top_builddir, sources pg.sh, certs.sh and this
# file, runs pg_start, makes $tmp, cds into it and sets its cleanup trap
# (kill $pid, rm -rf $tmp, pg_stop).
#
# ch_paths: absolute paths of the daemon ($ch), the ITI-8 client ($send),
# the migrations ($schemas) and the shared samples ($shared, may not exist).
ch_paths() {
	ch=$top_builddir/clearinghouse/isn-clearinghouse
	send=$top_builddir/clearinghouse/tests/mllp-send
	schemas=$top_srcdir/schemas/clearinghouse
	shared=${ISN_SHARED:-$top_srcdir/../shared}
	case $ch in /*) ;; *) ch=$PWD/$ch ;; esac
	case $send in /*) ;; *) send=$PWD/$send ;; esac
	case $schemas in /*) ;; *) schemas=$PWD/$schemas ;; esac
	case $shared in /*) ;; *) shared=$PWD/$shared ;; esac
}

# ch_pki: a CA, the server and three peers: source (role source, by
# fingerprint), consumer (role consumer, by subject), both (both roles).
ch_pki() {
	certs_make
	cert source "/O=ISN Test/CN=source site"
	cert consumer "/O=ISN Test/CN=consumer app"
	cert both "/O=ISN Test/CN=edge both"
	[ -s server.pem ] && [ -s source.pem ] && [ -s consumer.pem ] &&
	    [ -s both.pem ]
}

# ch_conf [extra YAML]: ch.yaml for those peers, affinity domain 1.2.260,
# repository 1.2.3, every port 0, the blob store in ./blobs. Top-level
# keys given as the argument are appended (they must not repeat these).
ch_conf() {
	mkdir -p blobs
	cat > ch.yaml <<EOT
listen:
  xds: "127.0.0.1:0"
  pix_feed: "127.0.0.1:0"
  registry_feed: "127.0.0.1:0"
  health: "127.0.0.1:0"
tls: {cert: server.pem, key: server.key, ca: ca.pem}
peers:
  - name: source-site
    fingerprint: "$(cert_fp source.pem)"
    roles: [source]
  - name: consumer-app
    subject: "$(cert_subject consumer.pem)"
    roles: [consumer]
  - name: edge-both
    fingerprint: "$(cert_fp both.pem)"
    roles: [source, consumer]
affinity_domain: "1.2.260"
repository_unique_id: "1.2.3"
home_community_id: "urn:oid:1.2.4"
database:
  conninfo: "$ISN_PG_CONNINFO"
  pool_size: 2
  schema_dir: "$schemas"
blob_dir: blobs
${1:-}
EOT
}

# ch_start [args]: the daemon in the foreground (-d) logging to ./log; 0
# once it logged "started", with its ports in $xds, $pix, $reg, $health.
ch_start() {
	: >> log
	"$ch" -d -f ch.yaml "$@" 2>> log & pid=$!
	waitlog " started version=" "$(($(grep -c " started version=" log) + 1))" ||
	    return 1
	xds=$(sed -n 's/.*xds listening addr=[^ ]* port=\([0-9]*\).*/\1/p' log |
	    tail -n 1)
	pix=$(sed -n 's/.*listener=pix_feed listening .* port=\([0-9]*\).*/\1/p' \
	    log | tail -n 1)
	reg=$(sed -n 's/.*listener=registry_feed listening .* port=\([0-9]*\).*/\1/p' \
	    log | tail -n 1)
	health=$(sed -n 's/.*health listening addr=127\.0\.0\.1:\([0-9]*\).*/\1/p' \
	    log | tail -n 1)
	[ -n "$xds" ] && [ -n "$pix" ] && [ -n "$reg" ] && [ -n "$health" ]
}

# ch_stop: SIGTERM, wait; the exit status in $rc.
ch_stop() {
	kill -TERM "$pid"; wait "$pid"; rc=$?; pid=
}

# ch_register PID [control-id]: ADT^A04 for PID^^^&1.2.260&ISO on the PIX
# feed as the source peer; 0 when acknowledged AA.
ch_register() {
	printf 'MSH|^~\\&|RIS|SITE|ISN|CH|20261127120000||ADT^A04^ADT_A01|%s|P|2.3.1\rEVN||20261127120000\rPID|||%s^^^&1.2.260&ISO||RSNA ISN^RSNA ISN\rPV1||O\r' \
	    "${2:-reg-$1}" "$1" > "reg-$1.hl7"
	"$send" "127.0.0.1:$pix" source.pem source.key ca.pem "reg-$1.hl7" \
	    > "reg-$1.ack" 2>&1 && grep -q "^MSA|AA|" "reg-$1.ack"
}

# ch_post CERT FILE CONTENT-TYPE PATH: POST over mutual TLS; the HTTP
# status in $code, the body in ./resp.
ch_post() {
	code=$(curl -s -m 60 --cacert ca.pem --cert "$1.pem" --key "$1.key" \
	    -o resp -w '%{http_code}' -H "Content-Type: $3" \
	    --data-binary "@$2" "https://127.0.0.1:$xds$4" 2> curl.err)
}

# ch_sql STATEMENT: one psql value (tuples only, unaligned).
ch_sql() { psql -X -A -t -q -c "$1" 2>&1; }

# ch_metrics: the Prometheus text; ch_waitmetric LINE-REGEX: bounded wait.
ch_metrics() { curl -s -m 5 "http://127.0.0.1:$health/metrics"; }
ch_waitmetric() {
	i=0
	while ! ch_metrics | grep -q -- "$1"; do
		i=$((i + 1)); [ $i -gt 100 ] && return 1
		sleep 0.05
	done
}

# ch_nblobs: committed blobs in ./blobs.
ch_nblobs() { find blobs/data -type f 2>/dev/null | wc -l | tr -d ' '; }
