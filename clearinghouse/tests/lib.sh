# lib.sh: TAP helpers for the clearinghouse's shell tests (POSIX sh).
# Counts in $n and $failed; the caller prints the plan ("1..$n") at the end.
n=0; failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
check() { if eval "$2"; then ok "$1"; else nok "$1"; fi; }
skip() { n=$((n + 1)); echo "ok $n # SKIP $1"; }

# waitlog PATTERN [COUNT]: wait until PATTERN matches COUNT (1) lines of
# $tmp/log, at most WAITLOG_TRIES (400) x 50 ms; give up early if the
# daemon $pid (when set) has exited.
waitlog() {
	i=0
	while :; do
		c=$(grep -c -- "$1" "$tmp/log" 2>/dev/null)
		[ "${c:-0}" -ge "${2:-1}" ] && return 0
		[ -z "$pid" ] || kill -0 "$pid" 2>/dev/null || return 1
		i=$((i + 1)); [ $i -gt "${WAITLOG_TRIES:-400}" ] && return 1
		sleep 0.05
	done
}
