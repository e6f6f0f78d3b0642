"""Start and stop Azurite (the local Azure Storage emulator) from node_modules.

An Azurite started here dies with the process that started it, even when that process is
killed (SIGKILL): on Linux the child asks the kernel for SIGTERM when its parent dies
(`prctl(PR_SET_PDEATHSIG)`), so no stale Azurite keeps the ports and the data folder. One found
on the ports anyway is reused when it serves the same data folder, else named with its PID.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from devhost.portowner import PortOwner, port_owner

log = logging.getLogger("devhost.azurite")
PR_SET_PDEATHSIG = 1

ACCOUNT_NAME = "devstoreaccount1"
# The well-known Azurite/Storage Emulator development key: public, local-only.
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
HOST = "127.0.0.1"
STARTUP_TIMEOUT_SECONDS = 30.0


class AzuriteError(RuntimeError):
    """Azurite is missing, exited, or did not start listening in time."""


def find_azurite(script_root: Path) -> Path:
    """Return the Azurite launcher under `script_root`/node_modules, or explain how to get it."""
    name = "azurite.cmd" if os.name == "nt" else "azurite"
    path = Path(script_root) / "node_modules" / ".bin" / name
    if not path.exists():
        raise AzuriteError(
            f"Azurite is not installed: {path} is missing. Run `npm ci` in {script_root} "
            "(needs Node.js 18+) to install it from package-lock.json."
        )
    return path


@dataclass
class AzuriteProcess:
    """A running Azurite; `connection_string` points at its three services."""

    process: subprocess.Popen[bytes] | None
    blob_port: int
    queue_port: int
    table_port: int
    stderr_file: IO[bytes] | None
    host: str = HOST
    # Found already running (not ours): left running on stop.
    reused_pid: int | None = None

    @property
    def pid(self) -> int | None:
        """The Azurite process's id."""
        return self.process.pid if self.process is not None else self.reused_pid

    def _endpoint(self, port: int) -> str:
        return f"http://{self.host}:{port}/{ACCOUNT_NAME}"

    @property
    def connection_string(self) -> str:
        """An explicit connection string (the dev account and this instance's ports)."""
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT_NAME};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint={self._endpoint(self.blob_port)};"
            f"QueueEndpoint={self._endpoint(self.queue_port)};"
            f"TableEndpoint={self._endpoint(self.table_port)};"
        )

    def stderr_tail(self, max_chars: int = 2000) -> str:
        """Return the end of what Azurite wrote to stderr."""
        if self.stderr_file is None:
            return ""
        self.stderr_file.flush()
        self.stderr_file.seek(0)
        return self.stderr_file.read().decode("utf-8", "replace")[-max_chars:]

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate Azurite (kill it if it does not exit within `timeout`); a reused one is
        left running."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        if self.stderr_file is not None:
            self.stderr_file.close()


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _die_with_parent(parent_pid: int) -> Callable[[], None]:
    """A `preexec_fn`: SIGTERM to the child when its parent dies (Linux), however it dies."""

    def arm() -> None:
        """Runs in the child between fork and exec."""
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent_pid:  # the parent died before the request was made
            os.kill(os.getpid(), signal.SIGTERM)

    return arm


def serves_location(owner: PortOwner, location: Path | None) -> bool:
    """Whether `owner` is an Azurite keeping its data in `location`."""
    if location is None or not any("azurite" in part for part in owner.argv):
        return False
    argv = list(owner.argv)
    for flag in ("--location", "-l"):
        if flag in argv[:-1]:
            given = Path(argv[argv.index(flag) + 1])
            if not given.is_absolute():
                try:
                    given = Path(os.readlink(f"/proc/{owner.pid}/cwd")) / given
                except OSError:
                    return False
            return given.resolve() == Path(location).resolve()
    return False


def _busy(ports: tuple[int, int, int], location: Path | None) -> AzuriteProcess | None:
    """None when the ports are free; the Azurite on them when it can be reused; otherwise
    AzuriteError naming who holds them."""
    busy = [port for port in ports if _port_open(HOST, port)]
    if not busy:
        return None
    owners = {port: port_owner(port) for port in busy}
    found = {owner.pid: owner for owner in owners.values() if owner is not None}
    if len(busy) == 3 and len(found) == 1 and None not in owners.values():
        owner = next(iter(found.values()))
        if serves_location(owner, location):
            log.info(
                "Azurite: reusing the one already running (PID %d) on ports %s for %s",
                owner.pid,
                ", ".join(map(str, ports)),
                location,
            )
            blob, queue, table = ports
            return AzuriteProcess(None, blob, queue, table, None, reused_pid=owner.pid)
    lines = []
    for port, holder in owners.items():
        if holder is None:
            lines.append(f"  port {port}: held by a process this user cannot see")
        else:
            lines.append(f"  port {port}: PID {holder.pid}: {holder.command[:300]}")
    pids = " ".join(str(pid) for pid in sorted(found)) or "PID"
    raise AzuriteError(
        f"port(s) {busy} on {HOST} are already in use, and not by an Azurite serving "
        f"{location or 'this data'}:\n" + "\n".join(lines) + f"\nStop it with: kill {pids}"
    )


def _wait_until_listening(
    azurite: AzuriteProcess, process: subprocess.Popen[bytes], timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    ports = (azurite.table_port, azurite.blob_port, azurite.queue_port)
    while True:
        code = process.poll()
        if code is not None:
            tail = azurite.stderr_tail()
            azurite.stop()
            raise AzuriteError(f"Azurite exited with code {code} while starting:\n{tail}")
        if all(_port_open(azurite.host, port) for port in ports):
            return
        if time.monotonic() > deadline:
            tail = azurite.stderr_tail()
            azurite.stop()
            raise AzuriteError(
                f"Azurite did not listen on ports {ports} within {timeout:.0f} s:\n{tail}"
            )
        time.sleep(0.1)


def start_azurite(
    *,
    blob_port: int,
    queue_port: int,
    table_port: int,
    location: Path | None,
    in_memory: bool,
    script_root: Path | None = None,
    timeout: float = STARTUP_TIMEOUT_SECONDS,
) -> AzuriteProcess:
    """Start Azurite on the given ports and wait until it listens; data on disk or in memory."""
    if in_memory and location is not None:
        # Azurite exits when --location and --inMemoryPersistence are combined.
        raise ValueError("pass either location or in_memory=True, not both")
    if not in_memory and location is None:
        raise ValueError("pass a location for Azurite's data, or in_memory=True")
    # Checked up front: a second Azurite would exit, and the first one's ports would answer.
    reused = _busy((blob_port, queue_port, table_port), None if in_memory else location)
    if reused is not None:
        return reused
    root = script_root if script_root is not None else Path(__file__).resolve().parent.parent
    args = [
        str(find_azurite(root)),
        "--silent",
        "--disableTelemetry",
        "--skipApiVersionCheck",
        "--loose",
        "--blobHost", HOST, "--blobPort", str(blob_port),
        "--queueHost", HOST, "--queuePort", str(queue_port),
        "--tableHost", HOST, "--tablePort", str(table_port),
    ]  # fmt: skip
    if in_memory:
        args.append("--inMemoryPersistence")
    else:
        assert location is not None
        Path(location).mkdir(parents=True, exist_ok=True)
        args += ["--location", str(location)]
    # A temporary file, not a pipe: nobody drains stderr while Azurite runs, so a pipe could fill.
    stderr_file = tempfile.TemporaryFile()  # noqa: SIM115 (closed by AzuriteProcess.stop)
    # node_modules/.bin/azurite is a script whose `#!/usr/bin/env node` exec's into node in
    # the same process, so the death signal reaches Azurite itself. Caveat: the kernel sends
    # it when the *thread* that started Azurite ends, so start it from a long-lived thread.
    preexec = _die_with_parent(os.getpid()) if sys.platform == "linux" else None
    process = subprocess.Popen(  # noqa: S603 (a fixed executable and arguments)
        args,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=stderr_file,
        cwd=root,
        preexec_fn=preexec,  # only prctl, getppid and kill run in the child
    )
    azurite = AzuriteProcess(process, blob_port, queue_port, table_port, stderr_file)
    _wait_until_listening(azurite, process, timeout)
    return azurite
