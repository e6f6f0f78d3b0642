"""GET /api/voice/token with a warm cache: requests/s and p50/p99, in-process and over the devhost,
with and without the rate limiter, and the Table round trips each request costs.

Runs its own in-memory Azurite behind a counting TCP proxy (so Table requests are counted as they
cross the wire), the voice credential in key mode (a cached secret), and the same requests in
four configurations side by side in one run.

    .venv/bin/python bench/token_endpoint.py [--requests 300]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import azure.functions as func  # noqa: E402
import httpx  # noqa: E402
import jwt  # noqa: E402

from bench.common import add_log_option, percentile, send_logs_to  # noqa: E402
from devhost.functions import index_app, load_app  # noqa: E402
from devhost.host import DevHost  # noqa: E402
from tests.conftest import LoopThread, start_in_memory_azurite  # noqa: E402
from voicea2a import ratelimit, storage  # noqa: E402
from voicea2a.auth import key_id  # noqa: E402


class CountingProxy:
    """A TCP proxy in front of Azurite's Table port that counts HTTP requests passing through."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.requests = 0

    async def start(self) -> int:
        server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        return server.sockets[0].getsockname()[1]

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(
            "127.0.0.1", self.target_port
        )

        async def pipe(source, sink, count: bool) -> None:
            try:
                while data := await source.read(65536):
                    if count:
                        self.requests += data.count(b" HTTP/1.1\r\n")
                    sink.write(data)
                    await sink.drain()
            finally:
                sink.close()

        await asyncio.gather(
            pipe(reader, upstream_writer, True),
            pipe(upstream_reader, writer, False),
            return_exceptions=True,
        )


async def measure(call: Callable[[], Awaitable[int]], count: int, proxy: CountingProxy) -> dict:
    for _ in range(20):  # warm-up: caches, connections, the current rate-limit row
        assert await call() == 200
    before = proxy.requests
    latencies = []
    started = time.perf_counter()
    for _ in range(count):
        begin = time.perf_counter()
        status = await call()
        latencies.append((time.perf_counter() - begin) * 1000)
        assert status == 200, status
    elapsed = time.perf_counter() - started
    return {
        "rps": count / elapsed,
        "p50": statistics.median(latencies),
        "p99": percentile(latencies, 0.99),
        "table": (proxy.requests - before) / count,
    }


async def no_limit(*args, **kwargs) -> None:
    """Stands in for ratelimit.hit in the 'without the rate limiter' runs."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    add_log_option(parser, "token_endpoint")
    args = parser.parse_args()
    send_logs_to(args.log)

    azurite = start_in_memory_azurite()
    loop = LoopThread()  # the app and the devhost run here, as in the tests

    def run(coro):
        return loop.run(coro, 600)

    proxy = CountingProxy(azurite.table_port)
    proxy_port = run(proxy.start())
    key = secrets.token_hex(32)
    os.environ.update(
        {
            "AzureWebJobsStorage": azurite.connection_string.replace(
                f":{azurite.table_port}/", f":{proxy_port}/"
            ),
            "AUTH_SIGNING_KEY": key,
            "VOICE_LIVE_ENDPOINT": "https://voice.example.invalid",
            "VOICE_LIVE_AUTH_MODE": "key",
            "VOICE_LIVE_API_KEY": secrets.token_hex(16),
            "RATE_LIMIT_VOICE_TOKEN_PER_MINUTE": "100000000",
        }
    )
    now = int(time.time())
    token = jwt.encode(
        {"iss": "voicea2a", "aud": "voicea2a-api", "sub": "bench", "iat": now, "exp": now + 3600},
        key,
        algorithm="HS256",
        headers={"kid": key_id(key)},
    )
    headers = {"Authorization": f"Bearer {token}"}

    host = DevHost(ROOT, port=0, run_timers=False)
    run(host.start())
    function = index_app(load_app(ROOT)).by_name["voice_token"].user_function
    client = httpx.AsyncClient(base_url=host.base_url)

    async def in_process() -> int:
        request = func.HttpRequest(
            "GET", "http://localhost/api/voice/token", headers=headers, body=b""
        )
        return (await function(req=request)).status_code

    async def over_devhost() -> int:
        return (await client.get("/api/voice/token", headers=headers)).status_code

    results = {}
    real_hit = ratelimit.hit
    try:
        for limiter in (True, False):
            ratelimit.hit = real_hit if limiter else no_limit
            for name, call in (("in-process", in_process), ("over the devhost", over_devhost)):
                results[(name, limiter)] = run(measure(call, args.requests, proxy))
    finally:
        ratelimit.hit = real_hit
        run(client.aclose())
        run(host.stop())
        run(storage.close_all())
        azurite.stop()

    print(f"GET /api/voice/token, {args.requests} sequential requests per row, warm caches\n")
    columns = ("req/s", "p50 ms", "p99 ms")
    print(f"{'path':<18} {'limiter':<8} " + " ".join(f"{c:>8}" for c in columns) + " Table/request")
    for (name, limiter), r in results.items():
        print(
            f"{name:<18} {'on' if limiter else 'off':<8} {r['rps']:>8.0f} {r['p50']:>8.2f} "
            f"{r['p99']:>8.2f} {r['table']:>18.2f}"
        )
    print()
    for name in ("in-process", "over the devhost"):
        on, off = results[(name, True)], results[(name, False)]
        share = (on["p50"] - off["p50"]) / on["p50"]
        print(
            f"{name}: the rate limiter is {share:.0%} of the p50 cost and adds "
            f"{on['table'] - off['table']:.2f} Table round trips per request"
        )


if __name__ == "__main__":
    main()
