#!/bin/sh
# test_register.sh: ITI-42 Register Document Set-b on the registry path of
# isn-clearinghouse end to end (docs/design/iti41.md): a throwaway
# PostgreSQL, a test PKI, the daemon on loopback with an ATNA audit file,
# patients registered over ITI-8. A source registers metadata (no blob),
# a consumer finds it with ITI-18; a consumer's ITI-42 is refused, one
# without hash stores nothing; RPLC deprecates the original; the audit file
# has one record per ITI-41, ITI-42 and ITI-18 and no PHI but the CX.
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}

. "$top_srcdir/clearinghouse/tests/lib.sh"
ch_begin openssl curl psql
samples=$shared/xds-samples/iti41
sql() { ch_sql "$1"; }
SOAP="application/soap+xml; charset=UTF-8"
APPROVED=urn:oasis:names:tc:ebxml-regrep:StatusType:Approved
DEPRECATED=urn:oasis:names:tc:ebxml-regrep:StatusType:Deprecated
repo42=1.2.3.99

# i42 FILE SS-UID DOC-UID PID [hash|nohash] [RPLC-TARGET]: an ITI-42
# envelope for PID^^^&1.2.260&ISO, one DocumentEntry in repository $repo42
# (1.2.3.99: not ours) with a person's name in sourcePatientInfo (PHI that must not
# reach the audit trail), and an RPLC association when a target is given.
i42() {
	cx="$4^^^&amp;1.2.260&amp;ISO"
	if [ "${5:-hash}" = hash ]; then
		hslot='<rim:Slot name="hash"><rim:ValueList><rim:Value>E543712C0E10501972DE13A5BFCBE826C49FEB75</rim:Value></rim:ValueList></rim:Slot>'
	else
		hslot=
	fi
	if [ -n "${6:-}" ]; then
		rplc="<rim:Association id=\"Rplc01\" associationType=\"urn:ihe:iti:2007:AssociationType:RPLC\" sourceObject=\"Doc01\" targetObject=\"$6\" objectType=\"urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:Association\"/>"
	else
		rplc=
	fi
	ch_iti42 "$1" <<EOX
    <rim:ExtrinsicObject id="Doc01" mimeType="text/plain"
        objectType="urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1">
     <rim:Slot name="creationTime"><rim:ValueList><rim:Value>20261127100000</rim:Value></rim:ValueList></rim:Slot>
     <rim:Slot name="languageCode"><rim:ValueList><rim:Value>en-US</rim:Value></rim:ValueList></rim:Slot>
     <rim:Slot name="sourcePatientId"><rim:ValueList><rim:Value>MRN77^^^&amp;1.3.4.5&amp;ISO</rim:Value></rim:ValueList></rim:Slot>
     <rim:Slot name="sourcePatientInfo"><rim:ValueList><rim:Value>PID-5|Zyxwvname^Alice^^^</rim:Value></rim:ValueList></rim:Slot>
     $hslot
     <rim:Slot name="size"><rim:ValueList><rim:Value>36</rim:Value></rim:ValueList></rim:Slot>
     <rim:Slot name="repositoryUniqueId"><rim:ValueList><rim:Value>$repo42</rim:Value></rim:ValueList></rim:Slot>
     <rim:Classification id="c1" classifiedObject="Doc01" classificationScheme="urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a" nodeRepresentation="Imaging"><rim:Slot name="codingScheme"><rim:ValueList><rim:Value>1.3.6.1.4.1.19376.3.840.1.1.2</rim:Value></rim:ValueList></rim:Slot><rim:Name><rim:LocalizedString value="Imaging"/></rim:Name></rim:Classification>
     <rim:Classification id="c2" classifiedObject="Doc01" classificationScheme="urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f" nodeRepresentation="N"><rim:Slot name="codingScheme"><rim:ValueList><rim:Value>2.16.840.1.113883.5.25</rim:Value></rim:ValueList></rim:Slot><rim:Name><rim:LocalizedString value="N"/></rim:Name></rim:Classification>
     <rim:Classification id="c3" classifiedObject="Doc01" classificationScheme="urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d" nodeRepresentation="urn:ihe:rad:TEXT"><rim:Slot name="codingScheme"><rim:ValueList><rim:Value>1.3.6.1.4.1.19376.1.2.3</rim:Value></rim:ValueList></rim:Slot><rim:Name><rim:LocalizedString value="urn:ihe:rad:TEXT"/></rim:Name></rim:Classification>
     <rim:Classification id="c4" classifiedObject="Doc01" classificationScheme="urn:uuid:f33fb8ac-18af-42cc-ae0e-ed0b0bdb91e1" nodeRepresentation="Outpatient"><rim:Slot name="codingScheme"><rim:ValueList><rim:Value>Connect-a-thon healthcareFacilityTypeCodes</rim:Value></rim:ValueList></rim:Slot><rim:Name><rim:LocalizedString value="Outpatient"/></rim:Name></rim:Classification>
     <rim:Classification id="c5" classifiedObject="Doc01" classificationScheme="urn:uuid:cccf5598-8b07-4b77-a05e-ae952c785ead" nodeRepresentation="General Medicine"><rim:Slot name="codingScheme"><rim:ValueList><rim:Value>Connect-a-thon practiceSettingCodes</rim:Value></rim:ValueList></rim:Slot><rim:Name><rim:LocalizedString value="General Medicine"/></rim:Name></rim:Classification>
     <rim:Classification id="c6" classifiedObject="Doc01" classificationScheme="urn:uuid:f0306f51-975f-434e-a61c-c59651d33983" nodeRepresentation="Imaging Exam"><rim:Slot name="codingScheme"><rim:ValueList><rim:Value>1.3.6.1.4.1.19376.3.840.1.1.2</rim:Value></rim:ValueList></rim:Slot><rim:Name><rim:LocalizedString value="Imaging Exam"/></rim:Name></rim:Classification>
     <rim:ExternalIdentifier id="e1" registryObject="Doc01" identificationScheme="urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427" value="$cx"><rim:Name><rim:LocalizedString value="XDSDocumentEntry.patientId"/></rim:Name></rim:ExternalIdentifier>
     <rim:ExternalIdentifier id="e2" registryObject="Doc01" identificationScheme="urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab" value="$3"><rim:Name><rim:LocalizedString value="XDSDocumentEntry.uniqueId"/></rim:Name></rim:ExternalIdentifier>
    </rim:ExtrinsicObject>
    <rim:RegistryPackage id="Set01" objectType="urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:RegistryPackage">
     <rim:Slot name="submissionTime"><rim:ValueList><rim:Value>20261127120000</rim:Value></rim:ValueList></rim:Slot>
     <rim:Classification id="c7" classifiedObject="Set01" classificationScheme="urn:uuid:a7058bb9-b4e4-4307-ba5b-e3f0ab85e12d" nodeRepresentation=""><rim:Slot name="authorInstitution"><rim:ValueList><rim:Value>Test Site</rim:Value></rim:ValueList></rim:Slot></rim:Classification>
     <rim:Classification id="c8" classifiedObject="Set01" classificationScheme="urn:uuid:aa543740-bdda-424e-8c96-df4873be8500" nodeRepresentation="Imaging Exam"><rim:Slot name="codingScheme"><rim:ValueList><rim:Value>1.3.6.1.4.1.19376.3.840.1.1.2</rim:Value></rim:ValueList></rim:Slot><rim:Name><rim:LocalizedString value="Imaging Exam"/></rim:Name></rim:Classification>
     <rim:ExternalIdentifier id="e3" registryObject="Set01" identificationScheme="urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8" value="$2"><rim:Name><rim:LocalizedString value="XDSSubmissionSet.uniqueId"/></rim:Name></rim:ExternalIdentifier>
     <rim:ExternalIdentifier id="e4" registryObject="Set01" identificationScheme="urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832" value="1.2.260.7"><rim:Name><rim:LocalizedString value="XDSSubmissionSet.sourceId"/></rim:Name></rim:ExternalIdentifier>
     <rim:ExternalIdentifier id="e5" registryObject="Set01" identificationScheme="urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446" value="$cx"><rim:Name><rim:LocalizedString value="XDSSubmissionSet.patientId"/></rim:Name></rim:ExternalIdentifier>
    </rim:RegistryPackage>
    <rim:Classification id="c9" classifiedObject="Set01" classificationNode="urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd"/>
    <rim:Association id="As01" associationType="urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember" sourceObject="Set01" targetObject="Doc01" objectType="urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:Association"><rim:Slot name="SubmissionSetStatus"><rim:ValueList><rim:Value>Original</rim:Value></rim:ValueList></rim:Slot></rim:Association>
    $rplc
EOX
}

# fd FILE PID STATUS: ITI-18 FindDocuments (LeafClass) for that status.
fd() {
	ch_iti18 "$1" urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d LeafClass \
	    "\$XDSDocumentEntryPatientId='$2^^^&1.2.260&ISO'" \
	    "\$XDSDocumentEntryStatus=('$3')"
}
rpost() { ch_post "$1" "$2" "$SOAP" /services/xdsregistryb; }
ndocs() { sql "SELECT count(*) FROM documents"; }
nsets() { sql "SELECT count(*) FROM submission_sets"; }
# extrinsic: the number of ExtrinsicObjects in ./resp
extrinsic() { grep -o "<[a-zA-Z0-9]*:*ExtrinsicObject[ >]" resp | wc -l | tr -d ' '; }

check "the test PKI was generated" ch_pki
ch_conf "audit: {destination: file, file: audit.log}"
check "the daemon starts" ch_start
check "patients R42A and R42B are registered over ITI-8" \
    'ch_register R42A c1 && ch_register R42B c2'

# --- ITI-42 by the source ---
i42 ok.xml 1.2.260.42.1 1.2.260.42.1.1 R42A
rpost source ok.xml
check "ITI-42 by a source: RegistryResponse Success" \
    '[ "$code" = 200 ] && grep -q "RegistryResponse" resp &&
     grep -q "ResponseStatusType:Success" resp &&
     grep -q "RegisterDocumentSet-bResponse" resp'
grep -q "ResponseStatusType:Success" resp || sed "s/^/# /" resp
check "ITI-42: one row without a blob, in the repository it names" \
    '[ "$(ndocs)" = 1 ] && [ "$(ch_nblobs)" = 0 ] &&
     [ "$(sql "SELECT count(*) FROM documents WHERE blob_id IS NULL AND
        repository_unique_id = '"'1.2.3.99'"' AND size = 36 AND
        hash = '"'e543712c0e10501972de13a5bfcbe826c49feb75'"'")" = 1 ]'
fd fda.xml R42A "$APPROVED"
rpost consumer fda.xml
check "ITI-18 FindDocuments by a consumer finds the registered entry" \
    '[ "$code" = 200 ] && grep -q "ResponseStatusType:Success" resp &&
     [ "$(extrinsic)" = 1 ] && grep -q "value=\"1.2.260.42.1.1\"" resp &&
     grep -q "1.2.3.99" resp'

# --- refusals, all or nothing ---
i42 c.xml 1.2.260.42.2 1.2.260.42.2.1 R42A
rpost consumer c.xml
check "ITI-42 by a consumer-only peer: 403 and a SOAP Sender fault" \
    '[ "$code" = 403 ] && grep -q "Sender" resp &&
     grep -q "event=unauthorised peer=\"consumer-app\"" log'
i42 nohash.xml 1.2.260.42.3 1.2.260.42.3.1 R42A nohash
rpost source nohash.xml
check "ITI-42 without hash: Failure XDSRegistryMetadataError" \
    '[ "$code" = 200 ] && grep -q "ResponseStatusType:Failure" resp &&
     grep -q "XDSRegistryMetadataError" resp'
repo42=1.2.3
i42 own.xml 1.2.260.42.7 1.2.260.42.7.1 R42A
repo42=1.2.3.99
rpost source own.xml
check "ITI-42 naming our own repository: XDSRegistryMetadataError" \
    '[ "$code" = 200 ] && grep -q "XDSRegistryMetadataError" resp &&
     grep -q "come with ITI-41" resp'
i42 unk.xml 1.2.260.42.4 1.2.260.42.4.1 R42Z
rpost source unk.xml
check "ITI-42 for an unknown patient: XDSUnknownPatientId" \
    '[ "$code" = 200 ] && grep -q "XDSUnknownPatientId" resp'
check "nothing was stored for the refused and failed ITI-42s" \
    '[ "$(ndocs)" = 1 ] && [ "$(nsets)" = 1 ] && [ "$(ch_nblobs)" = 0 ]'

# --- RPLC ---
orig=$(sql "SELECT entry_uuid FROM documents WHERE unique_id = '1.2.260.42.1.1'")
i42 wrongpt.xml 1.2.260.42.5 1.2.260.42.5.1 R42B hash "$orig"
rpost source wrongpt.xml
check "RPLC of another patient's document: XDSPatientIdDoesNotMatch" \
    '[ "$code" = 200 ] && grep -q "XDSPatientIdDoesNotMatch" resp &&
     [ "$(ndocs)" = 1 ]'
i42 rplc.xml 1.2.260.42.6 1.2.260.42.6.1 R42A hash "$orig"
rpost source rplc.xml
check "RPLC by ITI-42: Success" \
    '[ "$code" = 200 ] && grep -q "ResponseStatusType:Success" resp'
rpost consumer fda.xml
check "FindDocuments (Approved) returns only the replacement" \
    '[ "$(extrinsic)" = 1 ] && grep -q "value=\"1.2.260.42.6.1\"" resp &&
     ! grep -q "value=\"1.2.260.42.1.1\"" resp'
fd fdd.xml R42A "$DEPRECATED"
rpost consumer fdd.xml
check "FindDocuments (Deprecated) returns the original, status Deprecated" \
    '[ "$(extrinsic)" = 1 ] && grep -q "value=\"1.2.260.42.1.1\"" resp &&
     grep -q "status=\"$DEPRECATED\"" resp'
check "the replacement continues the original's logicalId, version 2" \
    '[ "$(sql "SELECT logical_id || '"' '"' || version FROM documents
        WHERE unique_id = '"'1.2.260.42.6.1'"'")" = "$orig 2" ]'

# --- ITI-41 (for its audit record) ---
nimport=6
if [ -r "$samples/pnr-mtom-xop.body.txt" ]; then
	ch_register SR7
	ct=$(sed -n 's/^Content-Type: *//p' \
	    "$samples/pnr-mtom-xop.http-headers.txt" | tr -d '\r')
	ch_post source "$samples/pnr-mtom-xop.body.txt" "$ct" \
	    /services/xdsrepositoryb
	check "ITI-41 by the source: Success" \
	    '[ "$code" = 200 ] && grep -q "ResponseStatusType:Success" resp'
	nimport=7
else
	skip "ITI-41: the shared xds samples are absent"
fi

# --- ATNA ---
# Imports: ok, nohash, own repository, unknown patient, wrong patient,
# rplc (+ ITI-41);
# the consumer's ITI-42 was refused before any XDS processing.
# Queries: fda twice, fdd.
check "one ATNA Import record per answered ITI-41/ITI-42" \
    '[ "$(grep -c "csd-code=\"110107\"" audit.log)" = $nimport ]'
check "one ATNA Query record per answered ITI-18, with its query id" \
    '[ "$(grep -c "csd-code=\"110112\"" audit.log)" = 3 ] &&
     [ "$(grep "csd-code=\"110112\"" audit.log |
        grep -c "14d4debf-8f97-4251-9a74-a90016b0af0d")" = 3 ]'
check "the records carry the patient CX and the submission set uniqueId" \
    'grep "csd-code=\"110107\"" audit.log | grep "1.2.260.42.6" |
        grep -q "R42A^^^&amp;1.2.260&amp;ISO" &&
     grep "csd-code=\"110112\"" audit.log | grep -q "R42A^^^&amp;1.2.260&amp;ISO" &&
     grep "csd-code=\"110107\"" audit.log | grep -q "EventOutcomeIndicator=\"8\""'
check "no PHI beyond the CX: no name, no source MRN in the audit file" \
    '! grep -q "Zyxwvname" audit.log && ! grep -q "MRN77" audit.log'
check "no patient id in the log" '! grep -q "R42A" log'

ch_stop
check "SIGTERM stops with status 0" '[ $rc = 0 ]'
[ $failed = 0 ] || { sed "s/^/# /" log | tail -n 40; sed 's/^/# /' audit.log | tail -n 5; }
echo "1..$n"
[ $failed = 0 ]
