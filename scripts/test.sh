#!/usr/bin/env bash
# Set up (if needed) and run every check: ruff, the type checker, the browser client's node tests,
# then the whole pytest suite (it starts Azurite itself), twice: see below.
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy   # what it checks, and how strictly: [tool.mypy] in pyproject.toml
node --test web/test/   # the browser client's logic (the voice bridge) on node's test runner

# The suite runs twice: the devhost running the app in its own process (Azure's default of one
# worker process, kept in process: docs/devhost.md), then in two worker processes as Azure can
# (FUNCTIONS_WORKER_PROCESS_COUNT). Both passes run even when the first fails.
run_pytest() {
  local status=0
  .venv/bin/python -m pytest "$@" || status=$?
  if [ "$status" -eq 5 ]; then
    echo "test: pytest collected no tests; that is a failure here." >&2
    status=1
  fi
  return "$status"
}

status=0
echo "test: pytest, the app in the devhost's process (FUNCTIONS_WORKER_PROCESS_COUNT=1)"
FUNCTIONS_WORKER_PROCESS_COUNT=1 run_pytest "$@" || status=$?
echo "test: pytest, the app in two worker processes (FUNCTIONS_WORKER_PROCESS_COUNT=2)"
FUNCTIONS_WORKER_PROCESS_COUNT=2 run_pytest "$@" || status=$?
exit "$status"
