# certs.sh: a throwaway test PKI with the openssl CLI, sourced by the
# daemon's shell tests (test_pixfeed.sh, test_xds.sh). In the current
# directory: ca.pem/ca.key, then certs_make writes server.pem/.key
# (CN and SAN 127.0.0.1) and cert NAME SUBJECT writes NAME.pem/NAME.key, a
# client certificate signed by the CA. EC P-256 keys, valid two days.
certs_ca() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
	    -nodes -keyout ca.key -out ca.pem -days 2 \
	    -subj "/CN=ISN Test CA" >/dev/null 2>&1
}
cert() {	# name subject [ext]
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$1.key" -out "$1.csr" -subj "$2" >/dev/null 2>&1
	printf '%s\n' "${3:-keyUsage=digitalSignature}" > "$1.ext"
	openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key \
	    -CAcreateserial -out "$1.pem" -days 2 -extfile "$1.ext" \
	    >/dev/null 2>&1
}
# The CA and the server certificate.
certs_make() {
	certs_ca
	cert server "/CN=127.0.0.1" "subjectAltName=IP:127.0.0.1"
}
# SHA-256 fingerprint and RFC 2253 subject of a certificate.
cert_fp() {
	openssl x509 -in "$1" -noout -fingerprint -sha256 | sed 's/.*=//'
}
cert_subject() {
	openssl x509 -in "$1" -noout -subject -nameopt RFC2253 |
	    sed 's/^subject=//'
}
