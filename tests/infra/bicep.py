"""Read the Bicep templates under infra/ with pycep-parser, and the helpers the infra tests share.

pycep turns a template into nested dicts. Two of its habits shape the helpers below:
- an identifier and a string literal both come out as a plain str (`location: location` and
  `kind: 'StorageV2'` look alike), so `references()` treats any identifier-shaped string as a
  possible reference; a test that must tell them apart compares with a known name;
- a conditional resource or module (`= if (cond) {...}`) nests its body as
  `{"condition": ..., "config": {...}}`; `Block` unwraps it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pycep import BicepParser

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
MAIN = INFRA / "main.bicep"

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_INTERPOLATED = re.compile(r"\$\{\s*([A-Za-z_][A-Za-z0-9_]*)")
# The ARM functions that read keys or connection strings back from a resource.
LIST_FUNCTION = re.compile(r"\blist[A-Z]?\w*\s*\(")


def bicep_files() -> list[Path]:
    """Every .bicep file under infra/, sorted."""
    return sorted(INFRA.rglob("*.bicep"))


@functools.cache
def _parser() -> BicepParser:
    return BicepParser()  # builds its grammar: half a second, so once


@functools.cache
def parse(path: Path) -> dict[str, Any]:
    """The pycep parse of one file (cached: the files do not change during a run)."""
    return _parser().parse(file_path=path)


def unquote(key: str) -> str:
    """A dict key as written in Bicep, without the quotes pycep keeps ('azd-env-name')."""
    return key[1:-1] if len(key) >= 2 and key[0] == key[-1] == "'" else key


def references(expr: Any) -> set[str]:
    """Every identifier an expression may read: bare identifiers, `${...}` interpolations, the
    arguments of function calls, the operands of operators, and the first name of each property
    access (`a.b.c` reads `a`), wherever they are nested; never the names of functions,
    operators or accessed properties."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        path = accessor_path(node)
        if path is not None and len(path) > 1:
            walk(path[0])
        elif isinstance(node, str):
            if _IDENTIFIER.fullmatch(node):
                found.add(node)
            found.update(_INTERPOLATED.findall(node))
        elif isinstance(node, dict) and isinstance(node.get("function"), dict):
            walk(node["function"].get("parameters", {}))
        elif isinstance(node, dict) and isinstance(node.get("operator"), dict):
            walk(node["operator"].get("operands", {}))
        elif isinstance(node, dict):
            for key, value in node.items():
                found.update(_INTERPOLATED.findall(key))
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(expr)
    return found


def accessor_path(expr: Any) -> list[str] | None:
    """`a.b.c` as ['a', 'b', 'c'] when expr is a plain property access, else None."""
    if isinstance(expr, str):
        return [expr] if _IDENTIFIER.fullmatch(expr) else None
    if isinstance(expr, dict) and set(expr) == {"operator"}:
        operator = expr["operator"]
        if operator.get("type") == "property_accessor":
            head = operator["operands"]["operand_1"]
            tail = accessor_path(operator["operands"]["operand_2"])
            if isinstance(head, str) and tail is not None:
                return [head, *tail]
    return None


def output_paths(module: Any, names: Iterable[str]) -> dict[str, list[str] | None]:
    """What each of a module call's parameters `names` is given, as accessor_path reads it."""
    params = module.get("params")
    return {name: accessor_path(params[name]) for name in names}


def function_call(expr: Any, name: str) -> dict[str, Any] | None:
    """The parameters of a call to function `name` (pycep's snake_case type), else None."""
    if isinstance(expr, dict) and isinstance(expr.get("function"), dict):
        function = expr["function"]
        if function.get("type") == name:
            return function.get("parameters", {})
    return None


def get(node: Any, dotted: str) -> Any:
    """node['a']['b'] for 'a.b'; keys may be quoted in the template. KeyError when absent."""
    for part in dotted.split("."):
        if not isinstance(node, dict):
            raise KeyError(dotted)
        matches = [key for key in node if unquote(key) == part]
        if not matches:
            raise KeyError(dotted)
        node = node[matches[0]]
    return node


@dataclass(frozen=True)
class Block:
    """A resource or module: its symbolic name, its body, and its `if` condition if any."""

    symbol: str
    raw: dict[str, Any]

    @property
    def body(self) -> dict[str, Any]:
        config = self.raw["config"]
        if set(config) == {"condition", "config"}:
            return config["config"]
        return config

    @property
    def condition(self) -> Any:
        config = self.raw["config"]
        return config["condition"] if set(config) == {"condition", "config"} else None

    @property
    def type(self) -> str:
        return self.raw["type"]

    @property
    def existing(self) -> bool:
        return bool(self.raw.get("existing"))

    def get(self, dotted: str) -> Any:
        return get(self.body, dotted)


class Template:
    """One parsed .bicep file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data = parse(path)
        self.text = path.read_text()

    @property
    def name(self) -> str:
        return str(self.path.relative_to(INFRA))

    @property
    def params(self) -> dict[str, dict[str, Any]]:
        return self.data.get("parameters", {})

    @property
    def variables(self) -> dict[str, Any]:
        return {name: var["value"] for name, var in self.data.get("variables", {}).items()}

    @property
    def outputs(self) -> dict[str, Any]:
        return {name: out["value"] for name, out in self.data.get("outputs", {}).items()}

    @property
    def resources(self) -> dict[str, Block]:
        return {name: Block(name, raw) for name, raw in self.data.get("resources", {}).items()}

    @property
    def modules(self) -> dict[str, Block]:
        return {name: Block(name, raw) for name, raw in self.data.get("modules", {}).items()}

    def of_type(self, resource_type: str, *, existing: bool | None = None) -> list[Block]:
        """The resources of one type (case-insensitive), optionally only (not) `existing`."""
        return [
            block
            for block in self.resources.values()
            if block.type.lower() == resource_type.lower()
            and (existing is None or block.existing == existing)
        ]

    def one(self, resource_type: str) -> Block:
        """The one resource of a type that this file creates."""
        blocks = self.of_type(resource_type, existing=False)
        assert len(blocks) == 1, f"{self.name}: {len(blocks)} resources of type {resource_type}"
        return blocks[0]

    def secure_params(self) -> set[str]:
        return {
            name
            for name, param in self.params.items()
            if any(decorator.get("type") == "secure" for decorator in param["decorators"])
        }

    def tainted(self) -> set[str]:
        """Secure parameters, and every variable computed from one (transitively)."""
        tainted = self.secure_params()
        changed = True
        while changed:
            changed = False
            for name, value in self.variables.items():
                if name not in tainted and references(value) & tainted:
                    tainted.add(name)
                    changed = True
        return tainted

    def resolve(self, expr: Any) -> Any:
        """Follow a bare identifier to its variable value or parameter default (one file)."""
        seen: set[str] = set()
        while isinstance(expr, str) and expr not in seen:
            seen.add(expr)
            if expr in self.variables:
                expr = self.variables[expr]
            elif expr in self.params and self.params[expr].get("default") is not None:
                expr = self.params[expr]["default"]
            else:
                break
        return expr

    def module_file(self, module: Block) -> Template:
        return template(self.path.parent / module.raw["detail"]["path"])


@functools.cache
def _template(path: Path) -> Template:
    return Template(path)


def template(path: Path | str) -> Template:
    """The Template of a path (absolute, or relative to infra/)."""
    path = Path(path)
    if not path.is_absolute():
        path = INFRA / path
    return _template(path.resolve())


def main() -> Template:
    return template(MAIN)


def module_call(symbol: str) -> tuple[Block, Template]:
    """A module of main.bicep and the template it deploys."""
    root = main()
    module = root.modules[symbol]
    return module, root.module_file(module)


def module_calls() -> Iterator[tuple[Block, Template]]:
    root = main()
    for module in root.modules.values():
        yield module, root.module_file(module)


def role_definition_id(tpl: Template, assignment: Block) -> str:
    """The role definition GUID of a role assignment (through subscriptionResourceId and vars)."""
    call = function_call(assignment.get("properties.roleDefinitionId"), "subscription_resource_id")
    where = f"{tpl.name}:{assignment.symbol}"
    assert call is not None, f"{where}: roleDefinitionId is not built with subscriptionResourceId"
    assert call["resource_type"] == "Microsoft.Authorization/roleDefinitions"
    value = tpl.resolve(call["resource_name_1"])
    assert isinstance(value, str), f"{where}: role id is not a constant"
    return value.lower()


def scope_type(tpl: Template, assignment: Block) -> str:
    """The resource type a role assignment is scoped to (its `scope:` symbol)."""
    scope = assignment.get("scope")
    assert isinstance(scope, str) and scope in tpl.resources, (
        f"{tpl.name}:{assignment.symbol}: scope is not a resource of the file"
    )
    return tpl.resources[scope].type
