"""The environment's HTTP proxy for the app's aio Azure SDK clients: read once per client.

Left to read the environment itself (azure-core's `use_env_settings`, on by default), the
aiohttp transport of the aio clients has aiohttp look up ~/.netrc and the proxy variables on
every request, each on a thread of the loop's executor: two thread hops per Web PubSub send or
Table request, about half of a send's CPU (bench/README.md, "Cutting in the SDKs"). A client
talks to one endpoint and the environment does not change under a running worker, so the proxy
that applies (`HTTPS_PROXY`/`HTTP_PROXY`, unless `NO_PROXY` names the host) is resolved here,
when the client is built, and handed to it; credentials go in the proxy's URL. The sync Key
Vault client keeps the SDK's default: requests reads the environment in its own thread, seldom
(secrets are cached), and its `trust_env` also covers `REQUESTS_CA_BUNDLE`.
"""

from __future__ import annotations

import urllib.request
from typing import Any
from urllib.parse import urlsplit


def proxy_options(endpoint: str) -> dict[str, Any]:
    """Client options for an azure-core client of `endpoint`: the proxy the environment sets for
    its scheme, unless NO_PROXY names its host, as aiohttp would pick on every request."""
    options: dict[str, Any] = {"use_env_settings": False}
    url = urlsplit(endpoint)
    proxy = urllib.request.getproxies().get(url.scheme)
    if proxy and not urllib.request.proxy_bypass(url.hostname or ""):
        options["proxies"] = {url.scheme: proxy}
    return options
