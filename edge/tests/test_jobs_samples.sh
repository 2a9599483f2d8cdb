#!/bin/sh
# test_jobs_samples.sh: the job runner with real DICOM files from Debian
# packages (pydicom's test files, package python3-pydicom: a GE CT, an
# MR in explicit VR, implicit VR, big endian, RLE, JPEG-LS, JPEG 2000
# and JPEG lossless variants, a JPEG extended NM, a JPEG lossless RGB
# secondary capture) made into one study with dcmodify (patient id,
# accession, study UID; a new SOP Instance UID where pydicom's variants
# share one), held by Orthanc as the PACS. One job of urgency "final"
# sends the study; isn-phr retrieves every instance and each must be the
# original dataset, in its original transfer syntax, byte for byte.
# Skipped without those packages.
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
samples=/usr/lib/python3/dist-packages/pydicom/data/test_files
if [ ! -d "$samples" ]; then
	echo "1..0 # SKIP no $samples (package python3-pydicom)"; exit 0
fi
. "$top_srcdir/clearinghouse/tests/pg.sh"
. "$top_srcdir/clearinghouse/tests/certs.sh"
. "$top_srcdir/clearinghouse/tests/lib.sh"
. "$top_srcdir/edge/tests/edge-lib.sh"
ch_begin openssl psql cmp curl Orthanc dcmodify dcmdump
edge_paths

check "the test PKI was generated" ch_pki
check "the clearinghouse starts" edge_ch
check "Orthanc starts as the PACS" orthanc_start

# The sample files as one study of patient P700, accession S700.
ST=1.2.826.0.1.3680043.10.543.700
mkdir -p src/s
k=0
for f in CT_small.dcm MR_small.dcm MR_small_implicit.dcm \
    MR_small_bigendian.dcm MR_small_RLE.dcm MR_small_jpeg_ls_lossless.dcm \
    MR_small_jp2klossless.dcm JPEG-lossy.dcm SC_rgb_jpeg_gdcm.dcm; do
	k=$((k + 1))
	cp "$samples/$f" "src/s/$k.dcm" && chmod u+w "src/s/$k.dcm" &&
	    dcmodify -nb -gin -i "(0010,0020)=P700" -i "(0008,0050)=S700" \
	    -i "(0020,000d)=$ST" -i "(0010,0010)=DOE^JANE" "src/s/$k.dcm" \
	    >> modify.log 2>&1 || echo "# dcmodify $f failed"
	echo "$k $f $(dcmdump -s +P 0002,0010 "src/s/$k.dcm" 2>/dev/null |
	    head -n 1 | sed 's/.*=\([A-Za-z0-9:-]*\).*/\1/')" >> syntaxes
done
check "nine sample files in seven transfer syntaxes, one study" \
    '[ "$(ls src/s | wc -l)" = 9 ] && [ "$(cut -d" " -f3 syntaxes | sort -u | wc -l)" -ge 7 ]'
check "Orthanc holds them" \
    'orthanc_load src/s/*.dcm &&
     curl -sf "http://127.0.0.1:$orthanc_http/statistics" |
     grep -q "\"CountInstances\" : 9"'

edge_keys
edge_db
edge_yaml "$pacs_port"
check "isn-edge starts with the job runner and its storage SCP" \
    'edge_start && ewait "jobs storage SCP ready port=$scp_port"'
check "the RIS order and final report are stored" \
    'order P700 S700 && result P700 S700 F "FINDINGS: samples."'
check "a job set (final urgency) for the exam" 'job P700 S700 final'
check "the job reaches 40" 'waitstatus $job 40 600'
retrieve "$ST" got
# Each original's SOP Instance UID and its dataset, found among the files
# isn-phr wrote (named by SOP UID, in their series' directories).
# got_of FILE: the retrieved file with FILE's SOP Instance UID.
got_of() {
	sop=$(dcmdump -s +P 0008,0018 "$1" | sed 's/.*\[\(.*\)\].*/\1/')
	find got -name "$sop.dcm" | head -n 1
}
bad=0 badts=0
for f in src/s/*.dcm; do
	g=$(got_of "$f") k=${f##*/}; k=${k%.dcm}
	if [ -z "$g" ] || ! dataset "$f" > want.bin || ! dataset "$g" > got.bin ||
	    ! cmp -s want.bin got.bin; then
		bad=$((bad + 1)); echo "# differs: $(grep "^$k " syntaxes)"
	elif [ "$(dcmdump -s +P 0002,0010 "$f" | head -n 1)" != \
	    "$(dcmdump -s +P 0002,0010 "$g" | head -n 1)" ]; then
		badts=$((badts + 1)); echo "# syntax differs: $(grep "^$k " syntaxes)"
	fi
done
check "isn-phr retrieves every sample, its dataset byte for byte" '[ $bad = 0 ]'
check "each in its original transfer syntax" '[ $badts = 0 ]'
echo "1..$n"
[ $failed = 0 ]
