"""docs/openapi.yaml's request-body schemas, generated from the code that parses the bodies
(voicea2a/schema.py declarations). Only those entries of components/schemas are rewritten; the
rest of the document (paths, responses, descriptions, examples) is written by hand.

Usage: python scripts/openapi.py --check   # exit 1 if the document differs from the code
       python scripts/openapi.py --write   # rewrite the generated entries in place
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: the app's packages are beside this folder
    sys.path.insert(0, str(ROOT))

from voicea2a.bodies import (  # noqa: E402
    AGENT_ADMISSION,
    AGENT_REGISTRATION,
    APPROVAL_DECISION,
    LATENCY_REPORT,
)
from voicea2a.devlogin import DEV_LOGIN  # noqa: E402
from voicea2a.messages import request_body  # noqa: E402
from voicea2a.playbook import load_playbook  # noqa: E402
from voicea2a.schema import components  # noqa: E402

SPEC = ROOT / "docs" / "openapi.yaml"
# Every JSON request body the app parses; POST /api/messages's as the sample playbook shapes it.
MESSAGE_REQUEST = request_body(load_playbook("contoso"))
BODIES = (
    MESSAGE_REQUEST,
    DEV_LOGIN,
    APPROVAL_DECISION,
    AGENT_REGISTRATION,
    AGENT_ADMISSION,
    LATENCY_REPORT,
)
INDENT = "    "  # of an entry of components/schemas
_ENTRY = re.compile(r"    [A-Za-z0-9_.-]+:")
_FLOW_CHARS = 64  # a collection of scalars this short (as JSON) is written on one line


def generated() -> dict[str, dict[str, Any]]:
    """The request-body schemas (and the schemas they use), by components/schemas name."""
    return components(*BODIES)


class _Dumper(yaml.SafeDumper):
    """The hand-written document's style: block collections with indented sequences, short
    collections of scalars on one line, double quotes when quotes are needed, no anchors."""

    def ignore_aliases(self, data: Any) -> bool:
        """Never an anchor: each schema reads on its own."""
        return True

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        """Sequences indented under their key."""
        super().increase_indent(flow, False)

    def choose_scalar_style(self) -> str:
        """Double quotes where PyYAML would use single ones."""
        style = super().choose_scalar_style()
        return '"' if style == "'" else style


def _flow(value: dict[str, Any] | list[Any]) -> bool:
    """Whether a collection is written on one line: short, and no mapping inside."""
    items = value.values() if isinstance(value, dict) else value
    flat = all(not isinstance(item, dict) for item in items)
    return flat and len(json.dumps(value)) <= _FLOW_CHARS


def _mapping(dumper: _Dumper, value: dict[str, Any]) -> yaml.Node:
    """A mapping, on one line when short (`_flow`)."""
    return dumper.represent_mapping("tag:yaml.org,2002:map", value, flow_style=_flow(value))


def _sequence(dumper: _Dumper, value: list[Any]) -> yaml.Node:
    """A sequence, on one line when short (`_flow`)."""
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=_flow(value))


_Dumper.add_representer(dict, _mapping)
_Dumper.add_representer(list, _sequence)


def render(name: str, schema: dict[str, Any]) -> list[str]:
    """The lines of one components/schemas entry."""
    text = yaml.dump({name: schema}, Dumper=_Dumper, sort_keys=False, width=80, allow_unicode=True)
    return [f"{INDENT}{line}\n" for line in text.splitlines()]


def _schemas_section(lines: list[str]) -> tuple[int, int]:
    """The line range of the entries under `components:` / `  schemas:`."""
    start = lines.index("components:\n") + 1
    while lines[start] != "  schemas:\n":
        start += 1
    end = start + 1
    while end < len(lines) and (not lines[end].strip() or lines[end].startswith(INDENT)):
        end += 1
    return start + 1, end


def rewrite(text: str, schemas: dict[str, dict[str, Any]]) -> str:
    """`text` with the entries of `schemas` under components/schemas replaced (appended after
    the last entry when new), every other line as it was."""
    lines = text.splitlines(keepends=True)
    start, end = _schemas_section(lines)
    heads = [i for i in range(start, end) if _ENTRY.match(lines[i])]
    section = lines[start : heads[0] if heads else end]
    pending = dict(schemas)
    for head, following in zip(heads, [*heads[1:], end], strict=True):
        entry = lines[head:following]
        name = entry[0].split(":")[0].strip()
        if name in pending:
            kept = _content_end(entry)  # the blank lines after an entry stay
            entry = [*render(name, pending.pop(name)), *entry[kept:]]
        section += entry
    tail = _content_end(section)
    section[tail:tail] = [line for name, schema in pending.items() for line in render(name, schema)]
    return "".join([*lines[:start], *section, *lines[end:]])


def _content_end(lines: list[str]) -> int:
    """The index after the last line of `lines` that is not blank."""
    end = len(lines)
    while end and not lines[end - 1].strip():
        end -= 1
    return end


def main(argv: list[str] | None = None) -> int:
    """--check: 1 if the document differs from the code; --write: make it match."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true", help="exit 1 if the document differs")
    mode.add_argument("--write", action="store_true", help="rewrite the generated schemas")
    parser.add_argument("--spec", type=Path, default=SPEC, help="the OpenAPI document")
    args = parser.parse_args(argv)
    text = args.spec.read_text(encoding="utf-8")
    wanted = rewrite(text, generated())
    if args.write:
        if wanted != text:
            args.spec.write_text(wanted, encoding="utf-8")
        return 0
    if wanted != text:
        print(
            f"{args.spec}: the request schemas differ from the code; "
            "run python scripts/openapi.py --write",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
