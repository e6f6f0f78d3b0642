"""What the benches share: the table on stdout, every log line in a file, and percentiles."""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from voicea2a.telemetry.setup import QUIET_UNDER_WORKER


def add_log_option(parser: argparse.ArgumentParser, bench: str) -> None:
    """`--log FILE`: where the log lines go (default: a file named after the bench in the
    system's temporary folder), so that stdout holds the result table alone."""
    default = Path(tempfile.gettempdir()) / f"voicea2a-bench-{bench}.log"
    parser.add_argument(
        "--log", metavar="FILE", type=Path, default=default, help=f"log file (default {default})"
    )


def send_logs_to(path: Path) -> None:
    """Send every log line of this process to `path` (INFO and up), none to the console: the
    app and the devhost log each step, thousands of lines per run. The libraries' per-request
    INFO lines stay quiet, as under Azure's Python worker (voicea2a/telemetry/setup.py) and the
    devhost's command line: formatting them would be CPU the app never spends there."""
    handler = logging.FileHandler(path, mode="w", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    for name in QUIET_UNDER_WORKER:
        logging.getLogger(name).setLevel(logging.WARNING)
    print(f"(log lines go to {path})", file=sys.stderr)


def percentile(values: list[float], fraction: float) -> float:
    """The value below which `fraction` of `values` lie (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def highest_passing(passes: Callable[[int], bool], limit: int) -> int:
    """The highest count in 1..`limit` for which `passes` holds, assuming it holds up to some
    count and fails above (0 if it fails at 1): doubling, then halving the gap."""
    passed, failed = 0, limit + 1
    count = 1
    while count < failed and passes(count):
        passed, count = count, count * 2
    failed = min(failed, count)
    while failed - passed > 1:
        middle = (passed + failed) // 2
        if passes(middle):
            passed = middle
        else:
            failed = middle
    return passed
