#!/usr/bin/env bash
# Start a throw-away PostgreSQL server for the store tests and print its URL.
#
#   bash scripts/start_test_postgres.sh            # prints the URL (or why there is none)
#   source scripts/start_test_postgres.sh          # also exports LDNCDS_TEST_POSTGRES_URL
#
# Needs root on Debian: installs the `postgresql` package when missing, creates a cluster with
# initdb in a temp dir (as the postgres user, trust auth, fsync off: test data only), starts it on
# 127.0.0.1:${LDNCDS_TEST_PG_PORT:-5433} and creates the database ldncds_test. Idempotent: a second
# run reuses the running server. When it cannot (not root, no apt-get, install fails) it prints why
# and succeeds without a server, so the PostgreSQL tests are skipped with that reason.

_ldncds_pg_main() {
    local port="${LDNCDS_TEST_PG_PORT:-5433}"
    local dir="${LDNCDS_TEST_PG_DIR:-/tmp/ldncds-test-postgres}"
    local db="ldncds_test"
    local url="postgresql+psycopg://postgres@127.0.0.1:${port}/${db}"
    local bin

    if [ "$(id -u)" != "0" ]; then
        echo "start_test_postgres: not root, no test PostgreSQL server started" >&2
        return 1
    fi
    bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
    if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
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
        bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
        if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
            echo "start_test_postgres: initdb not found after install" >&2
            return 1
        fi
    fi

    if ! "$bin/pg_isready" -q -h 127.0.0.1 -p "$port"; then
        if [ ! -s "$dir/PG_VERSION" ]; then
            rm -rf "$dir"
            mkdir -p "$dir"
            chown postgres:postgres "$dir"
            chmod 700 "$dir"
            if ! runuser -u postgres -- "$bin/initdb" -D "$dir" -U postgres -A trust -E UTF8 \
                    --no-sync >"$dir.initdb.log" 2>&1; then
                echo "start_test_postgres: initdb failed (see $dir.initdb.log)" >&2
                return 1
            fi
        fi
        if ! runuser -u postgres -- "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 30 \
                -o "-p $port -c listen_addresses=127.0.0.1 -k $dir -c fsync=off -c max_connections=100" \
                start >/dev/null; then
            echo "start_test_postgres: the server did not start (see $dir/server.log)" >&2
            return 1
        fi
    fi

    if ! runuser -u postgres -- "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -tAc \
            "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1; then
        if ! runuser -u postgres -- "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres "$db"; then
            echo "start_test_postgres: could not create database $db" >&2
            return 1
        fi
    fi
    LDNCDS_TEST_POSTGRES_URL="$url"
    echo "$url"
}

# Sourced: export the URL and never exit the caller's shell. Run: exit 0 either way.
if [ "${BASH_SOURCE[0]}" != "$0" ]; then
    if _ldncds_pg_url="$(_ldncds_pg_main)"; then
        export LDNCDS_TEST_POSTGRES_URL="$_ldncds_pg_url"
        echo "LDNCDS_TEST_POSTGRES_URL=$LDNCDS_TEST_POSTGRES_URL" >&2
    fi
    unset _ldncds_pg_url
    unset -f _ldncds_pg_main
    return 0
fi
_ldncds_pg_main || true
exit 0
