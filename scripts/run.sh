#!/usr/bin/env bash
# Set up (if needed) and run the app locally: the devhost with Azurite, on http://127.0.0.1:7071.
# Extra arguments go to the devhost (see: .venv/bin/python -m devhost --help).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m devhost "$@"
