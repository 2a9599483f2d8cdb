#!/bin/sh
# test_dcm_orthanc.sh: isn-edge-dicom against Orthanc (Debian package
# orthanc) on private ports: store (the JPEG instance kept as such), find
# (Orthanc returns counts and modalities), move into our SCP with byte
# comparison of the datasets. Skipped when Orthanc is not installed.
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
case $top_builddir in /*) ;; *) top_builddir=$PWD/$top_builddir ;; esac
t=$top_builddir/edge/tests/test_dcm
helper=$top_builddir/edge/isn-edge-dicom
n=0; failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
check() { if eval "$2"; then ok "$1"; else nok "$1"; fi; }

for c in Orthanc curl dcmcjpeg; do
	if ! command -v $c >/dev/null 2>&1; then
		echo "1..0 # SKIP no $c (packages orthanc, curl, dcmtk)"; exit 0
	fi
done

tmp=$(mktemp -d) || exit 1
pids=
cleanup() {
	# SIGKILL: Orthanc takes ~5 s to stop on SIGTERM (dicom.md 3.2).
	for p in $pids; do kill -KILL "$p" 2>/dev/null; done
	wait 2>/dev/null
	if [ -n "${DCM_KEEP:-}" ]; then echo "# kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

set -- $("$t" ports 3)
dicom_port=$1 http_port=$2 scp_port=$3
export TCP_NODELAY=1
mkdir -p "$tmp/src" "$tmp/db" "$tmp/spool"
"$t" gen "$tmp/src" >/dev/null || { echo "Bail out! gen"; exit 1; }
dcmcjpeg "$tmp/src/s2b1.dcm" "$tmp/src/s2b1.jpg" &&
    mv "$tmp/src/s2b1.jpg" "$tmp/src/s2b1.dcm" ||
    { echo "Bail out! dcmcjpeg"; exit 1; }

cat > "$tmp/orthanc.json" <<EOF
{
  "Name" : "ISN-TEST-PACS",
  "StorageDirectory" : "$tmp/db",
  "IndexDirectory" : "$tmp/db",
  "Plugins" : [ ],
  "HttpServerEnabled" : true,
  "HttpPort" : $http_port,
  "RemoteAccessAllowed" : false,
  "AuthenticationEnabled" : false,
  "OrthancExplorerEnabled" : false,
  "WebDavEnabled" : false,
  "DicomServerEnabled" : true,
  "DicomAet" : "ORTHANC",
  "DicomPort" : $dicom_port,
  "DicomCheckCalledAet" : false,
  "DicomAlwaysAllowEcho" : true,
  "DicomAlwaysAllowStore" : true,
  "DicomAlwaysAllowFind" : true,
  "DicomAlwaysAllowMove" : true,
  "DicomModalities" : { "isn" : [ "RSNA-ISN", "127.0.0.1", $scp_port ] },
  "DicomScuTimeout" : 10,
  "SaveJobs" : false,
  "SynchronousCMove" : true,
  "StorageCompression" : false
}
EOF
Orthanc --logfile="$tmp/orthanc.log" "$tmp/orthanc.json" >/dev/null 2>&1 &
pids="$pids $!"
"$helper" scp --ae RSNA-ISN --port "$scp_port" --spool "$tmp/spool" \
    > "$tmp/scp.out" 2>"$tmp/scp.err" &
pids="$pids $!"
i=0
until curl -sf -o /dev/null "http://127.0.0.1:$http_port/system" &&
    grep -q '^ready' "$tmp/scp.out"; do
	i=$((i + 1))
	if [ $i -gt 200 ]; then echo "Bail out! Orthanc did not start"; exit 1; fi
	sleep 0.05
done

peer=ORTHANC@127.0.0.1:$dicom_port
"$helper" echo --peer "$peer" --ae ISN-TEST > "$tmp/o"
check "C-ECHO to Orthanc" 'grep -q "^result exit=0 status=0000" "$tmp/o"'

"$helper" store --peer "$peer" --ae ISN-TEST "$tmp"/src/s1*.dcm \
    "$tmp"/src/s2*.dcm > "$tmp/store.out"
rc=$?
check "C-STORE of 8 files into Orthanc (exit $rc)" \
    '[ $rc -eq 0 ] && [ $(grep -c "^sent .* status=0000 ok=1$" "$tmp/store.out") -eq 8 ]'
check "the JPEG file went as JPEG" \
    'grep -q "^sent file=$tmp/src/s2b1.dcm .*sent_ts=1.2.840.10008.1.2.4.70 " "$tmp/store.out"'

"$helper" find --peer "$peer" --ae ISN-TEST --accession ACC002 > "$tmp/o"
check "C-FIND by accession: study, counts and modalities" \
    'grep -q "^study study_uid=2.25.4242.2 .*modalities=CT%5COT.* instances=3 series=2" "$tmp/o" ||
     grep -q "^study study_uid=2.25.4242.2 .*modalities=OT%5CCT.* instances=3 series=2" "$tmp/o"'
"$helper" find --peer "$peer" --ae ISN-TEST --mrn MRN-001 > "$tmp/o"
check "C-FIND by MRN" \
    '[ $(grep -c "^study " "$tmp/o") -eq 1 ] && grep -q "study_uid=2.25.4242.1 .*instances=5" "$tmp/o"'

"$helper" move --peer "$peer" --ae ISN-TEST --dest RSNA-ISN \
    --study-uid 2.25.4242.2 > "$tmp/o"
check "C-MOVE from Orthanc into our SCP: 3 completed" \
    'tail -1 "$tmp/o" | grep -q "^result exit=0 status=0000 completed=3 failed=0"'
same=0
for f in "$tmp"/src/s2*.dcm; do
	sop=$(grep "^sent file=$f " "$tmp/store.out" | sed 's/.* sop_instance=\([0-9.]*\) .*/\1/')
	"$t" same "$f" "$tmp/spool/2.25.4242.2/$sop.dcm" && same=$((same + 1))
done
check "the 3 moved datasets equal the originals byte for byte ($same)" \
    '[ $same -eq 3 ]'
check "the JPEG instance arrived as JPEG" \
    'grep -q "^stored .*sop_instance=2.25.4242.2.2.1 .*ts=1.2.840.10008.1.2.4.70 " "$tmp/scp.out"'

"$helper" move --peer "$peer" --ae ISN-TEST --dest NOBODY \
    --study-uid 2.25.4242.2 > "$tmp/o"
check "C-MOVE to a destination Orthanc does not know fails (exit 1)" \
    '[ $? -eq 1 ] && tail -1 "$tmp/o" | grep -q "^result exit=1 status="'

echo "1..$n"
[ $failed -eq 0 ]
