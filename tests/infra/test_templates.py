"""The Bicep files parse and fit together: modules, their parameters and outputs, API versions.

No Bicep compiler runs here, so these tests stand in for the checks `bicep build` would make
on how the files refer to each other.
"""

from __future__ import annotations

import re

import pytest

from tests.infra.bicep import (
    INFRA,
    MAIN,
    accessor_path,
    bicep_files,
    main,
    module_calls,
    parse,
    references,
    template,
)


@pytest.mark.parametrize("path", bicep_files(), ids=lambda p: str(p.relative_to(INFRA)))
def test_every_bicep_file_parses(path):
    parsed = parse(path)
    assert parsed.get("resources") or parsed.get("modules"), f"{path}: no resource or module"


def test_no_syntax_pycep_cannot_read():
    # pycep 0.5.1 (checkov's) rejects nullable types (`string?`) and unknown functions such as
    # deployer(); every file parsing (above) is the real check, this names the usual suspects.
    for path in bicep_files():
        text = path.read_text()
        assert not re.search(r"^\s*param\s+\w+\s+\w+\?", text, re.M), f"{path}: nullable param"
        assert "deployer()" not in text, f"{path}: deployer() (use principalId from azd)"


def test_main_is_subscription_scoped_and_creates_a_tagged_resource_group():
    root = main()
    assert root.data["globals"]["scope"]["value"] == "subscription"
    group = root.one("Microsoft.Resources/resourceGroups")
    assert group.get("tags") == "tags"
    tags = root.variables["tags"]
    assert {key.strip("'"): value for key, value in tags.items()} == {
        "azd-env-name": "environmentName"
    }
    assert "environmentName" in root.params


def test_modules_are_local_files_and_every_file_is_used():
    used = {MAIN.resolve()}
    for module, tpl in module_calls():
        # Registry modules (br/public:...) cannot be resolved offline, nor followed by pycep.
        assert module.raw["type"] == "local", f"{module.symbol} is not a local file"
        assert tpl.path.is_file()
        assert tpl.path.parent == INFRA / "app"
        used.add(tpl.path)
    assert {path.resolve() for path in bicep_files()} == used


def test_every_module_is_deployed_into_a_resource_group():
    for module, _ in module_calls():
        scope = module.get("scope")
        assert scope == "rg" or scope["function"]["type"] == "resource_group", module.symbol


def test_module_parameters_match_the_module_files():
    for module, tpl in module_calls():
        passed = set(module.get("params"))
        declared = set(tpl.params)
        assert passed <= declared, f"{module.symbol}: unknown params {sorted(passed - declared)}"
        required = {name for name, p in tpl.params.items() if p.get("default") is None}
        # A secure parameter with an empty-string default parses as default '' (not None).
        assert required <= passed, f"{module.symbol}: missing params {sorted(required - passed)}"


def test_module_outputs_that_main_reads_exist():
    root = main()
    modules = {module.symbol: tpl for module, tpl in module_calls()}

    def walk(node):
        path = accessor_path(node)
        if path and len(path) >= 3 and path[0] in modules and path[1] == "outputs":
            outputs = modules[path[0]].outputs
            assert path[2] in outputs, f"{path[0]}.outputs.{path[2]} does not exist"
        if isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(root.data)


def test_identifiers_that_variables_and_outputs_read_are_declared():
    # Catches a typo in a parameter, variable, resource or module name (no compiler here).
    for path in bicep_files():
        tpl = template(path)
        declared = set(tpl.params) | set(tpl.variables) | set(tpl.resources) | set(tpl.modules)
        for kind, values in (("var", tpl.variables), ("output", tpl.outputs)):
            for name, value in values.items():
                unknown = references(value) - declared
                assert not unknown, f"{tpl.name}: {kind} {name} reads unknown {sorted(unknown)}"


def test_api_versions_are_stable():
    for path in bicep_files():
        for block in template(path).resources.values():
            version = block.raw.get("api_version") or ""
            assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", version), (
                f"{path.name}:{block.symbol} uses API version {version!r} (preview or none)"
            )
