#!/bin/sh
# test_ct.sh: isn-mksub --ct makes a synthetic CT study (CT Image Storage,
# 512 x 512 16-bit slices in one series, dicom.h) that DICOM's own IOD
# checker finds clean (dciodvfy, Debian's dicom3tools; skipped without
# it), that DCMTK reads as intended, and whose submission isn-validate
# accepts.
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
n=0; failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
check() { if eval "$2"; then ok "$1"; else nok "$1"; fi; }

mksub=$top_builddir/testnet/isn-mksub
validate=$top_builddir/clearinghouse/isn-validate
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/ct"
ISN_PW=quackquack "$mksub" --token abcd-efgh --dob 19460201 \
    --password-env ISN_PW --repository 1.2.3 --ct 3 --patient-id MRN123 \
    --patient-name 'DOE^JANE' --accession A77 --study-uid 1.2.826.0.1.3680043.10.543.77 \
    --save-synthetic "$tmp/ct" --out "$tmp/pnr" \
    --content-type-file "$tmp/ct.txt" > /dev/null 2> "$tmp/err"
check "three CT slices, each 512 KiB of pixels and a header" \
    '[ "$(ls "$tmp/ct" | wc -l)" = 3 ] &&
     [ "$(find "$tmp/ct" -name "*.dcm" -size +524288c -size -526000c |
         wc -l)" = 3 ]'
S=1.2.826.0.1.3680043.10.543.77.1
f=$tmp/ct/$S.2.dcm
if command -v dcmdump > /dev/null 2>&1; then
	dcmdump "$f" > "$tmp/dump" 2>&1
	check "DCMTK reads a CT slice: class, 512 x 512, 16-bit signed, position" \
	    'grep -q "=CTImageStorage" "$tmp/dump" &&
	     grep -q "(0028,0010) US 512 " "$tmp/dump" &&
	     grep -q "(0028,0100) US 16 " "$tmp/dump" &&
	     grep -q "(0028,0103) US 1 " "$tmp/dump" &&
	     grep -q "ImagePositionPatient" "$tmp/dump" &&
	     grep -q "\[-128.-128.2\]" "$tmp/dump" &&
	     grep -q "\[MRN123\]" "$tmp/dump" && grep -q "\[A77\]" "$tmp/dump"'
else
	n=$((n + 1)); echo "ok $n # SKIP dcmdump (dcmtk) is not installed"
fi
if command -v dciodvfy > /dev/null 2>&1; then
	bad=0
	for f in "$tmp"/ct/*.dcm; do
		dciodvfy "$f" > "$tmp/v" 2>&1
		grep -q "^CTImage$" "$tmp/v" && ! grep -q "^Error\|^Warning" "$tmp/v" ||
		    { bad=$((bad + 1)); sed 's/^/# /' "$tmp/v"; }
	done
	check "dciodvfy: every slice a CTImage without error or warning" '[ $bad = 0 ]'
else
	n=$((n + 1)); echo "ok $n # SKIP dciodvfy (dicom3tools) is not installed"
fi
"$validate" --content-type "$(cat "$tmp/ct.txt")" --profile isn2 "$tmp/pnr" \
    > "$tmp/val" 2>&1; rc=$?
check "isn-validate accepts the CT study's submission (isn2 profile)" \
    '[ $rc = 0 ] || { sed "s/^/# /" "$tmp/val"; false; }'
echo "1..$n"
[ $failed = 0 ]
