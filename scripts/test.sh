#!/usr/bin/env bash
# Set up (if needed) and run every check: ruff, the type checker, the browser client's node tests,
# then the whole pytest suite (it starts Azurite itself).
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy   # what it checks, and how strictly: [tool.mypy] in pyproject.toml
node --test web/test/   # the browser client's logic (the voice bridge) on node's test runner

status=0
.venv/bin/python -m pytest "$@" || status=$?
if [ "$status" -eq 5 ]; then
  echo "test: pytest collected no tests; that is a failure here." >&2
  exit 1
fi
exit "$status"
