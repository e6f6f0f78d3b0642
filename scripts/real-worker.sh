#!/usr/bin/env bash
# Prepare the test oracle: the real Azure Functions Python worker from ../shared/real-worker
# (4.34.0), in its own venv (.venv-worker: its protobuf pin conflicts with a2a-sdk's).
#
# shared/real-worker ships the worker's Python code without its generated gRPC modules, so the
# worker tree is assembled in .venv-worker/oracle with the modules generated from the protos the
# worker was built with (tests/oracle/third_party/protos, same commit). Nothing of it is part of the app.
# Idempotent: redone only when the worker, the protos or the pins below change.
set -euo pipefail
cd "$(dirname "$0")/.."

worker_src=../shared/real-worker
if [ ! -f "$worker_src/index.py" ]; then
  echo "real-worker: $worker_src is missing; the devhost conformance tests need it." >&2
  exit 1
fi
python_bin=${1:-python3.11}
pins="grpcio==1.59.5 grpcio-tools==1.59.5 protobuf==4.25.9 azurefunctions-extensions-base==1.2.0"
wanted=$( { echo "$pins"; cat requirements.txt; find "$worker_src" tests/oracle/third_party/protos -type f \
  -printf '%P %s %T@\n' | sort; } | sha256sum | cut -d' ' -f1)
stamp=.venv-worker/.oracle.sha
if [ "$(cat "$stamp" 2>/dev/null)" = "$wanted" ]; then
  exit 0
fi

echo "setup: preparing the real Azure Functions worker (the oracle) in .venv-worker"
[ -x .venv-worker/bin/python ] || "$python_bin" -m venv .venv-worker
# shellcheck disable=SC2086
.venv-worker/bin/python -m pip install --quiet --disable-pip-version-check $pins \
  -r requirements.txt 2>&1 | { grep -v "is ignored" || true; }

oracle=.venv-worker/oracle
rm -rf "$oracle"
mkdir -p "$oracle"
cp -r "$worker_src/azure_functions_worker" "$oracle/"
chmod -R u+w "$oracle"
protos="$oracle/azure_functions_worker/protos"
staging=$(mktemp -d)
trap 'rm -rf "$staging"' EXIT
mkdir -p "$staging/azure_functions_worker/protos"
cp -r tests/oracle/third_party/protos/. "$staging/azure_functions_worker/protos/"
for proto in shared/NullableTypes.proto identity/ClaimsIdentityRpc.proto FunctionRpc.proto; do
  (cd "$staging" && "$OLDPWD/.venv-worker/bin/python" -m grpc_tools.protoc \
    -I azure_functions_worker/protos --python_out "$OLDPWD/$protos" \
    --grpc_python_out "$OLDPWD/$protos" "azure_functions_worker/protos/$proto")
done
# The worker's own build rewrites the generated imports to absolute ones (protobuf issue 1491).
find "$protos" -name '*_pb2*.py' -exec sed -i -E \
  -e 's/^import (.*_pb2) as/from azure_functions_worker.protos import \1 as/' \
  -e 's/^from ([a-z]+) (import .*_pb2)/from azure_functions_worker.protos.\1 \2/' {} +
echo "$wanted" > "$stamp"
