"""CPU per Azure SDK request: the app's client options (voicea2a/proxies.py) vs the SDK's defaults.

A Web PubSub `send_to_user` to the devhost's local Web PubSub and a Table `upsert_entity` to
Azurite, each from an aio client built as the app builds it and as the SDK builds it by default
(the environment read by aiohttp on every request, on the loop's executor). The services run in
processes of their own, so this process's CPU is the client's alone: every thread (`process`,
the executor's included) and the loop's thread. The cases alternate, `--rounds` times each.

Then what one turn's history write costs (`record_turn`'s Table transaction of the turn's rows,
`voicea2a.history.turn_rows`, for the delegation bench's four-agent turn), against the two other
ways the same rows could be written: one upsert per row, or one entity holding them all
(`--requests` / 10 turns each way).

    .venv/bin/python bench/sdk_requests.py [--requests 300] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import start_in_memory_azurite  # noqa: E402
from voicea2a.history import turn_rows  # noqa: E402
from voicea2a.proxies import proxy_options  # noqa: E402
from voicea2a.storage import table_endpoint  # noqa: E402

KEY = "sdk-requests-bench-access-key-0123456789abcdefghij"
PUBSUB = f"""
import asyncio, sys
sys.path.insert(0, {str(ROOT)!r})
from devhost.pubsub import PubSubService

async def main():
    service = PubSubService({KEY!r}, endpoint="http://127.0.0.1")
    print(await service.start(port=0), flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""
CASES = ("SDK defaults", "app's options")
TURN_WRITES = ("transaction of its rows (the app)", "one upsert per row", "one entity")
# The delegation bench's turn: authentication, then outage, modem and plan (bench/delegation.py).
OUTCOMES = [
    {"agent": agent, "skill": skill, "status": "completed", "text": text, "data": data}
    for agent, skill, text, data in (
        ("authentication", "verify", "Identity verified.", {"customerId": "CUST-1001"}),
        ("outage-check", "outage", "No outage is reported in your area.", {"outage": False}),
        ("modem-check", "modem", "Your modem is online; signal is good.", {"online": True}),
        ("internet-plan", "plan", "You are on the 500 Mbps plan, paid up.", {"plan": "500"}),
    )
]
ANSWER = {
    "answer": "You are verified. There is no outage and your modem is online. " * 3,
    "agents": [outcome["agent"] for outcome in OUTCOMES],
    "partial": False,
}
Request = Callable[[int], Awaitable[Any]]


def turn(index: int) -> list[dict[str, Any]]:
    """The rows of the bench's turn number `index`, as `record_turn` writes them."""
    return turn_rows(
        "bench-partition",
        f"dlg-{index:08d}",
        "2026-12-03T10:00:00+00:00",
        "My internet is down.",
        OUTCOMES,
        ANSWER,
        "CUST-1001",
    )


async def per_request(request: Request, count: int) -> tuple[float, float]:
    """CPU ms per request after a warm-up: (this process, every thread; the loop's thread)."""
    for index in range(10):
        await request(index)
    process, thread = time.process_time(), time.thread_time()
    for index in range(count):
        await request(index)
    return (
        (time.process_time() - process) * 1000 / count,
        (time.thread_time() - thread) * 1000 / count,
    )


async def measure(pubsub_port: int, connection_string: str, args: argparse.Namespace) -> None:
    from azure.core.credentials import AzureKeyCredential
    from azure.data.tables.aio import TableClient
    from azure.messaging.webpubsubservice.aio import WebPubSubServiceClient

    endpoint = f"http://127.0.0.1:{pubsub_port}"
    table_url = table_endpoint(connection_string)
    samples: dict[str, list[tuple[float, float]]] = {}
    for round_number in range(args.rounds):
        for name in CASES:
            app = name == "app's options"
            pubsub_options = proxy_options(endpoint) if app else {}
            table_options = proxy_options(table_url) if app else {}
            async with WebPubSubServiceClient(
                endpoint, "bench", credential=AzureKeyCredential(KEY), **pubsub_options
            ) as pubsub:
                samples.setdefault(f"web pubsub send, {name}", []).append(
                    await per_request(
                        lambda i, c=pubsub: c.send_to_user(
                            f"user-{i % 10}", {"n": i}, content_type="application/json"
                        ),
                        args.requests,
                    )
                )
            table = f"bench{round_number}{'app' if app else 'sdk'}"
            async with TableClient.from_connection_string(
                connection_string, table, **table_options
            ) as tables:
                await tables.create_table()
                samples.setdefault(f"table upsert, {name}", []).append(
                    await per_request(
                        lambda i, c=tables: c.upsert_entity(
                            {"PartitionKey": "p", "RowKey": str(i), "n": i}
                        ),
                        args.requests,
                    )
                )
        async with TableClient.from_connection_string(
            connection_string, f"bench{round_number}turn", **proxy_options(table_url)
        ) as tables:
            await tables.create_table()
            for name, write in turn_writes(tables).items():
                samples.setdefault(f"turn write, {name}", []).append(
                    await per_request(write, args.requests // 10)
                )
    print(f"{'case':<50} {'process ms':>11} {'loop thread ms':>15}   (medians of {args.rounds})")
    for case, values in samples.items():
        process = statistics.median(v[0] for v in values)
        thread = statistics.median(v[1] for v in values)
        print(f"{case:<50} {process:>11.3f} {thread:>15.3f}")
    for kind in ("web pubsub send", "table upsert"):
        before, after = (statistics.median(v[0] for v in samples[f"{kind}, {n}"]) for n in CASES)
        print(f"{kind}: app's options / SDK defaults, process CPU: {after / before:.2f}")
    transaction, *others = (
        statistics.median(v[0] for v in samples[f"turn write, {name}"]) for name in TURN_WRITES
    )
    for name, other in zip(TURN_WRITES[1:], others, strict=True):
        print(f"turn write: {name} / the app's transaction, process CPU: {other / transaction:.2f}")


def turn_writes(tables: Any) -> dict[str, Request]:
    """One turn's rows written each way, each call the turn its index numbers."""
    from azure.data.tables import UpdateMode

    async def transaction(index: int) -> None:
        rows = turn(index)
        await tables.submit_transaction(
            [("upsert", row, {"mode": UpdateMode.REPLACE}) for row in rows]
        )

    async def per_row(index: int) -> None:
        for row in turn(index):
            await tables.upsert_entity(row, mode=UpdateMode.REPLACE)

    async def one_entity(index: int) -> None:
        rows = turn(index)
        entity = {
            "PartitionKey": "bench-turns",
            "RowKey": rows[0]["RowKey"],
            "rows": json.dumps(rows),
        }
        await tables.upsert_entity(entity, mode=UpdateMode.REPLACE)

    return dict(zip(TURN_WRITES, (transaction, per_row, one_entity), strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    azurite = start_in_memory_azurite()
    pubsub = subprocess.Popen(  # noqa: S603 (this interpreter, fixed code)
        [sys.executable, "-c", PUBSUB], stdout=subprocess.PIPE, text=True
    )
    try:
        assert pubsub.stdout is not None
        port = int(pubsub.stdout.readline())
        asyncio.run(measure(port, azurite.connection_string, args))
    finally:
        pubsub.terminate()
        pubsub.wait(10)
        azurite.stop()


if __name__ == "__main__":
    main()
