"""Rate limits hold across scaled-out instances: two devhost processes, one Azurite."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port, remember_secret, start_of_a_rate_window
from tests.system import bearer
from voicea2a import config, ratelimit
from voicea2a.errors import RateLimited, UpstreamUnavailable

pytestmark = pytest.mark.azurite

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def two_instances(azurite, tmp_path):
    """Two independent app processes (own clients, own caches) sharing one storage account."""
    key = remember_secret("burst-signing-key-" + secrets.token_hex(24))
    clean = {k: v for k, v in os.environ.items() if k not in config.SETTING_NAMES}
    env = {
        **clean,
        "AzureWebJobsStorage": azurite.connection_string,
        "AUTH_SIGNING_KEY": key,
        "AUTH_DEV_LOGIN_ENABLED": "false",
        "VOICE_LIVE_ENDPOINT": "https://voice.example.invalid",
        "VOICE_LIVE_AUTH_MODE": "key",
        "VOICE_LIVE_API_KEY": "voice-key-" + secrets.token_hex(8),
        "RATE_LIMIT_VOICE_TOKEN_PER_MINUTE": "10",
        "PYTHONPATH": str(ROOT),
    }
    processes, urls = [], []
    for index in range(2):
        port = free_port()
        log = open(tmp_path / f"devhost-{index}.log", "w")  # noqa: SIM115 (closed below)
        processes.append(
            (
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "devhost",
                        "--script-root",
                        str(ROOT),
                        "--no-azurite",
                        "--no-timers",
                        "--no-pubsub",
                        "--no-agents",
                        "--port",
                        str(port),
                    ],
                    cwd=ROOT,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                ),
                log,
            )
        )
        urls.append(f"http://127.0.0.1:{port}")
    try:
        for url in urls:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{url}/api/health", timeout=5).status_code in (200, 503):
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, (tmp_path / "devhost-0.log").read_text()
                time.sleep(0.2)
        yield urls, key
    finally:
        for process, log in processes:
            process.terminate()
            process.wait(30)
            log.close()
        # The instances' own log output must not hold the signing key or a voice key either.
        for index in range(2):
            output = (tmp_path / f"devhost-{index}.log").read_text()
            assert key not in output and env["VOICE_LIVE_API_KEY"] not in output


def test_fifty_concurrent_requests_through_two_instances_allow_exactly_ten(two_instances):
    urls, key = two_instances
    user = "burst-" + secrets.token_hex(4)
    headers = bearer(key, user)

    def call(index: int) -> int:
        return httpx.get(
            f"{urls[index % 2]}/api/voice/token", headers=headers, timeout=30
        ).status_code

    start_of_a_rate_window()
    with ThreadPoolExecutor(max_workers=50) as pool:
        statuses = list(pool.map(call, range(50)))

    assert statuses.count(200) == 10
    assert statuses.count(429) == 40
    other = bearer(key, "someone-else-" + user)
    assert httpx.get(f"{urls[1]}/api/voice/token", headers=other, timeout=30).status_code == 200


async def test_the_window_resets(azurite_env):
    azurite_env()
    ratelimit.forget_seen()
    now = [1_000_040.0]  # 20 s into the 60 s window that starts at 1_000_020

    for _ in range(3):
        await ratelimit.hit("test-route", "window-user", 3, clock=lambda: now[0])
    with pytest.raises(RateLimited) as refused:
        await ratelimit.hit("test-route", "window-user", 3, clock=lambda: now[0])
    assert refused.value.retry_after == 40

    now[0] += 40  # the next window
    await ratelimit.hit("test-route", "window-user", 3, clock=lambda: now[0])


async def test_an_unreachable_store_fails_closed(azurite_env):
    unreachable = (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
        f"TableEndpoint=http://127.0.0.1:{free_port()}/devstoreaccount1;"
    )
    azurite_env(AzureWebJobsStorage=unreachable)
    ratelimit.forget_seen()

    with pytest.raises(UpstreamUnavailable):
        await ratelimit.hit("test-route", "someone", 10)
