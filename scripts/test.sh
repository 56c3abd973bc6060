#!/usr/bin/env bash
# Install everything the tests need, then run every test (the README's test command; CI runs it too).
# On a clean Debian machine as root it also installs the system packages the tests drive:
# chromium (browser tests) and postgresql (store tests against a real server).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  need=()
  [ -x /usr/bin/chromium ] || need+=(chromium)
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
  if [ ${#need[@]} -gt 0 ]; then
    echo "installing system packages: ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  fi
fi

# A throw-away PostgreSQL for the store tests (skipped with a reason when none can be started).
if [ -z "${LDNCDS_TEST_POSTGRES_URL:-}" ] && [ -f scripts/start_test_postgres.sh ]; then
  url=$(bash scripts/start_test_postgres.sh 2>/dev/null | tail -n 1 || true)
  case "$url" in postgresql*) export LDNCDS_TEST_POSTGRES_URL="$url" ;; esac
fi

.venv/bin/ruff check .
.venv/bin/python -m pytest "$@"
