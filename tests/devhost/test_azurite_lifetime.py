"""The Azurite a devhost starts dies with it, even by SIGKILL; ports already taken are either
an Azurite on the same data folder (reused) or a process the error names by PID."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from devhost.azurite import ACCOUNT_KEY, ACCOUNT_NAME, start_azurite
from devhost.portowner import port_owner
from tests.conftest import ROOT, free_port, own_task_hub
from tests.devhost.conftest import APPS
from tests.waiting import wait_until

pytestmark = pytest.mark.azurite


def ports() -> tuple[int, int, int]:
    return free_port(), free_port(), free_port()


def connection_string(table_port: int) -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT_NAME};AccountKey={ACCOUNT_KEY};"
        f"TableEndpoint=http://127.0.0.1:{table_port}/{ACCOUNT_NAME};"
    )


def devhost(azurite_ports: tuple[int, int, int], location: Path, log: Path) -> subprocess.Popen:
    """`python -m devhost` on the durable sample app, starting its own Azurite."""
    command = [
        *(sys.executable, "-m", "devhost", "--script-root", str(APPS / "durable")),
        *("--port", str(free_port()), "--no-agents", "--no-pubsub", "--no-timers"),
        *("--azurite-ports", ",".join(map(str, azurite_ports))),
        *("--azurite-location", str(location)),
    ]
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "AzureWebJobsStorage": connection_string(azurite_ports[2]),
        "TASKHUB_NAME": own_task_hub(),
    }
    with log.open("wb") as out:
        return subprocess.Popen(  # noqa: S603 (our interpreter, fixed arguments)
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )


def wait_started(log: Path) -> None:
    wait_until(
        lambda: "Host key" in log.read_text(),
        60,
        what=lambda: f"the devhost to start\n{log.read_text()[-3000:]}",
    )


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie is a dead process not yet reaped)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(sys.platform != "linux", reason="PR_SET_PDEATHSIG is Linux's")
def test_the_azurite_a_devhost_started_exits_when_the_devhost_is_killed(tmp_path):
    azurite_ports = ports()
    log = tmp_path / "devhost.log"
    process = devhost(azurite_ports, tmp_path / "data", log)
    try:
        wait_started(log)
        owner = port_owner(azurite_ports[2])
        assert owner is not None, log.read_text()
        # The launcher exec'd into node: the Azurite process is the devhost's own child.
        assert Path(f"/proc/{owner.pid}/stat").read_text().split()[3] == str(process.pid)
        assert any("azurite" in part for part in owner.argv), owner.argv
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    wait_until(lambda: not alive(owner.pid), 60, what=f"Azurite (PID {owner.pid}) to exit too")
    wait_until(lambda: port_owner(azurite_ports[2]) is None, 60, what="the table port freed")


def test_a_foreign_process_on_the_port_is_named_with_its_pid(tmp_path):
    azurite_ports = ports()
    holder = subprocess.Popen(  # noqa: S603 (our interpreter, fixed arguments)
        [
            sys.executable,
            "-c",
            "import socket, time\n"
            f"s = socket.socket(); s.bind(('127.0.0.1', {azurite_ports[2]})); s.listen()\n"
            "print('ready', flush=True); time.sleep(120)",
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout.readline().strip() == b"ready"
        log = tmp_path / "devhost.log"
        process = devhost(azurite_ports, tmp_path / "data", log)
        assert process.wait(60) == 2
        output = log.read_text()
        assert f"port {azurite_ports[2]}: PID {holder.pid}: {sys.executable} -c" in output
        assert f"kill {holder.pid}" in output
    finally:
        holder.kill()
        holder.wait(10)


def test_an_azurite_already_serving_the_same_data_folder_is_reused(tmp_path):
    azurite_ports = ports()
    location = tmp_path / "data"
    blob, queue, table = azurite_ports
    running = start_azurite(
        blob_port=blob, queue_port=queue, table_port=table, location=location, in_memory=False
    )
    try:
        log = tmp_path / "devhost.log"
        process = devhost(azurite_ports, location, log)
        try:
            wait_started(log)
            assert "already running: reused" in log.read_text()
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(20)
        assert running.process.poll() is None  # not the devhost's to stop

        # Another data folder: not reused, and the error names the Azurite's PID.
        other = devhost(azurite_ports, tmp_path / "other", tmp_path / "other.log")
        assert other.wait(60) == 2
        assert f"kill {running.process.pid}" in (tmp_path / "other.log").read_text()
    finally:
        running.stop()
