"""The delegation bench on this tree and on an earlier commit, side by side in one run.

The earlier commit is checked out in a git worktree (its own directory, sharing this tree's
.venv and node_modules); the two runs of `bench/delegation.py` alternate, `--rounds` times
each, on the same machine under the same load. Printed: each run's per-turn row (the second
table: the worker's CPU by kind, episodes, history), the medians, and this tree's / the
commit's ratio of each column ("-" where a tree's bench has no figure, e.g. `worker processes`
with the app in the bench's process). `--worker-processes N` runs both on a devhost with N
worker processes (FUNCTIONS_WORKER_PROCESS_COUNT): their whole CPU is then a column of its own.

    .venv/bin/python bench/side_by_side.py [--base HEAD~1] [--levels 10] [--rounds 3]
        [--worker-processes 2]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = (".venv", "node_modules")
COLUMNS = ("http", "orchestrator", "activity", "worker", "devhost own", "episodes")
COLUMNS += ("history events", "replayed events", "process", "worker processes", "p50 ms")
COLUMNS += ("overhead p50",)


@contextlib.contextmanager
def worktree(commit: str) -> Iterator[Path]:
    """`commit` checked out in a temporary worktree (removed afterwards)."""
    with tempfile.TemporaryDirectory(prefix="bench-base-") as parent:
        path = Path(parent) / "tree"
        git = ["git", "-C", str(ROOT)]
        subprocess.run([*git, "worktree", "add", "--detach", str(path), commit], check=True)
        try:
            for name in SHARED:
                (path / name).symlink_to(ROOT / name)
            yield path
        finally:
            for name in SHARED:  # the links, never what they point to
                (path / name).unlink(missing_ok=True)
            subprocess.run([*git, "worktree", "remove", "--force", str(path)], check=True)


def run(tree: Path, levels: str, worker_processes: str | None) -> dict[int, dict[str, float]]:
    """One run of the delegation bench in `tree`: its figures per concurrency level."""
    processes = ["--worker-processes", worker_processes] if worker_processes else []
    output = subprocess.run(
        [str(ROOT / ".venv/bin/python"), "bench/delegation.py", "--levels", levels, *processes],
        cwd=tree,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return parse(output)


def parse(output: str) -> dict[int, dict[str, float]]:
    """The first two tables of the delegation bench's output, by concurrency level."""
    figures: dict[int, dict[str, float]] = {}
    lines = output.splitlines()
    for number, line in enumerate(lines):
        if "concurrency" not in line:
            continue
        names = _header(line)
        for row in lines[number + 1 :]:
            cells = row.split()
            if len(cells) < 3 or not cells[2].isdigit():
                break
            level = figures.setdefault(int(cells[2]), {})
            # The first table ends in free text ("236 / 64 / 48"): only its leading columns count.
            for name, cell in zip(names, cells, strict=False):
                with contextlib.suppress(ValueError):
                    level[name] = float(cell)
    return figures


def _header(line: str) -> list[str]:
    """A table's column names: the bench pads multi-word names; single words split alone."""
    for name in (*COLUMNS, "p95 ms", "overhead p95", "load gen"):
        line = line.replace(name, name.replace(" ", "\0"))
    return [word.replace("\0", " ") for word in line.split()]


def main() -> None:
    """Alternate the two trees' runs and print each row, the medians and the ratios."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base", default="HEAD~1", help="the commit to compare with")
    parser.add_argument("--levels", default="10")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--worker-processes", help="FUNCTIONS_WORKER_PROCESS_COUNT (default: the bench's, 1)"
    )
    args = parser.parse_args()
    base = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", args.base],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    runs: dict[str, list[dict[int, dict[str, float]]]] = {base: [], "this tree": []}
    with worktree(base) as base_tree:
        for round_number in range(1, args.rounds + 1):
            for name, tree in ((base, base_tree), ("this tree", ROOT)):
                runs[name].append(run(tree, args.levels, args.worker_processes))
                print(f"round {round_number}: {name} done", file=sys.stderr, flush=True)
    width = max(len(name) for name in COLUMNS)
    for level in (int(level) for level in args.levels.split(",")):
        print(f"\n{level} concurrent conversations, per turn (medians of {args.rounds} runs):")
        print(f"{'':>{width}} {base:>12} {'this tree':>12} {'ratio':>7}")
        for column in COLUMNS:
            before = _median(runs[base], level, column)
            after = _median(runs["this tree"], level, column)
            ratio = f"{after / before:.2f}" if before and after is not None else "-"
            print(f"{column:>{width}} {_cell(before):>12} {_cell(after):>12} {ratio:>7}")


def _median(runs: list[dict[int, dict[str, float]]], level: int, column: str) -> float | None:
    """The median of a column over runs; None when a run has no figure for it."""
    values = [figures[level].get(column) for figures in runs]
    return None if None in values else statistics.median(v for v in values if v is not None)


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


if __name__ == "__main__":
    main()
