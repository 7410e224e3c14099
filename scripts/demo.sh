#!/usr/bin/env bash
# Set up everything and start the demo: venv, install, database, demo data, server + workers.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
  echo "Ruptura needs Python 3.11 or newer (found $("$PYTHON" --version))" >&2; exit 1; }
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e .
.venv/bin/ruptura db upgrade
.venv/bin/ruptura demo --if-empty
exec .venv/bin/python run_api.py "$@"
