#!/bin/sh
# test_crash.sh: crash safety of isn-clearinghouse (PROFILE.md section 7)
# with a throwaway PostgreSQL (pg.sh) and a test PKI (certs.sh):
#  1. kill -9 right after a submission's response, restart: the
#     submission is wholly retrievable (rows, blob, SHA-1 and size);
#  2. kill -9 during a large, slow ITI-41 upload (a multi-hundred-MB
#     document streamed by admin-pnr into curl --limit-rate), restart: no
#     rows, the temp blob is removed by the reaper's sweep, no orphan
#     under blobs/data, and a later submission works.
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}

. "$top_srcdir/clearinghouse/tests/pg.sh"
. "$top_srcdir/clearinghouse/tests/certs.sh"
. "$top_srcdir/clearinghouse/tests/lib.sh"
for t in openssl curl sha1sum; do
	if ! command -v $t >/dev/null 2>&1; then
		echo "1..0 # SKIP no $t"; exit 0
	fi
done
ch_paths
pnrgen=$top_builddir/clearinghouse/tests/admin-pnr
case $pnrgen in /*) ;; *) pnrgen=$PWD/$pnrgen ;; esac
pg_start || pg_unavailable
tmp=$(mktemp -d)
pid=
cpid=
cleanup() {
	[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
	[ -n "$cpid" ] && kill -KILL "$cpid" 2>/dev/null
	rm -rf "$tmp"
	pg_stop
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
sql() { ch_sql "$1"; }
crash() { kill -KILL "$pid"; wait "$pid" 2>/dev/null; pid=; }
# until COMMAND: bounded wait (20 s) for a condition.
until_ok() {
	i=0
	while ! eval "$1"; do
		i=$((i + 1)); [ $i -gt 400 ] && return 1
		sleep 0.05
	done
}
tmpblobs() { ls blobs/tmp 2>/dev/null | grep -E '^[0-9a-f]{32}$'; }
# Every committed blob is named by a documents row and the other way round.
consistent() {
	sql "SELECT blob_id FROM documents ORDER BY 1" > rows.ids &&
	    find blobs/data -type f -exec basename {} \; | sort > files.ids &&
	    { cmp -s rows.ids files.ids ||
	    { diff rows.ids files.ids | sed 's/^/# /'; false; }; }
}

cd "$tmp" || exit 1
check "the test PKI was generated" ch_pki
# The reaper (and its blob sweep) every second.
ch_conf "reaper: {interval: 1s, batch_size: 10}"
check "the daemon starts" ch_start

RID=CRASHRSNA7
CX="$RID^^^&1.2.260&ISO"
check "the patient is registered over ITI-8" "ch_register $RID"
submit() {
	"$pnrgen" "pnr-$1" "ct-$1" "$2" "$CX" "$1" &&
	    ch_post source "pnr-$1" "$(cat "ct-$1")" /services/xdsrepositoryb &&
	    [ "$code" = 200 ] && grep -q "ResponseStatusType:Success" resp
}

# 1. kill -9 as soon as the response is in.
check "a submission succeeds" 'submit 1.2.777.1 300000'
crash
check "the daemon restarts after kill -9" ch_start
bid=$(sql "SELECT blob_id FROM documents WHERE unique_id = '1.2.777.1.1'")
bfile=$(find blobs/data -type f -name "$bid" 2>/dev/null)
check "after the crash: its set and document rows are there" \
    '[ "$(sql "SELECT count(*) FROM submission_sets WHERE unique_id = '"'1.2.777.1'"'")" = 1 ] &&
     [ -n "$bid" ]'
check "after the crash: its blob is complete (SHA-1 and size of the row)" \
    '[ -n "$bfile" ] &&
     [ "$(sha1sum < "$bfile" | cut -d" " -f1)" = "$(sql "SELECT hash FROM documents WHERE blob_id = '"'$bid'"'")" ] &&
     [ "$(wc -c < "$bfile" | tr -d " ")" = 300000 ] &&
     [ "$(sql "SELECT size FROM documents WHERE blob_id = '"'$bid'"'")" = 300000 ]'
check "after the crash: blobs and rows match one to one" consistent

# 2. kill -9 during a large upload (400 MB at 2 MB/s: far from done).
"$pnrgen" /dev/null ct-big 1 "$CX" 1.2.777.2 >/dev/null 2>&1
{ "$pnrgen" - ct-big 400000000 "$CX" 1.2.777.2 2>/dev/null |
    curl -s -m 300 --limit-rate 2M --cacert ca.pem --cert source.pem \
    --key source.key -o big.resp -X POST -T - \
    -H "Content-Type: $(cat ct-big)" \
    "https://127.0.0.1:$xds/services/xdsrepositoryb" 2> big.err; } &
cpid=$!
check "the large upload is streaming into a temp blob" \
    'until_ok "[ -n \"\$(tmpblobs)\" ]"'
t=$(tmpblobs | head -n 1)
check "the temp blob grows (upload in progress)" \
    'until_ok "[ \$(wc -c < blobs/tmp/$t 2>/dev/null || echo 0) -gt 1000000 ]"'
crash
wait "$cpid" 2>/dev/null; cpid=
check "the crash left the temp blob behind, nothing committed" \
    '[ -f "blobs/tmp/$t" ] &&
     [ "$(sql "SELECT count(*) FROM submission_sets")" = 1 ] &&
     [ "$(sql "SELECT count(*) FROM documents")" = 1 ] && consistent'
check "the daemon restarts" ch_start
check "no rows of the interrupted submission" \
    '[ "$(sql "SELECT count(*) FROM submission_sets WHERE unique_id = '"'1.2.777.2'"'")" = 0 ] &&
     [ "$(sql "SELECT count(*) FROM documents WHERE unique_id LIKE '"'1.2.777.2%'"'")" = 0 ]'
check "the reaper's sweep removes the temp blob" \
    'until_ok "[ ! -e blobs/tmp/$t ]" && waitlog "reaper run .*swept-tmp=1"'
check "no orphan blob under blobs/data" consistent
check "the committed submission is still whole" \
    '[ "$(sha1sum < "$bfile" | cut -d" " -f1)" = "$(sql "SELECT hash FROM documents WHERE blob_id = '"'$bid'"'")" ]'
check "a later submission works" \
    'submit 1.2.777.3 5000 &&
     [ "$(sql "SELECT count(*) FROM documents")" = 2 ] && consistent'

ch_stop
check "SIGTERM stops with status 0" '[ $rc = 0 ]'
[ $failed = 0 ] || { sed 's/^/# curl: /' big.err 2>/dev/null
	sed 's/^/# /' log | tail -n 40; }
echo "1..$n"
[ $failed = 0 ]
