"""Cold start: `import function_app` in a fresh interpreter against the SDK floor.

Runs both imports alternately in new processes (after one warm-up each, so .pyc files exist),
prints the median of N runs of each, their ratio, and which heavy SDKs the app imported eagerly
(there should be none: they are imported where first used). With `--against DIR` (another
checkout, e.g. `git worktree add /tmp/before HEAD~1`), that app's import is measured in the same
rounds, so a change is judged side by side on one machine's one load.

    .venv/bin/python bench/cold_start.py [--runs 9] [--against /tmp/before]
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
FLOOR = "floor: import azure.functions, azure.durable_functions"
APP = "app: import function_app"


def local_environment(root: Path) -> dict[str, str]:
    """The process environment plus the example settings, as the host would provide them."""
    example = json.loads((root / "local.settings.example.json").read_text())["Values"]
    environment = {**example, **os.environ}
    # The warm-up writes .pyc files even where the shell says not to: every case is then
    # measured with its bytecode cached, as the docstring says.
    environment.pop("PYTHONDONTWRITEBYTECODE", None)
    return environment


def measure(statement: str, root: Path) -> dict:
    """One fresh interpreter importing `statement` in the app at `root`, timed inside it."""
    code = PROBE.format(statement=statement, heavy=HEAVY)
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
        env=local_environment(root),
    )
    return json.loads(result.stdout)


def main() -> None:
    """Measure, alternating the cases, and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--against", type=Path, help="another checkout of the app to compare")
    args = parser.parse_args()

    cases = {
        FLOOR: ("import azure.functions, azure.durable_functions", ROOT),
        APP: ("import function_app", ROOT),
    }
    if args.against:
        cases[f"against: import function_app ({args.against})"] = (
            "import function_app",
            args.against.resolve(),
        )
    samples: dict[str, list[float]] = {name: [] for name in cases}
    heavy: dict[str, list[str]] = {}
    for statement, root in cases.values():
        measure(statement, root)  # warm-up: compile .pyc files
    for _ in range(args.runs):
        for name, (statement, root) in cases.items():
            sample = measure(statement, root)
            samples[name].append(sample["ms"])
            heavy[name] = sample["heavy"]

    print(f"{'case':<58} {'median ms':>10} {'min':>8} {'max':>8}")
    for name, values in samples.items():
        print(
            f"{name:<58} {statistics.median(values):>10.1f} {min(values):>8.1f} {max(values):>8.1f}"
        )
    medians = {name: statistics.median(values) for name, values in samples.items()}
    floor, app = medians.pop(FLOOR), medians.pop(APP)
    print(f"\nratio app / floor: {app / floor:.2f}  (median of {args.runs} runs each, alternated)")
    for name, other in medians.items():
        print(
            f"ratio app / {name.split(': ', 1)[0]}: {app / other:.2f}  (its / floor: "
            f"{other / floor:.2f})"
        )
    eager = ", ".join(heavy[APP]) or "none"
    print(f"heavy SDKs imported by function_app: {eager}")


if __name__ == "__main__":
    main()
