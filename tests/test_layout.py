"""Guards on the project layout that other tests rely on."""

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
