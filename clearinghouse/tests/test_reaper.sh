#!/bin/sh
# test_reaper.sh: start a throwaway PostgreSQL (pg.sh) and run test_reaper
# on it, with a blob store in a temp dir removed on exit.
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
export top_srcdir top_builddir
. "$top_srcdir/clearinghouse/tests/pg.sh"
REAPER_BLOBDIR=$(mktemp -d "${TMPDIR:-/tmp}/test_reaper.XXXXXX") || exit 1
export REAPER_BLOBDIR
cleanup() {
	pg_stop
	rm -rf "$REAPER_BLOBDIR"
}
if ! pg_start; then
	rm -rf "$REAPER_BLOBDIR"
	pg_unavailable
fi
trap cleanup EXIT
${ISN_TEST_WRAPPER:-} "$top_builddir/clearinghouse/tests/test_reaper"
