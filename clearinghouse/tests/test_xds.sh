#!/bin/sh
# test_xds.sh: the XDS HTTPS listener of isn-clearinghouse end to end: a
# throwaway PostgreSQL (pg.sh), a test PKI (certs.sh), the daemon on
# loopback, the patient registered over ITI-8 (mllp-send), the NIST
# ITI-41 MTOM sample POSTed with curl over mutual TLS, rows and blobs
# checked; a consumer-only peer is refused with 403 and a SOAP fault, no
# client certificate fails the handshake; ITI-18 stored queries on the
# registry path by the consumer (a source-only peer gets 403); metrics;
# SIGTERM.
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}

. "$top_srcdir/clearinghouse/tests/lib.sh"
ch_begin openssl curl
samples=$shared/xds-samples/iti41
sql() { ch_sql "$1"; }
metrics() { ch_metrics; }
waitmetric() { ch_waitmetric "$1"; }
nblobs() { ch_nblobs; }

check "the test PKI was generated" ch_pki
ch_conf "reaper: {interval: 1h, batch_size: 10}"
check "the daemon starts" ch_start
check "the xds listener and the reaper are started" \
    'grep -q "reaper started interval=3600s batch=10" log'
check "no XDS transaction is logged as not built (ITI-43, RAD-69 built)" \
    '! grep -q "transaction not-built" log'

url=https://127.0.0.1:$xds/services/xdsrepositoryb
post() { ch_post "$1" "$2" "$3" /services/xdsrepositoryb; }
# No client certificate: the TLS handshake fails before any HTTP. With
# TLS 1.3 the server's alert may reach curl during the handshake (35),
# while sending (55) or while receiving (56).
curl -s -m 20 --cacert ca.pem -o resp "$url" 2> curl.err; rc=$?
check "no client certificate: TLS handshake failure (curl $rc)" \
    '{ [ $rc = 35 ] || [ $rc = 55 ] || [ $rc = 56 ]; } &&
     waitlog "peer did not return a certificate"'
# TLS session resumption (a session id context is set on the server).
sc() {
	openssl s_client -connect "127.0.0.1:$xds" -tls1_2 -cert consumer.pem \
	    -key consumer.key -CAfile ca.pem "$@" < /dev/null 2>&1
}
sc -sess_out sess > /dev/null
check "a client resumes its TLS session" \
    'sc -sess_in sess | grep -q "^Reused, TLSv1.2" &&
     ! grep -q "session id context uninitialized" log'
code=$(curl -s -m 20 --cacert ca.pem --cert source.pem --key source.key \
    -o resp -w '%{http_code}' "https://127.0.0.1:$xds/services/other")
check "another path is 404" '[ "$code" = 404 ]'

if [ ! -r "$samples/pnr-mtom-xop.body.txt" ]; then
	echo "# $samples absent: the ITI-41 sample parts are skipped"
	for t in register post rows consumer none metrics fss fd source \
	    missing expires iti42 qmetrics xmetrics; do
		skip "$t: the shared xds samples are absent"
	done
else
	check "the sample's patient is registered over ITI-8" \
	    'ch_register SR7 c1 && grep -q "^MSA|AA|c1" reg-SR7.ack'
	ct=$(sed -n 's/^Content-Type: *//p' \
	    "$samples/pnr-mtom-xop.http-headers.txt" | tr -d '\r')
	cp "$samples/pnr-mtom-xop.body.txt" pnr
	post consumer pnr "$ct"
	check "a consumer-only peer gets 403 and a SOAP fault" \
	    '[ "$code" = 403 ] && grep -q "Fault" resp &&
	     grep -q "Sender" resp'
	check "nothing was stored for it" \
	    '[ "$(sql "SELECT count(*) FROM documents")" = 0 ] &&
	     [ "$(nblobs)" = 0 ] && grep -q "event=unauthorised peer=\"consumer-app\"" log'
	post source pnr "$ct"
	check "the source's ITI-41 is a RegistryResponse with Success" \
	    '[ "$code" = 200 ] && grep -q "RegistryResponse" resp &&
	     grep -q "ResponseStatusType:Success" resp'
	bid=$(sql "SELECT blob_id FROM documents")
	check "a documents row and its blob exist" \
	    '[ "$(sql "SELECT count(*) FROM documents")" = 1 ] &&
	     [ -n "$bid" ] && [ -n "$(find blobs/data -name "$bid")" ] &&
	     [ "$(sql "SELECT count(*) FROM submission_sets WHERE expires_at > now() + interval '"'29 days'"'")" = 1 ]'
	check "the metrics count the submission and the refusal" \
	    'waitmetric "^isn_ch_iti41_requests_total{outcome=\"success\"} 1$" &&
	     metrics | grep -q "^isn_ch_xds_refused_total 1$"'

	# ITI-18: query FILE QUERY-UUID STATUS-SLOT(1/0), patient SR7 (the
	# FindSubmissionSets uuid takes the SubmissionSet slots).
	query() {
		case $2 in
		*f26abbcb*) q_p=SubmissionSet ;;
		*) q_p=DocumentEntry ;;
		esac
		if [ "$3" = 1 ]; then
			q_st="\$XDS${q_p}Status=('urn:oasis:names:tc:ebxml-regrep:StatusType:Approved')"
		else
			q_st=
		fi
		ch_iti18 "$1" "$2" LeafClass \
		    "\$XDS${q_p}PatientId='SR7^^^&1.2.260&ISO'" ${q_st:+"$q_st"}
	}
	qpost() {	# certname body-file
		ch_post "$1" "$2" "application/soap+xml; charset=UTF-8" \
		    /services/xdsregistryb
	}
	SS=urn:uuid:f26abbcb-ac74-4422-8a30-edb644bbc1a9
	FD=urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d
	query fss "$SS" 1
	qpost consumer fss
	check "ITI-18 FindSubmissionSets (LeafClass): one RegistryPackage" \
	    '[ "$code" = 200 ] && grep -q "ResponseStatusType:Success" resp &&
	     [ "$(grep -o "<[a-zA-Z0-9]*:*RegistryPackage[ >]" resp | wc -l)" = 1 ] &&
	     grep -q "a54d6aa5-d40d-43f9-88c5-b4633d873bdd" resp'
	exp=$(sql "SELECT to_char(expires_at AT TIME ZONE 'UTC', 'YYYYMMDDHH24MISS') FROM submission_sets")
	check "the SubmissionSet carries its expiry (urn:rsna:isn:expiresAt)" \
	    '[ -n "$exp" ] && tr -d "\n" < resp |
	     grep -q "name=\"urn:rsna:isn:expiresAt\"><[a-z:]*ValueList><[a-z:]*Value>$exp<"'
	sed 's/returnType="LeafClass"/returnType="ObjectRef"/' fss > fssref
	qpost consumer fssref
	check "ITI-18 FindSubmissionSets (ObjectRef): Success, one ObjectRef" \
	    '[ "$code" = 200 ] && grep -q "AdhocQueryResponse" resp &&
	     grep -q "RegistryStoredQueryResponse" resp &&
	     grep -q "ResponseStatusType:Success" resp &&
	     [ "$(grep -o "<[a-zA-Z0-9]*:*ObjectRef[ >]" resp | wc -l)" = 1 ] &&
	     ! grep -q "RegistryPackage" resp'
	query fd "$FD" 1
	qpost consumer fd
	check "ITI-18 FindDocuments: one ExtrinsicObject with the uniqueId" \
	    '[ "$code" = 200 ] && grep -q "ResponseStatusType:Success" resp &&
	     [ "$(grep -o "<[a-zA-Z0-9]*:*ExtrinsicObject[ >]" resp | wc -l)" = 1 ] &&
	     grep -q "value=\"1.42.20160705093311.6\"" resp'
	qpost source fd
	check "ITI-18 by a source-only peer: 403 and a SOAP fault" \
	    '[ "$code" = 403 ] && grep -q "Sender" resp &&
	     grep -q "event=unauthorised peer=\"source-site\"" log'
	query fdbad "$FD" 0
	qpost consumer fdbad
	check "ITI-18 without \$XDSDocumentEntryStatus: XDSStoredQueryMissingParam" \
	    '[ "$code" = 200 ] && grep -q "ResponseStatusType:Failure" resp &&
	     grep -q "XDSStoredQueryMissingParam" resp'
	sed -e 's/RegistryStoredQuery/RegisterDocumentSet-b/' \
	    -e '/<query:AdhocQueryRequest/,/<\/query:AdhocQueryRequest>/d' \
	    -e 's|<env:Body>|&<lcm:SubmitObjectsRequest xmlns:lcm="urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"/>|' \
	    fd > i42b
	qpost consumer i42b
	check "ITI-42 on the registry path by a consumer-only peer: 403 and a SOAP fault" \
	    '[ "$code" = 403 ] && grep -q "Sender" resp &&
	     grep -q "register documents (role source)" resp'
	check "the metrics count the queries" \
	    'waitmetric "^isn_ch_iti18_requests_total{outcome=\"success\"} 3$" &&
	     metrics | grep -q "^isn_ch_iti18_requests_total{outcome=\"failure\"} 1$" &&
	     metrics | grep -q "^isn_ch_iti18_requests_total{outcome=\"fault\"} 0$" &&
	     metrics | grep -q "^isn_ch_xds_refused_total 3$"'
	check "bytes, latencies and stored documents are in the metrics" \
	    'metrics | grep -q "^isn_ch_documents_stored_total [1-9]" &&
	     metrics | grep -q "^isn_ch_xds_bytes_in_total{endpoint=\"repository\"} [1-9]" &&
	     metrics | grep -q "^isn_ch_xds_bytes_out_total{endpoint=\"registry\"} [1-9]" &&
	     metrics | grep -q "^isn_ch_xds_request_duration_seconds_bucket{endpoint=\"registry\",le=\"+Inf\"} [1-9]" &&
	     metrics | grep -q "^isn_ch_xds_request_duration_seconds_count{endpoint=\"repository\"} [1-9]"'
fi
check "the reaper counters are exported" \
    'metrics | grep -q "^isn_ch_reaper_runs_total 0$" &&
     metrics | grep -q "^isn_ch_reaper_sets_deleted_total 0$"'

ch_stop
check "SIGTERM stops with status 0 after the drain" \
    '[ $rc = 0 ] && grep -q "xds drained" log && grep -q "stop idle" log'
[ $failed = 0 ] || sed 's/^/# /' log | tail -n 40
echo "1..$n"
[ $failed = 0 ]
