# lib.sh: TAP helpers for the clearinghouse's shell tests (POSIX sh).
# Counts in $n and $failed; the caller prints the plan ("1..$n") at the end.
# Sources pg.sh and certs.sh from $top_srcdir/clearinghouse/tests too.
n=0; failed=0
for ch_lib in pg.sh certs.sh; do
	ch_lib=${top_srcdir:-.}/clearinghouse/tests/$ch_lib
	if [ -r "$ch_lib" ]; then . "$ch_lib"; fi
done
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
# The caller sets top_srcdir/top_builddir, sources this file and calls
# ch_begin, which runs pg_start, makes $tmp, cds into it and sets the
# cleanup trap (kill $pid, rm -rf $tmp, pg_stop).
#
# ch_begin [COMMAND...]: "1..0 # SKIP" and exit 0 when a COMMAND is
# missing; ch_paths; a private PostgreSQL (pg_start, else pg_unavailable);
# a fresh $tmp as the current directory; the EXIT trap ch_end.
ch_begin() {
	for t in "$@"; do
		if ! command -v "$t" >/dev/null 2>&1; then
			echo "1..0 # SKIP no $t"; exit 0
		fi
	done
	ch_paths
	pg_start || pg_unavailable
	tmp=$(mktemp -d); pid=; bgpids=
	trap ch_end EXIT
	trap 'exit 1' INT TERM HUP
	cd "$tmp" || exit 1
}
# ch_end: kill -9 the daemon ($pid) and other background processes of the
# test ($bgpids), remove $tmp (CH_KEEP=1 keeps it), stop PostgreSQL.
ch_end() {
	for p in $pid $bgpids; do kill -KILL "$p" 2>/dev/null; done
	cd /
	if [ -n "${CH_KEEP:-}" ]; then echo "# kept $tmp"; else rm -rf "$tmp"; fi
	pg_stop
}

# ch_paths: absolute paths of the daemon ($ch), the ITI-8 client ($send),
# the XDS message helper ($xdstool, xds-tool.c), the migrations ($schemas)
# and the shared samples ($shared, may not exist).
ch_paths() {
	ch=$top_builddir/clearinghouse/isn-clearinghouse
	send=$top_builddir/clearinghouse/tests/mllp-send
	xdstool=$top_builddir/clearinghouse/tests/xds-tool
	schemas=$top_srcdir/schemas/clearinghouse
	shared=${ISN_SHARED:-$top_srcdir/../shared}
	case $ch in /*) ;; *) ch=$PWD/$ch ;; esac
	case $send in /*) ;; *) send=$PWD/$send ;; esac
	case $xdstool in /*) ;; *) xdstool=$PWD/$xdstool ;; esac
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

# ch_conf [extra YAML]: ch.yaml for those peers, affinity domain
# $CH_DOMAIN (1.2.260), repository $CH_REPO (1.2.3), every port 0, the
# blob store in ./blobs. Top-level keys given as the argument are appended
# (they must not repeat these).
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
affinity_domain: "${CH_DOMAIN:-1.2.260}"
repository_unique_id: "${CH_REPO:-1.2.3}"
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

# ch_register PID [control-id [OID]]: ADT^A04 for PID^^^&OID&ISO (OID
# 1.2.260) on the PIX feed as the source peer; 0 when acknowledged AA.
ch_register() {
	printf 'MSH|^~\\&|RIS|SITE|ISN|CH|20261127120000||ADT^A04^ADT_A01|%s|P|2.3.1\rEVN||20261127120000\rPID|||%s^^^&%s&ISO||RSNA ISN^RSNA ISN\rPV1||O\r' \
	    "${2:-reg-$1}" "$1" "${3:-1.2.260}" > "reg-$1.hl7"
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

# ch_submit CX SS-UID [XDS-TOOL-OPTION...]: an ITI-41 of xds-tool's
# synthetic documents (-z sizes) as the source peer, kept in ./pnr-SS-UID
# (Content-Type ./ct-SS-UID); 0 on Success.
ch_submit() {
	sb_cx=$1; sb_uid=$2; shift 2
	"$xdstool" pnr -p "$sb_cx" -s "$sb_uid" "$@" "pnr-$sb_uid" "ct-$sb_uid" &&
	    ch_post source "pnr-$sb_uid" "$(cat "ct-$sb_uid")" \
	    /services/xdsrepositoryb &&
	    [ "$code" = 200 ] && grep -q "ResponseStatusType:Success" resp
}

# ch_xmlesc TEXT: TEXT with &, <, > and " escaped for XML.
ch_xmlesc() {
	printf '%s\n' "$1" |
	    sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g' -e 's/"/\&quot;/g'
}

# ch_iti18 OUT QUERY-UUID RETURN-TYPE SLOT...: an ITI-18 stored query
# (SOAP 1.2 AdhocQueryRequest) in OUT; each SLOT is NAME=VALUE, the VALUE
# plain text already quoted as ITI-18 wants ('x' or ('x','y')), which
# ch_iti18 XML-escapes (ch_xmlesc). Post it with ch_post to
# /services/xdsregistryb as application/soap+xml.
ch_iti18() {
	q_out=$1 q_id=$2 q_rt=$3; shift 3
	{
		cat <<EOQ
<?xml version="1.0" encoding="UTF-8"?>
<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"
    xmlns:wsa="http://www.w3.org/2005/08/addressing">
 <env:Header>
  <wsa:Action env:mustUnderstand="1">urn:ihe:iti:2007:RegistryStoredQuery</wsa:Action>
  <wsa:MessageID>urn:uuid:6f3c6f4e-5b1e-4c1a-9d7e-0a1b2c3d4e5f</wsa:MessageID>
  <wsa:ReplyTo><wsa:Address>http://www.w3.org/2005/08/addressing/anonymous</wsa:Address></wsa:ReplyTo>
 </env:Header>
 <env:Body>
  <query:AdhocQueryRequest xmlns:query="urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0"
      xmlns="urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0">
   <query:ResponseOption returnComposedObjects="true" returnType="$q_rt"/>
   <AdhocQuery id="$q_id">
EOQ
		for q_s; do
			printf '    <Slot name="%s"><ValueList><Value>%s</Value></ValueList></Slot>\n' \
			    "${q_s%%=*}" "$(ch_xmlesc "${q_s#*=}")"
		done
		printf '   </AdhocQuery>\n  </query:AdhocQueryRequest>\n </env:Body>\n</env:Envelope>\n'
	} > "$q_out"
}

# ch_iti42 OUT < OBJECTS: an ITI-42 Register Document Set-b (SOAP 1.2
# SubmitObjectsRequest) in OUT around the ebRIM objects read from stdin
# (XML, written as is). Post it with ch_post to /services/xdsregistryb.
ch_iti42() {
	{
		cat <<EOX
<?xml version="1.0" encoding="UTF-8"?>
<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"
    xmlns:wsa="http://www.w3.org/2005/08/addressing">
 <env:Header>
  <wsa:Action env:mustUnderstand="1">urn:ihe:iti:2007:RegisterDocumentSet-b</wsa:Action>
  <wsa:MessageID>urn:uuid:1f3c6f4e-5b1e-4c1a-9d7e-0a1b2c3d4e42</wsa:MessageID>
 </env:Header>
 <env:Body>
  <lcm:SubmitObjectsRequest xmlns:lcm="urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0">
   <rim:RegistryObjectList xmlns:rim="urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0">
EOX
		cat
		printf '   </rim:RegistryObjectList>\n  </lcm:SubmitObjectsRequest>\n </env:Body>\n</env:Envelope>\n'
	} > "$1"
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

# ch_cpu PID: the user + system seconds a process has used (its threads
# included), for benchmarks.
ch_cpu() {
	awk -v t="$(getconf CLK_TCK)" '{ print ($14 + $15) / t }' "/proc/$1/stat"
}

# ch_ballast DIR BYTES [ONLY]: for benchmarks: write BYTES (+64 MiB) into
# a file in DIR, make it durable and remove it, so that the timed step that
# follows at once writes into just freed, host-backed page-cache memory.
# On a virtual machine a guest page not touched lately costs a host fault
# on first write: measured here, a file write growing the page cache ran
# at 350-440 MB/s and one reusing freed pages at 1300-2100 MB/s, so
# whichever step happened to grow the cache lost (docs/design/bench.md).
# The sync makes everything durable; with a third argument (any word) only
# the ballast is, so that other files stay as dirty as they were.
ch_ballast() {
	dd if=/dev/zero of="$1/ballast" bs=1M count=$(($2 / 1048576 + 64)) \
	    ${3:+conv=fsync} 2>/dev/null
	[ -n "${3:-}" ] || sync
	rm -f "$1/ballast"
}
