#!/bin/sh
# test_retrieve.sh: ITI-43 and RAD-69 end to end (retrieve.md): a
# throwaway PostgreSQL, a test PKI, the daemon on loopback; a patient fed
# over ITI-8, an isn2 ITI-41 of five instances in two series (built by
# xds-tool); then ITI-43 (all, some missing, none, wrong repository,
# plain SOAP inline and MTOM, by the consumer and by a peer with both
# roles through iti41's delegate), RAD-69 (a series, two series, every
# RSNA 2018 gold case, transfer syntax, HomeCommunityId), refusals,
# deprecated and expired documents, metrics and audit records, and a
# 64 MiB document streamed with little daemon memory growth. Bytes
# returned are compared with the submitted files.
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}

. "$top_srcdir/clearinghouse/tests/lib.sh"
ch_begin openssl curl psql base64 cmp
rad69s=$shared/xds-samples/rad69
sql() { ch_sql "$1"; }

check "the test PKI was generated" ch_pki
ch_conf "audit: {destination: file, file: audit.log}
timeouts: {drain: 5s}"
check "the daemon starts and serves the three paths" \
    'ch_start && grep -q "endpoints=.*/services/ImagingDocumentSource" log'
check "nothing is logged as not built" '! grep -q "not-built" log'
check "the patient is registered over ITI-8" 'ch_register RP1 r1'

# Five instances in two series of one study; one of 2 MiB.
ST=1.2.826.0.1.3680043.10.99.1
S1=$ST.1
S2=$ST.2
head -c 1000 /dev/urandom > i11
head -c 3000 /dev/urandom > i12
head -c 70000 /dev/urandom > i21
head -c 2097152 /dev/urandom > i22
printf 'tiny instance\r\n' > i23
"$xdstool" pnr -p "RP1^^^&1.2.260&ISO" -s 1.2.260.7.1 -S $ST pnr1 pnr1.ct \
    $S1:$S1.1:i11 $S1:$S1.2:i12 $S2:$S2.1:i21 $S2:$S2.2:i22 $S2:$S2.3:i23 \
    2> tool.err
ch_post source pnr1 "$(cat pnr1.ct)" /services/xdsrepositoryb
check "the ITI-41 of five instances is stored" \
    '[ "$code" = 200 ] && grep -q "ResponseStatusType:Success" resp &&
     [ "$(sql "SELECT count(*) FROM document_instances")" = 5 ]'

# rpost CERT FILE CONTENT-TYPE PATH: like ch_post, the reply's
# Content-Type in ./resp.ct; split: its MTOM parts in ./parts.
rpost() {
	rm -f resp resp.ct hdr
	code=$(curl -s -m 120 --cacert ca.pem --cert "$1.pem" --key "$1.key" \
	    -D hdr -o resp -w '%{http_code}' -H "Content-Type: $3" \
	    --data-binary "@$2" "https://127.0.0.1:$xds$4" 2> curl.err)
	sed -n 's/^[Cc]ontent-[Tt]ype: *//p' hdr | tr -d '\r' > resp.ct
}
split() {
	rm -rf parts; mkdir parts
	"$xdstool" parts resp.ct resp parts > parts.txt 2> parts.err
}
nparts() { wc -l < parts.txt | tr -d ' '; }
status() { grep -q "ResponseStatusType:$1\"" "${2:-parts/root.xml}"; }
# env ACTION BODY-FILE OUT: a SOAP 1.2 request around a body.
env() {
	{
		printf '<?xml version="1.0" encoding="UTF-8"?>\n'
		printf '<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:wsa="http://www.w3.org/2005/08/addressing"><env:Header>'
		printf '<wsa:Action env:mustUnderstand="1">%s</wsa:Action>' "$1"
		printf '<wsa:MessageID>urn:uuid:5d1b0c2e-7a6f-4f7e-9a51-0c0ffee00043</wsa:MessageID>'
		printf '</env:Header><env:Body>'
		sed '/^<?xml/d' "$2"
		printf '</env:Body></env:Envelope>\n'
	} > "$3"
}
# docreq UID [REPOSITORY [HOME]]
docreq() {
	printf '<xdsb:DocumentRequest xmlns:xdsb="urn:ihe:iti:xds-b:2007">'
	[ -n "${3:-}" ] && printf '<xdsb:HomeCommunityId>%s</xdsb:HomeCommunityId>' "$3"
	printf '<xdsb:RepositoryUniqueId>%s</xdsb:RepositoryUniqueId>' "${2:-1.2.3}"
	printf '<xdsb:DocumentUniqueId>%s</xdsb:DocumentUniqueId>' "$1"
	printf '</xdsb:DocumentRequest>'
}
# iti43 OUT UID...: the request, also as OUT.mtom (OUT.ct); $REPO, $HOME43.
A43=urn:ihe:iti:2007:RetrieveDocumentSet
A69=urn:ihe:rad:2009:RetrieveImagingDocumentSet
iti43() {
	o=$1; shift
	{
		printf '<xdsb:RetrieveDocumentSetRequest xmlns:xdsb="urn:ihe:iti:xds-b:2007">'
		for u; do docreq "$u" "${REPO:-1.2.3}" "${HOME43:-}"; done
		printf '</xdsb:RetrieveDocumentSetRequest>'
	} > "$o.body"
	env $A43 "$o.body" "$o"
	"$xdstool" wrap "$o" "$o.mtom" "$o.ct" $A43
}
# rad69 OUT TSUIDS STUDY:SERIES:UID...: one StudyRequest/SeriesRequest
# per item (in order), the TransferSyntaxUIDList from TSUIDS ("-": none,
# "": one empty), also as OUT.mtom.
rad69() {
	o=$1; ts=$2; shift 2
	{
		printf '<xdsiB:RetrieveImagingDocumentSetRequest xmlns:xdsiB="urn:ihe:rad:xdsi-b:2009">'
		for i; do
			st=${i%%:*}; r=${i#*:}; se=${r%%:*}; u=${r#*:}
			printf '<xdsiB:StudyRequest studyInstanceUID="%s"><xdsiB:SeriesRequest seriesInstanceUID="%s">' "$st" "$se"
			docreq "$u" "${REPO:-1.2.3}" "${HOME43:-}"
			printf '</xdsiB:SeriesRequest></xdsiB:StudyRequest>'
		done
		if [ "$ts" != - ]; then
			printf '<xdsiB:TransferSyntaxUIDList>'
			if [ -z "$ts" ]; then
				printf '<xdsiB:TransferSyntaxUID></xdsiB:TransferSyntaxUID>'
			fi
			for t in $ts; do
				printf '<xdsiB:TransferSyntaxUID>%s</xdsiB:TransferSyntaxUID>' "$t"
			done
			printf '</xdsiB:TransferSyntaxUIDList>'
		fi
		printf '</xdsiB:RetrieveImagingDocumentSetRequest>'
	} > "$o.body"
	env $A69 "$o.body" "$o"
	"$xdstool" wrap "$o" "$o.mtom" "$o.ct" $A69
}
mpost() { rpost "$1" "$2.mtom" "$(cat "$2.ct")" "$3"; split; }
ppost() { rpost "$1" "$2" "application/soap+xml; charset=UTF-8" "$3"; }
REPO_PATH=/services/xdsrepositoryb
IDS_PATH=/services/ImagingDocumentSource
TS=1.2.840.10008.1.2.1

# --- ITI-43 ---
iti43 q_all $S1.1 $S1.2 $S2.1 $S2.2 $S2.3
mpost consumer q_all $REPO_PATH
check "ITI-43 (MTOM) for all five: Success with five MTOM parts" \
    '[ "$code" = 200 ] && grep -q "^multipart/related" resp.ct &&
     status Success && [ "$(nparts)" = 5 ] &&
     grep -q "urn:ihe:iti:2007:RetrieveDocumentSetResponse" parts/root.xml &&
     grep -q "RelatesTo>urn:uuid:5d1b0c2e-7a6f-4f7e-9a51-0c0ffee00043<" parts/root.xml'
check "the five documents are the submitted bytes, in request order" \
    'cmp -s parts/1 i11 && cmp -s parts/2 i12 && cmp -s parts/3 i21 &&
     cmp -s parts/4 i22 && cmp -s parts/5 i23'
check "each DocumentResponse names its document, mimeType and xop:Include" \
    '[ "$(grep -o "<xdsb:DocumentResponse>" parts/root.xml | wc -l)" -eq 5 ] &&
     grep -q "<xdsb:DocumentUniqueId>$S2.2</xdsb:DocumentUniqueId><xdsb:mimeType>application/dicom</xdsb:mimeType>" parts/root.xml &&
     [ "$(grep -o "xop:Include" parts/root.xml | wc -l)" -ge 5 ] &&
     awk "{print \$3}" parts.txt | grep -qx "application/dicom"'

iti43 q_some $S1.1 1.2.3.999.1 $S2.3
mpost consumer q_some $REPO_PATH
check "ITI-43 with one unknown: PartialSuccess, XDSDocumentUniqueIdError at it" \
    'status PartialSuccess && [ "$(nparts)" = 2 ] &&
     grep -q "errorCode=\"XDSDocumentUniqueIdError\"" parts/root.xml &&
     grep -q "location=\"1.2.3.999.1\"" parts/root.xml &&
     cmp -s parts/1 i11 && cmp -s parts/2 i23'

iti43 q_none 1.2.3.999.1 1.2.3.999.2
mpost consumer q_none $REPO_PATH
check "ITI-43 with none known: Failure, one error per document" \
    'status Failure && [ "$(nparts)" = 0 ] &&
     [ "$(grep -o "XDSDocumentUniqueIdError" parts/root.xml | wc -l)" = 2 ]'

REPO=9.9.9 iti43 q_repo $S1.1
mpost consumer q_repo $REPO_PATH
check "ITI-43 for another repository: Failure, XDSUnknownRepositoryId" \
    'status Failure && grep -q "XDSUnknownRepositoryId" parts/root.xml &&
     grep -q "location=\"9.9.9\"" parts/root.xml'

iti43 q_small $S1.1 $S2.3
ppost consumer q_small $REPO_PATH
grep -o '<xdsb:Document>[^<]*</xdsb:Document>' resp | head -n 1 |
    sed 's#<[^>]*>##g' | base64 -d > got1 2> /dev/null
check "ITI-43 in plain SOAP, small documents: inline base64, the same bytes" \
    '[ "$code" = 200 ] && grep -q "^application/soap+xml" resp.ct &&
     status Success resp && ! grep -q "xop:Include" resp && cmp -s got1 i11'

iti43 q_big $S2.2
ppost consumer q_big $REPO_PATH
split
check "ITI-43 in plain SOAP for 2 MiB: answered as MTOM (retrieve.md)" \
    'grep -q "^multipart/related" resp.ct && status Success &&
     cmp -s parts/1 i22'

mpost both q_all $REPO_PATH
check "a peer with both roles retrieves through iti41's delegate" \
    'status Success && [ "$(nparts)" = 5 ] && cmp -s parts/4 i22'

mpost source q_all $REPO_PATH
check "a source-only peer: 403 and a SOAP fault" \
    '[ "$code" = 403 ] && grep -q "Sender" resp &&
     grep -q "event=unauthorised peer=\"source-site\"" log'

ndocs=$(sql "SELECT count(*) FROM documents")
ch_post consumer pnr1 "$(cat pnr1.ct)" $REPO_PATH
check "a consumer-only ITI-41 (action in the Content-Type): 403 unread" \
    '[ "$code" = 403 ] && grep -q "Sender" resp'
sed 's/; action="[^"]*"//' pnr1.ct > pnr1.noact.ct
ch_post consumer pnr1 "$(cat pnr1.noact.ct)" $REPO_PATH
check "a consumer-only ITI-41 (action only in the body): 403, nothing stored" \
    '[ "$code" = 403 ] && grep -q "Sender" resp &&
     [ "$(sql "SELECT count(*) FROM documents")" = "$ndocs" ] &&
     [ "$(grep -c "event=unauthorised peer=\"consumer-app\"" log)" = 2 ]'

rad69 r_wrongpath "$TS" $ST:$S1:$S1.1
mpost consumer r_wrongpath $REPO_PATH
check "RAD-69 on the repository path: a SOAP fault" \
    '[ "$code" = 400 ] && grep -q "ActionNotSupported" resp'
mpost consumer q_all $IDS_PATH
check "ITI-43 on the imaging document source path: a SOAP fault" \
    '[ "$code" = 400 ] && grep -q "ActionNotSupported" resp'

# --- RAD-69 ---
rad69 r_series "$TS" $ST:$S1:$S1.1 $ST:$S1:$S1.2
mpost consumer r_series $IDS_PATH
check "RAD-69 for a series: Success, the instances' bytes" \
    '[ "$code" = 200 ] && status Success && [ "$(nparts)" = 2 ] &&
     cmp -s parts/1 i11 && cmp -s parts/2 i12 &&
     grep -q "urn:ihe:iti:2007:RetrieveDocumentSetResponse" resp.ct'

rad69 r_two "$TS 1.2.840.10008.1.2" $ST:$S1:$S1.2 $ST:$S2:$S2.1 $ST:$S2:$S2.3
mpost consumer r_two $IDS_PATH
check "RAD-69 across two series: Success, three instances" \
    'status Success && [ "$(nparts)" = 3 ] && cmp -s parts/1 i12 &&
     cmp -s parts/2 i21 && cmp -s parts/3 i23'

ppost consumer r_two $IDS_PATH
check "RAD-69 in plain SOAP: inline answer" \
    'grep -q "^application/soap+xml" resp.ct && status Success resp &&
     [ "$(grep -o "<xdsb:Document>" resp | wc -l)" = 3 ]'

REPO=1.3.6.1.4.1.21367.13.80.110 rad69 r_g01 "$TS" $ST:$S1:$S1.1
mpost consumer r_g01 $IDS_PATH
check "gold 01 repository UID mismatch: Failure, XDSUnknownRepositoryId" \
    'status Failure && grep -q "XDSUnknownRepositoryId" parts/root.xml &&
     [ "$(nparts)" = 0 ]'

rad69 r_g02 "$TS" $ST:$S1:$S1.9
mpost consumer r_g02 $IDS_PATH
check "gold 02 unknown SOP: Failure, XDSDocumentUniqueIdError, composite UID" \
    'status Failure && grep -q "XDSDocumentUniqueIdError" parts/root.xml &&
     grep -q "No document matching composite UID \[$ST:$S1:$S1.9\]" parts/root.xml'
rad69 r_g02b "$TS" $ST:$S2:$S1.1 $ST.7:$S1:$S1.2
mpost consumer r_g02b $IDS_PATH
check "gold 02 SOP not in the given series or study: Failure, per instance" \
    'status Failure && [ "$(grep -o "XDSDocumentUniqueIdError" parts/root.xml | wc -l)" = 2 ] &&
     grep -q "composite UID \[$ST:$S2:$S1.1\]" parts/root.xml &&
     grep -q "composite UID \[$ST.7:$S1:$S1.2\]" parts/root.xml'
rad69 r_part "$TS" $ST:$S1:$S1.1 $ST:$S1:$S1.9
mpost consumer r_part $IDS_PATH
check "RAD-69 with one unknown instance: PartialSuccess" \
    'status PartialSuccess && [ "$(nparts)" = 1 ] && cmp -s parts/1 i11'

rad69 r_g05 "$TS" :$S1:$S1.1
mpost consumer r_g05 $IDS_PATH
check "gold 05 empty studyInstanceUID: Failure, XDSIRequestError" \
    'status Failure && grep -q "XDSIRequestError" parts/root.xml'
rad69 r_g05b "$TS" $ST::$S1.1
mpost consumer r_g05b $IDS_PATH
check "empty seriesInstanceUID: Failure, XDSIRequestError" \
    'status Failure && grep -q "XDSIRequestError" parts/root.xml'

rad69 r_g08 "" $ST:$S1:$S1.1
mpost consumer r_g08 $IDS_PATH
check "gold 08 empty TransferSyntaxUID: Failure, No valid Xfer Syntax" \
    'status Failure && grep -q "errorCode=\"XDSRepositoryError\"" parts/root.xml &&
     grep -q "No valid Xfer Syntax" parts/root.xml'
rad69 r_g08b - $ST:$S1:$S1.1
mpost consumer r_g08b $IDS_PATH
check "no TransferSyntaxUIDList: Failure, No valid Xfer Syntax" \
    'status Failure && grep -q "No valid Xfer Syntax" parts/root.xml'
rad69 r_g08c "1.2.x" $ST:$S1:$S1.1
mpost consumer r_g08c $IDS_PATH
check "an invalid TransferSyntaxUID: Failure, No valid Xfer Syntax" \
    'status Failure && grep -q "No valid Xfer Syntax" parts/root.xml'

HOME43=urn:oid:1.2.4 rad69 r_home "$TS" $ST:$S1:$S1.1
mpost consumer r_home $IDS_PATH
check "HomeCommunityId in the request is echoed in the DocumentResponse" \
    'status Success &&
     grep -q "<xdsb:HomeCommunityId>urn:oid:1.2.4</xdsb:HomeCommunityId>" parts/root.xml'
check "without it the answer is Success without one" \
    'mpost consumer r_series $IDS_PATH && status Success &&
     ! grep -q "HomeCommunityId" parts/root.xml'

sql "UPDATE document_instances SET transfer_syntax = '1.2.840.10008.1.2.4.50' WHERE sop_uid = '$S1.2'" > /dev/null
mpost consumer r_series $IDS_PATH
check "a known transfer syntax not in the list: that instance fails" \
    'status PartialSuccess && [ "$(nparts)" = 1 ] &&
     grep -q "No valid Xfer Syntax for composite UID \[$ST:$S1:$S1.2\]" parts/root.xml'
rad69 r_ts "$TS 1.2.840.10008.1.2.4.50" $ST:$S1:$S1.1 $ST:$S1:$S1.2
mpost consumer r_ts $IDS_PATH
check "a known transfer syntax in the list: Success" \
    'status Success && [ "$(nparts)" = 2 ] && cmp -s parts/2 i12'

# The RSNA 2018 gold requests as they are (02 with our repository).
if [ -r "$rad69s/ids_2018-4811-case-02_Unknown_SOP_Instance_UID.request.xml" ]; then
	for c in 01_Invalid_RepositoryUID:XDSUnknownRepositoryId \
	    02_Unknown_SOP_Instance_UID:XDSDocumentUniqueIdError \
	    05_Empty_Study_Instance_UID:XDSIRequestError \
	    08_Empty_Transfer_Syntax_UID:XDSRepositoryError; do
		f=$rad69s/ids_2018-4811-case-${c%%:*}.request.xml
		case $c in 02*) sed 's/1\.3\.6\.1\.4\.1\.21367\.13\.80\.110/1.2.3/' "$f" ;;
		*) cat "$f" ;; esac > gold.body
		env $A69 gold.body gold
		ppost consumer gold $IDS_PATH
		check "the sample gold case ${c%%:*}: Failure, ${c#*:}" \
		    'status Failure resp && grep -q "errorCode=\"${c#*:}\"" resp'
	done
else
	echo "# $rad69s absent: the sample gold requests are skipped"
	for c in 01 02 05 08; do skip "sample gold case $c: samples absent"; done
fi

rpost source r_series.mtom "$(cat r_series.ct)" $IDS_PATH
check "RAD-69 by a source-only peer: 403 and a SOAP fault" \
    '[ "$code" = 403 ] && grep -q "Sender" resp'
check "the refusal is audited: a Security Alert naming the path and the peer" \
    'grep "csd-code=\"110113\"" audit.log | grep -q "110132" &&
     grep "csd-code=\"110113\"" audit.log | grep -q "ParticipantObjectID=\"/services/ImagingDocumentSource\"" &&
     grep "csd-code=\"110113\"" audit.log | grep -q "NetworkAccessPointID=\"127.0.0.1\""'

# The same study sent again (to another patient, protocol.md 7): its
# entries get their own uniqueIds and name the SOP Instance UID in the
# slot urn:rsna:isn:sopInstanceUID (xds-tool -U). RAD-69 by SOP UID
# answers with the newest; by the new uniqueId, with exactly that one;
# the first submission's documents stay as they were.
check "a second patient is registered" 'ch_register RP3 r3'
head -c 1500 /dev/urandom > j11
head -c 2500 /dev/urandom > j12
"$xdstool" pnr -U -p "RP3^^^&1.2.260&ISO" -s 1.2.260.7.3 -S $ST pnr3 \
    pnr3.ct $S1:$S1.1:j11 $S1:$S1.2:j12 2> tool.err
ch_post source pnr3 "$(cat pnr3.ct)" /services/xdsrepositoryb
check "the resend is stored under uniqueIds of its own" \
    '[ "$code" = 200 ] && grep -q "ResponseStatusType:Success" resp &&
     [ "$(sql "SELECT count(*) FROM document_instances WHERE sop_uid = '"'"'$S1.1'"'"'")" = 2 ] &&
     [ "$(sql "SELECT count(*) FROM documents WHERE unique_id = '"'"'1.2.260.7.3.1'"'"'")" = 1 ]'
mpost consumer r_series $IDS_PATH
check "RAD-69 by SOP Instance UID: the newest document" \
    'status Success && [ "$(nparts)" = 2 ] && cmp -s parts/1 j11 &&
     cmp -s parts/2 j12'
rad69 r_own "$TS" $ST:$S1:1.2.260.7.3.2
mpost consumer r_own $IDS_PATH
check "RAD-69 by the entry's own uniqueId: exactly that document" \
    'status Success && [ "$(nparts)" = 1 ] && cmp -s parts/1 j12 &&
     grep -q "1.2.260.7.3.2" parts/root.xml'
iti43 q_both $S1.1 1.2.260.7.3.1
mpost consumer q_both $REPO_PATH
check "ITI-43 tells the two apart: the first stays as it was" \
    'status Success && [ "$(nparts)" = 2 ] && cmp -s parts/1 i11 &&
     cmp -s parts/2 j11'
sql "DELETE FROM submission_sets WHERE unique_id = '1.2.260.7.3'" > /dev/null
rad69 r_s11 "$TS" $ST:$S1:$S1.1
mpost consumer r_s11 $IDS_PATH
check "without the resend, RAD-69 by SOP UID finds the first again" \
    'status Success && [ "$(nparts)" = 1 ] && cmp -s parts/1 i11'

# Deprecated and expired documents are unknown.
sql "UPDATE documents SET status = 'urn:oasis:names:tc:ebxml-regrep:StatusType:Deprecated' WHERE unique_id = '$S1.1'" > /dev/null
iti43 q_dep $S1.1 $S1.2
mpost consumer q_dep $REPO_PATH
check "a Deprecated document is unknown" \
    'status PartialSuccess && grep -q "location=\"$S1.1\"" parts/root.xml &&
     [ "$(nparts)" = 1 ] && cmp -s parts/1 i12'
sql "UPDATE submission_sets SET expires_at = received_at" > /dev/null
mpost consumer q_all $REPO_PATH
check "documents of an expired submission set are unknown (ITI-43)" \
    'status Failure && [ "$(nparts)" = 0 ] &&
     [ "$(grep -o "XDSDocumentUniqueIdError" parts/root.xml | wc -l)" = 5 ]'
mpost consumer r_two $IDS_PATH
check "and unknown to RAD-69" 'status Failure && [ "$(nparts)" = 0 ]'

check "metrics count ITI-43 and RAD-69 outcomes and bytes" \
    'ch_metrics > m.txt &&
     grep -q "^isn_ch_iti43_requests_total{outcome=\"success\"} [1-9]" m.txt &&
     grep -q "^isn_ch_iti43_requests_total{outcome=\"partial\"} [1-9]" m.txt &&
     grep -q "^isn_ch_iti43_requests_total{outcome=\"failure\"} [1-9]" m.txt &&
     grep -q "^isn_ch_iti43_requests_total{outcome=\"refused\"} 1$" m.txt &&
     grep -q "^isn_ch_rad69_requests_total{outcome=\"success\"} [1-9]" m.txt &&
     grep -q "^isn_ch_rad69_requests_total{outcome=\"failure\"} [1-9]" m.txt &&
     grep -q "^isn_ch_retrieve_bytes_out_total{transaction=\"ITI-43\"} [1-9][0-9]\{6,\}$" m.txt &&
     grep -q "^isn_ch_retrieve_bytes_out_total{transaction=\"RAD-69\"} [1-9]" m.txt'
check "audit records: ITI-43 export with the document, RAD-69 with the study" \
    'grep "ITI-43" audit.log | grep -q "NetworkAccessPointID=\"127.0.0.1\"" &&
     grep "ITI-43" audit.log | grep -q "$S2.2" &&
     grep "RAD-69" audit.log | grep -q "$ST" &&
     grep "ITI-43" audit.log | grep -q "EventOutcomeIndicator=\"8\""'

# --- A 64 MiB document: streamed, not loaded. ---
check "a second patient is registered" 'ch_register RP2 r2'
dd if=/dev/urandom of=big bs=1048576 count=64 2> /dev/null
"$xdstool" pnr -p "RP2^^^&1.2.260&ISO" -s 1.2.260.7.2 -S $ST.5 pnr2 pnr2.ct \
    $ST.5.1:$ST.5.1.1:big 2>> tool.err
ch_post source pnr2 "$(cat pnr2.ct)" $REPO_PATH
check "the 64 MiB instance is stored" \
    '[ "$code" = 200 ] && grep -q "ResponseStatusType:Success" resp'
kb() { sed -n "s/^$1:[[:space:]]*\([0-9]*\).*/\1/p" "/proc/$pid/status"; }
hwm0=$(kb VmHWM); rss0=$(kb VmRSS)
iti43 q_huge $ST.5.1.1
mpost consumer q_huge $REPO_PATH
hwm1=$(kb VmHWM); rss1=$(kb VmRSS)
check "ITI-43 returns the 64 MiB document byte for byte" \
    'status Success && cmp -s parts/1 big'
if [ "${ISN_FUZZING:-0}" = 1 ]; then
	skip "daemon memory during the 64 MiB retrieve: sanitizer build"
else
	echo "# VmHWM ${hwm0} -> ${hwm1} kB, VmRSS ${rss0} -> ${rss1} kB"
	check "the daemon's peak RSS grew by less than 16 MiB" \
	    '[ -n "$hwm0" ] && [ -n "$hwm1" ] &&
	     [ $((hwm1 - hwm0)) -lt 16384 ]'
fi

# A consumer that goes away in the middle of the 64 MiB answer (a TLS
# reset while httpd writes: BEV_EVENT_EOF|WRITING, an abort).
nfd0=$(ls "/proc/$pid/fd" | wc -l)
curl -s -m 60 --cacert ca.pem --cert consumer.pem --key consumer.key \
    -H "Content-Type: $(cat q_huge.ct)" --data-binary @q_huge.mtom \
    "https://127.0.0.1:$xds$REPO_PATH" 2> /dev/null | head -c 100000 > /dev/null
check "a consumer leaving mid-stream: the stream is cut, counted aborted" \
    'waitlog "txn=ITI-43 event=stream-aborted" &&
     ch_waitmetric "^isn_ch_iti43_requests_total{outcome=\"aborted\"} 1$"'
# The connection's own teardown may lag the abort under load: bounded wait.
fds_back() {
	i=0
	while [ "$(ls "/proc/$pid/fd" | wc -l)" != "$nfd0" ]; do
		i=$((i + 1)); [ $i -gt 200 ] && return 1
		sleep 0.05
	done
}
check "no file descriptor is left open by it" fds_back
mpost consumer r_series $IDS_PATH
check "and the daemon still answers" \
    '[ "$code" = 200 ] && status Failure'

# --- Failed lookups are rate-limited per certificate: a reload sets a
# burst of 1; an unknown document uses it, then the peer is busy. ---
printf 'limits: {failed_lookups_per_minute: 1, failed_lookups_burst: 1}\n' \
    >> ch.yaml
kill -HUP "$pid"
check "a reload sets the failed-lookup limits" 'waitlog "conf reloaded"'
mpost both q_none $REPO_PATH
check "an unknown document: Failure XDSDocumentUniqueIdError (lookup failed)" \
    '[ "$code" = 200 ] && status Failure &&
     grep -q XDSDocumentUniqueIdError parts/root.xml'
mpost both q_all $REPO_PATH
check "then even a good ITI-43: Failure XDSRepositoryBusy, Retry-After" \
    '[ "$code" = 200 ] && status Failure &&
     grep -q XDSRepositoryBusy parts/root.xml &&
     grep -qi "^Retry-After: [1-9]" hdr'
mpost both r_series $IDS_PATH
check "and RAD-69 too" \
    '[ "$code" = 200 ] && status Failure &&
     grep -q XDSRepositoryBusy parts/root.xml'
check "the metrics count them" \
    'ch_metrics | grep -q "^isn_ch_rate_limited_total{transaction=\"ITI-43\"} 1$" &&
     ch_metrics | grep -q "^isn_ch_rate_limited_total{transaction=\"RAD-69\"} 1$"'

ch_stop
check "SIGTERM stops the daemon cleanly" '[ "$rc" = 0 ]'
check "no sanitizer report in the daemon's log" \
    '! grep -q "runtime error\|AddressSanitizer\|LeakSanitizer" log'
if [ "$failed" -gt 0 ]; then
	echo "# daemon log:"; sed 's/^/# /' log | tail -n 40
fi
echo "1..$n"
[ "$failed" = 0 ]
