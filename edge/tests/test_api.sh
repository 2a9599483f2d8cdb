#!/bin/sh
# test_api.sh: the staff JSON API (edge/api.c) against a throwaway
# PostgreSQL (pg.sh) with schemas/edge applied by psql; test_api does the
# HTTP and the checks. TEST_API_WRAP runs it under a tool (valgrind).
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
bin=$top_builddir/edge/tests/test_api
schemas=$top_srcdir/schemas/edge
for v in bin schemas; do
	eval "p=\$$v"
	case $p in /*) ;; *) eval "$v=\$PWD/\$p" ;; esac
done
. "$top_srcdir/clearinghouse/tests/pg.sh"
if ! command -v psql >/dev/null 2>&1 || ! command -v pg_dump >/dev/null 2>&1
then
	echo "1..0 # SKIP no psql or pg_dump"; exit 0
fi
pg_start || pg_unavailable
tmp=$(mktemp -d)
cleanup() {
	cd /
	rm -rf "$tmp"
	pg_stop
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
chmod 755 "$tmp"
for f in "$schemas"/[0-9][0-9][0-9][0-9]-*.sql; do
	if ! psql -X -q -v ON_ERROR_STOP=1 -1 -f "$f" > "$tmp/schema.log" 2>&1
	then
		echo "Bail out! $f: $(head -c 300 "$tmp/schema.log")"
		exit 1
	fi
done
# A wrapper (valgrind) serialises threads: the loop cannot tick meanwhile.
[ -n "$TEST_API_WRAP" ] && export TEST_API_SLOW=1
TEST_API_DIR=$tmp $TEST_API_WRAP "$bin"
