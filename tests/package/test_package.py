"""The deployment package, checked as deployed: built by scripts/package.sh as Core Tools and azd
build it, indexed by the real Python worker, and run by the devhost from an unpacked copy in a
fresh virtual environment holding only requirements.txt (plus the host's own packages)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from agents.settings import load_settings as load_agent_settings
from scripts.package import is_ignored, parse_ignore
from tests.agents.identities import IDENTITIES
from tests.conftest import devhost_url, free_port
from tests.oracle import real_worker_verdict
from tests.system import ACCESS_KEY, bearer
from tests.waiting import wait_until

REPO = Path(__file__).resolve().parents[2]
# The devhost stands in for the Functions host, which brings its own runtime: these are its
# packages (pinned in requirements-dev.txt), installed beside the app's requirements.txt.
HOST_PACKAGES = ("aiohttp", "croniter")
SIGNING_KEY = "package-test-signing-key-0123456789abcdefghijklmnop"


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """scripts/package.sh's zip."""
    out = tmp_path_factory.mktemp("package") / "functionapp.zip"
    subprocess.run(["bash", "scripts/package.sh", "--out", str(out)], cwd=REPO, check=True)
    return out


@pytest.fixture(scope="module")
def unpacked(package: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package unpacked where nothing of the repository is near it."""
    root = tmp_path_factory.mktemp("wwwroot")
    with zipfile.ZipFile(package) as archive:
        archive.extractall(root)
    return root


@pytest.fixture(scope="module")
def runtime_python(unpacked: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the package's requirements.txt and the host's packages only."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pins = [
        line
        for line in (REPO / "requirements-dev.txt").read_text().splitlines()
        if line.split("==")[0] in HOST_PACKAGES
    ]
    assert len(pins) == len(HOST_PACKAGES), pins
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
        + ["--disable-pip-version-check", "-r", str(unpacked / "requirements.txt"), *pins],
        check=True,
        capture_output=True,
    )
    return venv / "bin" / "python"


def settings_values() -> dict[str, str]:
    return json.loads((REPO / "local.settings.example.json").read_text())["Values"]


def test_the_zip_holds_what_the_app_runs_and_nothing_else(package: Path) -> None:
    names = zipfile.ZipFile(package).namelist()
    for needed in (
        "function_app.py",
        "bindings.py",
        "host.json",
        "requirements.txt",
        "docs/openapi.yaml",
        "playbooks/contoso.json",
    ):
        assert needed in names
    for folder in ("api/", "orchestrations/", "activities/", "jobs/", "voicea2a/"):
        assert any(name.startswith(folder) for name in names), folder
    for name in names:
        top = name.split("/", 1)[0]
        assert top not in {"tests", "bench", "web", "node_modules", "devhost", "agents", "infra"}
        assert not top.startswith((".venv", ".git")), name
        assert "__pycache__" not in name and not name.endswith(".pyc"), name
    assert [name for name in names if name.startswith("docs/")] == ["docs/openapi.yaml"]
    assert "local.settings.json" not in names and "local.settings.example.json" not in names


def test_funcignore_follows_gitignore_rules() -> None:
    patterns = parse_ignore("docs/*\n!docs/openapi.yaml\n__pycache__/\n*.pyc\n/top.txt\nweb/\n")
    assert is_ignored("docs/events.schema.json", False, patterns)
    assert not is_ignored("docs/openapi.yaml", False, patterns)
    assert is_ignored("voicea2a/__pycache__", True, patterns)
    assert not is_ignored("voicea2a/__pycache__", False, patterns)  # a file of that name stays
    assert is_ignored("api/x.pyc", False, patterns)
    assert is_ignored("top.txt", False, patterns)
    assert not is_ignored("api/top.txt", False, patterns)  # anchored at the root
    assert is_ignored("web", True, patterns)


@pytest.fixture(scope="module")
def worker_functions(unpacked: Path) -> int:
    """How many functions the real worker indexes in the unpacked package (it must accept it)."""
    verdict = real_worker_verdict(unpacked, settings_values())
    assert verdict.accepted, verdict.message
    return int(verdict.message.split(" ", 1)[0])


def test_the_real_worker_indexes_the_unpacked_package(worker_functions: int) -> None:
    assert worker_functions > 20  # every HTTP function, the orchestration, activities, the timer


def test_a_malformed_playbook_stops_the_app_naming_the_file_and_the_path(
    unpacked: Path, tmp_path: Path
) -> None:
    app = tmp_path / "wwwroot"
    shutil.copytree(unpacked, app)
    broken = json.loads((app / "playbooks" / "contoso.json").read_text())
    broken["symptoms"][2]["skills"].append("tide_tables")  # a skill the playbook never declares
    (app / "playbooks" / "broken.json").write_text(json.dumps(broken))
    expected = (
        "playbooks/broken.json: $.symptoms[2].skills[3] names 'tide_tables', which is not in "
        "$.skills"
    )

    verdict = real_worker_verdict(app, {**settings_values(), "PLAYBOOK": "broken"})
    assert not verdict.accepted and expected in verdict.message

    host = subprocess.run(
        [sys.executable, "-m", "devhost", "--script-root", str(app), "--port", "0"]
        + ["--no-azurite", "--no-agents", "--no-timers"],
        cwd=REPO,
        env={**os.environ, **settings_values(), "PLAYBOOK": "broken"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert host.returncode != 0 and expected in host.stdout + host.stderr
    assert "Traceback" not in host.stdout + host.stderr


def test_the_devhost_runs_the_unpacked_package_with_only_its_requirements(
    unpacked: Path,
    runtime_python: Path,
    worker_functions: int,
    azurite,
    loop_thread,
    tmp_path: Path,
) -> None:
    # Only the devhost itself is importable from the repository: the app comes from the package.
    host_path = tmp_path / "host"
    host_path.mkdir()
    (host_path / "devhost").symlink_to(REPO / "devhost")
    pubsub_port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))},
        **settings_values(),
        "PYTHONPATH": str(host_path),
        "AzureWebJobsStorage": azurite.connection_string,
        "WEBPUBSUB_CONNECTION_STRING": f"Endpoint=http://127.0.0.1:{pubsub_port};"
        f"AccessKey={ACCESS_KEY};Version=1.0;",
        "AUTH_SIGNING_KEY": SIGNING_KEY,
        "AGENT_URL_ALLOWLIST": "127.0.0.1",
        # The six agents ask for dev tokens from 127.0.0.1 like every test before this one, on
        # the session Azurite's per-minute counters: the limit is not what this test is about.
        "RATE_LIMIT_VOICE_TOKEN_PER_MINUTE": "1000",
    }
    process = subprocess.Popen(
        [str(runtime_python), "-m", "devhost", "--script-root", str(unpacked), "--port", "0"]
        + ["--no-azurite", "--no-agents", "--no-timers"],
        cwd=unpacked,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    agents = None
    try:
        base_url = devhost_url(process.stdout, output)
        assert base_url, "".join(output)
        assert f"{worker_functions} function(s) indexed" in "".join(output)
        http = httpx.Client(base_url=base_url, timeout=30)

        assert http.get("/api/health").json()["status"] in ("ok", "degraded")
        spec = http.get("/api/openapi.yaml")
        assert spec.status_code == 200 and spec.text.startswith("openapi:")

        from agents.server import start_agents

        # The agents accept the app's own tokens: they share its signing key.
        configured = replace(
            load_agent_settings({"AUTH_SIGNING_KEY": SIGNING_KEY}), function_app_url=base_url
        )
        agents = loop_thread.run(start_agents(base_port=0, settings=configured))
        headers = bearer(SIGNING_KEY, roles=("user", "supervisor"))
        wait_until(
            lambda: len(http.get("/api/agents", headers=headers).json()["agents"]) >= 6,
            30,
            what="the six sample agents registered",
            interval=0.2,
        )
        answer = http.post(
            "/api/messages",
            headers=headers,
            json={
                "conversationId": "package-test",
                "callId": "call-package",
                "request": "Is there an outage near me?",
                "customer": dict(
                    zip(
                        ("firstName", "lastName", "postalCode", "dateOfBirth"),
                        IDENTITIES["CUST-0001"],
                        strict=True,
                    )
                ),
                "symptoms": ["no_internet"],
            },
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["answer"]
    finally:
        if agents is not None:
            loop_thread.run(agents.stop())
        process.terminate()
        process.wait(timeout=30)
