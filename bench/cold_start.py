"""Cold start: `import function_app` in a fresh interpreter against the SDK floor.

Runs both imports alternately in new processes (after one warm-up each, so .pyc files exist),
prints the median of N runs of each, wall time and the process's CPU time (steadier on a busy
machine: another process's work does not count), their ratios, and which heavy SDKs the app
imported eagerly (there should be none: they are imported where first used). With `--against
DIR` (another checkout, e.g. `git worktree add /tmp/before HEAD~1`), that app's import is
measured in the same rounds, so a change is judged side by side on one machine's one load.

As deployed: the app's own import (timed after the SDK floor's) from the deployment package
(scripts/package.py, unpacked), as a new Flex Consumption instance starts from it, writing no
bytecode back: once with the bytecode the package carries, once from its sources alone (what
every cold start paid before the package carried it).

A what-if in the same rounds: the app with its dataclasses built without the methods frozen=True,
repr and eq generate (about half of its own import is building its classes): the least that
cheaper classes could cost.

    .venv/bin/python bench/cold_start.py [--runs 9] [--against /tmp/before]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scripts import package  # noqa: E402

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
{setup}
started, cpu = time.perf_counter(), time.process_time()
{statement}
elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
heavy = [m for m in {heavy!r} if m in sys.modules]
print(json.dumps({{"ms": elapsed * 1000, "cpu": cpu * 1000, "heavy": heavy}}))
"""
FLOOR_IMPORTS = "import azure.functions, azure.durable_functions"
FLOOR = f"floor: {FLOOR_IMPORTS}"
APP = "app: import function_app"
# A what-if, not the app: building its dataclasses is about half its own import, and most of
# that is the methods frozen=True, repr and eq generate. This is the least cheaper classes
# could cost (issue 19's cold-start target). The floor is imported first, as it is: only the
# app's own classes are built the cheaper way.
CLASSES = "what-if: the app, no frozen/repr/eq methods"
PLAIN_CLASSES = f"""
{FLOOR_IMPORTS}
import dataclasses
_dataclass = dataclasses.dataclass
def _plain(cls=None, /, **options):
    options.update(frozen=False, repr=False, eq=False)
    return _dataclass(cls, **options) if cls is not None else _dataclass(**options)
dataclasses.dataclass = _plain
import function_app
"""
SHIPPED = "package, after the floor: with its bytecode"
SOURCES = "package, after the floor: sources only"


def local_environment(deployed: bool) -> dict[str, str]:
    """The process environment plus the example settings, as the host would provide them."""
    example = json.loads((ROOT / "local.settings.example.json").read_text())["Values"]
    environment = {**example, **os.environ}
    # The warm-up writes .pyc files even where the shell says not to: every case is then
    # measured with its bytecode cached, as the docstring says. A deployed package is all a new
    # instance starts from: nothing is written into it.
    environment.pop("PYTHONDONTWRITEBYTECODE", None)
    if deployed:
        environment["PYTHONDONTWRITEBYTECODE"] = "1"
    return environment


def measure(statement: str, root: Path, deployed: bool = False) -> dict:
    """One fresh interpreter importing `statement` in the app at `root`, timed inside it; a
    deployed package's app after the SDK floor, untimed."""
    setup = FLOOR_IMPORTS if deployed else ""
    code = PROBE.format(setup=setup, statement=statement, heavy=HEAVY)
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
        env=local_environment(deployed),
    )
    return json.loads(result.stdout)


def unpack_package(folder: Path) -> tuple[Path, Path]:
    """The deployment package unpacked twice in `folder`: as built, and without bytecode."""
    archive = folder / "functionapp.zip"
    package.build(ROOT, archive)
    shipped, sources = folder / "shipped", folder / "sources"
    with zipfile.ZipFile(archive) as opened:
        opened.extractall(shipped)
    shutil.copytree(shipped, sources, ignore=shutil.ignore_patterns("__pycache__"))
    return shipped, sources


def main() -> None:
    """Measure, alternating the cases, and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--against", type=Path, help="another checkout of the app to compare")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="voicea2a-cold-start-"))
    shipped, sources = unpack_package(folder)
    cases = {
        FLOOR: (FLOOR_IMPORTS, ROOT, False),
        APP: ("import function_app", ROOT, False),
        CLASSES: (PLAIN_CLASSES, ROOT, False),
        SHIPPED: ("import function_app", shipped, True),
        SOURCES: ("import function_app", sources, True),
    }
    if args.against:
        cases[f"against: import function_app ({args.against})"] = (
            "import function_app",
            args.against.resolve(),
            False,
        )
    samples: dict[str, list[float]] = {name: [] for name in cases}
    cpu: dict[str, list[float]] = {name: [] for name in cases}
    heavy: dict[str, list[str]] = {}
    for statement, root, deployed in cases.values():
        measure(statement, root, deployed)  # warm-up: compile .pyc files (none when deployed)
    for _ in range(args.runs):
        for name, (statement, root, deployed) in cases.items():
            sample = measure(statement, root, deployed)
            samples[name].append(sample["ms"])
            cpu[name].append(sample["cpu"])
            heavy[name] = sample["heavy"]
    shutil.rmtree(folder)

    print(f"{'case':<58} {'median ms':>10} {'min':>8} {'max':>8} {'CPU ms':>8}")
    for name, values in samples.items():
        print(
            f"{name:<58} {statistics.median(values):>10.1f} {min(values):>8.1f} "
            f"{max(values):>8.1f} {statistics.median(cpu[name]):>8.1f}"
        )
    medians = {name: statistics.median(values) for name, values in samples.items()}
    cpu_medians = {name: statistics.median(values) for name, values in cpu.items()}
    floor, app = medians.pop(FLOOR), medians.pop(APP)
    shipped_ms, sources_ms = medians.pop(SHIPPED), medians.pop(SOURCES)
    print(
        f"\nratio app / floor: {app / floor:.2f}, in CPU time "
        f"{cpu_medians[APP] / cpu_medians[FLOOR]:.2f}  (median of {args.runs} runs each, "
        "alternated)"
    )
    print(
        f"as deployed, the app's own import: {shipped_ms:.0f} ms with the package's bytecode, "
        f"{sources_ms:.0f} ms from its sources ({sources_ms / shipped_ms:.2f}x); with the floor: "
        f"{(floor + shipped_ms) / floor:.2f} vs {(floor + sources_ms) / floor:.2f} x the floor"
    )
    for name, other in medians.items():
        print(
            f"ratio app / {name.split(': ', 1)[0]}: {app / other:.2f}, in CPU time "
            f"{cpu_medians[APP] / cpu_medians[name]:.2f}  (its / floor: {other / floor:.2f}, "
            f"in CPU time {cpu_medians[name] / cpu_medians[FLOOR]:.2f})"
        )
    eager = ", ".join(heavy[APP]) or "none"
    print(f"heavy SDKs imported by function_app: {eager}")


if __name__ == "__main__":
    main()
