#!/bin/sh
# example.sh: the example submission in docs/protocol.md is what the
# builders produce, and isn-validate accepts it under the isn2 profile.
top=${top_srcdir:-.}; bld=${top_builddir:-.}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
echo "1..2"
"$bld/docs/example-submission" > "$tmp/built.xml"
sed -n '/<!-- example-submission begin -->/,/<!-- example-submission end -->/p' \
    "$top/docs/protocol.md" | sed '1,2d;$d' | sed '$d' > "$tmp/doc.xml"
if cmp -s "$tmp/built.xml" "$tmp/doc.xml"; then
	echo "ok 1 - docs/protocol.md shows the builders' output"
else
	echo "not ok 1 - docs/protocol.md differs from the builders' output"
	diff "$tmp/built.xml" "$tmp/doc.xml" | head -20 | sed 's/^/# /'
fi
if out=$("$bld/clearinghouse/isn-validate" --kind iti42 --profile isn2 \
    "$tmp/doc.xml" 2>&1); then
	echo "ok 2 - isn-validate accepts the example under isn2"
else
	echo "not ok 2 - isn-validate rejects the example"
	echo "$out" | sed 's/^/# /'
fi
