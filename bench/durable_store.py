"""The Durable engine's Table store (Azurite) against the in-memory engine, same load.

N orchestrations of the durable sample app's `mixed` (four activities: three fanned out, one
after; two to three episodes each) are started together through the engine, each start
acknowledged as the HTTP API does (for the store: written to Azurite first), and run to the
end; then the engine is closed, which waits for the store's pending writes. Reported for each
store: wall time per orchestration (total / N) and p50 start-to-finish latency, the CPU this
process (the devhost's engine) and Azurite spent per orchestration, and the ratios
azurite / memory. The stores alternate over the rounds, so both see the same machine state.

    .venv/bin/python bench/durable_store.py [--instances 200] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import add_log_option, send_logs_to  # noqa: E402
from devhost.azurite import start_azurite  # noqa: E402
from devhost.durable.engine import DurableEngine  # noqa: E402
from devhost.durable.store import TableStore  # noqa: E402
from devhost.durable.storeconfig import table_name  # noqa: E402
from devhost.functions import Invoker, index_app, load_app  # noqa: E402
from tests.conftest import free_port  # noqa: E402

APP = ROOT / "tests" / "devhost" / "apps" / "durable"


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100  # utime, stime in clock ticks (100 Hz)


async def one_round(index, invoker, store, instances: int) -> dict[str, float]:
    engine = DurableEngine(index, invoker, store=store, on_step=lambda line: None)
    await engine.load()
    ids = [f"bench-{uuid.uuid4().hex[:8]}-{n}" for n in range(instances)]
    cpu0, wall0 = time.process_time(), time.perf_counter()

    async def run(instance_id: str) -> float:
        started = time.perf_counter()
        engine.start("mixed", instance_id, json.dumps(f"{instance_id}:0"))
        assert await engine.acknowledge(instance_id, 60)
        done = await engine.wait(instance_id, 300)
        assert done.status == "Completed", done.output_json
        return time.perf_counter() - started

    latencies = await asyncio.gather(*(run(i) for i in ids))
    await engine.close()  # waits for the store's last writes
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return {
        "wall_ms": 1000 * wall / instances,
        "p50_ms": 1000 * statistics.median(latencies),
        "cpu_ms": 1000 * cpu / instances,
    }


async def main(instances: int, rounds: int) -> None:
    index = index_app(load_app(APP))
    invoker = Invoker(APP)
    with tempfile.TemporaryDirectory() as data:
        ports = {"blob_port": free_port(), "queue_port": free_port(), "table_port": free_port()}
        azurite = start_azurite(**ports, location=Path(data), in_memory=False, script_root=ROOT)
        try:
            results: dict[str, list[dict[str, float]]] = {"memory": [], "azurite": []}
            await one_round(index, invoker, None, 20)  # warm-up: imports, thread pools
            for _ in range(rounds):
                for mode in ("memory", "azurite"):
                    store = None
                    if mode == "azurite":
                        hub = "b" + uuid.uuid4().hex[:12]
                        store = TableStore(azurite.connection_string, table_name(hub))
                    azurite_cpu0 = cpu_seconds(azurite.process.pid)
                    result = await one_round(index, invoker, store, instances)
                    azurite_cpu = cpu_seconds(azurite.process.pid) - azurite_cpu0
                    result["azurite_cpu_ms"] = 1000 * azurite_cpu / instances
                    results[mode].append(result)
        finally:
            azurite.stop()
            invoker.close()

    def median(mode: str, key: str) -> float:
        return statistics.median(r[key] for r in results[mode])

    print(f"{instances} orchestrations of `mixed` (4 activities) at once, {rounds} rounds each")
    print(
        f"{'store':8} {'wall/orch':>10} {'p50':>9} {'engine CPU/orch':>16} {'Azurite CPU/orch':>17}"
    )
    for mode in ("memory", "azurite"):
        print(
            f"{mode:8} {median(mode, 'wall_ms'):8.2f}ms {median(mode, 'p50_ms'):7.0f}ms "
            f"{median(mode, 'cpu_ms'):14.2f}ms {median(mode, 'azurite_cpu_ms'):15.2f}ms"
        )
    for key, label in (("wall_ms", "wall"), ("p50_ms", "p50"), ("cpu_ms", "engine CPU")):
        print(
            f"ratio azurite/memory, {label}: {median('azurite', key) / median('memory', key):.2f}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    add_log_option(parser, "durable_store")
    args = parser.parse_args()
    send_logs_to(args.log)
    asyncio.run(main(args.instances, args.rounds))
