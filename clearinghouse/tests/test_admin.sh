#!/bin/sh
# test_admin.sh: the operator commands of isn-clearinghouse beside a
# running daemon (a throwaway PostgreSQL, pg.sh; a test PKI, certs.sh):
# submissions in over ITI-41 (xds-tool), then -m, -l, -l expired after
# moving expires_at in SQL, -P uniqueId (rows and blob gone, ITI-18 no
# longer finds it), -P expired, errors; no RSNA-ID in any output.
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}

. "$top_srcdir/clearinghouse/tests/lib.sh"
ch_begin openssl curl sha256sum
sql() { ch_sql "$1"; }
adm() { "$ch" -f ch.yaml "$@" > out 2> err; rc=$?; cat out err >> all; }

check "the test PKI was generated" ch_pki
ch_conf "reaper: {interval: 1h, batch_size: 2}"
check "the daemon starts" ch_start

RID=ADMRSNA42
CX="$RID^^^&1.2.260&ISO"
phash=$(printf '%s' "$CX" | sha256sum | cut -c1-12)
check "the patient is registered over ITI-8" "ch_register $RID"
# submit UID BYTES: one ITI-41 with one document as the source peer.
submit() { ch_submit "$CX" "$1" -z "$2"; }
check "three submissions stored" \
    'submit 1.2.999.1 1000 && submit 1.2.999.2 2000 &&
     submit 1.2.999.3 3000 &&
     [ "$(sql "SELECT count(*) FROM documents")" = 3 ] && [ "$(ch_nblobs)" = 3 ]'

adm -m
check "-m: the schema is up to date (exit 0)" \
    '[ $rc = 0 ] && grep -q "^schema version [0-9]* (0 migrations applied)$" out'

adm -l
check "-l: one line per submission set, exit 0" \
    '[ $rc = 0 ] && [ "$(wc -l < out)" = 3 ] && [ ! -s err ]'
iso='[0-9]\{4\}-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z'
check "-l: uniqueId, received, expires, documents, bytes, patient hash" \
    'grep -q "^1\.2\.999\.1 $iso $iso 1 1000 $phash$" out &&
     grep -q "^1\.2\.999\.2 $iso $iso 1 2000 $phash$" out &&
     grep -q "^1\.2\.999\.3 $iso $iso 1 3000 $phash$" out &&
     [ "$(head -n 1 out | cut -d" " -f1)" = 1.2.999.1 ]'
exp=$(sql "SELECT to_char(expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM submission_sets WHERE unique_id = '1.2.999.3'")
check "-l: the expiry time is the row's, in UTC" \
    'grep -q "^1\.2\.999\.3 $iso $exp " out'
adm -l expired
check "-l expired: nothing expired yet" '[ $rc = 0 ] && [ ! -s out ]'
sql "UPDATE submission_sets SET received_at = now() - interval '31 days', expires_at = now() - interval '1 day' WHERE unique_id = '1.2.999.2'" >/dev/null
adm -l expired
check "-l expired: the set moved into the past, only it" \
    '[ $rc = 0 ] && [ "$(wc -l < out)" = 1 ] && grep -q "^1\.2\.999\.2 " out'

# ITI-18 FindDocuments for the patient (consumer peer).
ch_iti18 fd urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d LeafClass \
    "\$XDSDocumentEntryPatientId='$CX'" \
    "\$XDSDocumentEntryStatus=('urn:oasis:names:tc:ebxml-regrep:StatusType:Approved')"
finddocs() {
	ch_post consumer fd "application/soap+xml; charset=UTF-8" \
	    /services/xdsregistryb &&
	    [ "$code" = 200 ] && grep -q "ResponseStatusType:Success" resp
}
check "ITI-18 FindDocuments finds the three documents" \
    'finddocs && grep -qF "value=\"1.2.999.1.1\"" resp &&
     grep -qF "value=\"1.2.999.3.1\"" resp'

bid1=$(sql "SELECT blob_id FROM documents WHERE unique_id = '1.2.999.1.1'")
adm -P 1.2.999.1
check "-P uniqueId: exit 0, one set, one document, one blob" \
    '[ $rc = 0 ] && [ "$(cat out)" = "purged sets=1 documents=1 blobs=1" ]'
check "-P uniqueId: its rows are gone, the others stay" \
    '[ "$(sql "SELECT count(*) FROM submission_sets WHERE unique_id = '"'1.2.999.1'"'")" = 0 ] &&
     [ "$(sql "SELECT count(*) FROM documents WHERE unique_id = '"'1.2.999.1.1'"'")" = 0 ] &&
     [ "$(sql "SELECT count(*) FROM documents")" = 2 ]'
check "-P uniqueId: its blob is gone, the others stay" \
    '[ -n "$bid1" ] && [ -z "$(find blobs/data -name "$bid1")" ] &&
     [ "$(ch_nblobs)" = 2 ]'
check "ITI-18 no longer finds the purged document" \
    'finddocs && ! grep -qF "value=\"1.2.999.1.1\"" resp &&
     grep -qF "value=\"1.2.999.3.1\"" resp'

adm -P 1.2.999.1
check "-P of an unknown uniqueId: exit 1 and a message" \
    '[ $rc = 1 ] && [ ! -s out ] &&
     grep -q "no submission set with uniqueId 1.2.999.1$" err'
adm -P "bad uid"
check "-P of a malformed uniqueId: exit 1 and a message" \
    '[ $rc = 1 ] && grep -q "not a submission set uniqueId" err'

adm -P expired
check "-P expired: the expired set only" \
    '[ $rc = 0 ] && [ "$(cat out)" = "purged sets=1 documents=1 blobs=1" ] &&
     [ "$(sql "SELECT unique_id FROM submission_sets")" = 1.2.999.3 ] &&
     [ "$(ch_nblobs)" = 1 ]'
adm -P expired
check "-P expired with none expired: exit 0, nothing" \
    '[ $rc = 0 ] && [ "$(cat out)" = "purged sets=0 documents=0 blobs=0" ]'
adm -l
check "-l after the purges: the last set" \
    '[ $rc = 0 ] && [ "$(cut -d" " -f1 out)" = 1.2.999.3 ]'

check "no admin output names the patient" \
    '[ -s all ] && ! grep -q "$RID" all'
"$ch" -f ch.yaml -l -P expired > out 2> err; rc=$?
check "two commands at once: usage, exit 1" \
    '[ $rc = 1 ] && grep -q "^usage:" err'
"$ch" -f nonexistent.yaml -l > out 2> err; rc=$?
check "-l with a bad configuration: exit 1 and a message" \
    '[ $rc = 1 ] && [ -s err ]'
sed '/conninfo:/s/port=[0-9]*/port=1/' ch.yaml > bad.yaml
"$ch" -f bad.yaml -l > out 2> err; rc=$?
check "-l with no database: exit 1 and a message" \
    '[ $rc = 1 ] && grep -q "database" err'
check "the daemon kept running" 'kill -0 "$pid"'

ch_stop
check "SIGTERM stops with status 0" '[ $rc = 0 ]'
[ $failed = 0 ] || { sed 's/^/# /' log | tail -n 40; sed 's/^/# /' all | tail -n 20; }
echo "1..$n"
[ $failed = 0 ]
