"""Start and stop Azurite (the local Azure Storage emulator) from node_modules."""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

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

    process: subprocess.Popen[bytes]
    blob_port: int
    queue_port: int
    table_port: int
    stderr_file: IO[bytes]
    host: str = HOST

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
        self.stderr_file.flush()
        self.stderr_file.seek(0)
        return self.stderr_file.read().decode("utf-8", "replace")[-max_chars:]

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate Azurite (kill it if it does not exit within `timeout`)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        self.stderr_file.close()


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _wait_until_listening(azurite: AzuriteProcess, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    ports = (azurite.table_port, azurite.blob_port, azurite.queue_port)
    while True:
        code = azurite.process.poll()
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
    busy = [port for port in (blob_port, queue_port, table_port) if _port_open(HOST, port)]
    if busy:
        # Checked up front: a second Azurite would exit, and the first one's ports would answer.
        raise AzuriteError(
            f"port(s) {busy} on {HOST} are already in use (another Azurite running?)"
        )
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
    process = subprocess.Popen(  # noqa: S603 (a fixed executable and arguments)
        args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr_file, cwd=root
    )
    azurite = AzuriteProcess(process, blob_port, queue_port, table_port, stderr_file)
    _wait_until_listening(azurite, timeout)
    return azurite
