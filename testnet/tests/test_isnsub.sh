#!/bin/sh
# test_isnsub.sh: network submissions made by isn-mksub (shared/isnsub.c)
# under each identity scheme, posted as ITI-41 to a real clearinghouse
# (private PostgreSQL, test PKI, mutual TLS) after ITI-8 registration of
# the computed RSNA-ID: Success, the rows (document_instances with study,
# series and SOP; the KOS and the report), the metadata carries no hash or
# size of ours, and under isn2 stored blobs decrypt to the original files
# while under the plain schemes they are the files.
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}

. "$top_srcdir/clearinghouse/tests/pg.sh"
. "$top_srcdir/clearinghouse/tests/certs.sh"
. "$top_srcdir/clearinghouse/tests/lib.sh"
mksub=$top_builddir/testnet/isn-mksub
case $mksub in /*) ;; *) mksub=$PWD/$mksub ;; esac
[ -x "$mksub" ] || { echo "1..0 # SKIP isn-mksub not built"; exit 0; }
ch_begin openssl curl psql cmp
sql() { ch_sql "$1"; }
# why: the errors of a failed ITI-41 as TAP comments
why() {
	grep -q "ResponseStatusType:Success" resp 2>/dev/null ||
	    { echo "HTTP $code"; grep -o 'errorCode="[^"]*" codeContext="[^"]*"' \
	    resp 2>/dev/null; } | sed 's/^/# /'
}
info() { sed -n "s/^$1 //p" "$2"; }
# blob UNIQUEID: the path of a stored document's blob
blob() {
	b=$(sql "SELECT blob_id FROM documents WHERE unique_id = '$1'")
	echo "blobs/data/$(echo "$b" | cut -c1-2)/$(echo "$b" | cut -c3-4)/$b"
}
# uid SOP: the uniqueId of the entry carrying that instance (its own UID,
# the SOP Instance UID in the sopInstanceUID slot: protocol.md 7).
uid() {
	sql "SELECT d.unique_id FROM documents d JOIN document_instances i
	    ON i.document_id = d.id WHERE i.sop_uid = '$1' ORDER BY d.id DESC
	    LIMIT 1"
}

check "the test PKI was generated" ch_pki
ch_conf
check "the daemon starts" ch_start

export ISN_PW='correct horse'
printf 'FINAL REPORT\r\nNo acute findings.\r\n' > report.txt

# --- isn2: 3 synthetic instances (2 series), the KOS and a report. ---
mkdir orig
check "isn-mksub makes an isn2 submission" \
    '"$mksub" --scheme isn2 --token ybnd-rfg8 --dob 1970-01-31 \
    --password-env ISN_PW --oid 1.2.260 --repository 1.2.3 \
    --report report.txt --synthetic 3:70000 --save-synthetic orig \
    --out sub1 --content-type-file sub1.ct > sub1.info 2> mksub.err'
rid=$(info rsna-id sub1.info)
study=$(info study sub1.info)
kos=$(info kos sub1.info)
rep=$(info report sub1.info)
check "the isn2 RSNA-ID is 32 hex characters" \
    'echo "$rid" | grep -Eq "^[0-9a-f]{32}$"'
check "the submission set is marked isn2 and declares no hash or size" \
    'grep -q "urn:rsna:isn:encryption" sub1 &&
     ! grep -q "name=\"hash\"" sub1 && ! grep -q "name=\"size\"" sub1'
check "the RSNA-ID is registered over ITI-8" 'ch_register "$rid" r1'
ch_post source sub1 "$(cat sub1.ct)" /services/xdsrepositoryb
check "the isn2 ITI-41 succeeds" \
    '[ "$code" = 200 ] && grep -q "ResponseStatusType:Success" resp'
why
check "document_instances holds the three instances of the study" \
    '[ "$(sql "SELECT count(*) FROM document_instances
        WHERE study_uid = '\''$study'\''")" = 3 ] &&
     [ "$(sql "SELECT count(DISTINCT series_uid) FROM document_instances")" = 2 ]'
check "the KOS and the report are stored with their mime types" \
    '[ "$(sql "SELECT mime_type FROM documents WHERE unique_id = '\''$kos'\''")" = application/dicom ] &&
     [ "$(sql "SELECT mime_type FROM documents WHERE unique_id = '\''$rep'\''")" = text/plain ]'
ok_dec=0
for f in orig/*.dcm; do
	u=$(uid "$(basename "$f" .dcm)")
	if "$mksub" --decrypt "$u" --token ybndrfg8 --dob 19700131 \
	    --password-env ISN_PW "$(blob "$u")" dec.dcm &&
	    cmp -s dec.dcm "$f" && ! cmp -s "$(blob "$u")" "$f"; then
		ok_dec=$((ok_dec + 1))
	fi
done
check "every stored instance blob decrypts to the original file" \
    '[ "$ok_dec" = 3 ]'
check "the stored report decrypts to the report" \
    '"$mksub" --decrypt "$rep" --token ybndrfg8 --dob 19700131 \
     --password-env ISN_PW "$(blob "$rep")" dec.txt && cmp -s dec.txt report.txt'
check "a wrong password does not decrypt" \
    '! ISN_PW=wrong "$mksub" --decrypt "$rep" --token ybndrfg8 \
     --dob 19700131 --password-env ISN_PW "$(blob "$rep")" dec.bad 2>/dev/null &&
     [ ! -e dec.bad ]'
check "the stored KOS decrypts and lists the three instances" \
    '"$mksub" --decrypt "$kos" --token ybndrfg8 --dob 19700131 \
     --password-env ISN_PW "$(blob "$kos")" kos.dcm &&
     ! for f in orig/*.dcm; do
        grep -qa "$(basename "$f" .dcm)" kos.dcm || echo missing; done |
        grep -q missing'
if command -v dcmdump > /dev/null 2>&1; then
	check "dcmdump reads the decrypted KOS, Retrieve Location UID 1.2.3" \
	    'dcmdump kos.dcm > kos.txt 2>&1 && ! grep -q "^E:" kos.txt &&
	     grep -q "(0040,e011) UI \[1.2.3\]" kos.txt'
else
	skip "dcmtk is not installed"
fi

# --- rsna-token: DICOM files as inputs, plain documents. ---
# (Files of a new study, made by a run whose message is not posted.)
mkdir files
"$mksub" --token ybndrfg8 --dob 19700131 --password-env ISN_PW \
    --repository 1.2.3 --synthetic 3:5000 --save-synthetic files \
    --out /dev/null --content-type-file /dev/null > /dev/null 2>> mksub.err
check "isn-mksub makes an rsna-token submission from files" \
    'PW2=quackquack "$mksub" --scheme rsna-token --token fpzddg \
    --dob 19460201 --password-env PW2 --oid 1.2.260 --repository 1.2.3 \
    --submission-uid 1.2.260.99.2 --out sub2 --content-type-file sub2.ct \
    files/*.dcm > sub2.info 2>> mksub.err'
rid2=$(info rsna-id sub2.info)
study2=$(info study sub2.info)
check "the rsna-token RSNA-ID is RSNA's test vector" \
    '[ "$rid2" = 9652fef890fe9b5de17f2116e971f153d7d655c3b57fef6012a2138239e34d20 ]'
check "the rsna-token submission is not marked isn2" \
    '! grep -q "urn:rsna:isn:encryption" sub2'
check "the rsna-token RSNA-ID is registered" 'ch_register "$rid2" r2'
ch_post source sub2 "$(cat sub2.ct)" /services/xdsrepositoryb
check "the rsna-token ITI-41 succeeds" \
    '[ "$code" = 200 ] && grep -q "ResponseStatusType:Success" resp'
why
ok_plain=0
for f in files/*.dcm; do
	sop=$(basename "$f" .dcm)
	cnt=$(sql "SELECT count(*) FROM document_instances i JOIN documents d
	    ON d.id = i.document_id JOIN submission_sets s
	    ON s.id = d.submission_set_id
	    WHERE s.unique_id = '1.2.260.99.2' AND i.sop_uid = '$sop'
	    AND i.study_uid = '$study2'")
	b=$(sql "SELECT blob_id FROM documents d JOIN submission_sets s
	    ON s.id = d.submission_set_id JOIN document_instances i
	    ON i.document_id = d.id
	    WHERE s.unique_id = '1.2.260.99.2' AND i.sop_uid = '$sop'")
	[ "$cnt" = 1 ] && cmp -s "$f" "blobs/data/$(echo "$b" | cut -c1-2)/$(echo "$b" | cut -c3-4)/$b" &&
	    ok_plain=$((ok_plain + 1))
done
check "rsna-token instances are stored as the plain files, with rows" \
    '[ "$ok_plain" = 3 ]'

# --- rsna-access-code: synthetic, plain. ---
check "isn-mksub makes an rsna-access-code submission" \
    '"$mksub" --scheme rsna-access-code --access-code rps-hna-f3m \
    --dob 19460201 --oid 1.2.260 --repository 1.2.3 --synthetic 2:1000 \
    --report report.txt --out sub3 --content-type-file sub3.ct \
    > sub3.info 2>> mksub.err'
rid3=$(info rsna-id sub3.info)
study3=$(info study sub3.info)
check "the access-code RSNA-ID is registered" 'ch_register "$rid3" r3'
ch_post source sub3 "$(cat sub3.ct)" /services/xdsrepositoryb
check "the rsna-access-code ITI-41 succeeds" \
    '[ "$code" = 200 ] && grep -q "ResponseStatusType:Success" resp'
why
check "its two instances are in document_instances" \
    '[ "$(sql "SELECT count(*) FROM document_instances
        WHERE study_uid = '\''$study3'\''")" = 2 ]'
rep3=$(info report sub3.info)
check "its report is stored as the plain file" \
    'cmp -s report.txt "$(blob "$rep3")"'

# --- refusals ---
check "an unregistered patient is refused" \
    'PW4=x "$mksub" --token ybndrfg8 --dob 19700131 --password-env PW4 \
     --oid 1.2.260 --repository 1.2.3 --synthetic 1:10 --out sub4 \
     --content-type-file sub4.ct > sub4.info 2>> mksub.err &&
     ch_post source sub4 "$(cat sub4.ct)" /services/xdsrepositoryb &&
     grep -q "XDSUnknownPatientId" resp'
check "a file that is not DICOM is refused by isn-mksub" \
    '! "$mksub" --token ybndrfg8 --dob 19700131 --password-env ISN_PW \
     --repository 1.2.3 --out sub5 --content-type-file sub5.ct \
     report.txt > /dev/null 2> err5 && grep -q "report.txt" err5'
check "instances of two studies are refused" \
    '! "$mksub" --token ybndrfg8 --dob 19700131 --password-env ISN_PW \
     --repository 1.2.3 --out sub6 --content-type-file sub6.ct \
     orig/*.dcm files/*.dcm > /dev/null 2> err6 && grep -q "one study" err6'
check "an instance given twice is refused" \
    '! "$mksub" --token ybndrfg8 --dob 19700131 --password-env ISN_PW \
     --repository 1.2.3 --out sub7 --content-type-file sub7.ct \
     files/*.dcm "$(ls files/*.dcm | head -n 1)" > /dev/null 2> err7 &&
     grep -q "twice" err7'
check "the daemon is still running" 'kill -0 "$pid"'

echo "1..$n"
[ "$failed" = 0 ]
