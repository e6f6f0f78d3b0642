#!/usr/bin/env bash
# Build the deployment package, dist/functionapp.zip, as Core Tools and azd build it: the project
# folder less what .funcignore lists (scripts/package.py). Options: --out FILE, --root DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 scripts/package.py "$@"
