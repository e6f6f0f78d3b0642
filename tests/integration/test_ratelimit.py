"""Rate limits hold across scaled-out instances: two devhost processes, one Azurite."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port, in_one_rate_window, remember_secret
from tests.system import bearer
from tests.waiting import get_or_none, wait_until
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

    def answering(url: str) -> bool:
        response = get_or_none(f"{url}/api/health")
        return response is not None and response.status_code in (200, 503)

    try:
        for index, url in enumerate(urls):
            log = tmp_path / f"devhost-{index}.log"
            wait_until(
                lambda url=url: answering(url),
                60,
                what=lambda log=log: f"the instance to answer\n{log.read_text()[-3000:]}",
                interval=0.2,
            )
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

    def burst(attempt: int) -> tuple[str, list[int]]:
        user = f"burst-{attempt}-{secrets.token_hex(4)}"
        headers = bearer(key, user)

        def call(index: int) -> int:
            url = f"{urls[index % 2]}/api/voice/token"
            return httpx.get(url, headers=headers, timeout=30).status_code

        with ThreadPoolExecutor(max_workers=50) as pool:
            return user, list(pool.map(call, range(50)))

    user, statuses = in_one_rate_window(burst)

    assert statuses.count(200) == 10
    assert statuses.count(429) == 40
    other = bearer(key, "someone-else-" + user)
    assert httpx.get(f"{urls[1]}/api/voice/token", headers=other, timeout=30).status_code == 200


async def test_the_window_resets(azurite_env):
    azurite_env()
    ratelimit.forget_seen()
    now = [1_000_040.0]  # 20 s into the 60 s window that starts at 1_000_020

    async def hit() -> None:
        await ratelimit.hit("test-route", "window-user", 3, clock=lambda: now[0])

    for _ in range(3):
        await hit()
    with pytest.raises(RateLimited) as refused:
        await hit()
    assert refused.value.retry_after == 40

    now[0] += 39.5  # the last moment of that window
    with pytest.raises(RateLimited) as refused:
        await hit()
    assert refused.value.retry_after == 1

    now[0] += 0.5  # the next window: the whole limit again, and no more
    for _ in range(3):
        await hit()
    with pytest.raises(RateLimited) as refused:
        await hit()
    assert refused.value.retry_after == 60


async def test_an_unreachable_store_fails_closed(azurite_env):
    unreachable = (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
        f"TableEndpoint=http://127.0.0.1:{free_port()}/devstoreaccount1;"
    )
    azurite_env(AzureWebJobsStorage=unreachable)
    ratelimit.forget_seen()

    with pytest.raises(UpstreamUnavailable):
        await ratelimit.hit("test-route", "someone", 10)
