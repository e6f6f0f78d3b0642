"""checkov over infra/: no failed check, and every suppression is in use and says why."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from tests.infra.bicep import INFRA, ROOT, bicep_files

CHECKOV = ROOT / ".venv-tools" / "bin" / "checkov"
COMMAND = [
    str(CHECKOV),
    "-d",
    str(INFRA),
    "--framework",
    "bicep",
    "--skip-download",
    "--compact",
    "--quiet",
    "-o",
    "json",
]
# `// checkov:skip=CKV_AZURE_35:reason` inside a resource (or after a parameter) in Bicep.
SKIP = re.compile(r"//\s*checkov:skip=([A-Z0-9_]+)(?::(.*))?$")


@pytest.fixture(scope="module")
def report() -> dict:
    if not CHECKOV.exists():
        pytest.fail(f"{CHECKOV} is missing: run scripts/setup.sh (it installs the pinned checkov)")
    result = subprocess.run(
        COMMAND, capture_output=True, text=True, timeout=300, cwd=ROOT, check=False
    )
    assert result.returncode in (0, 1), f"checkov crashed:\n{result.stderr[-2000:]}"
    data = json.loads(result.stdout)
    # One framework gives one report object; be lenient if checkov ever wraps it in a list.
    if isinstance(data, list):
        (data,) = [item for item in data if item.get("check_type") == "bicep"]
    return data


def test_checkov_finds_no_failed_check(report):
    failed = [
        f"{c['check_id']} {c['resource']} ({c['file_path']}): {c['check_name']}"
        for c in report["results"].get("failed_checks", [])
    ]
    assert not failed, "checkov failed checks:\n" + "\n".join(failed)
    assert report["summary"]["parsing_errors"] == 0
    assert report["summary"]["resource_count"] > 0


def suppressions() -> list[tuple[str, str, str]]:
    """(file, check id, reason) of every suppression comment under infra/."""
    found = []
    for path in bicep_files():
        for line in path.read_text().splitlines():
            match = SKIP.search(line)
            if match:
                found.append((path.name, match.group(1), (match.group(2) or "").strip()))
    return found


def test_every_suppression_says_why():
    for file, check, reason in suppressions():
        assert len(reason) >= 30, f"{file}: checkov:skip={check} needs a reason"


def test_every_suppression_is_used(report):
    # A suppression that no longer matches a check (renamed, moved, fixed) must go.
    assert report["summary"]["skipped"] == len(suppressions())
