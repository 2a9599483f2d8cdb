#!/bin/sh
# bench_phr.sh: isn-phr retrieve throughput and memory (issue 5,
# Performance). Not a test (make check does not run it):
#   cd _build/default && top_srcdir=../.. top_builddir=. \
#       sh ../../phr-client/tests/bench_phr.sh
# A private PostgreSQL, a test PKI and the real daemon on loopback; one
# isn2 study of BENCH_N (500) synthetic instances of BENCH_BYTES (500000)
# pixel bytes made by testnet/isn-mksub; then isn-phr retrieve (MB/s, peak
# RSS) against curl fetching the same documents with ITI-43 over the same
# mutual TLS, in batches of 100, in the same run.
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
. "$top_srcdir/clearinghouse/tests/pg.sh"
. "$top_srcdir/clearinghouse/tests/certs.sh"
. "$top_srcdir/clearinghouse/tests/lib.sh"
ch_begin openssl curl psql awk
phr=$top_builddir/phr-client/isn-phr
mksub=$top_builddir/testnet/isn-mksub
case $phr in /*) ;; *) phr=$OLDPWD/$phr ;; esac
case $mksub in /*) ;; *) mksub=$OLDPWD/$mksub ;; esac
N=${BENCH_N:-500}
SCHEME=${BENCH_SCHEME:-isn2}	# rsna-token: no KDF memory, no decryption
BYTES=${BENCH_BYTES:-500000}
export PW=quackquack
kdf0=$(date +%s.%N); "$phr" rsna-id --scheme "${BENCH_SCHEME:-isn2}" --token ybnd-rfg8 --dob 1950-03-04 --password-env PW > /dev/null; kdf1=$(date +%s.%N)
now() { date +%s.%N; }

ch_pki && ch_conf && ch_start || { echo "cannot start the daemon"; exit 1; }
"$mksub" --scheme "$SCHEME" --token ybnd-rfg8 --dob 1950-03-04 --password-env PW --oid 1.2.260 \
    --repository 1.2.3 --synthetic "$N:$BYTES" --info info --out pnr \
    --content-type-file ct 2> mk.err || { cat mk.err; exit 1; }
ch_register "$(sed -n 's/^rsna-id //p' info)" r1 1.2.260
ch_post source pnr "$(cat ct)" /services/xdsrepositoryb
[ "$code" = 200 ] || { echo "submission refused"; exit 1; }
rm -f pnr

t0=$(now)
/usr/bin/time -f "%M %e %U %S" -o rss ${BENCH_WRAP:-} "$phr" retrieve --url "https://127.0.0.1:$xds" \
    --ca ca.pem --cert consumer.pem --key consumer.key --oid 1.2.260 \
    --scheme "$SCHEME" --token ybnd-rfg8 --dob 1950-03-04 \
    --password-env PW --quiet \
    --out out > phr.out 2> phr.err || { cat phr.err; exit 1; }
t1=$(now)

# The baseline: the same documents by ITI-43 with curl, 100 a request.
psql -X -A -t -q -c "SELECT unique_id FROM documents ORDER BY unique_id" \
    > uids
split -l 100 uids batch.
t2=$(now)
for b in batch.*; do
	{
		printf '<?xml version="1.0" encoding="UTF-8"?>\n<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:wsa="http://www.w3.org/2005/08/addressing"><env:Header><wsa:Action env:mustUnderstand="1">urn:ihe:iti:2007:RetrieveDocumentSet</wsa:Action><wsa:MessageID>urn:uuid:5d1b0c2e-7a6f-4f7e-9a51-0c0ffee00043</wsa:MessageID></env:Header><env:Body><xdsb:RetrieveDocumentSetRequest xmlns:xdsb="urn:ihe:iti:xds-b:2007">'
		while read -r u; do
			printf '<xdsb:DocumentRequest><xdsb:RepositoryUniqueId>1.2.3</xdsb:RepositoryUniqueId><xdsb:DocumentUniqueId>%s</xdsb:DocumentUniqueId></xdsb:DocumentRequest>' "$u"
		done < "$b"
		printf '</xdsb:RetrieveDocumentSetRequest></env:Body></env:Envelope>\n'
	} > "$b.xml"
	curl -s -m 600 --cacert ca.pem --cert consumer.pem --key consumer.key \
	    -H "Content-Type: application/soap+xml; charset=UTF-8" \
	    --data-binary "@$b.xml" -o "$b.resp" "https://127.0.0.1:$xds/services/xdsrepositoryb"
done
t3=$(now)
bytes=$(cat batch.*.resp | wc -c)
awk -v b="$bytes" -v a="$t0" -v z="$t1" -v c="$t2" -v d="$t3" \
    -v rss="$(cut -d " " -f 1 rss)" -v cpu="$(awk '{print $3 + $4}' rss)" -v n="$N" -v k="$(echo "$kdf1 - $kdf0" | bc)" 'BEGIN {
	mb = b / 1e6; p = mb / (z - a); q = mb / (d - c); r = mb / (z - a - k)
	printf "instances %d, %.1f MB on the wire\n", n, mb
	printf "isn-phr retrieve: %.1f MB/s (%.2f s, decrypt + verify included)\n", p, z - a
	printf "curl ITI-43:      %.1f MB/s (%.2f s)\n", q, d - c
	printf "ratio isn-phr/curl: %.2f (target >= 0.8)\n", p / q
	printf "  without the isn2 KDF (%.2f s, scrypt, once per patient): %.1f MB/s, ratio %.2f\n", k, r, r / q
	printf "isn-phr peak RSS: %.1f MB (target <= 32); CPU %.2f s of %.2f s\n", rss / 1024, cpu, z - a
}'
echo "# $(cat phr.out)"
