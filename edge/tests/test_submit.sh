#!/bin/sh
# test_submit.sh: isn-edge-submit against the real clearinghouse (a
# private PostgreSQL, a test PKI with mutual TLS, the daemon on loopback):
# synthetic DICOM instances on disk (testnet/isn-mksub --save-synthetic)
# and a report are registered over ITI-8 (both feeds) and submitted as a
# streamed ITI-41 under isn2 and rsna-token; isn-phr then retrieves them
# and every instance and the report must come back byte for byte. Also:
# the secrets never reach the command line or the log, a resubmission,
# an unknown patient (no ITI-8), a wrong CA, a missing file, a bad spec.
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}

. "$top_srcdir/clearinghouse/tests/pg.sh"
. "$top_srcdir/clearinghouse/tests/certs.sh"
. "$top_srcdir/clearinghouse/tests/lib.sh"
ch_begin openssl curl psql cmp
abs() { case $1 in /*) echo "$1" ;; *) echo "$OLDPWD/$1" ;; esac; }
submit=$(abs "$top_builddir/edge/isn-edge-submit")
mksub=$(abs "$top_builddir/testnet/isn-mksub")
phr=$(abs "$top_builddir/phr-client/isn-phr")

check "the test PKI was generated" ch_pki
ch_conf
check "the daemon starts" ch_start
URL=https://127.0.0.1:$xds
export PW=quackquack

# make NAME STUDY-UID: 5 synthetic instances (two series) in dcm-NAME/
# and a report, written by isn-mksub (its own submission is discarded).
make_study() {
	mkdir -p "dcm-$1" &&
	printf 'FINAL REPORT\r\nStudy %s: no acute findings.\r\n' "$2" \
	    > "dcm-$1/report.txt" &&
	"$mksub" --oid 1.2.260 --repository 1.2.3 --token abcd-efgh \
	    --password-env PW --dob 19460201 --study-uid "$2" \
	    --synthetic 5:3000 --save-synthetic "dcm-$1" --accession A1 \
	    --out /dev/null --content-type-file /dev/null > /dev/null 2>&1
}
# spec NAME SCHEME TOKEN SET-UID: the helper's standard input.
spec() {
	printf 'scheme %s\ntoken %s\ndob 1946-02-01\npassword %s\n' \
	    "$2" "$3" "$PW"
	printf 'accession A1\nsubmission_uid %s\nreport %s\n' "$4" \
	    "dcm-$1/report.txt"
	for f in dcm-"$1"/*.dcm; do printf 'file %s\n' "$f"; done
}
# run NAME [OPTION...]: the helper as the source peer on spec-NAME; its
# output in out-NAME, its log in err-NAME, its exit status in $rc.
run() {
	r_name=$1; shift
	"$submit" --url "$URL/services/xdsrepositoryb" --ca ca.pem \
	    --cert source.pem --key source.key --oid 1.2.260 \
	    --repository-uid 1.2.3 --timeout 10 "$@" < "spec-$r_name" \
	    > "out-$r_name" 2> "err-$r_name"
	rc=$?
}
feeds="--pix 127.0.0.1:$pix --registry 127.0.0.1:$reg"
# same DIR NAME STUDY: what isn-phr retrieved equals dcm-NAME/.
same() {
	for f in dcm-"$2"/*.dcm; do
		u=${f##*/}; u=${u%.dcm}
		cmp -s "$f" "$1/$3/${u%.*}/$u.dcm" ||
		    { echo "# differs: $u"; return 1; }
	done
	cmp -s "dcm-$2/report.txt" "$1/$3/report.txt"
}

check "three synthetic studies on disk" \
    'make_study a 1.2.260.88.1 && make_study b 1.2.260.88.2 &&
     make_study c 1.2.260.88.3 && make_study d 1.2.260.88.4 &&
     [ "$(ls dcm-a/*.dcm | wc -l)" = 5 ]'

# --- isn2 ---
spec a isn2 abcd-efgh 1.2.260.88.10 > spec-isn2
run isn2 $feeds
check "isn2: exit 0 and result=ok" \
    '[ $rc = 0 ] && grep -q "^result=ok submission=1.2.260.88.10 study=1.2.260.88.1 instances=5 bytes=[0-9]* already=0 cx=" out-isn2'
check "isn2: both ITI-8 feeds acknowledged AA first" \
    '[ "$(sed -n 1p out-isn2)" = "stage=iti8 feed=pix ack=AA" ] &&
     [ "$(sed -n 2p out-isn2)" = "stage=iti8 feed=registry ack=AA" ]'
check "isn2: the clearinghouse stored 5 instances, the KOS and the report" \
    '[ "$(ch_sql "SELECT count(*) FROM documents d JOIN submission_sets s ON s.id = d.submission_set_id WHERE s.unique_id = '"'"'1.2.260.88.10'"'"'")" = 7 ]'
"$phr" retrieve --url "$URL" --ca ca.pem --cert consumer.pem \
    --key consumer.key --oid 1.2.260 --token abcd-efgh --dob 1946-02-01 \
    --password-env PW --out got-isn2 > phr-isn2 2>&1
check "isn2: isn-phr retrieves every instance and the report, byte for byte" \
    'same got-isn2 a 1.2.260.88.1'
check "the log names no secret and no patient id" \
    '! sed -E "s/\[[0-9]+\]//" err-isn2 |
     grep -q -e abcd -e "$PW" -e 19460201 -e 1946-02-01 -e "\^\^\^"'

# --- rsna-token ---
spec b rsna-token fpzddg 1.2.260.88.20 > spec-tok
run tok $feeds
check "rsna-token: exit 0 and result=ok" \
    '[ $rc = 0 ] && grep -q "^result=ok submission=1.2.260.88.20 " out-tok'
"$phr" retrieve --url "$URL" --ca ca.pem --cert consumer.pem \
    --key consumer.key --oid 1.2.260 --scheme rsna-token --token fpzddg \
    --dob 1946-02-01 --password-env PW --out got-tok > phr-tok 2>&1
check "rsna-token: retrieved byte for byte" 'same got-tok b 1.2.260.88.2'

# A retry of a stored submission (an edge restarted after the
# clearinghouse stored it but before it saw the answer): with the ITI-18
# check first it is reported done and nothing is sent; without it, the
# clearinghouse refuses the set's uniqueId. Nothing is stored twice.
both="--cert both.pem --key both.key --registry-url $URL/services/xdsregistryb"
spec b rsna-token fpzddg 1.2.260.88.20 > spec-tok2
run tok2 $feeds $both
check "a retry with the check: done already, nothing sent" \
    '[ $rc = 0 ] && grep -q "^result=ok submission=1.2.260.88.20 .* bytes=0 already=1 " out-tok2 &&
     ! grep -q stage=iti8 out-tok2'
spec b rsna-token fpzddg 1.2.260.88.20 > spec-tok3
run tok3 $feeds
check "a retry without the check: refused for good, nothing stored twice" \
    '[ $rc = 1 ] && grep -q "^result=fail retry=0 stage=iti41 code=XDSRegistryError " out-tok3 &&
     [ "$(ch_sql "SELECT count(*) FROM documents d JOIN submission_sets s ON s.id = d.submission_set_id WHERE s.unique_id = '"'"'1.2.260.88.20'"'"'")" = 7 ]'
spec c isn2 abcd-efgh 1.2.260.88.21 > spec-new
run new $feeds $both
check "the check finds nothing for a new set: submitted (already=0)" \
    '[ $rc = 0 ] && grep -q "^result=ok submission=1.2.260.88.21 .* already=0 " out-new'

# --- an RSNA-ID and content key computed earlier (no password kept) ---
"$phr" rsna-id --scheme isn2 --token ybndrfg8 --dob 1946-02-01 \
    --password-env PW --show-key > idkey 2> /dev/null
{
	printf 'scheme isn2\nrsna_id %s\ncontent_key %s\n' \
	    "$(sed -n 1p idkey)" "$(sed -n 2p idkey)"
	printf 'accession A1\nsubmission_uid 1.2.260.88.40\nreport %s\n' \
	    dcm-d/report.txt
	for f in dcm-d/*.dcm; do printf 'file %s\n' "$f"; done
} > spec-key
run key $feeds
check "isn2 from an RSNA-ID and content key: stored" \
    '[ $rc = 0 ] && grep -q "^result=ok submission=1.2.260.88.40 " out-key'
"$phr" retrieve --url "$URL" --ca ca.pem --cert consumer.pem \
    --key consumer.key --oid 1.2.260 --token ybndrfg8 --dob 1946-02-01 \
    --password-env PW --out got-key > phr-key 2>&1
check "and the patient's details retrieve it byte for byte" \
    'same got-key d 1.2.260.88.4'
printf 'scheme isn2\nrsna_id %s\nfile x.dcm\n' "$(sed -n 1p idkey)" \
    > spec-nokey
run nokey
check "an isn2 rsna_id without its content_key is refused" \
    '[ $rc = 1 ] && grep -q "stage=spec code=identity" out-nokey'

# --- --register-only (the job runner's run beside the C-MOVE) ---
printf 'scheme isn2\nrsna_id %s\nsubmission_uid 1.2.260.88.40\n' \
    "$(sed -n 1p idkey)" > spec-reg
run reg $feeds $both --register-only
check "--register-only on a stored set: already=1, no ITI-8" \
    '[ $rc = 0 ] && grep -q "^result=ok registered=1 already=1 cx=" out-reg &&
     ! grep -q stage=iti8 out-reg'
printf 'scheme isn2\nrsna_id %s\nsubmission_uid 1.2.260.88.41\n' \
    "$(sed -n 1p idkey)" > spec-reg2
run reg2 $feeds $both --register-only
check "--register-only on a new set: both feeds AA, already=0" \
    '[ $rc = 0 ] && [ "$(grep -c "^stage=iti8 .* ack=AA" out-reg2)" = 2 ] &&
     grep -q "^result=ok registered=1 already=0 cx=" out-reg2'
{ cat spec-reg2; printf 'content_key %s\n' "$(sed -n 2p idkey)"; } > spec-reg3
run reg3 $feeds $both --register-only
check "--register-only refuses a content key in its spec (it needs none)" \
    '[ $rc = 1 ] && grep -q "stage=spec code=key" out-reg3'
{ sed -n 1,2p idkey | sed "1s/^/rsna_id /; 2s/^/content_key /"
  printf 'scheme isn2\naccession A1\nsubmission_uid 1.2.260.88.41\n'
  for f in dcm-d/*.dcm; do printf 'file %s\n' "$f"; done; } > spec-reg4
run reg4 $both --registered
check "--registered: no ITI-18 check and no ITI-8, then ITI-41 stored" \
    '[ $rc = 0 ] && ! grep -q stage=iti8 out-reg4 &&
     grep -q "^result=ok submission=1.2.260.88.41 .* already=0 " out-reg4'

# --- the same study again, for another patient (docs/protocol.md 7) ---
# Every submission above gave its instances uniqueIds of their own (the
# isn2 one was retrieved by isn-phr through the sopInstanceUID slot).
sop=$(ls dcm-a | grep '\.dcm$' | head -n 1); sop=${sop%.dcm}
spec a isn2 kq7mbsab 1.2.260.88.50 > spec-again
run again $feeds
check "study a again, for another patient: stored, each instance found by its SOP UID twice" \
    '[ $rc = 0 ] && grep -q "^result=ok submission=1.2.260.88.50 " out-again &&
     [ "$(ch_sql "SELECT count(*) FROM document_instances WHERE sop_uid =
         '"'"'$sop'"'"'")" = 2 ]'
spec a isn2 kq7mbsab 1.2.260.88.51 > spec-sop1
run sop1 $feeds --sop-uids
spec a isn2 ybndrfg8 1.2.260.88.52 > spec-sop2
run sop2 $feeds --sop-uids
check "with --sop-uids (PROFILE.md 5) the second resend is refused: XDSNonIdenticalHash" \
    'grep -q "^result=ok submission=1.2.260.88.51 " out-sop1 &&
     [ $rc = 1 ] && grep -q "code=XDSNonIdenticalHash" out-sop2'

# --- failures ---
spec a rsna-token ybndrf 1.2.260.88.30 > spec-unknown
run unknown
check "no ITI-8: XDSUnknownPatientId, final (exit 1, retry=0)" \
    '[ $rc = 1 ] && grep -q "^result=fail retry=0 stage=iti41 code=XDSUnknownPatientId " out-unknown'
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout other.key -out other.pem -subj /CN=other -days 1 2>/dev/null
spec a isn2 abcd-efgh 1.2.260.88.31 > spec-badca
run badca $feeds --ca other.pem
check "a clearinghouse the CA does not vouch for: temporary failure at ITI-8" \
    '[ $rc = 75 ] && grep -q "^result=fail retry=1 stage=iti8 " out-badca'
{ spec a isn2 abcd-efgh 1.2.260.88.32; echo "file dcm-a/missing.dcm"; } \
    > spec-missing
run missing $feeds
check "a missing instance file: final failure before any network" \
    '[ $rc = 1 ] && grep -q "^result=fail retry=0 stage=build code=instance " out-missing &&
     [ "$(ch_sql "SELECT count(*) FROM submission_sets WHERE unique_id = '"'"'1.2.260.88.32'"'"'")" = 0 ]'
printf 'scheme isn2\ncolour blue\n' > spec-badspec
run badspec
check "an unknown spec key: usage-grade failure, named by line" \
    '[ $rc = 1 ] && grep -q "^result=fail retry=0 stage=spec code=key reason=line%202" out-badspec'
printf 'scheme isn2\ntoken abcd-efgh\ndob 1946-02-01\nfile x.dcm\n' \
    > spec-nopw
run nopw
check "a spec without a password is refused" \
    '[ $rc = 1 ] && grep -q "stage=spec code=identity" out-nopw'
"$submit" --url "$URL" < /dev/null > /dev/null 2>&1; rc=$?
check "missing options: usage, exit 2" '[ $rc = 2 ]'

echo "1..$n"
[ $failed = 0 ]
