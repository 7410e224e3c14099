#!/usr/bin/env bash
# Set up everything and run the whole test suite: lint, node tests of the poller, pytest.
# Integration tests use PostgreSQL and Redis on this machine when they answer
# (RUPTURA_TEST_PG_URL, RUPTURA_TEST_REDIS_URL) and skip, saying why, when not.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'
.venv/bin/ruff check .
.venv/bin/ruff format --check .
if command -v node >/dev/null; then
  node --test tests/js/
elif [ -n "${RUPTURA_REQUIRE_SERVICES:-}" ]; then
  echo "node is required for the poller's unit tests" >&2; exit 1
else
  echo "SKIPPED: node not found, the poller's unit tests did not run" >&2
fi
exec .venv/bin/python -m pytest "$@"
