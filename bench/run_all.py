"""Run every benchmark with small sizes (a few minutes) and print their output, in one run.

    .venv/bin/python bench/run_all.py

The full-size commands and the latest figures are in bench/README.md.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SMALL = [
    ("cold start", ["bench/cold_start.py", "--runs", "5"]),
    ("a2a client", ["bench/a2a_client.py", "--runs", "5", "--slow-updates", "7"]),
    ("token endpoint", ["bench/token_endpoint.py", "--requests", "100"]),
    ("events fan-out", ["bench/events_fanout.py", "--users", "50", "--events", "500"]),
    ("sdk requests", ["bench/sdk_requests.py", "--requests", "100", "--rounds", "3"]),
    ("delegation", ["bench/delegation.py", "--levels", "1,10,50"]),
    ("durable store", ["bench/durable_store.py", "--instances", "50", "--rounds", "1"]),
]


def main() -> int:
    """Run each benchmark in its own process; stop at the first that fails."""
    for name, arguments in SMALL:
        print(f"\n=== {name}: {' '.join(arguments)}", flush=True)
        started = time.monotonic()
        result = subprocess.run([sys.executable, *arguments], cwd=ROOT, check=False)  # noqa: S603
        print(f"=== {name}: {time.monotonic() - started:.0f} s", flush=True)
        if result.returncode != 0:
            return result.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())
