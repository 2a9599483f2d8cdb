# conf-keys.sh: conf_keys TABLE MAN SAMPLE (POSIX sh library, TAP): every
# key of a daemon's YAML key table (".name = "key"" in TABLE, a C file) is
# documented in MAN (as ".It Ic key") and appears in SAMPLE (as "key:",
# possibly commented out), and MAN documents no key the table lacks
# (pgbouncer's optscan idea). Prints the plan; 0 when all hold.
conf_keys() {
	ck_n=0; ck_failed=0
	ck_man=${2##*/}; ck_sample=${3##*/}
	ck_keys=$(sed -n 's/.*\.name = "\([a-z_][a-z0-9_]*\)".*/\1/p' "$1" |
	    sort -u)
	if [ -z "$ck_keys" ]; then
		echo "not ok 1 - keys found in $1"; echo "1..1"; return 1
	fi
	for k in $ck_keys; do
		_ck "$k in $ck_man" grep -q "^\.It Ic $k\( \|$\)" "$2"
		_ck "$k in $ck_sample" grep -Eq "^[ #-]*$k:" "$3"
	done
	for k in $(sed -n 's/^\.It Ic \([a-z_][a-z0-9_]*\).*/\1/p' "$2" |
	    sort -u); do
		_ck "documented key $k is in the table" _ck_has "$k"
	done
	echo "1..$ck_n"
	[ $ck_failed = 0 ]
}
_ck_has() { echo "$ck_keys" | grep -qx "$1"; }
_ck() {
	ck_what=$1; shift
	ck_n=$((ck_n + 1))
	if "$@"; then
		echo "ok $ck_n - $ck_what"
	else
		ck_failed=$((ck_failed + 1)); echo "not ok $ck_n - $ck_what"
	fi
}
