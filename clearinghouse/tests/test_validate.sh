#!/bin/sh
# test_validate.sh: isn-validate over the conformance samples (samples.txt)
# and our own cases (data/*.in with the exact output in data/*.expected).
v=${top_builddir:-.}/clearinghouse/isn-validate
dir=${top_srcdir:-.}/clearinghouse/tests
shared=${ISN_SHARED:-${top_srcdir:-.}/../shared}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0; failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }

# Our own cases: exact output and exit status.
for in in "$dir"/data/*.in; do
	name=$(basename "$in" .in)
	args=$(sed -n 's/^# args: //p' "$dir/data/$name.expected")
	want_rc=$(sed -n 's/^# exit: //p' "$dir/data/$name.expected")
	grep -v '^# ' "$dir/data/$name.expected" > "$tmp/want"
	# shellcheck disable=SC2086
	"$v" $args "$in" > "$tmp/got" 2>&1; rc=$?
	if [ "$rc" = "$want_rc" ] && cmp -s "$tmp/got" "$tmp/want"; then
		ok "$name"
	else
		nok "$name (exit $rc, want $want_rc)"
		diff "$tmp/want" "$tmp/got" | sed 's/^/# /'
	fi
done

if [ ! -f "$shared/design/PROFILE.md" ]; then
	echo "ok $((n + 1)) # SKIP ../shared is absent: conformance samples not checked"
	echo "1..$((n + 1))"
	exit $([ $failed = 0 ] && echo 0 || echo 1)
fi

# The conformance samples; options are split on blanks, never globbed.
set -f
field() { echo "$line" | awk -F'|' -v i="$1" '{gsub(/^ +| +$/, "", $i); print $i}'; }
while IFS= read -r line; do
	case "$line" in ''|'#'*) continue ;; esac
	path=$(field 1); opts=$(field 2); want_rc=$(field 3); want=$(field 4)
	file="$shared/xds-samples/$path"
	set --
	input=$file
	for o in $opts; do
		case "$o" in
		@headers)
			ct=$(sed -n 's/^[Cc]ontent-[Tt]ype: *//p' \
			    "${file%.body.txt}.http-headers.txt" | tr -d '\r')
			set -- "$@" --content-type "$ct" ;;
		@sed:*)
			sed -e "${o#@sed:}" "$input" > "$tmp/in"; input=$tmp/in ;;
		*)	set -- "$@" "$o" ;;
		esac
	done
	if [ "$want" = @testplan ]; then
		want=$(grep -o 'errorCode="[^"]*"' \
		    "${file%.request.xml}.expected.testplan.xml" |
		    sed 's/errorCode="//; s/"//' | sort -u | tr '\n' ' ')
		want=${want% }
	fi
	out=$("$v" "$@" "$input" 2>&1); rc=$?
	got=$(echo "$out" | grep -v '^warning ' | awk 'NF {print $1}' |
	    sort -u | tr '\n' ' '); got=${got% }
	[ -n "$got" ] || got=-
	if [ "$rc" = "$want_rc" ] && [ "$got" = "$want" ]; then
		ok "$path $opts: exit $rc, $got"
	else
		nok "$path $opts: exit $rc (want $want_rc), codes [$got] (want [$want])"
		echo "$out" | sed 's/^/# /' | head -20
	fi
done < "$dir/samples.txt"
echo "1..$n"
[ $failed = 0 ]
