#!/bin/sh
# fuzz.sh: one TAP test point per fuzz harness. A normal build replays each
# seed corpus (shared/fuzz/corpus/NAME) through the harness; a build with
# --enable-fuzzing runs libFuzzer for FUZZ_SECONDS (default 10) per harness.
# Another folder's harnesses: FUZZ_DIR (default shared/fuzz), as in
# phr-client/fuzz/fuzz.sh.
srcdir=${top_srcdir:-.}/${FUZZ_DIR:-shared/fuzz}
bindir=${top_builddir:-.}/${FUZZ_DIR:-shared/fuzz}
secs=${FUZZ_SECONDS:-10}
n=0; plan=0
for c in "$srcdir"/corpus/*/; do [ -d "$c" ] || continue; plan=$((plan + 1)); done
echo "1..$plan"
for c in "$srcdir"/corpus/*/; do
	[ -d "$c" ] || continue
	name=$(basename "$c")
	bin="$bindir/$name-fuzzer"
	n=$((n + 1))
	if [ ! -x "$bin" ]; then
		echo "not ok $n - $name: harness $bin not built"
		continue
	fi
	if [ "$ISN_FUZZING" = 1 ]; then
		work=$(mktemp -d)
		cp "$c"/* "$work"/ 2>/dev/null
		dict=""
		[ -f "$srcdir/$name.dict" ] && dict="-dict=$srcdir/$name.dict"
		if "$bin" -max_total_time="$secs" -rss_limit_mb=2048 \
		    -timeout=10 -artifact_prefix="$work/" $dict "$work" \
		    > "$work.log" 2>&1; then
			echo "ok $n - $name: libFuzzer ran ${secs}s without a finding"
		else
			echo "not ok $n - $name: libFuzzer found a crash"
			sed 's/^/# /' "$work.log" | tail -40
		fi
		rm -rf "$work" "$work.log"
	elif out=$("$bin" "$c" 2>&1); then
		echo "ok $n - $name: $out"
	else
		echo "not ok $n - $name: replaying the corpus failed"
		echo "$out" | sed 's/^/# /' | tail -40
	fi
done
