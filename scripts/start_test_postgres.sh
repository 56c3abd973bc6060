#!/usr/bin/env bash
# Start (or stop) this checkout's throw-away PostgreSQL server for the store tests.
#
#   bash scripts/start_test_postgres.sh            # start; prints the URL (or why there is none)
#   source scripts/start_test_postgres.sh          # also exports LDNCDS_TEST_POSTGRES_URL
#   bash scripts/start_test_postgres.sh stop       # stop this checkout's server
#
# Each checkout has its own server: it lives in the checkout (.test-postgres/, git-ignored), or,
# when the postgres user cannot reach the checkout (e.g. under /root), in a temp folder named after
# the checkout's path. The port is a free one chosen at first start and kept in that folder, so two
# checkouts never share a server, a port or a data folder. LDNCDS_TEST_PG_DIR / LDNCDS_TEST_PG_PORT
# override both. Needs root on Debian: installs the `postgresql` package when missing, creates the
# cluster with initdb (as the postgres user, trust auth on 127.0.0.1 only, fsync off: test data only)
# and the database ldncds_test. Idempotent: a second run reuses the running server. When it cannot
# (not root, no apt-get, install fails) it prints why and succeeds without a server, so the
# PostgreSQL tests are skipped with that reason. A sourced start that started the server sets
# LDNCDS_TEST_PG_STARTED=1, so the caller (scripts/test.sh) knows to stop it.

_ldncds_pg_checkout="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

_ldncds_pg_bin() {
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

_ldncds_pg_dir() {
    if [ -n "${LDNCDS_TEST_PG_DIR:-}" ]; then
        echo "$LDNCDS_TEST_PG_DIR"
    elif id postgres >/dev/null 2>&1 && runuser -u postgres -- test -x "$_ldncds_pg_checkout" 2>/dev/null; then
        echo "$_ldncds_pg_checkout/.test-postgres"
    else
        echo "${TMPDIR:-/tmp}/ldncds-test-postgres-$(printf '%s' "$_ldncds_pg_checkout" | sha1sum | cut -c1-12)"
    fi
}

_ldncds_pg_free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

_ldncds_pg_taken() {  # is something listening on 127.0.0.1:$1?
    python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.5)' "$1" \
        2>/dev/null
}

_ldncds_pg_install() {
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "start_test_postgres: PostgreSQL is not installed and apt-get is missing" >&2
        return 1
    fi
    # Do not let the package create and start its own cluster on 5432: we only want binaries.
    if [ ! -e /etc/postgresql-common/createcluster.conf ]; then
        mkdir -p /etc/postgresql-common
        echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.conf
    fi
    echo "start_test_postgres: installing postgresql (apt-get)" >&2
    if ! { DEBIAN_FRONTEND=noninteractive apt-get update -qq \
            && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }; then
        echo "start_test_postgres: apt-get install postgresql failed" >&2
        return 1
    fi
}

_ldncds_pg_stop() {
    local bin dir
    bin="$(_ldncds_pg_bin)"
    dir="$(_ldncds_pg_dir)/data"
    if [ -n "$bin" ] && [ -s "$dir/postmaster.pid" ]; then
        runuser -u postgres -- "$bin/pg_ctl" -D "$dir" -m fast -w stop >/dev/null 2>&1 \
            && echo "start_test_postgres: stopped the server in $dir" >&2
    fi
    return 0
}

_ldncds_pg_main() {
    local root dir db="ldncds_test" port bin
    if [ "$(id -u)" != "0" ]; then
        echo "start_test_postgres: not root, no test PostgreSQL server started" >&2
        return 1
    fi
    bin="$(_ldncds_pg_bin)"
    if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
        _ldncds_pg_install || return 1
        bin="$(_ldncds_pg_bin)"
        if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
            echo "start_test_postgres: initdb not found after install" >&2
            return 1
        fi
    fi
    root="$(_ldncds_pg_dir)"
    dir="$root/data"
    mkdir -p "$root"
    # The port this checkout's server uses: chosen once, kept beside the data.
    port="${LDNCDS_TEST_PG_PORT:-$(cat "$root/port" 2>/dev/null || true)}"
    if [ -z "$port" ] || { ! "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" && _ldncds_pg_taken "$port"; }; then
        port="$(_ldncds_pg_free_port)"  # none yet, or another program took it meanwhile
    fi
    echo "$port" >"$root/port"

    if ! "$bin/pg_isready" -q -h 127.0.0.1 -p "$port"; then
        if [ ! -s "$dir/PG_VERSION" ]; then
            rm -rf "$dir"
            mkdir -p "$dir"
            chown postgres:postgres "$dir"
            chmod 700 "$dir"
            if ! runuser -u postgres -- "$bin/initdb" -D "$dir" -U postgres -A trust -E UTF8 \
                    --no-sync >"$root/initdb.log" 2>&1; then
                echo "start_test_postgres: initdb failed (see $root/initdb.log)" >&2
                return 1
            fi
        fi
        if ! runuser -u postgres -- "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 30 \
                -o "-p $port -c listen_addresses=127.0.0.1 -k $dir -c fsync=off -c max_connections=100" \
                start >/dev/null; then
            echo "start_test_postgres: the server did not start (see $dir/server.log)" >&2
            return 1
        fi
        LDNCDS_TEST_PG_STARTED=1
    fi

    if ! runuser -u postgres -- "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -tAc \
            "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1; then
        if ! runuser -u postgres -- "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres "$db"; then
            echo "start_test_postgres: could not create database $db" >&2
            return 1
        fi
    fi
    LDNCDS_TEST_POSTGRES_URL="postgresql+psycopg://postgres@127.0.0.1:${port}/${db}"
}

_ldncds_pg_cleanup() {
    unset -f _ldncds_pg_main _ldncds_pg_stop _ldncds_pg_install _ldncds_pg_free_port _ldncds_pg_taken
    unset -f _ldncds_pg_dir _ldncds_pg_bin
    unset -f _ldncds_pg_cleanup
    unset _ldncds_pg_checkout
}

# Sourced: export the URL and never exit the caller's shell. Run: exit 0 either way.
if [ "${BASH_SOURCE[0]}" != "$0" ]; then
    if [ "${1:-}" = "stop" ]; then
        _ldncds_pg_stop
    elif _ldncds_pg_main; then
        export LDNCDS_TEST_POSTGRES_URL
        [ -n "${LDNCDS_TEST_PG_STARTED:-}" ] && export LDNCDS_TEST_PG_STARTED
        echo "LDNCDS_TEST_POSTGRES_URL=$LDNCDS_TEST_POSTGRES_URL" >&2
    fi
    _ldncds_pg_cleanup
    return 0
fi
if [ "${1:-}" = "stop" ]; then
    _ldncds_pg_stop
    exit 0
fi
if _ldncds_pg_main; then
    echo "$LDNCDS_TEST_POSTGRES_URL"
fi
exit 0
