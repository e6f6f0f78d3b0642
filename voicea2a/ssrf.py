"""The SSRF guard: the app only ever fetches an agent's URL after checking where it leads, and
then connects to the address it checked (a second lookup could answer differently: DNS
rebinding)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from voicea2a.errors import InvalidRequest

if TYPE_CHECKING:
    import httpx

Resolver = Callable[[str, int], Awaitable[list[str]]]
# Cloud metadata endpoints that must never be reached, whatever else is allowed.
METADATA_ADDRESSES = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)
MAX_URL_LENGTH = 2048


@dataclass(frozen=True)
class VettedUrl:
    """A URL that passed the guard, with the addresses its host resolved to."""

    url: str
    host: str
    addresses: tuple[str, ...]


async def system_resolver(host: str, port: int) -> list[str]:
    """The host's addresses from the system resolver."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """An address, with IPv4-mapped IPv6 (::ffff:a.b.c.d) seen as the IPv4 it carries."""
    address = ipaddress.ip_address(text.split("%")[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def _refused(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    checks = (
        (address.is_loopback, "a loopback address"),
        (address.is_link_local, "a link-local address"),
        (address.is_private, "a private address"),
        (address.is_multicast, "a multicast address"),
        (address.is_reserved, "a reserved address"),
        (address.is_unspecified, "an unspecified address"),
    )
    return next((reason for refused, reason in checks if refused), None)


async def vet_url(
    url: str, allowlist: Iterable[str], resolver: Resolver = system_resolver
) -> VettedUrl:
    """Refuse non-https URLs and hosts that resolve to internal addresses (InvalidRequest),
    unless the host is allow-listed. Nothing is connected to here: only the name is resolved."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH:
        raise InvalidRequest(f"Field 'url' must be a URL of at most {MAX_URL_LENGTH} characters.")
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host:
        raise InvalidRequest("Field 'url' must be an http(s) URL with a host.")
    if parts.username or parts.password:
        raise InvalidRequest("Field 'url' must not carry credentials.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise InvalidRequest("Field 'url' has an invalid port.") from None
    allowed = host in {h.lower() for h in allowlist}
    if parts.scheme != "https" and not allowed:
        raise InvalidRequest("Agent URLs must use https.")
    try:
        addresses = [host] if is_ip(host) else await resolver(host, port)
    except OSError:
        raise InvalidRequest(f"The agent's host {host!r} could not be resolved.") from None
    if not addresses:
        raise InvalidRequest(f"The agent's host {host!r} could not be resolved.")
    for text in addresses:
        address = _address(text)
        reason = _refused(address)
        if reason and (not allowed or address in METADATA_ADDRESSES):
            raise InvalidRequest(f"The agent's host {host!r} resolves to {reason}.")
    return VettedUrl(url=url.rstrip("/"), host=host, addresses=tuple(addresses))


def pinned_client(vetted: VettedUrl) -> httpx.AsyncClient:
    """A client that reaches the vetted URL's host only at its vetted address (close it)."""
    import httpx

    from voicea2a.pinned import PinnedTransport

    return httpx.AsyncClient(transport=PinnedTransport(vetted), follow_redirects=False)


def is_ip(host: str) -> bool:
    """True when `host` is an IP address, not a name."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
