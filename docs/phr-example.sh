#!/bin/sh
# phr-example.sh: the example program in docs/phr-developers.md is
# phr-client/example-phr.c (which make check builds and test_phr_e2e.sh
# runs), and the document walks through every function of isnphr.h.
top=${top_srcdir:-.}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
doc=$top/docs/phr-developers.md
echo "1..2"
sed -n '/<!-- example-phr begin -->/,/<!-- example-phr end -->/p' "$doc" |
    sed '1,2d;$d' | sed '$d' > "$tmp/doc.c"
if [ -s "$tmp/doc.c" ] && cmp -s "$top/phr-client/example-phr.c" "$tmp/doc.c"
then
	echo "ok 1 - docs/phr-developers.md shows phr-client/example-phr.c"
else
	echo "not ok 1 - docs/phr-developers.md differs from phr-client/example-phr.c"
	diff "$top/phr-client/example-phr.c" "$tmp/doc.c" | head -20 |
	    sed 's/^/# /'
fi
missing=
for f in $(grep -o '\bisnphr_[a-z_]*(' "$top/phr-client/isnphr.h" |
    tr -d '(' | sort -u); do
	sed '/<!-- example-phr begin -->/,$d' "$doc" | grep -q "\b$f\b" ||
	    missing="$missing $f"
done
if [ -z "$missing" ]; then
	echo "ok 2 - docs/phr-developers.md walks through every isnphr_ function"
else
	echo "not ok 2 - docs/phr-developers.md does not describe:$missing"
fi
