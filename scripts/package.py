"""Build the Function App's deployment zip the way Core Tools and azd do: every file of the
project folder except what `.funcignore` excludes (gitignore syntax), dependencies left to the
remote build (Flex Consumption installs requirements.txt).

The package carries the app's bytecode: each instance Flex Consumption starts runs from the
package, so without it every cold start compiles the app's sources again. `--bytecode` writes
only that (azd's `prepackage` hook in azure.yaml; azd then zips the folder itself).

Usage: python scripts/package.py [--out dist/functionapp.zip] [--root .] [--bytecode]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import py_compile
import re
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IGNORE_FILE = ".funcignore"
RUNTIME = (3, 11)  # the Function App's Python: infra/app/functions.bicep, functionAppConfig.runtime


@dataclass(frozen=True)
class Pattern:
    """One .funcignore line."""

    regex: re.Pattern[str]
    negated: bool
    directories_only: bool


def parse_ignore(text: str) -> list[Pattern]:
    """The patterns of a gitignore-style file, in order (the last match decides)."""
    patterns = []
    for raw in text.splitlines():
        line = raw.rstrip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        line = line[1:] if negated else line
        directories_only = line.endswith("/")
        line = line.rstrip("/")
        # A pattern with a slash before its end is anchored at the root; others match any level.
        anchored = "/" in line
        body = _translate(line.lstrip("/"))
        regex = re.compile(("^" if anchored else "^(?:.*/)?") + body + "$")
        patterns.append(Pattern(regex, negated, directories_only))
    return patterns


def _translate(glob: str) -> str:
    out, i = [], 0
    while i < len(glob):
        if glob.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif glob.startswith("**", i):
            out.append(".*")
            i += 2
        elif glob[i] == "*":
            out.append("[^/]*")
            i += 1
        elif glob[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(glob[i]))
            i += 1
    return "".join(out)


def is_ignored(path: str, is_dir: bool, patterns: list[Pattern]) -> bool:
    """True when the last pattern matching `path` (relative, with /) excludes it."""
    ignored = False
    for pattern in patterns:
        if pattern.directories_only and not is_dir:
            continue
        if pattern.regex.match(path):
            ignored = not pattern.negated
    return ignored


def package_files(root: Path) -> list[str]:
    """The files that go into the package, relative to `root`, sorted."""
    ignore = root / IGNORE_FILE
    patterns = parse_ignore(ignore.read_text(encoding="utf-8")) if ignore.is_file() else []
    selected = []
    for folder, dirs, files in os.walk(root):
        relative = Path(folder).relative_to(root).as_posix()
        prefix = "" if relative == "." else relative + "/"
        # An excluded folder is not entered: nothing under it can be included again (as in git).
        dirs[:] = sorted(d for d in dirs if not is_ignored(prefix + d, True, patterns))
        selected.extend(prefix + f for f in files if not is_ignored(prefix + f, False, patterns))
    return sorted(selected)


def write_bytecode(root: Path) -> list[str]:
    """Compile each Python file the package holds to its `__pycache__` bytecode for the app's
    Python, checked against the source's hash (a zip does not keep modification times exactly),
    and delete cached bytecode whose source is gone; the bytecode files, relative to `root`."""
    if sys.version_info[:2] != RUNTIME:
        version = ".".join(map(str, RUNTIME))
        print(
            f"package: Python {sys.version_info.major}.{sys.version_info.minor} cannot write "
            f"the bytecode Python {version} imports: none written, so each new instance "
            "compiles the app's sources at its cold start",
            file=sys.stderr,
        )
        return []
    files = package_files(root)
    written = []
    for name in (name for name in files if name.endswith(".py")):
        cached = importlib.util.cache_from_source(str(root / name))
        py_compile.compile(
            str(root / name),
            cfile=cached,
            dfile=name,  # not this machine's path
            doraise=True,
            invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH,
        )
        written.append(Path(cached).relative_to(root).as_posix())
    for name in files:  # bytecode there before: what was written now replaced its own
        if name.endswith(".pyc") and name not in written:
            (root / name).unlink()
    return written


def build(root: Path, out: Path) -> list[str]:
    """Write the bytecode and the zip; what the zip holds."""
    write_bytecode(root)
    files = package_files(root)
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in files:
            archive.write(root / name, name)
    return files


def main(argv: list[str] | None = None) -> int:
    """Build the package and say where it is."""
    parser = argparse.ArgumentParser(prog="scripts/package.sh", description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="the Function App's folder")
    parser.add_argument("--out", type=Path, default=ROOT / "dist" / "functionapp.zip")
    parser.add_argument(
        "--bytecode", action="store_true", help="only write the bytecode the package carries"
    )
    args = parser.parse_args(argv)
    if not (args.root / "function_app.py").is_file():
        print(f"package: no function_app.py in {args.root}", file=sys.stderr)
        return 1
    if args.bytecode:
        written = write_bytecode(args.root.resolve())
        print(f"package: bytecode of {len(written)} modules in {args.root}")
        return 0
    files = build(args.root.resolve(), args.out)
    print(f"package: {args.out} ({len(files)} files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
