#!/bin/sh
# test_import.sh: the receiving side end to end, everything real on
# loopback: one private PostgreSQL (database "isn" for the clearinghouse,
# "edge" for site A's edge, "edgeb" for site B's), the clearinghouse with
# mutual TLS, two dcmqrscp PACS (A's and B's), two isn-edge daemons. Site
# A's staff send a study to site B through A's API (the handout's token);
# site B's staff look it up through B's API (the report's text in the
# answer, no image fetched) and import it into B's PACS;
# every instance in B's PACS is compared with A's original, byte for byte
# after the meta header. Negative: wrong details (one neutral message),
# a SOP class B's PACS refuses (reported per instance, retried, the rest
# stored), PACS B killed mid-import (the rest stored once it is back, no
# instance sent twice), a JPEG lossless instance PACS B takes only
# uncompressed (decoded on the way, the rest untouched). Reconciliation:
# a local MRN and accession replace the sender's, whose patient ID is kept
# in Other Patient IDs and both in Original Attributes; nothing else
# differs.
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}

. "$top_srcdir/clearinghouse/tests/pg.sh"
. "$top_srcdir/clearinghouse/tests/certs.sh"
. "$top_srcdir/clearinghouse/tests/lib.sh"
. "$top_srcdir/edge/tests/edge-lib.sh"
. "$top_srcdir/edge/tests/dcm-recon.sh"
ch_begin openssl psql cmp dcmqrscp dcmsend echoscu dcmdump dcmodify \
    dcmcjpeg dcmdjpeg
edge_paths
fetch=$(abs "$top_builddir/edge/isn-edge-fetch")
mksub=$(abs "$top_builddir/testnet/isn-mksub")
set -- $("$tool" ports 4)
b_ris=$1 b_scp=$2 b_pacs=$3 b_api=$4

check "the test PKI was generated" ch_pki
check "the clearinghouse starts" edge_ch

# --- site A: its PACS, its edge ---
pacs_conf
check "PACS A (dcmqrscp) starts" pacs_start
check "site A's PACS holds three studies (6, 20 and 4 instances)" \
    'study a P100 J100 1.2.826.77.1 6 && study c P200 J200 1.2.826.77.3 20 &&
     study d P400 J400 1.2.826.77.4 4 && study e P500 J500 1.2.826.77.5 10'
edge_keys
edge_db
edge_yaml "$pacs_port"
check "site A's edge starts" \
    'edge_start && ewait "jobs storage SCP ready port=$scp_port"'

# --- site B: its PACS (AE PACSB), its edge (database edgeb) ---
mkdir -p b/db/PACSB
cat > b/dcmqrscp.cfg <<EOF
NetworkTCPPort  = $b_pacs
MaxPDUSize      = 16384
MaxAssociations = 16
HostTable BEGIN
HostTable END
VendorTable BEGIN
VendorTable END
AETable BEGIN
PACSB   $tmp/b/db/PACSB    RW (200, 1024mb)   ANY
AETable END
EOF
bpacs_start() {
	dcmqrscp -c b/dcmqrscp.cfg >> b/dcmqrscp.log 2>&1 & bqr=$!
	echo $bqr > b/pacs.pid
	bgpids="$bgpids $bqr"
	i=0
	until echoscu -aec PACSB 127.0.0.1 "$b_pacs" >/dev/null 2>&1; do
		i=$((i + 1)); [ $i -gt 200 ] && return 1
		sleep 0.05
	done
}
check "PACS B (dcmqrscp) starts" bpacs_start
psql -X -q -c "CREATE DATABASE edgeb" > /dev/null 2>&1
"$tool" kek b/kek.bin
# The DICOM helper of site B, through a wrapper: once b/cut exists, the
# next store of study c sends 5 instances and then kills PACS B
# (mid-import); once b/hang exists, the next store of study e sends 5
# and then hangs (the daemon is killed meanwhile); once b/stall exists,
# the next store hangs at once (cancelled meanwhile).
cat > b/dicom.sh <<EOF
#!/bin/sh
if [ "\$1" = store ] && [ -f $tmp/b/cut ]; then
	cat > $tmp/b/all.list
	if grep -q /1.2.826.77.3/ $tmp/b/all.list; then
		rm -f $tmp/b/cut
		head -n 5 $tmp/b/all.list > $tmp/b/cut.list
		"$dcmhelper" "\$@" < $tmp/b/cut.list
		kill -TERM \$(cat $tmp/b/pacs.pid)
		exit 1
	fi
	exec "$dcmhelper" "\$@" < $tmp/b/all.list
fi
if [ "\$1" = store ] && [ -f $tmp/b/stall ]; then
	rm -f $tmp/b/stall
	echo \$\$ > $tmp/b/stall.pid
	exec sleep 600
fi
if [ "\$1" = store ] && [ -f $tmp/b/hang ]; then
	cat > $tmp/b/all.list
	if grep -q /1.2.826.77.5/ $tmp/b/all.list; then
		rm -f $tmp/b/hang
		head -n 5 $tmp/b/all.list > $tmp/b/cut.list
		"$dcmhelper" "\$@" < $tmp/b/cut.list
		exec sleep 600
	fi
	exec "$dcmhelper" "\$@" < $tmp/b/all.list
fi
exec "$dcmhelper" "\$@"
EOF
chmod +x b/dicom.sh
cat > b/edge.yaml <<EOT
site: {name: site-b}
database: {conninfo: "host=127.0.0.1 port=$PGPORT user=isn dbname=edgeb", pool_size: 2, schema_dir: "$eschemas"}
ris: {listen: "127.0.0.1:$b_ris"}
pacs:
  - {name: local, ae_title: PACSB, host: 127.0.0.1, port: $b_pacs}
dicom: {ae_title: SITEB-ISN, port: $b_scp, spool_dir: spool, helper: "$tmp/b/dicom.sh"}
clearinghouse:
  url: "$URL/services/xdsrepositoryb"
  registry_url: "$URL/services/xdsregistryb"
  pix: "127.0.0.1:$pix_port"
  registry: "127.0.0.1:$reg_port"
  ca: ../ca.pem
  cert: ../both.pem
  key: ../both.key
  affinity_domain: "1.2.260"
  repository_uid: "1.2.3"
  timeout: 10s
jobs: {key_file: kek.bin, poll_interval: 1s}
import: {fetch_helper: "$fetch", retries: 6, retry_interval: 1s, reconcile: true}
api: {listen: "127.0.0.1:$b_api", tokens_file: ../tokens}
EOT
check "site B's configuration (with import) is valid" \
    '"$edge" -n -f b/edge.yaml 2>&1 | grep -qx "configuration OK"'
: > b/elog
bstart() {
	(cd b && exec "$edge" -d -f edge.yaml 2>> elog) & bpid=$!
	bgpids="$bgpids $bpid"
}
bstart
bwait() {
	i=0
	while [ "$(grep -c -- "$1" b/elog 2>/dev/null)" -lt "${2:-1}" ]; do
		kill -0 "$bpid" 2>/dev/null || return 1
		i=$((i + 1)); [ $i -gt 400 ] && return 1
		sleep 0.05
	done
}
check "site B's edge starts with the import runner (migration 2 applied)" \
    'bwait " started version=" && bwait "import started clearinghouse=yes key=yes" &&
     grep -q "migrate applied version=2 file=0002-import.sql" b/elog'
bsql() { PGDATABASE=edgeb psql -X -A -t -q -c "$1" 2>&1; }
# bapi METHOD PATH [JSON]: site B's API, answer in api.out, status $code.
bapi() {
	code=$(curl -s -m 60 -o api.out -w '%{http_code}' -X "$1" \
	    -H "Authorization: Bearer $api_token" \
	    -H "Content-Type: application/json" ${3:+--data-binary "$3"} \
	    "http://127.0.0.1:$b_api$2")
}
# bcancel ID: POST /api/imports/ID/cancel (one try: a cancel that comes
# while the runner is picking waits for the pick, it is never a 503).
bcancel() { bapi POST "/api/imports/$1/cancel"; }
# jhas KEY VALUE-REGEX: api.out has "KEY": VALUE (PostgreSQL writes
# json_build_object's members as "key" : value).
jhas() { grep -Eq "\"$1\" *: *$2" api.out; }
istatus() { bsql "SELECT status FROM imports WHERE id = $1"; }
ihistory() {
	bsql "SELECT string_agg(status::text, ' ' ORDER BY id)
	    FROM import_history WHERE import_id = $1"
}
# iwait ID CODE [TRIES]: bounded wait (50 ms steps) for the status.
iwait() {
	i=0
	while [ "$(istatus "$1")" != "$2" ]; do
		i=$((i + 1)); [ $i -gt "${3:-600}" ] && {
			echo "# import $1 status $(istatus "$1"), wanted $2"
			return 1; }
		sleep 0.05
	done
}
# inpacs DIR STUDY: every instance of src/DIR is in PACS B with the same
# dataset bytes, and B holds no other instance of STUDY.
bsop() { dcmdump -q +P 0008,0018 "$1" | sed 's/.*\[\(.*\)\].*/\1/'; }
bstudy() { dcmdump -q +P 0020,000d "$1" | sed 's/.*\[\(.*\)\].*/\1/'; }
# inpacs_files DIR STUDY: PACS B's instances of STUDY into cmpb/<sop>,
# each once, as many as src/DIR has.
inpacs_files() {
	rm -rf cmpb && mkdir cmpb
	nb=0
	for f in b/db/PACSB/*; do
		case $f in */index.dat) continue ;; esac
		[ "$(bstudy "$f")" = "$2" ] || continue
		s=$(bsop "$f")
		[ -e "cmpb/$s" ] && { echo "# twice in PACS B: $s"; return 1; }
		cp "$f" "cmpb/$s"
		nb=$((nb + 1))
	done
	[ "$nb" = "$(ls src/"$1"/*.dcm | wc -l)" ] ||
	    { echo "# PACS B has $nb of study $2"; return 1; }
}
inpacs() {
	rm -rf cmpb && mkdir cmpb
	nb=0
	for f in b/db/PACSB/*; do
		case $f in */index.dat) continue ;; esac
		[ "$(bstudy "$f")" = "$2" ] || continue
		s=$(bsop "$f")
		[ -e "cmpb/$s" ] && { echo "# twice in PACS B: $s"; return 1; }
		cp "$f" "cmpb/$s"
		nb=$((nb + 1))
	done
	ns=0
	for f in src/"$1"/*.dcm; do
		u=${f##*/}; u=${u%.dcm}
		[ -f "cmpb/$u" ] || { echo "# not in PACS B: $u"; return 1; }
		dataset "$f" > want.bin && dataset "cmpb/$u" > got.bin &&
		    [ -s got.bin ] && cmp -s want.bin got.bin ||
		    { echo "# differs: $u"; return 1; }
		ns=$((ns + 1))
	done
	[ "$nb" = "$ns" ] || { echo "# PACS B has $nb, A $ns"; return 1; }
}

# --- 1. site A sends study a to site B (the API's handout) ---
echo "# site A: order, final report, a job set to site B through the API"
check "the RIS order and final report reach site A (AA)" \
    'order P100 J100 && result P100 J100 F "FINDINGS: normal."'
pa=$(esql "SELECT id FROM patients WHERE mrn = 'P100'")
ea=$(esql "SELECT e.id FROM exams e WHERE e.patient_id = $pa")
api POST /api/job-sets "{\"patient\": $pa, \"exams\": [$ea], \"destination\": \"site\", \"site\": \"site-b\", \"urgency\": \"final\", \"dob\": \"1960-01-02\", \"password\": \"handout-pass\"}"
tok=$(sed -n 's/.*"token": *"\([a-z0-9-]*\)".*/\1/p' api.out)
check "site A's API makes the job set: 201 with the handout's token" \
    '[ "$code" = 201 ] && [ -n "$tok" ]'
ja=$(esql "SELECT j.id FROM jobs j JOIN job_sets s ON s.id = j.job_set_id WHERE s.patient_id = $pa")
check "site A's job reaches 40 (sent to the clearinghouse)" \
    'waitstatus $ja 40 400'

# --- 2. lookup at site B ---
echo "# site B: lookups"
bapi POST /api/imports/lookup "{\"token\": \"$tok\", \"dob\": \"1960-01-02\", \"password\": \"wrong-pass\"}"
check "a wrong password: 404, the neutral message" \
    '[ "$code" = 404 ] && grep -q "\"nothing found for these details\"" api.out'
cp api.out wrong1.out
bapi POST /api/imports/lookup "{\"token\": \"$tok\", \"dob\": \"1960-01-03\", \"password\": \"handout-pass\"}"
check "a wrong date of birth: the very same answer" \
    '[ "$code" = 404 ] && cmp -s api.out wrong1.out'
bapi POST /api/imports/lookup "{\"token\": \"$tok\", \"dob\": \"1960-01-02\", \"password\": \"handout-pass\", \"bogus\": 1}"
check "an unknown member is refused (400)" '[ "$code" = 400 ]'
# iti18s: ITI-18 requests the clearinghouse has answered (its metrics).
iti18s() { ch_metrics | awk '/^isn_ch_iti18_requests_total/ { s += $2 } END { print s + 0 }'; }
q0=$(iti18s)
bapi POST /api/imports/lookup "{\"token\": \"$tok\", \"dob\": \"1960-01-02\", \"password\": \"handout-pass\"}"
check "the right details under any scheme: 200, isn2, study a with 6 instances in 2 series, a report" \
    '[ "$code" = 200 ] && grep -q "\"scheme\": *\"isn2\"" api.out &&
     grep -q "\"uid\": *\"1.2.826.77.1\"" api.out &&
     grep -q "\"instances\": *6" api.out && grep -q "\"report\": *true" api.out &&
     [ "$(grep -o "\"uid\": *\"1.2.826.77.1\.[0-9]*\"" api.out | wc -l)" = 2 ]'
cp api.out lookup-a.out
check "the lookup listed once: 4 ITI-18 (FindSubmissionSets, FindDocuments, GetSubmissionSetAndContents, GetDocuments)" \
    '[ $(($(iti18s) - q0)) = 4 ]'
# The clearinghouse's log: one ITI-43 for the KOS and report, no RAD-69.
check "the lookup carries the report's text, decrypted, and no image was fetched" \
    'jhas report_text "\"FINDINGS: normal\.[^\"]*\"" && jhas report_truncated false &&
     grep -q "txn=ITI-43 event=answer status=success docs=2 " log &&
     ! grep -q "txn=RAD-69" log && [ -z "$(find b/spool -name "*.dcm")" ]'
check "the lookup's private directory is gone, the report text not logged" \
    '[ -d b/spool/lookups ] && [ -z "$(find b/spool/lookups -mindepth 1)" ] &&
     grep -q "import lookup found=1 studies=1 reports=1" b/elog &&
     ! grep -q FINDINGS b/elog'

# --- 3. the import ---
echo "# site B: import study a into PACS B"
bapi POST /api/imports "{\"token\": \"$tok\", \"dob\": \"1960-01-02\", \"password\": \"handout-pass\", \"study\": \"1.2.826.77.1\", \"pacs\": \"nope\"}"
check "an unknown PACS is refused (400)" '[ "$code" = 400 ]'
bapi POST /api/imports "{\"token\": \"$tok\", \"dob\": \"1960-01-02\", \"password\": \"handout-pass\", \"study\": \"1.2.826.77.1\", \"pacs\": \"local\"}"
i1=$(sed -n 's/.*"import": *\([0-9]*\).*/\1/p' api.out)
check "an import job is created (201)" '[ "$code" = 201 ] && [ -n "$i1" ]'
check "it reaches 40 (completed import into the PACS)" 'iwait $i1 40'
check "its history: 1 created, 10 retrieving, 20 retrieved, 30 storing, 40" \
    '[ "$(ihistory $i1)" = "1 10 20 30 40" ]'
check "every instance in PACS B equals site A's, byte for byte" \
    'inpacs a 1.2.826.77.1'
bapi GET /api/imports/$i1
check "the API shows 6 instances, 6 stored, none failed, the report kept with the job" \
    '[ "$code" = 200 ] && jhas instances 6 && jhas stored 6 && jhas failed 0 &&
     jhas report "\"FINDINGS: normal\."'
check "the lookup's report text is the very text the import kept" \
    'a=$(sed -n "s/.*\"report_text\": *\(\"[^\"]*\"\).*/\1/p" lookup-a.out) &&
     b=$(sed -n "s/.*\"report\" *: *\(\"[^\"]*\"\).*/\1/p" api.out) &&
     [ -n "$a" ] && [ "$a" = "$b" ]'
check "nothing is left in site B's spool" \
    '[ -z "$(find b/spool/imports -mindepth 1 2>/dev/null)" ]'
check "the sealed details are erased once retrieved" \
    '[ "$(bsql "SELECT count(*) FROM imports WHERE sealed_secrets IS NOT NULL")" = 0 ]'
check "site B's log names no patient, token or password" \
    '! grep -q -e P100 -e J100 -e DOE -e 19600102 -e 1960-01-02 -e "$tok" \
     -e handout-pass b/elog'
bapi POST /api/imports "{\"token\": \"$tok\", \"dob\": \"1960-01-02\", \"password\": \"handout-pass\", \"study\": \"1.2.826.77.99\", \"pacs\": \"local\"}"
i0=$(sed -n 's/.*"import": *\([0-9]*\).*/\1/p' api.out)
check "an import of a study the details do not hold ends at -10 at once, details erased" \
    '[ "$code" = 201 ] && iwait $i0 -10 && [ "$(ihistory $i0)" = "1 10 -10" ] &&
     [ "$(bsql "SELECT count(*) FROM imports WHERE id = $i0 AND sealed_secrets IS NULL AND next_attempt IS NULL")" = 1 ] &&
     [ ! -e b/spool/imports/$i0 ]'
bapi GET /api/imports
check "the import list has it" \
    '[ "$code" = 200 ] && grep -q "\"id\": *$i1" api.out'
bapi GET "/api/imports?status=40"
check "filtered by status 40 it is there" \
    '[ "$code" = 200 ] && grep -q "\"id\": *$i1" api.out'
bapi GET "/api/imports?status=-40"
check "filtered by status -40 it is not" \
    '[ "$code" = 200 ] && ! grep -q "\"id\": *$i1[,}]" api.out'
bapi GET "/api/imports?status=x1"
check "a status filter that is not a code: 400" '[ "$code" = 400 ]'

# --- 4. a SOP class PACS B refuses ---
echo "# an rsna-token submission with an instance of a private SOP class"
mkdir -p src/r && "$tool" gen src/r P300 J300 1.2.826.77.30 3 > /dev/null
rf=$(ls src/r/*.dcm | head -n 1)
# dcmodify updates the meta header's MediaStorageSOPClassUID itself.
dcmodify -nb -m "(0008,0016)=1.2.826.0.1.3680043.9.7777.1" "$rf" \
    > /dev/null 2>&1
export PW=quackquack
"$mksub" --scheme rsna-token --token fpzddg --dob 1960-01-02 \
    --password-env PW --oid 1.2.260 --repository 1.2.3 \
    --info mk-r --out pnr-r --content-type-file ct-r src/r/*.dcm \
    2> mk-r.err
rid=$(sed -n 's/^rsna-id //p' mk-r)
xds=$xds_port pix=$pix_port
check "it is stored at the clearinghouse" \
    'ch_register "$rid" reg-r 1.2.260 &&
     ch_post source pnr-r "$(cat ct-r)" /services/xdsrepositoryb &&
     [ "$code" = 200 ] && grep -q "ResponseStatusType:Success" resp'
bapi POST /api/imports/lookup "{\"token\": \"fpzddg\", \"dob\": \"1960-01-02\", \"password\": \"quackquack\"}"
check "a lookup of it (no report): report false, report_text null" \
    '[ "$code" = 200 ] && grep -q "\"scheme\": *\"rsna-token\"" api.out &&
     jhas report false && jhas report_text null &&
     grep -q "import lookup found=1 studies=1 reports=0" b/elog'
bapi POST /api/imports "{\"token\": \"fpzddg\", \"dob\": \"1960-01-02\", \"password\": \"quackquack\", \"study\": \"1.2.826.77.30\", \"pacs\": \"local\"}"
i2=$(sed -n 's/.*"import": *\([0-9]*\).*/\1/p' api.out)
check "an import of it (any scheme finds rsna-token) is created" \
    '[ "$code" = 201 ] && [ -n "$i2" ]'
check "it fails with -30: 1 of 3 not stored, the PACS's refusal named" \
    'iwait $i2 -30 && bsql "SELECT reason FROM import_history
     WHERE import_id = $i2 AND status = -30" | grep -q "1 of 3 instances not stored into local: .*refused"'
check "it is retried: only the refused instance is sent again (attempts 2)" \
    'i=0; until [ "$(bsql "SELECT attempts FROM import_instances WHERE import_id = $i2 AND state = '"'failed'"'")" = 2 ]; do
     i=$((i + 1)); [ $i -gt 200 ] && break; sleep 0.05; done; [ $i -le 200 ] &&
     [ "$(bsql "SELECT count(*) FROM import_instances WHERE import_id = $i2 AND state = '"'stored'"' AND attempts = 1")" = 2 ]'
bapi GET /api/imports/$i2
check "the API reports the failed instance with its reason" \
    'jhas failed 1 && jhas stored 2 && jhas reason "\"[^\"]*refused"'
check "after its retries it stops: -30, no retries left, 7 attempts" \
    'i=0; until bsql "SELECT reason FROM imports i JOIN import_history h
     ON h.import_id = i.id AND h.status = i.status WHERE i.id = $i2" |
     grep -q "no retries left"; do i=$((i + 1)); [ $i -gt 400 ] && break;
     sleep 0.05; done; [ $i -le 400 ] &&
     [ "$(bsql "SELECT attempts FROM import_instances WHERE import_id = $i2 AND state = '"'failed'"'")" = 7 ]'
check "the refused instance stays in the spool for staff, the stored ones are gone" \
    '[ "$(find b/spool/imports/$i2 -name "*.dcm" | wc -l)" = 1 ]'
check "the other two instances are in PACS B, byte for byte" \
    'rm -f "$rf" && inpacs r 1.2.826.77.30'
# Eight days later (import.keep_failed is 7d by default) the edge cancels
# it and drops the instance the PACS refused: decrypted patient data.
bsql "UPDATE imports SET updated = now() - interval '8 days' WHERE id = $i2" \
    > /dev/null
check "after import.keep_failed the edge cancels it (-40), its spool removed" \
    'iwait $i2 -40 && bsql "SELECT reason FROM import_history
     WHERE import_id = $i2 AND status = -40" |
     grep -q "^cancelled by the edge: failed 7d ago (import.keep_failed)$" &&
     [ ! -e b/spool/imports/$i2 ] &&
     [ "$(bsql "SELECT count(*) FROM import_instances WHERE import_id = $i2
          AND state = '"'failed'"'")" = 1 ]'
bapi POST /api/imports/$i2/retry
check "a cancelled import cannot be retried (409): its spool is gone" \
    '[ "$code" = 409 ] && grep -q "cannot be retried (status -40)" api.out'

# --- 4b. a compressed instance PACS B refuses in its own syntax ---
echo "# a JPEG lossless instance: PACS B (uncompressed only) gets it decoded"
mkdir -p src/j && "$tool" gen src/j P350 J350 1.2.826.77.40 2 > /dev/null
jf=$(ls src/j/*.dcm | head -n 1)
dcmcjpeg +e1 "$jf" j.tmp > /dev/null 2>&1 && mv j.tmp "$jf"
"$mksub" --scheme rsna-token --token jpegtok --dob 1960-01-02 \
    --password-env PW --oid 1.2.260 --repository 1.2.3 \
    --info mk-j --out pnr-j --content-type-file ct-j src/j/*.dcm \
    2> mk-j.err
jid=$(sed -n 's/^rsna-id //p' mk-j)
check "a submission with a JPEG lossless instance is stored" \
    '[ "$(dcmdump -q +P 0002,0010 "$jf")" != "" ] &&
     dcmdump -q +P 0002,0010 "$jf" | grep -q JPEGLossless &&
     ch_register "$jid" reg-j 1.2.260 &&
     ch_post source pnr-j "$(cat ct-j)" /services/xdsrepositoryb &&
     [ "$code" = 200 ] && grep -q "ResponseStatusType:Success" resp'
bapi POST /api/imports "{\"token\": \"jpegtok\", \"dob\": \"1960-01-02\", \"password\": \"quackquack\", \"study\": \"1.2.826.77.40\", \"pacs\": \"local\"}"
ij=$(sed -n 's/.*"import": *\([0-9]*\).*/\1/p' api.out)
check "its import reaches 40" '[ "$code" = 201 ] && iwait $ij 40'
# nometa FILE: the full dump without the meta header.
nometa() { dcmdump -q +L "$1" | grep -v "^(0002,"; }
jpeg_fallback() {
	inpacs_files j 1.2.826.77.40 || return 1
	u=${jf##*/}; u=${u%.dcm}
	dcmdump -q +P 0002,0010 "cmpb/$u" | grep -q "=LittleEndianExplicit" ||
	    { echo "# not sent uncompressed"; return 1; }
	dcmdjpeg "$jf" jdec.dcm > /dev/null 2>&1 &&
	    nometa jdec.dcm > want.txt && nometa "cmpb/$u" > got.txt &&
	    grep -q "^(7fe0,0010)" got.txt && cmp -s want.txt got.txt ||
	    { echo "# decoded instance differs"; return 1; }
	for f in src/j/*.dcm; do
		[ "$f" = "$jf" ] && continue
		v=${f##*/}; v=${v%.dcm}
		dataset "$f" > want.bin && dataset "cmpb/$v" > got.bin &&
		    cmp -s want.bin got.bin || { echo "# differs: $v"; return 1; }
	done
}
check "the JPEG one arrived decoded (Explicit LE, equal to dcmdjpeg's), the other byte for byte" \
    jpeg_fallback

# --- 4c. a report any PHR could get: quotes, a backslash, CR LF, Latin-1 ---
echo "# a lookup of a report with quotes, a backslash, line breaks and a Latin-1 byte"
mkdir -p src/q && "$tool" gen src/q P360 J360 1.2.826.77.45 1 > /dev/null
printf 'IMPRESSION: "no" \\ change\r\nLine 2 caf\351\n' > report-q.txt
"$mksub" --scheme rsna-token --token rptok --dob 1960-01-02 \
    --password-env PW --oid 1.2.260 --repository 1.2.3 --report report-q.txt \
    --info mk-q --out pnr-q --content-type-file ct-q src/q/*.dcm \
    2> mk-q.err
qid=$(sed -n 's/^rsna-id //p' mk-q)
check "a submission with that report is stored" \
    'ch_register "$qid" reg-q 1.2.260 &&
     ch_post source pnr-q "$(cat ct-q)" /services/xdsrepositoryb &&
     [ "$code" = 200 ] && grep -q "ResponseStatusType:Success" resp'
bapi POST /api/imports/lookup "{\"token\": \"rptok\", \"dob\": \"1960-01-02\", \"password\": \"quackquack\"}"
printf '"report_text":"IMPRESSION: \\"no\\" \\\\ change\\r\\nLine 2 caf\357\277\275\\n"' > want-q.txt
check "its lookup: the text JSON-escaped whole, the Latin-1 byte as U+FFFD" \
    '[ "$code" = 200 ] && grep -qF -f want-q.txt api.out &&
     jhas report_truncated false'
bapi POST /api/imports "{\"token\": \"rptok\", \"dob\": \"1960-01-02\", \"password\": \"quackquack\", \"study\": \"1.2.826.77.45\", \"pacs\": \"local\"}"
iq=$(sed -n 's/.*"import": *\([0-9]*\).*/\1/p' api.out)
check "imported, the report is kept as valid UTF-8 (the Latin-1 byte as U+FFFD)" \
    '[ "$code" = 201 ] && [ -n "$iq" ] && iwait $iq 40 &&
     [ "$(bsql "SELECT report_text = E'"'"'IMPRESSION: \"no\" \\\\ change\\r\\nLine 2 caf\\uFFFD\\n'"'"' FROM imports WHERE id = $iq")" = t ]'

# --- 5. PACS B killed mid-import, then back ---
echo "# study c (20 instances): PACS B dies after 5, comes back"
order P200 J200 > /dev/null && result P200 J200 F "FINAL C" > /dev/null
pc=$(esql "SELECT id FROM patients WHERE mrn = 'P200'")
ec=$(esql "SELECT e.id FROM exams e WHERE e.patient_id = $pc")
api POST /api/job-sets "{\"patient\": $pc, \"exams\": [$ec], \"destination\": \"site\", \"site\": \"site-b\", \"urgency\": \"final\", \"dob\": \"1960-01-02\", \"password\": \"handout-pass\"}"
tokc=$(sed -n 's/.*"token": *"\([a-z0-9-]*\)".*/\1/p' api.out)
jc=$(esql "SELECT j.id FROM jobs j JOIN job_sets s ON s.id = j.job_set_id WHERE s.patient_id = $pc")
check "site A sends study c (40)" 'waitstatus $jc 40 400'
: > b/cut
bapi POST /api/imports "{\"token\": \"$tokc\", \"dob\": \"1960-01-02\", \"password\": \"handout-pass\", \"study\": \"1.2.826.77.3\", \"pacs\": \"local\"}"
i3=$(sed -n 's/.*"import": *\([0-9]*\).*/\1/p' api.out)
check "the import starts (201)" '[ "$code" = 201 ] && [ -n "$i3" ]'
check "PACS B dies after 5 instances: -30, 15 of 20 left" \
    'iwait $i3 -30 && bsql "SELECT reason FROM import_history
     WHERE import_id = $i3 AND status = -30 ORDER BY id LIMIT 1" |
     grep -q "^15 of 20 instances not stored"'
check "5 instances are marked stored, their files gone from the spool" \
    '[ "$(bsql "SELECT count(*) FROM import_instances WHERE import_id = $i3 AND state = '"'stored'"'")" = 5 ] &&
     [ "$(find b/spool/imports/$i3 -name "*.dcm" | wc -l)" = 15 ]'
check "PACS B comes back" bpacs_start
check "a retry stores the rest (40)" 'iwait $i3 40'
check "study c in PACS B: 20 instances, each once, byte for byte" \
    'inpacs c 1.2.826.77.3'
check "each instance was accepted by the PACS exactly once (5 + 15)" \
    '[ "$(grep "import id=$i3 stored=" b/elog |
       sed "s/.*stored=\([0-9]*\).*/\1/" | awk "{ s += \$1 } END { print s }")" = 20 ]'
check "the spool of the import is gone" '[ ! -e b/spool/imports/$i3 ]'

# --- 5b. site B's edge killed mid-import, restarted ---
echo "# study e (10 instances): site B's edge SIGKILLed after 5 stored"
order P500 J500 > /dev/null && result P500 J500 F "FINAL E" > /dev/null
pe=$(esql "SELECT id FROM patients WHERE mrn = 'P500'")
ee=$(esql "SELECT e.id FROM exams e WHERE e.patient_id = $pe")
api POST /api/job-sets "{\"patient\": $pe, \"exams\": [$ee], \"destination\": \"site\", \"site\": \"site-b\", \"urgency\": \"final\", \"dob\": \"1960-01-02\", \"password\": \"handout-pass\"}"
toke=$(sed -n 's/.*"token": *"\([a-z0-9-]*\)".*/\1/p' api.out)
je=$(esql "SELECT j.id FROM jobs j JOIN job_sets s ON s.id = j.job_set_id WHERE s.patient_id = $pe")
check "site A sends study e (40)" 'waitstatus $je 40 400'
: > b/hang
bapi POST /api/imports "{\"token\": \"$toke\", \"dob\": \"1960-01-02\", \"password\": \"handout-pass\", \"study\": \"1.2.826.77.5\", \"pacs\": \"local\"}"
i5=$(sed -n 's/.*"import": *\([0-9]*\).*/\1/p' api.out)
check "the import is storing (30) with 5 of 10 stored and gone from the spool" \
    '[ "$code" = 201 ] && iwait $i5 30 && i=0 &&
     until [ "$(find b/spool/imports/$i5 -name "*.dcm" | wc -l)" = 5 ]; do
     i=$((i + 1)); [ $i -gt 400 ] && break; sleep 0.05; done; [ $i -le 400 ]'
check "SIGKILL to site B's edge mid-import" \
    'kill -KILL $bpid; wait $bpid 2>/dev/null; sleep 0.2; [ -f b/cut.list ]'
bstart
check "restarted, it recovers the import (30 -> 20) and stores the rest (40)" \
    'bwait " started version=" 2 && iwait $i5 40 &&
     [ "$(ihistory $i5)" = "1 10 20 30 20 30 40" ]'
check "study e in PACS B: 10 instances, each once, byte for byte" \
    'inpacs e 1.2.826.77.5'
check "the instances stored before the kill were not sent again (5 after the restart)" \
    'grep -q "import id=$i5 stored=5 failed=0 left=0" b/elog &&
     [ "$(bsql "SELECT count(*) FROM import_instances WHERE import_id = $i5 AND state = '"'stored'"' AND attempts = 1")" = 10 ]'

# --- 6. reconciliation: the local MRN and accession ---
echo "# study d imported with a local MRN and accession (import.reconcile)"
order P400 J400 > /dev/null && result P400 J400 F "FINAL D" > /dev/null
pd=$(esql "SELECT id FROM patients WHERE mrn = 'P400'")
ed=$(esql "SELECT e.id FROM exams e WHERE e.patient_id = $pd")
api POST /api/job-sets "{\"patient\": $pd, \"exams\": [$ed], \"destination\": \"site\", \"site\": \"site-b\", \"urgency\": \"final\", \"dob\": \"1960-01-02\", \"password\": \"handout-pass\"}"
tokd=$(sed -n 's/.*"token": *"\([a-z0-9-]*\)".*/\1/p' api.out)
jd=$(esql "SELECT j.id FROM jobs j JOIN job_sets s ON s.id = j.job_set_id WHERE s.patient_id = $pd")
check "site A sends study d (40)" 'waitstatus $jd 40 400'
bapi POST /api/imports "{\"token\": \"$tokd\", \"dob\": \"1960-01-02\", \"password\": \"handout-pass\", \"study\": \"1.2.826.77.4\", \"pacs\": \"local\", \"mrn\": \"LOCAL-77\", \"accession\": \"LACC77\"}"
i4=$(sed -n 's/.*"import": *\([0-9]*\).*/\1/p' api.out)
check "a reconciled import is created and reaches 40" \
    '[ "$code" = 201 ] && [ -n "$i4" ] && iwait $i4 40'
bapi GET /api/imports/$i4
check "the API shows the local MRN and accession" \
    'jhas mrn "\"LOCAL-77\"" && jhas accession "\"LACC77\""'
recon() {
	inpacs_files d 1.2.826.77.4 || return 1
	for f in src/d/*.dcm; do
		u=${f##*/}; u=${u%.dcm}
		g=cmpb/$u
		[ "$(dcmdump -q +P 0010,0020 "$g" | head -n 1 |
		    sed 's/.*\[\(.*\)\].*/\1/')" = LOCAL-77 ] &&
		[ "$(dcmdump -q +P 0008,0050 "$g" | head -n 1 |
		    sed 's/.*\[\(.*\)\].*/\1/')" = LACC77 ] &&
		dcmdump -q +P 0010,1002 +P 0010,0020 "$g" | grep -q "\[P400\]" &&
		recon_recorded "$g" P400 J400 ||
		    { echo "# not reconciled: $u"; return 1; }
		recon_norm "$f" > want.txt && recon_norm "$g" > got.txt &&
		    grep -q "^(7fe0,0010)" got.txt && cmp -s want.txt got.txt ||
		    { echo "# differs beyond the identifiers: $u"; return 1; }
	done
}
check "in PACS B: PatientID LOCAL-77, AccessionNumber LACC77, P400 in Other Patient IDs, P400 and J400 in Original Attributes (COERCE); all else (pixel data, UIDs) identical" \
    recon
check "site B's log names neither the sender's nor the local identifiers" \
    '! grep -q -e P400 -e J400 -e LOCAL-77 -e LACC77 b/elog'

# --- 7. cancel ---
echo "# cancel: an import that has ended in failure, and one storing"
# The refused study again (the edge cancelled the first after keep_failed).
bapi POST /api/imports "{\"token\": \"fpzddg\", \"dob\": \"1960-01-02\", \"password\": \"quackquack\", \"study\": \"1.2.826.77.30\", \"pacs\": \"local\"}"
i7=$(sed -n 's/.*"import": *\([0-9]*\).*/\1/p' api.out)
check "an import of the refused study again ends -30 with no retries left" \
    '[ "$code" = 201 ] && i=0; until bsql "SELECT reason FROM imports i
     JOIN import_history h ON h.import_id = i.id AND h.status = i.status
     WHERE i.id = $i7" | grep -q "no retries left"; do i=$((i + 1));
     [ $i -gt 400 ] && break; sleep 0.05; done; [ $i -le 400 ]'
bcancel $i7
check "cancelling the failed import (refused instance): 200, -40, its spool gone" \
    '[ "$code" = 200 ] && jhas status -40 && [ "$(istatus $i7)" = -40 ] &&
     [ ! -e b/spool/imports/$i7 ] &&
     bsql "SELECT reason FROM import_history WHERE import_id = $i7 ORDER BY id DESC LIMIT 1" |
     grep -qx "cancelled by staff"'
bcancel $i7
check "cancelling it again: 409" '[ "$code" = 409 ]'
bcancel $i1
check "a completed import cannot be cancelled (409)" '[ "$code" = 409 ]'
: > b/stall
bapi POST /api/imports "{\"token\": \"$tok\", \"dob\": \"1960-01-02\", \"password\": \"handout-pass\", \"study\": \"1.2.826.77.1\", \"pacs\": \"local\"}"
i6=$(sed -n 's/.*"import": *\([0-9]*\).*/\1/p' api.out)
check "an import whose store hangs is at 30" \
    '[ "$code" = 201 ] && iwait $i6 30 && i=0 &&
     until [ -s b/stall.pid ]; do i=$((i + 1)); [ $i -gt 200 ] && break;
     sleep 0.05; done; [ $i -le 200 ]'
bcancel $i6
check "cancelled while storing: 200, history ends 30 -40, spool gone, the helper killed" \
    '[ "$code" = 200 ] && [ "$(istatus $i6)" = -40 ] &&
     [ "$(ihistory $i6)" = "1 10 20 30 -40" ] && [ ! -e b/spool/imports/$i6 ] &&
     ! kill -0 "$(cat b/stall.pid)" 2>/dev/null'

check "SIGTERM stops site B's edge (exit 0)" 'kill -TERM $bpid; wait $bpid'
check "SIGTERM stops site A's edge (exit 0)" 'kill -TERM $epid; wait $epid'

echo "1..$n"
[ $failed = 0 ]
