"""Which process listens on a local TCP port (Linux: /proc/net/tcp, then the socket's inode
among /proc/<pid>/fd), so a port conflict can name its owner."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

LISTEN = "0A"  # the TCP state column of /proc/net/tcp


@dataclass(frozen=True)
class PortOwner:
    """A process holding a port: its PID and command line (arguments)."""

    pid: int
    argv: tuple[str, ...]

    @property
    def command(self) -> str:
        """The command line as one string."""
        return " ".join(self.argv)


def _listening_inodes(port: int) -> set[str]:
    """The socket inodes listening on `port` (IPv4 and IPv6)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10:
                continue
            local, state, inode = fields[1], fields[3], fields[9]
            if state == LISTEN and int(local.rsplit(":", 1)[1], 16) == port and inode != "0":
                inodes.add(inode)
    return inodes


def port_owner(port: int) -> PortOwner | None:
    """The process listening on `port`, when this user may see it (None otherwise, or off
    Linux)."""
    inodes = _listening_inodes(port)
    if not inodes:
        return None
    targets = {f"socket:[{inode}]" for inode in inodes}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            links = {os.readlink(fd) for fd in (entry / "fd").iterdir()}
        except OSError:
            continue  # gone meanwhile, or another user's
        if links & targets:
            try:
                raw = (entry / "cmdline").read_bytes()
            except OSError:
                raw = b""
            argv = tuple(part.decode("utf-8", "replace") for part in raw.split(b"\0") if part)
            return PortOwner(int(entry.name), argv)
    return None
