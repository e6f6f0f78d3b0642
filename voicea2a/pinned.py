"""The httpx transport behind the SSRF guard's pinned clients (voicea2a.ssrf.pinned_client)."""

from __future__ import annotations

import httpx

from voicea2a.ssrf import VettedUrl, is_ip


class PinnedTransport(httpx.AsyncBaseTransport):
    """Sends requests for the vetted host to the address vetted for it, never resolving the name
    again; TLS still checks the certificate against the host name (SNI)."""

    def __init__(self, vetted: VettedUrl) -> None:
        self.vetted = vetted
        self.inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Rewrite the connection target to the vetted address; other hosts are refused."""
        host = request.url.host
        if host != self.vetted.host:
            raise httpx.ConnectError(f"{host!r} was not vetted", request=request)
        if not is_ip(host):
            request.headers["Host"] = request.url.netloc.decode("ascii")
            request.extensions = {**request.extensions, "sni_hostname": host}
            request.url = request.url.copy_with(host=self.vetted.addresses[0])
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        """Close the connections."""
        await self.inner.aclose()
