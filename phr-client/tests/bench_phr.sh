#!/bin/sh
# bench_phr.sh: isn-phr retrieve throughput and memory (issue 5,
# Performance). Not a test (make check does not run it):
#   cd _build/default && top_srcdir=../.. top_builddir=. \
#       [BENCH_N=500 BENCH_BYTES=500000 BENCH_SCHEME=isn2 BENCH_RUNS=3] \
#       [BENCH_OUT=/dev/shm] \
#       sh ../../phr-client/tests/bench_phr.sh
# A private PostgreSQL, a test PKI and the real daemon on loopback; one
# study of BENCH_N (500) synthetic instances of BENCH_BYTES (500000) pixel
# bytes made by testnet/isn-mksub (isn2-encrypted under isn2); then,
# BENCH_RUNS times, isn-phr retrieve (MB/s, peak RSS) and curl fetching
# the same documents with ITI-43 over the same mutual TLS, in batches of
# 100, alternately. Each timed run starts after a sync (so neither pays
# for the other's writeback) and a ballast file written and removed
# (ch_ballast: both write into just freed page-cache memory, not into
# memory the virtual machine's host must fault in) into a new directory
# (nothing is deleted before the end: ext4 without a journal makes
# creating files slow for a minute or more after many were deleted,
# which would charge isn-phr's 500 files); each line carries
# the 1-minute load average at its start. The ratio is per pair of runs;
# the summary gives the median and the best. BENCH_OUT: a directory
# (a tmpfs) under which both write instead of the test directory, which
# leaves the file system's costs out (this machine's ext4 has no journal,
# and for minutes after many deletions it allocates each new inode slowly:
# isn-phr creates 500 files, curl 5).
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
. "$top_srcdir/clearinghouse/tests/pg.sh"
. "$top_srcdir/clearinghouse/tests/certs.sh"
. "$top_srcdir/clearinghouse/tests/lib.sh"
ch_begin openssl curl psql awk
out=.
if [ -n "${BENCH_OUT:-}" ]; then
	out=$(mktemp -d "$BENCH_OUT/bench_phr.XXXXXX") || exit 1
	trap 'rm -rf "$out"; ch_end' EXIT
fi
phr=$top_builddir/phr-client/isn-phr
mksub=$top_builddir/testnet/isn-mksub
case $phr in /*) ;; *) phr=$OLDPWD/$phr ;; esac
case $mksub in /*) ;; *) mksub=$OLDPWD/$mksub ;; esac
N=${BENCH_N:-500}
SCHEME=${BENCH_SCHEME:-isn2}	# rsna-token: no KDF, no decryption
BYTES=${BENCH_BYTES:-500000}
RUNS=${BENCH_RUNS:-3}
export PW=quackquack
now() { date +%s.%N; }
load() { cut -d " " -f 1 /proc/loadavg; }
# The daemon's CPU seconds so far.
dcpu() { ch_cpu "$pid"; }

ch_pki && ch_conf && ch_start || { echo "cannot start the daemon"; exit 1; }
"$mksub" --scheme "$SCHEME" --token ybnd-rfg8 --dob 1950-03-04 --password-env PW --oid 1.2.260 \
    --repository 1.2.3 --synthetic "$N:$BYTES" --info info --out pnr \
    --content-type-file ct 2> mk.err || { cat mk.err; exit 1; }
ch_register "$(sed -n 's/^rsna-id //p' info)" r1 1.2.260
ch_post source pnr "$(cat ct)" /services/xdsrepositoryb
[ "$code" = 200 ] || { echo "submission refused"; exit 1; }
rm -f pnr

# The baseline's requests: the same documents by ITI-43, 100 a request.
psql -X -A -t -q -c "SELECT unique_id FROM documents ORDER BY unique_id" \
    > uids
split -l 100 uids batch.
for b in batch.*; do
	{
		printf '<?xml version="1.0" encoding="UTF-8"?>\n<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:wsa="http://www.w3.org/2005/08/addressing"><env:Header><wsa:Action env:mustUnderstand="1">urn:ihe:iti:2007:RetrieveDocumentSet</wsa:Action><wsa:MessageID>urn:uuid:5d1b0c2e-7a6f-4f7e-9a51-0c0ffee00043</wsa:MessageID></env:Header><env:Body><xdsb:RetrieveDocumentSetRequest xmlns:xdsb="urn:ihe:iti:xds-b:2007">'
		while read -r u; do
			printf '<xdsb:DocumentRequest><xdsb:RepositoryUniqueId>1.2.3</xdsb:RepositoryUniqueId><xdsb:DocumentUniqueId>%s</xdsb:DocumentUniqueId></xdsb:DocumentRequest>' "$u"
		done < "$b"
		printf '</xdsb:RetrieveDocumentSetRequest></env:Body></env:Envelope>\n'
	} > "$b.xml"
done

# The listing alone (ITI-18 and the set's metadata: part of every run).
tl0=$(now)
"$phr" list --url "https://127.0.0.1:$xds" --ca ca.pem --cert consumer.pem \
    --key consumer.key --oid 1.2.260 --scheme "$SCHEME" --token ybnd-rfg8 \
    --dob 1950-03-04 --password-env PW > list.out 2>&1 || { cat list.out; exit 1; }
tl1=$(now)

: > runs
i=0
while [ "$i" -lt "$RUNS" ]; do
	i=$((i + 1))
	ch_ballast "$out" $((N * BYTES))
	l1=$(load); c0=$(dcpu); t0=$(now)
	/usr/bin/time -f "%M %e %U %S" -o rss ${BENCH_WRAP:-} "$phr" retrieve \
	    --url "https://127.0.0.1:$xds" \
	    --ca ca.pem --cert consumer.pem --key consumer.key --oid 1.2.260 \
	    --scheme "$SCHEME" --token ybnd-rfg8 --dob 1950-03-04 \
	    --password-env PW --quiet --stats \
	    --out "$out/out.$i" > phr.out 2> phr.err || { cat phr.err; exit 1; }
	t1=$(now); c1=$(dcpu)
	# "isn-phr: stats: peak RSS S KiB, CPU C s; KDF child peak RSS K KiB, CPU D s"
	stats=$(sed -n 's/^isn-phr: stats: peak RSS \([0-9]*\) KiB, CPU \([0-9.]*\) s; KDF child peak RSS \([0-9]*\) KiB, CPU \([0-9.]*\) s$/\1 \2 \3 \4/p' phr.err)

	mkdir "$out/resp.$i"; ch_ballast "$out" $((N * BYTES))
	l2=$(load); c2=$(dcpu); t2=$(now)
	for b in batch.??; do
		curl -s -m 600 --cacert ca.pem --cert consumer.pem --key consumer.key \
		    -H "Content-Type: application/soap+xml; charset=UTF-8" \
		    --data-binary "@$b.xml" -o "$out/resp.$i/$b" "https://127.0.0.1:$xds/services/xdsrepositoryb"
	done
	t3=$(now); c3=$(dcpu)
	bytes=$(cat "$out/resp.$i"/* | wc -c)
	echo "$i $bytes $t0 $t1 $t2 $t3 $l1 $l2 $(cat rss) $stats $c0 $c1 $c2 $c3" >> runs
done

awk -v n="$N" -v scheme="$SCHEME" -v fs="$(df -P "$out" | awk 'NR == 2 { print $1 }')" -v list="$(echo "$tl1 - $tl0" | bc)" '
{
	mb = $2 / 1e6; p = mb / ($4 - $3); q = mb / ($6 - $5)
	# $9.. from time(1): maxrss (KDF child included) elapsed user sys;
	# $13.. from --stats: own peak RSS, own CPU, KDF peak RSS, KDF CPU.
	k = $16; r = mb / ($4 - $3 - k)
	ratio[NR] = p / q; ratiok[NR] = r / q
	best = p / q > best ? p / q : best
	printf "run %d: isn-phr %.1f MB/s (%.2f s, load %s), curl %.1f MB/s (%.2f s, load %s): ratio %.2f (%.2f without the KDF, %.2f s)\n",
	    $1, p, $4 - $3, $7, q, $6 - $5, $8, p / q, r / q, k
	printf "       isn-phr peak RSS %.1f MB (KDF child %.1f MB), CPU %.2f s + KDF %.2f s; daemon CPU %.2f s (isn-phr run), %.2f s (curl run)\n",
	    $13 / 1024, $15 / 1024, $14, $16, $18 - $17, $20 - $19
	rss = $13 / 1024 > rss ? $13 / 1024 : rss
	MB = mb
}
function median(a, m,    i, j, t) {
	for (i = 1; i <= m; i++)
		for (j = i + 1; j <= m; j++)
			if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
	return (m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2)
}
END {
	printf "%s, %d instances, %.1f MB on the wire, %d runs, written to %s\n", scheme, n, MB, NR, fs
	printf "ratio isn-phr/curl: median %.2f, best %.2f (target >= 0.8); without the KDF: median %.2f\n",
	    median(ratio, NR), best, median(ratiok, NR)
	printf "isn-phr peak RSS (the retrieving process): %.1f MB (target <= 32)\n", rss
	printf "isn-phr list alone (KDF included): %.2f s\n", list
}' runs
echo "# $(cat phr.out)"
