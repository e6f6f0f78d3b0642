"""`python -m agents`: --help, a real run on a free port, and a clean stop on Ctrl-C."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from agents.catalog import AGENT_NAMES
from tests.conftest import help_text

ROOT = Path(__file__).resolve().parents[2]


def agent_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENT_", "FUNCTION_APP_URL"))}
    return {**env, "AGENT_REGISTRATION_ENABLED": "false", **extra}


def test_help_documents_options_agents_and_settings():
    text = help_text("agents")
    for option in ("--only", "--host", "--base-port", "--v03-compat", "AGENT_HEARTBEAT_SECONDS"):
        assert option in text
    for name in AGENT_NAMES:
        assert name in text


def test_runs_until_ctrl_c_and_stops_cleanly():
    process = subprocess.Popen(
        [sys.executable, "-m", "agents", "--only", "outage-check", "--base-port", "0"],
        cwd=ROOT,
        env=agent_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        name, url = process.stdout.readline().split()
        assert name == "outage-check"
        assert httpx.get(f"{url}/health", timeout=10).json() == {
            "status": "ok",
            "agent": "outage-check",
        }
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
        assert "Traceback" not in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_bad_settings_exit_with_status_2():
    result = subprocess.run(
        [sys.executable, "-m", "agents", "--base-port", "0"],
        cwd=ROOT,
        env=agent_env(AGENT_AUTH_MODE="magic"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "AGENT_AUTH_MODE must be one of dev, entra" in result.stderr
