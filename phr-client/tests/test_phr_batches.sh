#!/bin/sh
# test_phr_batches.sh: a retrieval in many batches, each on a new
# connection, against the real clearinghouse (a private PostgreSQL, the
# test PKI, mutual TLS, the daemon on loopback with a keep-alive timeout
# of 1 s). test_phr hook asks for PHR_BATCH instances a request and, after
# each answer, waits (up to PHR_PAUSE_MS) until the daemon has closed the
# idle connection, so every next request (RAD-69, or ITI-43 after the
# fallback) goes out on a fresh TLS connection: the one easy handle, the
# receiving thread, its ring and the per-batch MTOM state must start over
# cleanly each time (a PHR once hung sending its second RAD-69 batch on a
# second connection). Checked: byte for byte under isn2 and rsna-token,
# the number of requests and of distinct connections in the daemon's
# log, the same with RAD-69 refused (SOAP fault, HTTP 404) and ITI-43
# batches instead, many batches on one kept-alive connection, and an
# answer stalled past the daemon's write timeout mid-batch (the daemon
# drops it: retried on a new connection, then the remaining batches),
# three handles retrieving at once from three threads, and a set larger
# than one GetDocuments listed without a failed lookup.
# Every run is bounded by timeout(1): a hang is a failure, not a stuck
# make check.
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}

. "$top_srcdir/clearinghouse/tests/pg.sh"
. "$top_srcdir/clearinghouse/tests/certs.sh"
. "$top_srcdir/clearinghouse/tests/lib.sh"
ch_begin openssl curl psql cmp timeout
mksub=$top_builddir/testnet/isn-mksub
tphr=$top_builddir/phr-client/tests/test_phr
case $mksub in /*) ;; *) mksub=$OLDPWD/$mksub ;; esac
case $tphr in /*) ;; *) tphr=$OLDPWD/$tphr ;; esac
export PW=quackquack

check "the test PKI was generated" ch_pki
# io 2 s: the stalled answer below is dropped by the write timeout.
ch_conf "timeouts: {idle: 1s, io: 2s}"
check "the daemon starts (keep-alive timeout 1 s)" ch_start
cat > prof.yaml <<EOT
url: "https://127.0.0.1:$xds"
ca: ca.pem
cert: consumer.pem
key: consumer.key
affinity_domain: "1.2.260"
EOT

# submit NAME SET-UID N:BYTES SCHEME-ARGS...: N synthetic instances in two
# series of study SET-UID.1 (25: 13 in series .1, 12 in .2),
# their KOS and a report, stored; plaintexts in plain-NAME/.
submit() {
	s_name=$1 s_uid=$2 s_syn=$3; shift 3
	mkdir -p "plain-$s_name"
	printf 'FINAL REPORT\r\nStudy %s.\r\n' "$s_uid.1" \
	    > "plain-$s_name/report.txt"
	"$mksub" --oid 1.2.260 --repository 1.2.3 "$@" \
	    --submission-uid "$s_uid" --study-uid "$s_uid.1" \
	    --synthetic "$s_syn" --save-synthetic "plain-$s_name" \
	    --save-kos "plain-$s_name/kos.dcm" \
	    --report "plain-$s_name/report.txt" --info "mk-$s_name" \
	    --out "pnr-$s_name" --content-type-file "ct-$s_name" \
	    2> "mk-$s_name.err" || return 1
	ch_register "$(sed -n 's/^rsna-id //p' "mk-$s_name")" "r-$s_name" \
	    1.2.260 || return 1
	ch_post source "pnr-$s_name" "$(cat "ct-$s_name")" \
	    /services/xdsrepositoryb
	rm -f "pnr-$s_name"
	[ "$code" = 200 ] && grep -q "ResponseStatusType:Success" resp
}
check "an isn2 submission of 25 instances is stored" \
    'submit isn2 1.2.260.91 25:150000 --scheme isn2 --token abcd-efgh \
     --password-env PW --dob 19460201'
check "an rsna-token submission of 25 instances is stored" \
    'submit tok 1.2.260.92 25:150000 --scheme rsna-token --token fpzddg \
     --password-env PW --dob 19460201'
check "an rsna-token submission of 6 large instances is stored" \
    'submit big 1.2.260.93 6:6000000 --scheme rsna-token --token kq7mbs \
     --password-env PW --dob 19460201'

# same DIR NAME: every plaintext of plain-NAME is in DIR, byte for byte.
same() {
	s_st=$(sed -n 's/^study //p' "mk-$2")
	s_n=0
	for f in "plain-$2"/*; do
		u=${f##*/}
		case $u in
		kos.dcm|report.txt) g=$1/$s_st/$u ;;
		*) u=${u%.dcm}; g=$1/$s_st/${u%.*}/$u.dcm ;;
		esac
		cmp -s "$f" "$g" || { echo "# differs: $g"; return 1; }
		s_n=$((s_n + 1))
	done
	[ -f "plain-$2/kos.dcm" ] && [ -f "plain-$2/report.txt" ] &&
	    [ ! -e "$1/.isnphr-tmp" ] && echo "# $s_n documents the same"
}

# run DIR SCHEME TOKEN [VAR=VALUE...]: test_phr hook into DIR (at most
# 120 s), what it printed in DIR.out; the daemon's log lines of the run in
# DIR.log.
run() {
	r_dir=$1 r_scheme=$2 r_token=$3; shift 3
	r_from=$(($(wc -l < log) + 1))
	env ISN_PASSWORD=quackquack "$@" timeout 120 "$tphr" hook prof.yaml \
	    "$r_scheme" "$r_token" 1946-02-01 "$r_dir" > "$r_dir.out" 2>&1
	echo "exit $?" >> "$r_dir.out"
	sed -n "$r_from,\$p" log > "$r_dir.log"
}
val() { sed -n "s/^$2 //p" "$1.out"; }
# requests DIR TXN: the run's answered requests of TXN (RAD-69, ITI-43).
requests() { grep -c "txn=$2 event=answer" "$1.log"; }
# conns DIR TXN: the distinct connections they came on.
conns() {
	grep "txn=$2 event=answer" "$1.log" |
	    sed 's/.* conn=\([0-9a-f]*\) .*/\1/' | sort -u | wc -l
}
# fresh DIR: how many connections the run opened (TLS handshakes).
fresh() { grep -c "event=tls-peer" "$1.log"; }
ok_run() {
	[ "$(val "$1" exit)" = 0 ] && [ "$(val "$1" rc)" = 0 ] &&
	    [ "$(val "$1" closed)" = "$(val "$1" pauses)" ] &&
	    [ "$(val "$1" failed)" = 0 ] && [ "$(val "$1" retrieved)" = "$2" ]
}

# --- isn2: 25 instances, 4 a request: series .1 (13) in 4 RAD-69
# batches, series .2 (12) in 3; after each answer the daemon closes the
# idle connection, so each request opens a new one.
run b1 isn2 abcd-efgh PHR_BATCH=4 PHR_PAUSE_MS=5000
check "isn2, 7 RAD-69 batches with the connection closed between them: all retrieved" \
    'ok_run b1 27 && [ "$(val b1 rad69_off)" = 0 ]'
check "isn2, 7 RAD-69 batches: decrypted, byte for byte" 'same b1 isn2'
check "isn2: 7 RAD-69 requests, each on a connection of its own" \
    '[ "$(requests b1 RAD-69)" = 7 ] && [ "$(conns b1 RAD-69)" = 7 ] &&
     [ "$(fresh b1)" -ge 8 ]'

# --- rsna-token: the same, 2 instances a request (13 connections).
run b2 rsna-token fpzddg PHR_BATCH=2 PHR_PAUSE_MS=5000
check "rsna-token, 13 RAD-69 batches on 13 connections: byte for byte" \
    'ok_run b2 27 && same b2 tok &&
     [ "$(requests b2 RAD-69)" = 13 ] && [ "$(conns b2 RAD-69)" = 13 ]'

# --- many batches on one kept-alive connection (no pause).
run b3 isn2 abcd-efgh PHR_BATCH=3
check "isn2, 9 RAD-69 batches on the kept-alive connection: byte for byte" \
    'ok_run b3 27 && same b3 isn2 && [ "$(requests b3 RAD-69)" = 9 ] &&
     [ "$(conns b3 RAD-69)" = 1 ]'

# --- RAD-69 refused, then ITI-43 in batches on new connections. The
# KOS and report are one ITI-43 request; then the refused RAD-69, the
# same batch again by ITI-43 and the rest: 1 + 7 ITI-43 requests.
run b4 isn2 abcd-efgh PHR_BATCH=4 PHR_PAUSE_MS=5000 \
    PHR_RAD69_PATH=/services/xdsrepositoryb
check "RAD-69 answered with a SOAP fault: 7 ITI-43 batches on new connections, byte for byte" \
    'ok_run b4 27 && [ "$(val b4 rad69_off)" = 1 ] && same b4 isn2 &&
     [ "$(requests b4 ITI-43)" = 8 ] && [ "$(conns b4 ITI-43)" -ge 8 ]'
run b5 rsna-token fpzddg PHR_BATCH=5 PHR_PAUSE_MS=5000 \
    PHR_RAD69_PATH=/services/no-such-endpoint
check "RAD-69 answered HTTP 404: 6 ITI-43 batches on new connections, byte for byte" \
    'ok_run b5 27 && [ "$(val b5 rad69_off)" = 1 ] && same b5 tok &&
     [ "$(requests b5 ITI-43)" = 7 ] && [ "$(conns b5 ITI-43)" -ge 7 ]'

# --- an answer stalled mid-batch: 3 instances of 6 MB a request (one
# request a series). The first RAD-69 answer's reader stops for 5 s
# once its first bytes are in, longer than the daemon's write timeout
# (2 s) once the ring and the socket buffers are full: the daemon drops
# the connection, the batch is asked again on a new one, then the
# second series. The first RAD-69 is request 5 (3 for the listing, 1 for
# the KOS and report; b6 counts them without the stall first).
run b6 rsna-token kq7mbs PHR_BATCH=3
first=$(($(val b6 attempts) - 1))
run b7 rsna-token kq7mbs PHR_BATCH=3 PHR_STALL_MS=5000 PHR_STALL_AT=$first
check "an answer stalled past the write timeout: asked again on a new connection, byte for byte" \
    'ok_run b6 8 && ok_run b7 8 && same b7 big &&
     [ "$(val b7 attempts)" -gt "$(val b6 attempts)" ] &&
     [ "$(requests b7 RAD-69)" -ge 3 ]'

# --- several handles of one process at once (a PHR serving several
# patients): 3 threads, each its own connections, 4 instances a request,
# the three answers streaming together on one daemon.
r_from=$(($(wc -l < log) + 1))
env ISN_PASSWORD=quackquack PHR_BATCH=4 timeout 120 "$tphr" parallel \
    prof.yaml isn2 abcd-efgh 1946-02-01 par 3 > par.out 2>&1; rc=$?
sed -n "$r_from,\$p" log > par.log
check "3 concurrent retrievals (isn2, 7 RAD-69 batches each): all byte for byte" \
    '[ $rc = 0 ] && [ "$(grep -c " rc 0 retrieved 27 failed 0 " par.out)" = 3 ] &&
     same par.1 isn2 && same par.2 isn2 && same par.3 isn2 &&
     [ "$(requests par RAD-69)" = 21 ] && [ "$(conns par RAD-69)" -ge 3 ]'

# --- a set whose members (152 documents, 152 associations, the set) fill
# four GetDocuments: the associations are not asked for, so the listing
# makes no query that matches nothing (the clearinghouse counts those as
# failed lookups against the PHR's certificate: ratelimit.md), and the
# second chunk of documents is sent ahead while the first is parsed.
check "an rsna-token submission of 150 instances is stored" \
    'submit many 1.2.260.94 150:2000 --scheme rsna-token --token hx3nrw \
     --password-env PW --dob 19460201'
lookups() {
	ch_metrics | sed -n 's/^isn_ch_failed_lookups_total{transaction="ITI-18"} //p'
}
lk0=$(lookups)
run b8 rsna-token hx3nrw
lk1=$(lookups)
check "150 instances listed and retrieved without a failed lookup (${lk0:-0} before, ${lk1:-0} after)" \
    'ok_run b8 152 && same b8 many && [ "${lk1:-0}" = "${lk0:-0}" ]'
check "their listing: FindSubmissionSets, FindDocuments, GetSubmissionSetAndContents, 2 GetDocuments" \
    '[ "$(grep -c "path=/services/xdsregistryb status=200" b8.log)" = 5 ]'

echo "1..$n"
[ $failed = 0 ]
