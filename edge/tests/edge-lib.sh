# edge-lib.sh: the edge's end-to-end harness (POSIX sh library), sourced
# after clearinghouse/tests/{pg,certs,lib}.sh by test_jobs.sh and
# edge/bench/bench.sh: one private PostgreSQL (database "isn" for the
# clearinghouse, "edge" for the edge), the clearinghouse with mutual TLS
# on fixed ports (the edge is its "both" peer), dcmqrscp as the PACS, the
# isn-edge daemon fed HL7 by ris-send, job sets made with SQL, isn-phr to
# retrieve what was sent.
#
#   edge_paths       programs and ports ($edge, $tool, $ris_port, ...)
#   edge_ch          the clearinghouse on those ports ($URL, $chpid)
#   pacs_conf        dcmqrscp.cfg; pacs_start / pacs_stop
#   study NAME MRN ACC UID N     N synthetic instances into the PACS
#   edge_keys        the patient's RSNA-ID and wrapped key ($rsnaid,
#                    $wrapped; KEK kek.bin)
#   edge_db          the edge's database ($EDGE_CONNINFO, esql)
#   edge_yaml PORT / edge_start / ewait PATTERN [N]
#   order/result/cancel MRN ACC ...   HL7 from the RIS
#   job MRN ACC URGENCY ...  / status / waitstatus / history
#   dataset / same / retrieve / sets

edge_paths() {
	edge=$(abs "$top_builddir/edge/isn-edge")
	tool=$(abs "$top_builddir/edge/tests/jobs-tool")
	rissend=$(abs "$top_builddir/edge/tests/ris-send")
	submit=$(abs "$top_builddir/edge/isn-edge-submit")
	dcmhelper=$(abs "$top_builddir/edge/isn-edge-dicom")
	phr=$(abs "$top_builddir/phr-client/isn-phr")
	eschemas=$(abs "$top_srcdir/schemas/edge")
	export TCP_NODELAY=1
	WAITLOG_TRIES=300
	set -- $("$tool" ports 9)
	ris_port=$1 scp_port=$2 pacs_port=$3 xds_port=$4 pix_port=$5
	reg_port=$6 health_port=$7 dead_port=$8 api_port=$9
	api_token=staff-token-0123456789abcdef
	(umask 077; echo "staff $api_token" > tokens)
	ctl=0
	qrpid=
}

# edge_ch: the clearinghouse on fixed ports, so that it can come back.
edge_ch() {
	ch_conf
	sed -i -e "s/xds: \"127.0.0.1:0\"/xds: \"127.0.0.1:$xds_port\"/" \
	    -e "s/pix_feed: \"127.0.0.1:0\"/pix_feed: \"127.0.0.1:$pix_port\"/" \
	    -e "s/registry_feed: \"127.0.0.1:0\"/registry_feed: \"127.0.0.1:$reg_port\"/" \
	    -e "s/health: \"127.0.0.1:0\"/health: \"127.0.0.1:$health_port\"/" ch.yaml
	ch_start || return 1
	chpid=$pid; pid=; bgpids="$bgpids $chpid"
	URL=https://127.0.0.1:$xds_port
}

pacs_conf() {
	mkdir -p db/PACS spool src
	cat > dcmqrscp.cfg <<EOF
NetworkTCPPort  = $pacs_port
MaxPDUSize      = 16384
MaxAssociations = 16
HostTable BEGIN
isn     = (RSNA-ISN, 127.0.0.1, $scp_port)
${PACS_HOSTS:-}
HostTable END
VendorTable BEGIN
VendorTable END
AETable BEGIN
PACS   $tmp/db/PACS    RW (200, ${PACS_QUOTA:-1024mb})   ANY
AETable END
EOF
}

# edge_keys: the patient's identity and the content key wrapped under a
# new KEK (kek.bin, mode 0600).
edge_keys() {
	export PW=quackquack
	"$phr" rsna-id --scheme isn2 --token abcd-efgh --dob 1960-01-02 \
	    --password-env PW --show-key > idkey 2> /dev/null
	rsnaid=$(sed -n 1p idkey); ckey=$(sed -n 2p idkey)
	"$tool" kek kek.bin
	wrapped=$("$tool" wrap kek.bin "$rsnaid" "$ckey")
}

edge_db() {
	psql -X -q -c "CREATE DATABASE edge" > /dev/null 2>&1
	EDGE_CONNINFO="host=127.0.0.1 port=$PGPORT user=isn dbname=edge"
}

abs() { case $1 in /*) echo "$1" ;; *) echo "$OLDPWD/$1" ;; esac; }

pacs_start() {
	dcmqrscp -c dcmqrscp.cfg > dcmqrscp.log 2>&1 & qrpid=$!
	bgpids="$bgpids $qrpid"
	i=0
	until echoscu -aec PACS 127.0.0.1 "$pacs_port" >/dev/null 2>&1; do
		i=$((i + 1)); [ $i -gt 200 ] && return 1
		sleep 0.05
	done
}

pacs_stop() { kill -TERM "$qrpid"; wait "$qrpid" 2>/dev/null; qrpid=; }

# study NAME MRN ACC UID N: N instances in src/NAME, stored in the PACS.
study() {
	mkdir -p "src/$1" && "$tool" gen "src/$1" "$2" "$3" "$4" "$5" &&
	    dcmsend -aet LOADER -aec PACS 127.0.0.1 "$pacs_port" \
	    src/"$1"/*.dcm >> load.log 2>&1
}

esql() { PGDATABASE=edge psql -X -A -t -q -c "$1" 2>&1; }

# edge_yaml PACS-PORT: the configuration, PACS at that port.
edge_yaml() {
	cat > edge.yaml <<EOT
site: {name: test-edge}
database: {conninfo: "$EDGE_CONNINFO", pool_size: 2, schema_dir: "$eschemas"}
ris: {listen: "127.0.0.1:$ris_port"}
pacs:
  - {name: down, ae_title: NOPE, host: 127.0.0.1, port: $dead_port}
  - {name: main, ae_title: PACS, host: 127.0.0.1, port: $1}
dicom: {ae_title: RSNA-ISN, port: $scp_port, spool_dir: spool, helper: "${DCM_HELPER:-$dcmhelper}"}
clearinghouse:
  url: "$URL/services/xdsrepositoryb"
  registry_url: "$URL/services/xdsregistryb"
  pix: "127.0.0.1:$pix_port"
  registry: "127.0.0.1:$reg_port"
  ca: ca.pem
  cert: both.pem
  key: both.key
  affinity_domain: "1.2.260"
  repository_uid: "1.2.3"
  timeout: 10s
jobs:
  key_file: kek.bin
  poll_interval: 1s
  concurrency: 4
  retries: 3
  retry_interval: 1s
  move_timeout: 20s
  move_grace: 1s
  submit_helper: "${SUBMIT_HELPER:-$submit}"
api:
  listen: "127.0.0.1:$api_port"
  tokens_file: tokens
  delay: 0s
EOT
}
# api METHOD PATH [JSON]: the staff API as user "staff"; the answer in
# ./api.out, the HTTP status in $code.
api() {
	code=$(curl -s -m 30 -o api.out -w '%{http_code}' -X "$1" \
	    -H "Authorization: Bearer $api_token" \
	    -H "Content-Type: application/json" ${3:+--data-binary "$3"} \
	    "http://127.0.0.1:$api_port$2")
}

# ewait PATTERN [COUNT]: waitlog on the edge's log (elog).
ewait() {
	i=0
	while [ "$(grep -c -- "$1" elog 2>/dev/null)" -lt "${2:-1}" ]; do
		kill -0 "$epid" 2>/dev/null || return 1
		i=$((i + 1)); [ $i -gt 300 ] && return 1
		sleep 0.05
	done
}

edge_start() {
	: >> elog
	c=$(grep -c " started version=" elog)
	${ISN_TEST_WRAPPER:-} "$edge" -d -f edge.yaml 2>> elog & epid=$!
	bgpids="$bgpids $epid"
	ewait " started version=" $((c + 1))
}

now() { date -u +%Y%m%d%H%M%S+0000; }

# order MRN ACC: ORM^O01 NW (scheduled).
order() {
	t=$(now); ctl=$((ctl + 1))
	printf 'MSH|^~\\&|RIS|GH|ISN-EDGE|SITE|%s||ORM^O01|o-%s|P|2.3.1\rPID|1||%s^^^HOSP^MR||DOE^JANE^Q||19600102|F\rORC|NW|P%s|%s||SC||||%s||||||%s\rOBR|1|P%s|%s|71250^CT CHEST^CPT||||||||||||||||||||CT\r' \
	    "$t" "m$ctl" "$1" "$2" "$2" "$t" "$t" "$2" "$2" > "o-$2.hl7"
	"$rissend" "127.0.0.1:$ris_port" "o-$2.hl7" > "o-$2.ack" 2>&1 &&
	    grep -q "MSA|AA" "o-$2.ack"
}

# result MRN ACC STATUS TEXT: ORU^R01 with OBR-25 STATUS, now.
result() {
	t=$(now); ctl=$((ctl + 1))
	printf 'MSH|^~\\&|RIS|GH|ISN-EDGE|SITE|%s||ORU^R01|r-%s|P|2.5.1\rPID|1||%s^^^HOSP^MR||DOE^JANE^Q||19600102|F\rORC|RE|P%s|%s||CM\rOBR|1|P%s|%s|71250^CT CHEST^CPT||||||||||||||||||%s|||%s\rOBX|1|FT|71250^REPORT||%s\r' \
	    "$t" "m$ctl" "$1" "$2" "$2" "$2" "$2" "$t" "$3" "$4" \
	    > "r-$2.hl7"
	"$rissend" "127.0.0.1:$ris_port" "r-$2.hl7" > "r-$2.ack" 2>&1 &&
	    grep -q "MSA|AA" "r-$2.ack"
}

# cancel MRN ACC: ORM^O01 CA.
cancel() {
	t=$(now); ctl=$((ctl + 1))
	printf 'MSH|^~\\&|RIS|GH|ISN-EDGE|SITE|%s||ORM^O01|c-%s|P|2.3.1\rPID|1||%s^^^HOSP^MR||DOE^JANE^Q||19600102|F\rORC|CA|P%s|%s||CA||||%s||||||%s\rOBR|1|P%s|%s|71250^CT CHEST^CPT||||||||||||||||||||CT\r' \
	    "$t" "m$ctl" "$1" "$2" "$2" "$t" "$t" "$2" "$2" > "c-$2.hl7"
	"$rissend" "127.0.0.1:$ris_port" "c-$2.hl7" > "c-$2.ack" 2>&1 &&
	    grep -q "MSA|AA" "c-$2.ack"
}

# job MRN ACC URGENCY [DELAY [SCHEME ID KEY]]: a job set of one exam; its
# job id in $job.
job() {
	job=$(esql "WITH s AS (INSERT INTO job_sets (patient_id, destination,
	    scheme, urgency, delay, rsna_id, wrapped_key, created_by)
	    SELECT id, 'patient', '${5:-isn2}', '$3', '${4:-72 hours}',
	    '${6:-$rsnaid}', decode('${7-$wrapped}', 'hex'), 'test'
	    FROM patients WHERE mrn = '$1'
	    RETURNING id, patient_id)
	    INSERT INTO jobs (job_set_id, exam_id) SELECT s.id, e.id FROM s
	    JOIN exams e ON e.patient_id = s.patient_id AND e.accession = '$2'
	    RETURNING id")
	case $job in ''|*[!0-9]*) echo "# job: $job"; return 1 ;; esac
}

status() { esql "SELECT status FROM jobs WHERE id = $1"; }

# waitstatus JOB CODE [TRIES]: bounded wait (50 ms steps) for the status.
waitstatus() {
	i=0
	while [ "$(status "$1")" != "$2" ]; do
		i=$((i + 1)); [ $i -gt "${3:-300}" ] && {
			echo "# job $1 status $(status "$1"), wanted $2"
			return 1; }
		sleep 0.05
	done
}

history() {
	esql "SELECT string_agg(status::text, ' ' ORDER BY id) FROM job_history
	    WHERE job_id = $1"
}

# dataset FILE: the bytes after the Part 10 meta header (whose group
# length is at offset 140): dcmqrscp and the SCP write their own meta
# header, the dataset must travel unchanged.
dataset() {
	m=$(od -An -tu4 -j140 -N4 "$1" | tr -d ' ')
	tail -c +$((145 + m)) "$1"
}

# same NAME STUDY DIR: what isn-phr retrieved equals src/NAME/.
same() {
	for f in src/"$1"/*.dcm; do
		u=${f##*/}; u=${u%.dcm}
		[ -f "$3/$2/${u%.*}/$u.dcm" ] &&
		    dataset "$f" > want.bin &&
		    dataset "$3/$2/${u%.*}/$u.dcm" > got.bin &&
		    [ -s got.bin ] && cmp -s want.bin got.bin ||
		    { echo "# differs: $u"; return 1; }
	done
}

retrieve() {
	rm -rf "$2"
	"$phr" retrieve --url "$URL" --ca ca.pem --cert consumer.pem \
	    --key consumer.key --oid 1.2.260 ${3:---token abcd-efgh} \
	    --dob 1960-01-02 --password-env PW --study "$1" --out "$2" \
	    > "$2.log" 2>&1
}

sets() { ch_sql "SELECT count(*) FROM submission_sets"; }

# orthanc_start: Orthanc as the PACS (AE PACS, on $pacs_port; REST on
# $orthanc_http), C-MOVE destination RSNA-ISN at the edge's SCP.
orthanc_start() {
	orthanc_http=$("$tool" ports 1)
	mkdir -p odb
	cat > orthanc.json <<EOT
{ "Name": "ISN-TEST-PACS", "StorageDirectory": "$tmp/odb",
  "IndexDirectory": "$tmp/odb", "Plugins": [], "HttpServerEnabled": true,
  "HttpPort": $orthanc_http, "RemoteAccessAllowed": false,
  "AuthenticationEnabled": false, "OrthancExplorerEnabled": false,
  "WebDavEnabled": false, "DicomServerEnabled": true, "DicomAet": "PACS",
  "DicomPort": $pacs_port, "DicomCheckCalledAet": false,
  "DicomAlwaysAllowEcho": true, "DicomAlwaysAllowStore": true,
  "DicomAlwaysAllowFind": true, "DicomAlwaysAllowMove": true,
  "DicomModalities": { "isn": [ "RSNA-ISN", "127.0.0.1", $scp_port ] },
  "SaveJobs": false, "StableAge": 1, "SynchronousCMove": true }
EOT
	Orthanc --logfile="$tmp/orthanc.log" orthanc.json >/dev/null 2>&1 &
	qrpid=$!; bgpids="$bgpids $qrpid"
	i=0
	until curl -sf -o /dev/null "http://127.0.0.1:$orthanc_http/system"; do
		i=$((i + 1)); [ $i -gt 200 ] && return 1
		sleep 0.05
	done
}
# orthanc_load FILE...: into Orthanc over REST.
orthanc_load() {
	for f; do
		curl -sf -o /dev/null -X POST --data-binary "@$f" \
		    "http://127.0.0.1:$orthanc_http/instances" || return 1
	done
}
