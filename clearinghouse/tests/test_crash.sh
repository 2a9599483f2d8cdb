#!/bin/sh
# test_crash.sh: crash safety of isn-clearinghouse (PROFILE.md section 7)
# with a throwaway PostgreSQL (pg.sh) and a test PKI (certs.sh):
#  1. kill -9 right after a submission's response, restart: the
#     submission is wholly retrievable (rows, blob, SHA-1 and size);
#  2. kill -9 during a large, slow ITI-41 upload (a multi-hundred-MB
#     document streamed by xds-tool into curl --limit-rate), restart: no
#     rows, the temp blob is removed by the reaper's sweep, no orphan
#     under blobs/data, and a later submission works;
#  3. kill -9 in the middle of a multi-document submission (small
#     documents already finished in blobs/tmp, not linked into blobs/data,
#     then a large slow one), restart with reaper.sweep_grace 2s: no rows,
#     the sweep removes those temp files after the grace, the earlier
#     submissions are untouched.
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}

. "$top_srcdir/clearinghouse/tests/lib.sh"
ch_begin openssl curl sha1sum
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
# bigtmp: a temp blob over 1 MB (an upload in progress), by name.
bigtmp() {
	find blobs/tmp -type f -size +1000k 2>/dev/null | sed 's#.*/##' |
	    grep -E '^[0-9a-f]{32}$' | head -n 1
}
# Every committed blob is named by a documents row and the other way round.
consistent() {
	sql "SELECT blob_id FROM documents ORDER BY 1" > rows.ids &&
	    find blobs/data -type f -exec basename {} \; | sort > files.ids &&
	    { cmp -s rows.ids files.ids ||
	    { diff rows.ids files.ids | sed 's/^/# /'; false; }; }
}
# orphans: the committed blobs no documents row names.
orphans() { consistent >/dev/null; comm -13 rows.ids files.ids; }
# norows SS-UID: no set or document row of that submission.
norows() {
	[ "$(sql "SELECT count(*) FROM submission_sets WHERE unique_id = '$1'")" = 0 ] &&
	    [ "$(sql "SELECT count(*) FROM documents WHERE unique_id LIKE '$1.%'")" = 0 ]
}
# upload SS-UID SIZES: an ITI-41 of documents of those sizes streamed by
# xds-tool into curl at 2 MB/s in the background ($bgpids); the
# Content-Type comes from a run with tiny documents (it is the same).
upload() {
	"$xdstool" pnr -z 1 -p "$CX" -s "$1" /dev/null "ct-$1" 2>/dev/null
	{ "$xdstool" pnr -z "$2" -p "$CX" -s "$1" - "ct-$1" 2>/dev/null |
	    curl -s -m 300 --limit-rate 2M --cacert ca.pem --cert source.pem \
	    --key source.key -o big.resp -X POST -T - \
	    -H "Content-Type: $(cat "ct-$1")" \
	    "https://127.0.0.1:$xds/services/xdsrepositoryb" 2>> big.err; } &
	bgpids=$!
}

check "the test PKI was generated" ch_pki
# The reaper (and its blob sweep) every second.
ch_conf "reaper: {interval: 1s, batch_size: 10}"
check "the daemon starts" ch_start

RID=CRASHRSNA7
CX="$RID^^^&1.2.260&ISO"
check "the patient is registered over ITI-8" "ch_register $RID"
submit() { ch_submit "$CX" "$1" -z "$2"; }

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
upload 1.2.777.2 400000000
check "the large upload is streaming into a temp blob (over 1 MB)" \
    'until_ok "[ -n \"\$(bigtmp)\" ]"'
t=$(bigtmp)
crash
wait $bgpids 2>/dev/null; bgpids=
check "the crash left the temp blob behind, nothing committed" \
    '[ -f "blobs/tmp/$t" ] &&
     [ "$(sql "SELECT count(*) FROM submission_sets")" = 1 ] &&
     [ "$(sql "SELECT count(*) FROM documents")" = 1 ] && consistent'
check "the daemon restarts" ch_start
check "no rows of the interrupted submission" 'norows 1.2.777.2'
check "the reaper's sweep removes the temp blob" \
    'until_ok "[ ! -e blobs/tmp/$t ]" && waitlog "reaper run .*swept-tmp=1"'
check "no orphan blob under blobs/data" consistent
check "the committed submission is still whole" \
    '[ "$(sha1sum < "$bfile" | cut -d" " -f1)" = "$(sql "SELECT hash FROM documents WHERE blob_id = '"'$bid'"'")" ]'
check "a later submission works" \
    'submit 1.2.777.3 5000 &&
     [ "$(sql "SELECT count(*) FROM documents")" = 2 ] && consistent'

# 3. kill -9 in a multi-document submission: three small documents, then
# 400 MB at 2 MB/s. Finished documents wait in blobs/tmp; the whole set is
# fsynced and linked into blobs/data in one batch once the body is in,
# before the transaction that names them (blob.md, reaper.sweep_grace).
upload 1.2.777.4 3000,4000,5000,400000000
check "multi-document upload: the large document is streaming" \
    'until_ok "[ -n \"\$(bigtmp)\" ]"'
# tmpblobs: the temp blobs, by name.
tmpblobs() {
	find blobs/tmp -type f 2>/dev/null | sed 's#.*/##' |
	    grep -E '^[0-9a-f]{32}$' | sort
}
tmpblobs > orphans.ids
check "  its three small documents wait in blobs/tmp, none under blobs/data" \
    '[ "$(wc -l < orphans.ids)" = 4 ] && [ -z "$(orphans)" ]'
crash
wait $bgpids 2>/dev/null; bgpids=
ch_conf "reaper: {interval: 1s, batch_size: 10, sweep_grace: 2s}"
check "the daemon restarts with a sweep_grace of 2 s" ch_start
check "no rows of the interrupted multi-document submission" 'norows 1.2.777.4'
# swept: none of orphans.ids is left in blobs/tmp.
swept() { [ -z "$(tmpblobs | comm -12 - orphans.ids)" ]; }
check "the sweep removes the four temp blobs" \
    'until_ok swept && grep -q "reaper run .* swept-tmp=[1-9]" log'
check "no orphan blob is left; the earlier submissions are whole" \
    'consistent && [ "$(sql "SELECT count(*) FROM documents")" = 2 ] &&
     [ "$(sha1sum < "$bfile" | cut -d" " -f1)" = "$(sql "SELECT hash FROM documents WHERE blob_id = '"'$bid'"'")" ] &&
     [ "$(sql "SELECT count(*) FROM submission_sets WHERE unique_id IN ('"'1.2.777.1'"', '"'1.2.777.3'"')")" = 2 ]'

ch_stop
check "SIGTERM stops with status 0" '[ $rc = 0 ]'
[ $failed = 0 ] || { sed 's/^/# curl: /' big.err 2>/dev/null
	sed 's/^/# /' log | tail -n 40; }
echo "1..$n"
[ $failed = 0 ]
