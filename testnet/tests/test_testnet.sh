#!/bin/sh
# test_testnet.sh: isn-testnet up, status, env and down in a private run
# directory, with this build: PostgreSQL, the clearinghouse and two
# Orthanc PACS and an edge per site come up on loopback, the PACS hold
# their studies, a PHR certificate of the network reaches the
# clearinghouse and a stranger's does not, the RIS simulator reaches an
# edge, the patient and clinical scenarios pass, and down stops every process
# it started. (isn-testnet check runs every scenario on a fresh network.)
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
n=0; failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
check() { if eval "$2"; then ok "$1"; else nok "$1"; fi; }
for t in Orthanc curl openssl ss jq; do
	command -v $t >/dev/null 2>&1 || { echo "1..0 # SKIP no $t"; exit 0; }
done
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 ||
    { echo "1..0 # SKIP no PostgreSQL"; exit 0; }
case $top_builddir in /*) ;; *) top_builddir=$PWD/$top_builddir ;; esac
tn=$top_srcdir/testnet/isn-testnet
dir=$(mktemp -d /tmp/isn-testnet.XXXXXX) || exit 1
chmod 755 "$dir"	# PostgreSQL runs as postgres when we are root
export ISN_TESTNET_DIR=$dir/net ISN_TESTNET_BIN=$top_builddir
export ISN_TESTNET_SLICES=3
trap '"$tn" down >/dev/null 2>&1; rm -rf "$dir"' EXIT

"$tn" up > "$dir/up.out" 2>&1; rc=$?
check "up: exit 0, every component up" \
    '[ $rc = 0 ] && [ "$(grep -c " up  " "$dir/up.out")" = 6 ]'
[ $rc = 0 ] || for f in "$dir/up.out" "$dir"/net/*/log "$dir"/net/pacs-*/orthanc.log; do
	echo "# --- $f"; tail -n 15 "$f" | sed 's/^/# /'
done
"$tn" env > "$dir/env" 2>&1
. "$dir/env"
check "env: the clearinghouse, the feeds, the certificates, the PACS" \
    '[ -n "$ISN_CH_URL" ] && [ -n "$ISN_CH_PIX" ] && [ -n "$ISN_CH_REG" ] &&
     [ -r "$ISN_CA" ] && [ -r "$ISN_CONSUMER_CERT" ] &&
     [ -r "$ISN_SOURCE_KEY" ] && [ -n "$ISN_PACS_B_URL" ] &&
     [ -n "$ISN_EDGE_A_API" ] && [ -n "$ISN_EDGE_B_API_TOKEN" ] &&
     [ -n "$ISN_EDGE_B_HL7" ]'
# PACS A: 3 CT slices and the nine sample files of python3-pydicom.
na=3; [ -d /usr/lib/python3/dist-packages/pydicom/data/test_files ] && na=12
check "the PACS hold their studies (A: $na instances, B: 5 CT slices)" \
    'curl -sf "$ISN_PACS_A_URL/statistics" | grep -q "\"CountInstances\" : $na," &&
     curl -sf "$ISN_PACS_B_URL/statistics" | grep -q "\"CountInstances\" : 5"'
export PW=quackquack
"$top_builddir/phr-client/isn-phr" list --url "$ISN_CH_URL" --ca "$ISN_CA" \
    --cert "$ISN_CONSUMER_CERT" --key "$ISN_CONSUMER_KEY" \
    --oid "$ISN_AFFINITY_OID" --token abcd-efgh --dob 1970-01-01 \
    --password-env PW > "$dir/phr.out" 2>&1; rc=$?
check "a PHR with the network's certificate is answered (nothing yet)" \
    '[ $rc = 1 ] && grep -q "nothing found for these details" "$dir/phr.out"'
"$top_builddir/phr-client/isn-phr" list --url "$ISN_CH_URL" --ca "$ISN_CA" \
    --cert "$dir/net/pki/stranger.pem" --key "$dir/net/pki/stranger.key" \
    --oid "$ISN_AFFINITY_OID" --token abcd-efgh --dob 1970-01-01 \
    --password-env PW > "$dir/stranger.out" 2>&1; rc=$?
check "a stranger's certificate is refused at the TLS handshake" \
    '[ $rc != 0 ] && grep -q "TLS" "$dir/stranger.out"'
check "an edge's API refuses a wrong token and answers its own" \
    '[ "$(curl -s -o /dev/null -w "%{http_code}" -H "Authorization: Bearer wrong-token-0123456789" "$ISN_EDGE_B_API/api/patients?q=x")" = 401 ] &&
     curl -sf -H "Authorization: Bearer $ISN_EDGE_B_API_TOKEN" "$ISN_EDGE_B_API/api/patients?q=x" | grep -q "\"patients\""'
HL7_MRN=TNX1 HL7_ACC=TNACC1 HL7_DOB=19700101 HL7_FAMILY=TEST HL7_GIVEN=T \
    "$tn" hl7 send B order.hl7 > "$dir/hl7.out" 2>&1; rc=$?
check "hl7 send: the RIS simulator's order is acknowledged AA by edge B" \
    '[ $rc = 0 ] && grep -q "order.hl7 to edge B: AA" "$dir/hl7.out"'
"$tn" hl7 send B order.hl7 > "$dir/hl7.out" 2>&1; rc=$?
check "hl7 send: a placeholder without its variable is an error" \
    '[ $rc != 0 ] && grep -q "needs \$HL7_" "$dir/hl7.out"'
"$tn" scenario patient clinical > "$dir/scenario.out" 2>&1; rc=$?
check "scenarios patient and clinical (isn2 and rsna-token): every check passes" \
    '[ $rc = 0 ] && grep -q "all 46 checks passed" "$dir/scenario.out" &&
     grep -q "identifiers local, all else identical" "$dir/scenario.out" &&
     { [ $na = 3 ] || [ "$(grep -c "9 instances identical" "$dir/scenario.out")" = 2 ]; }'
[ $rc = 0 ] || sed 's/^/# /' "$dir/scenario.out"
. "$dir/net/state.sh"
"$tn" down > /dev/null 2>&1
check "down: every process it started is gone" \
    '! kill -0 "$ch_pid" 2>/dev/null && ! kill -0 "$pacs_A_pid" 2>/dev/null &&
     ! kill -0 "$pacs_B_pid" 2>/dev/null && ! kill -0 "$edge_A_pid" 2>/dev/null &&
     ! kill -0 "$edge_B_pid" 2>/dev/null &&
     ! "$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$pg_port"'
"$tn" status > /dev/null 2>&1; rc=$?
check "status after down: nothing runs (exit 1)" '[ $rc = 1 ]'
echo "1..$n"
[ $failed = 0 ]
