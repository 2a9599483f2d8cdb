# pg.sh: a throwaway PostgreSQL cluster for tests (POSIX sh library).
#
# Usage, from a test script:
#	. "$top_srcdir/clearinghouse/tests/pg.sh"
#	pg_start || pg_unavailable
#	... use $ISN_PG_CONNINFO, or psql with PGHOST/PGPORT/PGUSER/PGDATABASE ...
#	pg_stop			# optional: pg_start installs an EXIT trap
#
# pg_start
#	Creates a private cluster in a fresh mktemp directory ($PG_DIR):
#	initdb with trust authentication for local connections only (the
#	server listens on 127.0.0.1 and on a unix socket inside $PG_DIR, no
#	other address), superuser "isn", fsync off.  PostgreSQL refuses to
#	run as root, so when uid is 0 the directory is chowned to the
#	"postgres" user and initdb/pg_ctl run through `runuser -u postgres --`.
#	Binaries come from the newest /usr/lib/postgresql/*/bin (or $PG_BIN).
#	The port is found by trying: a pseudo-random port in 20000..59999,
#	(or $PG_PORT when set), then the next ones, up to 20 attempts (a start that fails because the
#	port is taken is retried on another port).  Readiness is a pg_isready
#	loop bounded to about 20 s.  Then it creates the database "isn" and
#	exports PGHOST=127.0.0.1, PGPORT, PGUSER=isn, PGDATABASE=isn and
#	ISN_PG_CONNINFO="host=127.0.0.1 port=... user=isn dbname=isn".
#	Installs `trap pg_stop EXIT` and makes INT/TERM/HUP exit (so the EXIT
#	trap runs); a caller with its own EXIT trap must call pg_stop in it.
#	Returns 1 with $PG_ERROR set when PostgreSQL is missing or will not
#	start (the server log is echoed as TAP comments).
# pg_stop
#	Stops the server (immediate mode, bounded wait) and removes $PG_DIR.
#	Safe to call twice and when pg_start failed.

PG_DIR=
PG_ERROR=

_pg_as() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

_pg_fail() {
	PG_ERROR=$1
	if [ -n "$PG_DIR" ] && [ -f "$PG_DIR/log" ]; then
		sed 's/^/# pg: /' "$PG_DIR/log" | tail -n 20
	fi
	pg_stop
	return 1
}

pg_start() {
	if [ -z "${PG_BIN:-}" ]; then
		PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null |
		    sort -t/ -k5 -n | tail -n 1)
	fi
	if [ -z "$PG_BIN" ] || [ ! -x "$PG_BIN/initdb" ]; then
		PG_ERROR="initdb not found in /usr/lib/postgresql/*/bin"
		return 1
	fi
	if [ "$(id -u)" = 0 ]; then
		if ! id postgres >/dev/null 2>&1; then
			PG_ERROR="running as root and there is no postgres user"
			return 1
		fi
		# Somewhere the postgres user can reach, whatever TMPDIR is.
		PG_DIR=$(mktemp -d /tmp/isn-pg.XXXXXX) || return 1
		chown postgres "$PG_DIR" || { _pg_fail "chown failed"; return 1; }
	else
		PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/isn-pg.XXXXXX") || return 1
	fi
	trap 'pg_stop' EXIT
	trap 'exit 1' INT TERM HUP
	if ! _pg_as "$PG_BIN/initdb" -D "$PG_DIR/data" -U isn -E UTF8 \
	    --locale=C --auth-local=trust --auth-host=trust \
	    >"$PG_DIR/initdb.log" 2>&1; then
		sed 's/^/# initdb: /' "$PG_DIR/initdb.log" | tail -n 20
		_pg_fail "initdb failed"
		return 1
	fi
	# Pseudo-random start so parallel test runs rarely collide.
	_pg_port=$(( 20000 + ( $$ * 7919 + $(date +%N 2>/dev/null |
	    sed 's/^0*//;s/^$/0/') % 1000 ) % 40000 ))
	[ -n "${PG_PORT:-}" ] && _pg_port=$PG_PORT
	_pg_try=0
	while :; do
		_pg_try=$((_pg_try + 1))
		if [ $_pg_try -gt 20 ]; then
			_pg_fail "no free port after 20 attempts"
			return 1
		fi
		if _pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" \
		    -w -t 20 -o "-p $_pg_port -k $PG_DIR \
		    -c listen_addresses=127.0.0.1 -c fsync=off \
		    -c synchronous_commit=off -c full_page_writes=off \
		    -c max_connections=50 -c shared_buffers=16MB" \
		    start >/dev/null 2>&1; then
			break
		fi
		# Taken port (or another failure): stop any remnant, retry.
		_pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate -w \
		    -t 10 stop >/dev/null 2>&1
		if ! grep -q 'could not bind\|could not create any TCP/IP\|Address already in use' \
		    "$PG_DIR/log" 2>/dev/null; then
			_pg_fail "pg_ctl start failed"
			return 1
		fi
		: >"$PG_DIR/log"
		_pg_port=$(( 20000 + ( _pg_port - 20000 + 1 ) % 40000 ))
	done
	_pg_i=0
	until "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$_pg_port" -U isn \
	    -d postgres; do
		_pg_i=$((_pg_i + 1))
		if [ $_pg_i -ge 200 ]; then
			_pg_fail "server not ready after 20 s"
			return 1
		fi
		sleep 0.1
	done
	if ! "$PG_BIN/createdb" -h 127.0.0.1 -p "$_pg_port" -U isn isn \
	    >"$PG_DIR/createdb.log" 2>&1; then
		_pg_fail "createdb failed: $(cat "$PG_DIR/createdb.log")"
		return 1
	fi
	PGHOST=127.0.0.1
	PGPORT=$_pg_port
	PGUSER=isn
	PGDATABASE=isn
	ISN_PG_CONNINFO="host=127.0.0.1 port=$_pg_port user=isn dbname=isn"
	export PGHOST PGPORT PGUSER PGDATABASE ISN_PG_CONNINFO
	return 0
}

pg_stop() {
	if [ -n "$PG_DIR" ] && [ -d "$PG_DIR" ]; then
		if [ -f "$PG_DIR/data/postmaster.pid" ]; then
			_pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate \
			    -w -t 20 stop >/dev/null 2>&1
		fi
		rm -rf "$PG_DIR"
	fi
	PG_DIR=
}

# pg_unavailable: after pg_start failed, skip the calling TAP test, or,
# where PostgreSQL must be there (isn-testnet check sets ISN_REQUIRE_PG=1,
# having installed it), bail out so that a broken setup cannot pass.
pg_unavailable() {
	if [ "${ISN_REQUIRE_PG:-0}" = 1 ]; then
		echo "Bail out! PostgreSQL did not start: $PG_ERROR"
		exit 1
	fi
	echo "1..0 # SKIP no PostgreSQL: $PG_ERROR"
	exit 0
}
