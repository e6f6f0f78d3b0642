"""Guards on the project layout that other tests rely on."""

import ast
from pathlib import Path

import tests

ROOT = Path(__file__).resolve().parents[1]


def test_our_tests_package_is_the_one_imported():
    # azure-functions-durable's wheel installs a top-level `tests` package into site-packages.
    assert Path(tests.__file__).resolve().parent == ROOT / "tests"


def test_no_folder_shadows_a_standard_library_module():
    forbidden = {"http", "platform", "json", "logging", "email", "types", "typing", "secrets"}
    folders = {p.name for p in ROOT.iterdir() if p.is_dir()}
    assert not folders & forbidden


def _imports_of(package: str) -> dict[str, set[str]]:
    """Each module of `package` and the modules of the same package it imports, anywhere in
    its code (inside functions and TYPE_CHECKING blocks too: a cycle is a cycle)."""
    graph: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).glob("*.py")):
        module = f"{package}.{path.stem}"
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
            elif isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
        graph[module] = {name for name in names if name.startswith(f"{package}.")} - {module}
    return graph


def test_the_agents_modules_import_each_other_without_a_cycle():
    graph = _imports_of("agents")
    state: dict[str, str] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for name in sorted(graph.get(module, ())):
            assert state.get(name) != "open", " -> ".join([*path, module, name])
            if name not in state:
                visit(name, [*path, module])
        state[module] = "done"

    assert "agents.executors" in graph["agents.server"]  # the graph is read, not empty
    for module in sorted(graph):
        if module not in state:
            visit(module, [])
