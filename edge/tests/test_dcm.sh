#!/bin/sh
# test_dcm.sh: the DICOM helper and dcmc against real peers on loopback.
# dcmqrscp is the PACS (AE PACS loaded with the synthetic studies, AE
# STORE empty; a second one, JPACS, holds the JPEG instance), storescp a peer accepting only uncompressed CT (AE
# CTONLY). test_dcm (C, TAP) then drives dcmc; a few direct checks of
# isn-edge-dicom follow here.
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
case $top_builddir in /*) ;; *) top_builddir=$PWD/$top_builddir ;; esac
t=$top_builddir/edge/tests/test_dcm
helper=$top_builddir/edge/isn-edge-dicom
n=0; failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
check() { if eval "$2"; then ok "$1"; else nok "$1"; fi; }

for c in dcmqrscp storescp dcmsend dcmcjpeg echoscu; do
	if ! command -v $c >/dev/null 2>&1; then
		echo "1..0 # SKIP no $c (package dcmtk)"; exit 0
	fi
done

tmp=$(mktemp -d) || exit 1
pids=
cleanup() {
	for p in $pids; do kill -KILL "$p" 2>/dev/null; done
	wait 2>/dev/null
	if [ -n "${DCM_KEEP:-}" ]; then echo "# kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

set -- $("$t" ports 6)
pacs_port=$1 scp_port=$2 refuse_port=$3 closed_port=$4 scp2_port=$5
jpacs_port=$6
export TCP_NODELAY=1

# Synthetic studies; one instance JPEG lossless (dcmcjpeg's default).
mkdir -p "$tmp/src" "$tmp/db/PACS" "$tmp/db/STORE" "$tmp/db/JPACS" \
    "$tmp/spool" \
    "$tmp/refused" "$tmp/spool2"
"$t" gen "$tmp/src" || { echo "Bail out! gen"; exit 1; }
dcmcjpeg "$tmp/src/s2b1.dcm" "$tmp/src/s2b1.jpg" &&
    mv "$tmp/src/s2b1.jpg" "$tmp/src/s2b1.dcm" ||
    { echo "Bail out! dcmcjpeg"; exit 1; }
echo "not a DICOM file" > "$tmp/src/not-dicom.dcm"

# dcmqrscp sends on the first accepted context of a SOP class whatever
# the file's syntax and cannot convert JPEG, so the JPEG instance lives in
# a second one (JPACS) whose outgoing profile proposes JPEG lossless only.
qrcfg() { # port AE
	cat <<EOF
NetworkTCPPort  = $1
MaxPDUSize      = 16384
MaxAssociations = 16
HostTable BEGIN
isn     = (RSNA-ISN, 127.0.0.1, $scp_port)
HostTable END
VendorTable BEGIN
VendorTable END
AETable BEGIN
$2   $tmp/db/$2    RW (20, 1024mb)   ANY
EOF
	[ "$2" = PACS ] && echo "STORE  $tmp/db/STORE   RW (20, 1024mb)   ANY"
	echo "AETable END"
}
qrcfg "$pacs_port" PACS > "$tmp/dcmqrscp.cfg"
qrcfg "$jpacs_port" JPACS > "$tmp/jpacs.cfg"
cat > "$tmp/jpacs-assoc.cfg" <<EOF
[[TransferSyntaxes]]
[Uncompressed]
TransferSyntax1 = LocalEndianExplicit
TransferSyntax2 = LittleEndianImplicit
[JPEGLossless]
TransferSyntax1 = JPEGLossless:Non-hierarchical-1stOrderPrediction
[[PresentationContexts]]
[In]
PresentationContext1 = VerificationSOPClass\\Uncompressed
PresentationContext2 = FINDStudyRootQueryRetrieveInformationModel\\Uncompressed
PresentationContext3 = MOVEStudyRootQueryRetrieveInformationModel\\Uncompressed
PresentationContext4 = CTImageStorage\\JPEGLossless
[Out]
PresentationContext1 = CTImageStorage\\JPEGLossless
[[Profiles]]
[In]
PresentationContexts = In
[Out]
PresentationContexts = Out
EOF
dcmqrscp -c "$tmp/dcmqrscp.cfg" > "$tmp/dcmqrscp.log" 2>&1 &
pids="$pids $!"
dcmqrscp -c "$tmp/jpacs.cfg" -xf "$tmp/jpacs-assoc.cfg" In Out \
    > "$tmp/jpacs.log" 2>&1 &
pids="$pids $!"

cat > "$tmp/ctonly.cfg" <<EOF
[[TransferSyntaxes]]
[Uncompressed]
TransferSyntax1 = LocalEndianExplicit
TransferSyntax2 = LittleEndianImplicit
[[PresentationContexts]]
[CTOnly]
PresentationContext1 = VerificationSOPClass\\Uncompressed
PresentationContext2 = CTImageStorage\\Uncompressed
[[Profiles]]
[Default]
PresentationContexts = CTOnly
EOF
storescp -xf "$tmp/ctonly.cfg" Default -od "$tmp/refused" "$refuse_port" \
    > "$tmp/storescp.log" 2>&1 &
pids="$pids $!"

# Bounded wait for both peers (echoscu fails until they listen).
i=0
until echoscu -aec PACS 127.0.0.1 "$pacs_port" >/dev/null 2>&1 &&
    echoscu -aec JPACS 127.0.0.1 "$jpacs_port" >/dev/null 2>&1 &&
    echoscu -aec CTONLY 127.0.0.1 "$refuse_port" >/dev/null 2>&1; do
	i=$((i + 1))
	if [ $i -gt 200 ]; then echo "Bail out! peers did not start"; exit 1; fi
	sleep 0.05
done
# dcmsend negotiates per file, so the JPEG instance stays JPEG.
{ dcmsend -aet LOADER -aec PACS 127.0.0.1 "$pacs_port" "$tmp"/src/s1*.dcm \
    "$tmp"/src/s2a*.dcm "$tmp"/src/big/*.dcm &&
  dcmsend -aet LOADER -aec JPACS 127.0.0.1 "$jpacs_port" \
    "$tmp"/src/s2b1.dcm; } > "$tmp/load.log" 2>&1 ||
    { echo "Bail out! dcmsend"; cat "$tmp/load.log"; exit 1; }

DCM_HELPER=$helper DCM_SRC=$tmp/src DCM_SPOOL=$tmp/spool \
DCM_PACS_PORT=$pacs_port DCM_JPACS_PORT=$jpacs_port DCM_SCP_PORT=$scp_port \
DCM_REFUSE_PORT=$refuse_port DCM_CLOSED_PORT=$closed_port \
    ${ISN_TEST_WRAPPER:-} "$t" > "$tmp/tap" 2>"$tmp/stderr"
rc=$?
# Renumber the C program's points into this script's plan.
while IFS= read -r line; do
	case $line in
	"ok "*) ok "${line#ok * - }" ;;
	"not ok "*) nok "${line#not ok * - }" ;;
	"1.."*) ;;
	*) echo "$line" ;;
	esac
done < "$tmp/tap"
check "test_dcm exited cleanly (rc $rc)" '[ $rc -eq 0 ] || [ $failed -gt 0 ]'
if [ -s "$tmp/stderr" ]; then sed 's/^/# stderr: /' "$tmp/stderr" | head -20; fi

# --- the helper directly ---------------------------------------------
out=$("$helper" echo --peer "PACS@127.0.0.1:$pacs_port" --ae ISN-TEST)
check "helper echo: one result line, exit 0" \
    '[ "$out" = "result exit=0 status=0000 reason=success" ]'
"$helper" find --peer "PACS@127.0.0.1:$pacs_port" --ae X > "$tmp/o" 2>/dev/null
rc=$?
check "find without keys: exit 2 and a reason" \
    '[ $rc -eq 2 ] && grep -q "^result exit=2 reason=find%20needs" "$tmp/o"'
"$helper" echo --peer "PACS@127.0.0.1" --ae X > "$tmp/o" 2>/dev/null
check "a peer without a port is a usage error" '[ $? -eq 2 ]'
"$helper" frobnicate > "$tmp/o" 2>/dev/null
check "an unknown command is a usage error" '[ $? -eq 2 ]'
"$helper" find --peer "PACS@127.0.0.1:$pacs_port" --ae X \
    --accession ACC001 > "$tmp/o"
check "find output: percent-encoded fields, patient name kept off stderr" \
    'grep -q "^study study_uid=2.25.4242.1 accession=ACC001 patient_id=MRN-001 patient_name=Doe^Jane " "$tmp/o"'

# The SCP exits cleanly on SIGTERM and refuses a busy port.
mkdir -p "$tmp/spool2/.incoming"
: > "$tmp/spool2/.incoming/99-1.part"
"$helper" scp --ae RSNA-ISN --port "$scp2_port" --spool "$tmp/spool2" \
    > "$tmp/scp.out" 2>"$tmp/scp.err" &
scp=$!
pids="$pids $scp"
i=0
until grep -q '^ready' "$tmp/scp.out" 2>/dev/null; do
	i=$((i + 1)); [ $i -gt 200 ] && break; sleep 0.05
done
check "the SCP announces ready" 'grep -q "^ready ae=RSNA-ISN port=$scp2_port" "$tmp/scp.out"'
check "it removed a half-received file left by a predecessor" \
    '[ ! -e "$tmp/spool2/.incoming/99-1.part" ]'
"$helper" scp --ae RSNA-ISN --port "$scp2_port" --spool "$tmp/spool2" \
    > "$tmp/o" 2>/dev/null
check "a second SCP on the same port fails clearly" \
    '[ $? -eq 2 ] && grep -q "in%20use" "$tmp/o"'
# Our store proposes the file's own syntax in a context of its own.
"$helper" store --peer "RSNA-ISN@127.0.0.1:$scp2_port" --ae ISN-TEST \
    "$tmp/src/s2b1.dcm" > "$tmp/o"
check "helper store: one sent line, JPEG kept (exit $?)" \
    'grep -q "^sent file=$tmp/src/s2b1.dcm .* ts=1.2.840.10008.1.2.4.70 sent_ts=1.2.840.10008.1.2.4.70 status=0000 ok=1$" "$tmp/o"'
check "the JPEG instance is spooled as sent, under study/sop" \
    'grep -q "^stored study_uid=2.25.4242.2 series_uid=2.25.4242.2.2 sop_instance=2.25.4242.2.2.1 sop_class=1.2.840.10008.5.1.4.1.1.2 ts=1.2.840.10008.1.2.4.70 file=$tmp/spool2/2.25.4242.2/2.25.4242.2.2.1.dcm size=" "$tmp/scp.out" &&
    [ -f "$tmp/spool2/2.25.4242.2/2.25.4242.2.2.1.dcm" ]'
echoscu -aec WRONG-AE 127.0.0.1 "$scp2_port" >/dev/null 2>&1
check "the SCP rejects a wrong called AE" '[ $? -ne 0 ]'
kill -TERM $scp
i=0
while kill -0 $scp 2>/dev/null; do
	i=$((i + 1)); [ $i -gt 100 ] && break; sleep 0.05
done
wait $scp; rc=$?
check "the SCP exits 0 on SIGTERM" \
    '[ $rc -eq 0 ] && tail -1 "$tmp/scp.out" | grep -q "^result exit=0"'
# Orphaned (its parent gone without a signal reaching it) it stops too.
sh -c '"$1" scp --ae RSNA-ISN --port "$2" --spool "$3" > "$4" 2>&1 &
    echo $! > "$5"; sleep 1' sh "$helper" "$scp2_port" "$tmp/spool2" \
    "$tmp/orphan.out" "$tmp/orphan.pid"
op=$(cat "$tmp/orphan.pid")
i=0
while kill -0 "$op" 2>/dev/null; do
	i=$((i + 1)); [ $i -gt 100 ] && break; sleep 0.05
done
check "an SCP whose parent is gone stops within 5 s" \
    '! kill -0 "$op" 2>/dev/null && grep -q "^ready" "$tmp/orphan.out" &&
     tail -1 "$tmp/orphan.out" | grep -q "^result exit=0"' || kill "$op" 2>/dev/null
check "no patient data on the helpers' stderr" \
    '! grep -q -e Doe -e Roe -e MRN- "$tmp/scp.err" "$tmp/stderr"'

echo "1..$n"
[ $failed -eq 0 ]
