# replay-lib.sh: helpers of test_replay.sh (sourced after lib.sh and
# certs.sh, in the test's temp directory): what a sample is, the body to
# send, its patient. The daemon's domain and repository: lib.sh's ch_conf
# with CH_DOMAIN and CH_REPO; the patient: ch_register PID "" OID.

# replay_kind FILE: iti41, iti42, iti18, iti43, rad69, or what else it is
# (response, iti8, other) by its request element.
replay_kind() {
	for rk in ProvideAndRegisterDocumentSetRequest=iti41 \
	    RetrieveImagingDocumentSetRequest=rad69 \
	    RetrieveDocumentSetRequest=iti43 AdhocQueryRequest=iti18 \
	    SubmitObjectsRequest=iti42; do
		if grep -q "[<:]${rk%=*}[ >]" "$1"; then
			echo "${rk#*=}"; return
		fi
	done
	if grep -q 'Response[ >]' "$1"; then
		echo response
	elif grep -q '^MSH|' "$1"; then
		echo iti8
	else
		echo other
	fi
}

# replay_body IN KIND OUT: the HTTP body to send (an HTTP request's body;
# a bare body wrapped in a SOAP 1.2 envelope with the kind's Action); its
# Content-Type (when the input does not come with one) in ./body.ct.
replay_body() {
	echo "application/soap+xml; charset=UTF-8" > body.ct
	if head -n 1 "$1" | grep -q '^POST '; then
		sed -n '2,/^\r\{0,1\}$/s/^[Cc]ontent-[Tt]ype: *//p' "$1" |
		    tr -d '\r' > body.ct
		sed '1,/^\r\{0,1\}$/d' "$1" > "$3"
	elif grep -q '[<:]Envelope[ >]' "$1"; then
		cp "$1" "$3"
	else
		case $2 in
		iti41)	a=urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b ;;
		iti42)	a=urn:ihe:iti:2007:RegisterDocumentSet-b ;;
		iti18)	a=urn:ihe:iti:2007:RegistryStoredQuery ;;
		iti43)	a=urn:ihe:iti:2007:RetrieveDocumentSet ;;
		rad69)	a=urn:ihe:rad:2009:RetrieveImagingDocumentSet ;;
		esac
		{
			printf '<?xml version="1.0" encoding="UTF-8"?>\n'
			printf '<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:wsa="http://www.w3.org/2005/08/addressing">'
			printf '<env:Header><wsa:Action env:mustUnderstand="1">%s</wsa:Action>' "$a"
			printf '<wsa:MessageID>urn:uuid:0b8c3c52-7d1e-4a4f-9a51-5f0c1d2e3f40</wsa:MessageID>'
			printf '<wsa:ReplyTo><wsa:Address>http://www.w3.org/2005/08/addressing/anonymous</wsa:Address></wsa:ReplyTo>'
			printf '</env:Header><env:Body>\n'
			sed 's/<?xml[^>]*?>//' "$1"
			printf '\n</env:Body></env:Envelope>\n'
		} > "$3"
	fi
}

# replay_patient FILE: the message's patient (CX, &amp; decoded): the
# SubmissionSet's patientId of a submission, else the first quoted CX
# (a stored query's patient slot); empty when none.
replay_patient() {
	tr '\r\n' '  ' < "$1" > pat.flat
	p=$(grep -o '<[A-Za-z0-9]*:*ExternalIdentifier [^>]*>' pat.flat |
	    grep 'urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446' |
	    sed -n 's/.* value="\([^"]*\)".*/\1/p' | head -n 1)
	[ -n "$p" ] || p=$(grep -o "'[^'<]*^^^[^'<]*'" pat.flat | head -n 1 |
	    tr -d "'")
	echo "$p" | sed 's/&amp;/\&/g'
}
