"""The deployment package, checked as deployed: built by scripts/package.sh as Core Tools and azd
build it, indexed by the real Python worker, and run by the devhost from an unpacked copy in a
fresh virtual environment holding only requirements.txt (plus the host's own packages)."""

from __future__ import annotations

import importlib.util
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
from scripts import package as packaging
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
    assert [name for name in names if name.startswith("docs/")] == ["docs/openapi.yaml"]
    assert "local.settings.json" not in names and "local.settings.example.json" not in names


def test_each_module_comes_with_bytecode_for_the_apps_python_checked_by_its_hash(
    package: Path,
) -> None:
    archive = zipfile.ZipFile(package)
    names = archive.namelist()
    assert sys.implementation.cache_tag == "cpython-311"  # the app's runtime (infra/)
    cached = {
        name: importlib.util.cache_from_source(name) for name in names if name.endswith(".py")
    }
    assert {name for name in names if name.endswith(".pyc")} == set(cached.values())
    assert len(cached) > 60
    for source, pyc_name in cached.items():
        pyc = archive.read(pyc_name)
        # PEP 552: the magic number, flags 0b11 (hash-based, checked), the source's hash.
        assert pyc[:4] == importlib.util.MAGIC_NUMBER, pyc_name
        assert int.from_bytes(pyc[4:8], "little") == 0b11, pyc_name
        assert pyc[8:16] == importlib.util.source_hash(archive.read(source)), pyc_name


def test_bytecode_is_written_for_the_packaged_modules_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / ".funcignore").write_text("tests/\n*.pyc\n!*.cpython-311.pyc\n")
    for name in ("function_app.py", "api/routes.py", "api/gone.py", "tests/test_x.py"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("VALUE = 1\n")
    assert set(packaging.write_bytecode(tmp_path)) == {
        "__pycache__/function_app.cpython-311.pyc",
        "api/__pycache__/gone.cpython-311.pyc",
        "api/__pycache__/routes.cpython-311.pyc",
    }
    assert not (tmp_path / "tests" / "__pycache__").exists()
    # A module removed since: its cached bytecode goes too.
    (tmp_path / "api" / "gone.py").unlink()
    assert len(packaging.write_bytecode(tmp_path)) == 2
    assert not (tmp_path / "api" / "__pycache__" / "gone.cpython-311.pyc").exists()

    # Another Python cannot write what 3.11 imports: it says so and writes nothing.
    monkeypatch.setattr(packaging, "RUNTIME", (3, 99))
    (tmp_path / "api" / "new.py").write_text("VALUE = 2\n")
    assert packaging.write_bytecode(tmp_path) == []
    assert not (tmp_path / "api" / "__pycache__" / "new.cpython-311.pyc").exists()
    assert "cannot write the bytecode Python 3.99 imports" in capsys.readouterr().err


def imports_compiling(root: Path) -> list[str]:
    """The files under `root` Python compiled while importing the app from it, as a new
    instance does: nothing is written back (the package is all it starts from)."""
    probe = (
        "import sys\n"
        "compiled = []\n"
        "def hook(event, args):\n"
        "    if event == 'compile' and str(args[1]).startswith(sys.argv[1]):\n"
        "        compiled.append(str(args[1]))\n"
        "sys.addaudithook(hook)\n"
        "import function_app\n"
        "print('\\n'.join(compiled))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, str(root)],
        cwd=root,
        env={**os.environ, **settings_values(), "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.split()


def test_an_instance_starting_from_the_package_compiles_none_of_the_apps_code(
    unpacked: Path, tmp_path: Path
) -> None:
    assert imports_compiling(unpacked) == []
    # Without the bytecode, every module it imports is compiled at each start.
    bare = tmp_path / "wwwroot"
    shutil.copytree(unpacked, bare, ignore=shutil.ignore_patterns("__pycache__"))
    assert len(imports_compiling(bare)) > 40


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
    patterns = parse_ignore("*.pyc\n!*.cpython-311.pyc\n")
    assert is_ignored("api/__pycache__/x.cpython-312.pyc", False, patterns)
    assert not is_ignored("api/__pycache__/x.cpython-311.pyc", False, patterns)


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
