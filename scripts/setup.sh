#!/usr/bin/env bash
# Set up a fresh clone: the Python 3.11 virtual environment (.venv), the infra checks' tools
# (.venv-tools: checkov), the real Functions worker as a test oracle (.venv-worker) and the npm
# tools (Azurite).
# Idempotent: a second run only checks that everything is in place.
set -euo pipefail
cd "$(dirname "$0")/.."

python_bin=""
for candidate in python3.11 python3; do
  if command -v "$candidate" >/dev/null 2>&1 && \
     "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
    python_bin="$candidate"
    break
  fi
done
if [ -z "$python_bin" ]; then
  echo "setup: Python 3.11 is required (python3.11 or python3 must be 3.11)." >&2
  exit 1
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "setup: Node.js and npm are required (for Azurite)." >&2
  exit 1
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $python_bin"
  "$python_bin" -m venv .venv
fi
stamp=.venv/.requirements.sha
wanted=$(cat requirements.txt requirements-dev.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  echo "setup: installing Python packages"
  # The machine's pip configuration lists extra local indexes; their "is ignored" notes are noise.
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt 2>&1 \
    | { grep -v "is ignored" || true; }
  echo "$wanted" > "$stamp"
fi

# The infra checks' tools (tests/infra): checkov in its own venv, since it pins its own versions of
# many packages (pycep-parser, numpy, boto3...; about 290 MB). Installed once, again only when the
# pin below changes.
checkov_version=3.3.30
tools_stamp=.venv-tools/.checkov-version
if [ "$(cat "$tools_stamp" 2>/dev/null)" != "$checkov_version" ]; then
  echo "setup: installing checkov $checkov_version into .venv-tools"
  if [ ! -x .venv-tools/bin/python ]; then
    "$python_bin" -m venv .venv-tools
  fi
  .venv-tools/bin/python -m pip install --quiet --disable-pip-version-check \
    "checkov==$checkov_version" 2>&1 | { grep -v "is ignored" || true; }
  echo "$checkov_version" > "$tools_stamp"
fi

# The devhost conformance tests' oracle: the real Azure Functions Python worker, in .venv-worker.
bash scripts/real-worker.sh "$python_bin"

if [ ! -x node_modules/.bin/azurite ] || [ ! -x node_modules/.bin/esbuild ] || \
   [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm packages"
  npm ci --no-audit --no-fund --loglevel=error
fi

# The browser client (web/): bundle web/src into web/dist with esbuild (under a second). The
# devhost and Static Web Apps serve web/, whose index.html loads dist/app.js.
echo "setup: building the browser client (web/dist)"
npm run --silent build

# The browser tests (tests/browser) drive Debian's chromium through Playwright (no
# `playwright install`: nothing is downloaded but the distribution's package).
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing Debian's chromium for the browser tests"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "setup: /usr/bin/chromium is missing and cannot be installed here (root and apt-get" >&2
    echo "setup: are needed); tests/browser fail until it is: apt-get install -y chromium" >&2
  fi
fi
