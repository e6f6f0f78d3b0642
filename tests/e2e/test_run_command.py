"""The README's run command, end to end: set-up, Azurite, the devhost, and a clean Ctrl-C."""

from __future__ import annotations

import signal
import socket
import subprocess
from pathlib import Path

import httpx

from tests.conftest import free_port
from tests.waiting import get_or_none, wait_until

ROOT = Path(__file__).resolve().parents[2]
LOCAL_PORTS = (10000, 10001, 10002, 8080)  # Azurite, then the local Web PubSub service


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_the_run_command_serves_health_and_stops_everything_on_ctrl_c():
    assert not any(port_open(p) for p in LOCAL_PORTS), "the local services' ports must be free"
    port = free_port()
    process = subprocess.Popen(
        ["bash", "scripts/run.sh", "--port", str(port), "--no-timers"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:

        def answered() -> httpx.Response | None:
            assert process.poll() is None, "run.sh stopped before the devhost answered"
            return get_or_none(f"http://127.0.0.1:{port}/api/health")

        response = wait_until(answered, 120, what="the devhost to answer", interval=0.5)
        body = response.json()
        assert response.status_code == 200
        assert body["dependencies"]["storage"]["status"] == "ok"
        assert body["dependencies"]["webPubSub"]["status"] == "ok"
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)

    assert process.returncode == 0, output
    assert f"Open http://127.0.0.1:{port}/" in output
    assert "GET /api/health 200" in output
    assert not any(port_open(p) for p in LOCAL_PORTS), "a local service was left running"
