#!/bin/sh
# test_edge_keys.sh: every key of the edge.yaml table (edge_conf.c) is
# documented in docs/edge.yaml.5 (as ".It Ic key") and appears in
# edge/edge.yaml.sample (as "key:", possibly commented out), and the man
# page documents no key the table lacks.
src=${top_srcdir:-.}
table=$src/edge/edge_conf.c
man=$src/docs/edge.yaml.5
sample=$src/edge/edge.yaml.sample
n=0; failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }

keys=$(sed -n 's/.*\.name = "\([a-z_][a-z0-9_]*\)".*/\1/p' "$table" | sort -u)
if [ -z "$keys" ]; then
	nok "keys found in $table"; echo "1..$n"; exit 1
fi
for k in $keys; do
	if grep -q "^\.It Ic $k\( \|$\)" "$man"; then
		ok "$k in edge.yaml.5"
	else
		nok "$k in edge.yaml.5"
	fi
	if grep -Eq "^[ #-]*$k:" "$sample"; then
		ok "$k in edge.yaml.sample"
	else
		nok "$k in edge.yaml.sample"
	fi
done
for k in $(sed -n 's/^\.It Ic \([a-z_][a-z0-9_]*\).*/\1/p' "$man" | sort -u); do
	if echo "$keys" | grep -qx "$k"; then
		ok "documented key $k is in the table"
	else
		nok "documented key $k is in the table"
	fi
done
echo "1..$n"
[ $failed = 0 ]
