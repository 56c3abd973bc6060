#!/usr/bin/env bash
# Install everything the tests need, then run every test (the README's test command; CI runs it too).
# On a clean Debian machine as root it also installs the system packages the tests drive:
# chromium (browser tests) and postgresql (store tests against a real server).
# The PostgreSQL server it starts belongs to this checkout (its own port and data folder) and is
# stopped when the tests end, pass or fail.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  if [ ! -x /usr/bin/chromium ]; then
    echo "installing system package: chromium"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  fi
fi

# A throw-away PostgreSQL for the store tests: installs the postgresql package when missing and
# exports LDNCDS_TEST_POSTGRES_URL; without one the PostgreSQL tests are skipped with the reason.
if [ -z "${LDNCDS_TEST_POSTGRES_URL:-}" ]; then
  set +u
  source scripts/start_test_postgres.sh || true
  set -u
  if [ -n "${LDNCDS_TEST_PG_STARTED:-}" ]; then
    trap 'bash scripts/start_test_postgres.sh stop' EXIT  # ours: stop it whatever the outcome
  fi
fi

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy  # configured in pyproject.toml: strict for src/ldncds/engine, default elsewhere
.venv/bin/python -m pytest "$@"
