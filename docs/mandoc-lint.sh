#!/bin/sh
# mandoc-lint.sh: one TAP point per man page, clean under mandoc -Tlint.
dir=${top_srcdir:-.}/docs
n=0; bad=0
if ! command -v mandoc >/dev/null 2>&1; then
	echo "1..0 # SKIP mandoc is not installed (apt-get install mandoc)"; exit 0
fi
for page in "$dir"/*.[1-8]; do
	n=$((n + 1))
	if out=$(mandoc -Tlint -W warning "$page" 2>&1) && [ -z "$out" ]; then
		echo "ok $n - $(basename "$page") is clean"
	else
		bad=1; echo "not ok $n - $(basename "$page")"; echo "$out" | sed 's/^/# /'
	fi
done
echo "1..$n"
exit $bad
