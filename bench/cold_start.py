"""Cold start: `import function_app` in a fresh interpreter against the SDK floor.

Runs both imports alternately in new processes (after one warm-up each, so .pyc files exist),
prints the median of N runs of each, their ratio, and which heavy SDKs the app imported eagerly
(there should be none: they are imported where first used).

    .venv/bin/python bench/cold_start.py [--runs 9]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = [
    "azure.monitor.opentelemetry",
    "azure.keyvault.secrets",
    "azure.messaging.webpubsubservice",
    "azure.identity",
    "azure.data.tables",
    "a2a",
    "httpx",
    "jwt",
]
PROBE = """
import json, sys, time
started = time.perf_counter()
{statement}
elapsed = time.perf_counter() - started
print(json.dumps({{"ms": elapsed * 1000, "heavy": [m for m in {heavy!r} if m in sys.modules]}}))
"""
CASES = {
    "floor: import azure.functions, azure.durable_functions": (
        "import azure.functions, azure.durable_functions"
    ),
    "app: import function_app": "import function_app",
}


def local_environment() -> dict[str, str]:
    """The process environment plus the example settings, as the host would provide them."""
    example = json.loads((ROOT / "local.settings.example.json").read_text())["Values"]
    return {**example, **os.environ}


def measure(statement: str) -> dict:
    """One fresh interpreter importing `statement`, timed inside the process."""
    code = PROBE.format(statement=statement, heavy=HEAVY)
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env=local_environment(),
    )
    return json.loads(result.stdout)


def main() -> None:
    """Measure, alternating the cases, and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()

    samples: dict[str, list[float]] = {name: [] for name in CASES}
    heavy: dict[str, list[str]] = {}
    for statement in CASES.values():
        measure(statement)  # warm-up: compile .pyc files
    for _ in range(args.runs):
        for name, statement in CASES.items():
            sample = measure(statement)
            samples[name].append(sample["ms"])
            heavy[name] = sample["heavy"]

    print(f"{'case':<58} {'median ms':>10} {'min':>8} {'max':>8}")
    for name, values in samples.items():
        print(
            f"{name:<58} {statistics.median(values):>10.1f} {min(values):>8.1f} {max(values):>8.1f}"
        )
    floor, app = (statistics.median(v) for v in samples.values())
    print(f"\nratio app / floor: {app / floor:.2f}  (median of {args.runs} runs each, alternated)")
    eager = ", ".join(heavy["app: import function_app"]) or "none"
    print(f"heavy SDKs imported by function_app: {eager}")


if __name__ == "__main__":
    main()
