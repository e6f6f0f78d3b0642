"""Event fan-out: 200 WebSocket clients across 100 users, 2,000 events published with our
publisher through the devhost's local Web PubSub service.

Reports delivered events/s, publish-to-receive latency (p50/p95) and losses (expected: 0).

    .venv/bin/python bench/events_fanout.py [--users 100] [--events 2000] [--concurrency 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import websockets  # noqa: E402

from bench.common import add_log_option, percentile, send_logs_to  # noqa: E402
from devhost.pubsub import PubSubService  # noqa: E402
from voicea2a import publisher  # noqa: E402
from voicea2a.events import Event  # noqa: E402

KEY = "bench-access-key-0123456789abcdefghijklmnopqrstuvwxyz"


async def listen(url: str, received: dict[str, list[float]]) -> websockets.ClientConnection:
    socket = await websockets.connect(url, subprotocols=["json.webpubsub.azure.v1"], max_queue=None)
    json.loads(await socket.recv())  # connected

    async def read() -> None:
        async for frame in socket:
            message = json.loads(frame)
            if message.get("type") == "message":
                received.setdefault(message["data"]["id"], []).append(time.perf_counter())

    asyncio.get_running_loop().create_task(read())
    return socket


async def run(args: argparse.Namespace) -> None:
    client = publisher.service_client()
    received: dict[str, list[float]] = {}
    sockets = []
    for user in range(args.users):
        for _ in range(2):
            token = await client.get_client_access_token(user_id=f"user-{user}")
            sockets.append(await listen(token["url"], received))

    sent: dict[str, float] = {}
    semaphore = asyncio.Semaphore(args.concurrency)

    async def send(index: int) -> None:
        event = Event(
            "message",
            {"text": f"event {index}", "agents": []},
            owner=f"user-{index % args.users}",
            conversation_id=f"c{index}",
            id=f"e{index}",
        )
        async with semaphore:
            sent[event.id] = time.perf_counter()
            assert await publisher.publish(event), "publish failed"

    started = time.perf_counter()
    await asyncio.gather(*(send(i) for i in range(args.events)))
    published = time.perf_counter() - started
    expected = 2 * args.events
    deadline = time.perf_counter() + 30
    while sum(len(v) for v in received.values()) < expected and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    elapsed = max(max(times) for times in received.values()) - started
    latencies = [(t - sent[i]) * 1000 for i, times in received.items() for t in times]
    delivered = sum(len(v) for v in received.values())
    duplicates = sum(max(0, len(v) - 2) for v in received.values())

    print(
        f"{args.events} events to {args.users} users x 2 connections "
        f"(publish concurrency {args.concurrency})"
    )
    print(f"published: {args.events / published:.0f} events/s")
    print(f"delivered: {delivered} of {expected} copies, {delivered / elapsed:.0f} copies/s")
    print(
        f"publish-to-receive latency: p50 {statistics.median(latencies):.1f} ms, "
        f"p95 {percentile(latencies, 0.95):.1f} ms"
    )
    print(
        f"losses: {expected - delivered + duplicates} (missing {expected - delivered}, "
        f"duplicates {duplicates})"
    )
    for socket in sockets:
        await socket.close()
    await publisher.close_clients()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=20)
    add_log_option(parser, "events_fanout")
    args = parser.parse_args()
    send_logs_to(args.log)

    # The service runs on its own loop and thread, as it would in its own process.
    service = PubSubService(KEY, endpoint="http://127.0.0.1")
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    port = asyncio.run_coroutine_threadsafe(service.start(port=0), loop).result(30)
    # Required by the settings, never contacted here; the name is the Functions host's.
    os.environ["AzureWebJobsStorage"] = "UseDevelopmentStorage=true"  # noqa: SIM112
    os.environ["WEBPUBSUB_CONNECTION_STRING"] = (
        f"Endpoint=http://127.0.0.1:{port};AccessKey={KEY};Version=1.0;"
    )
    try:
        asyncio.run(run(args))
    finally:
        asyncio.run_coroutine_threadsafe(service.stop(), loop).result(30)


if __name__ == "__main__":
    main()
