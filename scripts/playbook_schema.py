"""playbooks/playbook.schema.json, generated from the declaration that reads playbooks
(voicea2a/playbook.py PLAYBOOK_FILE): editors check a playbook with it as it is written, and the
app refuses at start-up what it refuses.

Usage: python scripts/playbook_schema.py --check   # exit 1 if the file differs from the code
       python scripts/playbook_schema.py --write   # rewrite it
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: the app's packages are beside this folder
    sys.path.insert(0, str(ROOT))

from voicea2a.playbook import PLAYBOOK_FILE, PLAYBOOKS  # noqa: E402
from voicea2a.schema import REF, components  # noqa: E402

SCHEMA = PLAYBOOKS / "playbook.schema.json"
DEFS = "#/$defs/"


def generated() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a playbook file."""
    defs = components(PLAYBOOK_FILE)
    root = defs.pop(PLAYBOOK_FILE.name or "Playbook")
    document = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "playbook.schema.json",
        "title": "Voice A2A playbook",
        **root,
        "$defs": defs,
    }
    # The declarations point into an OpenAPI document's components; here they are $defs.
    return json.loads(json.dumps(document).replace(f'"{REF}', f'"{DEFS}'))


def render() -> str:
    """The file's text."""
    return json.dumps(generated(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    """--check: 1 if the file differs from the code; --write: make it match."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true", help="exit 1 if the file differs")
    mode.add_argument("--write", action="store_true", help="rewrite the file")
    args = parser.parse_args(argv)
    wanted = render()
    if args.write:
        SCHEMA.write_text(wanted, encoding="utf-8")
        return 0
    if not SCHEMA.is_file() or SCHEMA.read_text(encoding="utf-8") != wanted:
        print(
            f"{SCHEMA.relative_to(ROOT)} differs from the code; run python {__file__} --write",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
