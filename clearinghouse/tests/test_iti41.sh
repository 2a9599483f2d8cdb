#!/bin/sh
# test_iti41.sh: start a throwaway PostgreSQL (pg.sh) and run test_iti41.
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
export top_srcdir top_builddir
. "$top_srcdir/clearinghouse/tests/pg.sh"
pg_start || pg_unavailable
${ISN_TEST_WRAPPER:-} "$top_builddir/clearinghouse/tests/test_iti41"
