"""Delegation end to end on the devhost, at 10, 50 and 200 concurrent conversations.

The six sample agents answer after fixed latencies (authentication 200 ms, outage 400 ms,
modem 800 ms, plan 400 ms). Each conversation asks about "no internet" with a full identity:
stage 1 authentication, stage 2 outage + modem + plan in parallel. The ideal is the sum over
stages of the slowest agent, each agent's time measured alone first with a direct A2A call (the
authentication agent's salted-hash check adds to its 200 ms). Reported: p50/p95 end to end, the
overhead ratio (end to end / ideal), the CPU each process spent per conversation, and, in the
same run, the same work done sequentially (one agent after another, as the original host did)
with our A2A client. A second table splits this process's CPU per turn, up to the end of every
turn's orchestration: the worker's (the app's functions, by kind, as the devhost's ledger
charged them: devhost/cpu.py), the harness's (load generator, local Web PubSub) and the
devhost's own, with orchestrator episodes and history events per turn; a third one splits the
worker's by function; a fourth gives the instance time per turn of each Flex Consumption scale
group (what Azure bills), with one invocation per instance and with all on one. `--pubsub
both` runs each level twice side by side, with the local Web PubSub service and with a black
hole (a socket that accepts connections and never answers):
events must never hold up an answer. `--durable-store both` runs each level on two devhosts in
this process, side by side: one keeping Durable state in memory, one in Azurite (the default).
`--worker-processes 1,2` runs each level on a devhost per FUNCTIONS_WORKER_PROCESS_COUNT, side by
side (with worker processes, "process" CPU adds theirs).
Last, the capacity: the highest concurrency (up to `--capacity-limit`) whose overhead p50 stays
within 1.2, found by doubling then halving the gap, each probe on a devhost with nothing left
running.

    .venv/bin/python bench/delegation.py [--levels 10,50,200] [--pubsub up|black-hole|both]
        [--durable-store memory|azurite|both] [--worker-processes 1,2] [--capacity-limit 64]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import secrets
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import jwt  # noqa: E402
from aiohttp import web  # noqa: E402

from agents.catalog import AGENT_NAMES  # noqa: E402
from agents.registration import agent_identity  # noqa: E402
from bench.common import add_log_option, highest_passing, percentile, send_logs_to  # noqa: E402
from devhost import cpu  # noqa: E402
from devhost.durable.engine import TERMINAL  # noqa: E402
from devhost.host import DevHost  # noqa: E402
from devhost.occupancy import DURABLE, HTTP, Occupied  # noqa: E402
from devhost.pubsub import PubSubService  # noqa: E402
from devhost.workerpool import WorkerPool  # noqa: E402
from tests.agents.identities import IDENTITIES  # noqa: E402
from tests.conftest import LoopThread, free_port, start_in_memory_azurite  # noqa: E402
from voicea2a import config, httpclient, publisher, storage  # noqa: E402
from voicea2a.a2a import fetch_card, send_message  # noqa: E402
from voicea2a.agentauth import agent_credentials  # noqa: E402
from voicea2a.audit import pseudonym  # noqa: E402
from voicea2a.auth import key_id  # noqa: E402

LATENCY_MS = {
    "authentication": 200,
    "outage-check": 400,
    "modem-check": 800,
    "internet-plan": 400,
    "network-performance": 200,
    "technical-dispatch": 400,
}
# Customers whose "no internet" diagnosis needs no technician (so no dispatch stage).
CUSTOMERS = ["CUST-0001", "CUST-0002", "CUST-0004", "CUST-0006", "CUST-0007", "CUST-0008"]
KEY = "bench-access-key-0123456789abcdefghijklmnopqrstuvwxyz"
# Capacity: the most conversations at once whose median turn stays within this of the ideal.
CAPACITY_OVERHEAD = 1.2
INSTANCE_MEMORY_MB = 2048  # infra's functionInstanceMemoryMB


def free_port_block(size: int) -> int:
    """A base port whose next `size` ports are free now."""
    for _ in range(100):
        base = free_port()
        if base + size < 65535 and all(_free(base + i) for i in range(size)):
            return base
    raise RuntimeError("no block of free ports")


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class MeteredPubSub(PubSubService):
    """The local Web PubSub, its request handlers (and their tasks) metered: in Azure another
    service, so neither the worker's CPU nor the devhost's."""

    def __init__(self, access_key: str, meter: cpu.Meter, **options) -> None:
        super().__init__(access_key, **options)
        self.meter = meter

    def build_app(self) -> web.Application:
        """The service's application with the metering middleware first."""
        app = super().build_app()

        @web.middleware
        async def metered(request: web.Request, handler) -> web.StreamResponse:
            return await cpu.metered(handler(request), self.meter)

        app.middlewares.insert(0, metered)
        return app


async def settle(devhost: DevHost, known: set[str], timeout: float = 120) -> None:
    """Wait until each orchestration started since `known` has ended, run out and been stored."""
    engine = devhost.engine
    deadline = time.monotonic() + timeout
    new = [i for i in list(engine.instances) if i not in known]
    while any(engine.instances[i].status not in TERMINAL for i in new if i in engine.instances):
        if time.monotonic() > deadline:
            raise TimeoutError(f"orchestrations still running after {timeout} s")
        await asyncio.sleep(0.02)
    await engine.activities_settled(timeout)
    for instance_id in new:
        await engine.acknowledge(instance_id, timeout)


def thread_cpu(threads: list[threading.Thread]) -> float:
    """CPU seconds the given threads spent so far (their own CPU clocks)."""
    return sum(
        time.clock_gettime(time.pthread_getcpuclockid(t.ident)) for t in threads if t.is_alive()
    )


def worker_pids(devhost: DevHost) -> list[int]:
    """The devhost's worker processes (none when the app runs in this process)."""
    return devhost.invoker.pids if isinstance(devhost.invoker, WorkerPool) else []


@dataclass
class Split:
    """Where this process's CPU (and its worker processes') went in one variant: the worker's
    share (the ledger), the harness's, the devhost's own (the rest)."""

    process: float
    ledger: cpu.CpuSnapshot
    harness: dict[str, float]
    orchestrator_thread: float | None
    occupancy: Mapping[str, Occupied]
    # The worker processes' CPU, every thread (None when the app runs in this process).
    workers: float | None

    @property
    def devhost_own(self) -> float:
        """Process CPU that neither the app's functions nor the harness spent."""
        return self.process - self.ledger.worker_cpu_seconds - sum(self.harness.values())


@dataclass
class Sample:
    """This process's CPU so far (with its worker processes'), the devhost's ledger and the
    harness's meters."""

    process: float
    ledger: cpu.CpuSnapshot
    harness: dict[str, float]
    orchestrator_thread: float | None
    occupancy: Mapping[str, Occupied]
    workers: float | None

    @classmethod
    def take(cls, devhost: DevHost, harness: dict[str, cpu.Meter]) -> Sample:
        """Read every counter now."""
        workers = worker_pids(devhost)
        worker_seconds = sum(map(cpu_seconds, workers))
        return cls(
            # This process, every thread (finer than /proc's clock ticks), and its workers.
            time.process_time() + worker_seconds,
            devhost.cpu.snapshot(),
            {name: meter.seconds for name, meter in harness.items()},
            # A cross-check of the ledger: the thread that runs nothing but episodes (in this
            # process only: worker processes run them elsewhere).
            None if workers else thread_cpu(list(devhost.engine._orchestrator_thread._threads)),
            devhost.occupancy.snapshot(),
            worker_seconds if workers else None,
        )

    def since(self, start: Sample) -> Split:
        """What was spent between `start` and this sample."""
        thread = None
        if self.orchestrator_thread is not None and start.orchestrator_thread is not None:
            thread = self.orchestrator_thread - start.orchestrator_thread
        return Split(
            self.process - start.process,
            self.ledger.minus(start.ledger),
            {name: seconds - start.harness[name] for name, seconds in self.harness.items()},
            thread,
            {
                group: occupied.minus(start.occupancy.get(group, Occupied()))
                for group, occupied in self.occupancy.items()
            },
            None if self.workers is None or start.workers is None else self.workers - start.workers,
        )


def print_splits(splits: list[tuple[str, str, int, Split]]) -> None:
    """`splits`: (setup, Web PubSub mode, concurrency, split) each."""
    print(
        "\nPer turn, until each turn's orchestration ended and was stored: this process's CPU "
        "in ms, split into the Python worker's (the app's functions, by kind), the devhost's "
        "own (the .NET host and Durable extension in Azure) and the harness's (load generator, "
        "local Web PubSub); orchestrator episodes and history events per turn"
    )
    kinds = " ".join(f"{kind:>12}" for kind in cpu.KINDS)
    print(
        f"{'setup':>12} {'pubsub':>10} {'concurrency':>11} {kinds} {'worker':>7} "
        f"{'devhost own':>11} {'load gen':>8} {'pubsub':>7} {'process':>8} {'episodes':>8} "
        f"{'history events':>14} {'replayed events':>15} {'worker processes':>16}"
    )
    for store, mode, count, split in splits:
        whole = "-" if split.workers is None else f"{split.workers * 1000 / count:.1f}"
        ledger = split.ledger
        by_kind = " ".join(
            f"{ledger.by_kind[kind].cpu_seconds * 1000 / count:>12.1f}" for kind in cpu.KINDS
        )
        print(
            f"{store:>12} {mode:>10} {count:>11} {by_kind} "
            f"{ledger.worker_cpu_seconds * 1000 / count:>7.1f} "
            f"{split.devhost_own * 1000 / count:>11.1f} "
            f"{split.harness['load'] * 1000 / count:>8.1f} "
            f"{split.harness['pubsub'] * 1000 / count:>7.1f} "
            f"{split.process * 1000 / count:>8.1f} {ledger.episodes / count:>8.1f} "
            f"{ledger.history_events / count:>14.1f} {ledger.replayed_events / count:>15.1f} "
            f"{whole:>16}"
        )
    print("\nThe worker's CPU by function, per turn: invocations, ms")
    functions = sorted(
        {
            key
            for *_, split in splits
            for key, usage in split.ledger.by_function.items()
            if usage != cpu.Usage()  # not one that only ran before (sign-in, warm-up)
        },
        key=lambda key: (cpu.KINDS.index(key[0]), key[1]),
    )
    print(
        f"{'kind':>12} {'function':<22}"
        + "".join(f" {f'{store} {mode} x{count}':>26}" for store, mode, count, _ in splits)
    )
    for kind, name in functions:
        cells = ""
        for *_, count, split in splits:
            usage = split.ledger.by_function.get((kind, name), cpu.Usage())
            cell = f"{usage.invocations / count:.1f} / {usage.cpu_seconds * 1000 / count:.1f}"
            cells += f" {cell:>26}"
        print(f"{kind:>12} {name:<22}{cells}")
    print(
        "cross-check, orchestrator episodes per turn in ms: ledger / the orchestrator thread's "
        "own CPU clock (in-process setups): "
        + ", ".join(
            f"{store} x{count} "
            f"{split.ledger.by_kind['orchestrator'].cpu_seconds * 1000 / count:.1f} / "
            f"{split.orchestrator_thread * 1000 / count:.1f}"
            for store, _, count, split in splits
            if split.orchestrator_thread is not None
        )
    )
    print(
        "metering: timed slices per turn (each costs about 3 us of CPU, counted where it falls): "
        + ", ".join(
            f"x{count} {sum(u.slices for u in split.ledger.by_kind.values()) / count:.0f}"
            for _, _, count, split in splits
        )
    )


def print_instance_time(splits: list[tuple[str, str, int, Split]]) -> None:
    """Per turn and Flex Consumption scale group: the worker's CPU and the instance time."""
    gb = INSTANCE_MEMORY_MB / 1024
    print(
        "\nInstance time per turn, by Flex Consumption scale group (devhost/occupancy.py): "
        "invocations, the worker's CPU in ms, and the wall seconds the invocations kept an "
        "instance executing: `held` with one invocation per instance (a Python app's HTTP "
        f"default), `busy` with all of them on one; GB-s at {INSTANCE_MEMORY_MB} MB"
    )
    print(
        f"{'setup':>12} {'pubsub':>10} {'concurrency':>11} {'group':>8} {'invocations':>11} "
        f"{'CPU ms':>7} {'held s':>7} {'busy s':>7} {'CPU / held':>10} "
        f"{'GB-s held':>9} {'GB-s busy':>9}"
    )
    kinds_of = {HTTP: ("http",), DURABLE: ("orchestrator", "activity")}
    for store, mode, count, split in splits:
        for group, kinds in kinds_of.items():
            occupied = split.occupancy.get(group, Occupied())
            used = sum(split.ledger.by_kind[kind].cpu_seconds for kind in kinds)
            held, busy = occupied.held_seconds / count, occupied.busy_seconds / count
            print(
                f"{store:>12} {mode:>10} {count:>11} {group:>8} "
                f"{occupied.invocations / count:>11.1f} {used * 1000 / count:>7.1f} "
                f"{held:>7.2f} {busy:>7.2f} "
                f"{used / count / held if held else 0:>10.1%} "
                f"{held * gb:>9.2f} {busy * gb:>9.2f}"
            )


def body(index: int) -> dict:
    first, last, postal, born = IDENTITIES[CUSTOMERS[index % len(CUSTOMERS)]]
    return {
        "request": "My internet is down.",
        "symptoms": ["no_internet"],
        "callId": f"call-{secrets.token_hex(6)}",
        "conversationId": f"c{secrets.token_hex(6)}",
        "customer": {
            "firstName": first,
            "lastName": last,
            "postalCode": postal,
            "dateOfBirth": born,
        },
    }


def black_hole() -> int:
    """A port that accepts connections and never answers (a Web PubSub that hangs)."""
    server = socket.create_server(("127.0.0.1", 0), backlog=1024)
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            held.append(server.accept()[0])

    threading.Thread(target=accept, daemon=True).start()
    return server.getsockname()[1]


def use_pubsub(port: int) -> None:
    """Point the app at the Web PubSub on `port` (settings and clients are re-read)."""
    os.environ["WEBPUBSUB_CONNECTION_STRING"] = f"Endpoint=http://127.0.0.1:{port};AccessKey={KEY};"
    config.reset_settings()


async def conversation(client: httpx.AsyncClient, headers: dict, index: int) -> float:
    """One turn, until its answer is shown (the turn may still be recording or publishing)."""
    started = time.perf_counter()
    response = await client.post("/api/messages", json=body(index), headers=headers)
    while response.status_code == 202:
        await asyncio.sleep(0.05)
        response = await client.get(response.json()["statusUrl"], headers=headers)
        if not response.json().get("answer"):
            response.status_code = 202
    assert response.status_code == 200 and response.json().get("answer"), response.text
    return (time.perf_counter() - started) * 1000


async def service_times(urls: dict[str, str]) -> dict[str, float]:
    """Each agent's answer time alone (median of 5 direct A2A calls), in ms."""
    client = httpclient.http_client()
    first, last, postal, born = IDENTITIES[CUSTOMERS[0]]
    inputs = {
        "authentication": {
            "firstName": first,
            "lastName": last,
            "postalCode": postal,
            "dateOfBirth": born,
        },
        "outage-check": {"customerId": CUSTOMERS[0]},
        "modem-check": {"customerId": CUSTOMERS[0]},
        "internet-plan": {"customerId": CUSTOMERS[0]},
    }
    times = {}
    for name, data in inputs.items():
        card = await fetch_card(client, urls[name], timeout=10, max_bytes=1 << 20)
        samples = []
        for _ in range(5):
            started = time.perf_counter()
            await send_message(
                client,
                card,
                data=data,
                timeout=10,
                max_bytes=1 << 20,
                credentials=agent_credentials(),
            )
            samples.append((time.perf_counter() - started) * 1000)
        times[name] = statistics.median(samples)
    return times


async def sequential(urls: dict[str, str], index: int, caller: str) -> float:
    """The original host's way: one agent after another, over the same A2A client."""
    client = httpclient.http_client()
    first, last, postal, born = IDENTITIES[CUSTOMERS[index % len(CUSTOMERS)]]
    started = time.perf_counter()
    auth = await fetch_card(client, urls["authentication"], timeout=10, max_bytes=1 << 20)
    result = await send_message(
        client,
        auth,
        data={"firstName": first, "lastName": last, "postalCode": postal, "dateOfBirth": born},
        timeout=10,
        max_bytes=1 << 20,
        credentials=agent_credentials(),
        metadata={"onBehalfOf": pseudonym(caller)},  # as the app says whom it acts for
    )
    customer = result.data["customerId"]
    for name in ("outage-check", "modem-check", "internet-plan"):
        card = await fetch_card(client, urls[name], timeout=10, max_bytes=1 << 20)
        await send_message(
            client,
            card,
            data={"customerId": customer},
            timeout=10,
            max_bytes=1 << 20,
            credentials=agent_credentials(),
        )
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="10,50,200")
    parser.add_argument("--pubsub", choices=("up", "black-hole", "both"), default="up")
    parser.add_argument("--durable-store", choices=("memory", "azurite", "both"), default="azurite")
    parser.add_argument(
        "--worker-processes",
        default="1",
        help="FUNCTIONS_WORKER_PROCESS_COUNT of the devhost(s), e.g. 1,2: one devhost each",
    )
    parser.add_argument(
        "--capacity-limit",
        type=int,
        default=64,
        help="search concurrency up to this for the highest with overhead p50 <= "
        f"{CAPACITY_OVERHEAD} (0: no search)",
    )
    add_log_option(parser, "delegation")
    args = parser.parse_args()
    send_logs_to(args.log)
    stores = ["memory", "azurite"] if args.durable_store == "both" else [args.durable_store]
    levels = [int(level) for level in args.levels.split(",")]
    workers = [int(count) for count in args.worker_processes.split(",")]
    # One devhost per setup: where it keeps Durable state, how many worker processes run the app.
    setups = {
        f"{store}/w{count}" if len(workers) > 1 else store: (store, count)
        for store in stores
        for count in workers
    }

    azurite = start_in_memory_azurite()
    loop = LoopThread()  # the app and the devhost run here, as in the tests

    def run(coro, timeout: float = 900):
        return loop.run(coro, timeout)

    # CPU this process spends that is neither the worker's nor the devhost's: the load generator
    # (the conversations, polling) and the local Web PubSub (another service in Azure).
    harness = {"load": cpu.Meter(), "pubsub": cpu.Meter()}
    pubsub = MeteredPubSub(KEY, harness["pubsub"], endpoint="http://127.0.0.1")
    pubsub_port = run(pubsub.start(port=0))
    signing_key = secrets.token_hex(32)
    os.environ.update(
        {
            # The app's own loggers at WARNING, as in every earlier run: figures stay comparable.
            "LOG_LEVEL": "WARNING",
            "AzureWebJobsStorage": azurite.connection_string,
            "AUTH_SIGNING_KEY": signing_key,
            "AUTH_DEV_LOGIN_ENABLED": "true",
            "WEBPUBSUB_CONNECTION_STRING": f"Endpoint=http://127.0.0.1:{pubsub_port};AccessKey={KEY};",
            "AGENT_URL_ALLOWLIST": "127.0.0.1",
            # The sample agents sign in as agent-<name>: admitted at once, as in the tests.
            "AGENT_ADMISSION_ALLOWLIST": ",".join(map(agent_identity, AGENT_NAMES)),
            "RATE_LIMIT_VOICE_TOKEN_PER_MINUTE": "100000",
            "VOICE_SYNC_WAIT_SECONDS": "60",
            "AGENT_TIMEOUT_SECONDS": "30",
            # The Contoso workflow (stage 1 authentication, stage 2 diagnosis), as the tests'
            # system runs it: without a playbook the request body has no `customer`.
            "PLAYBOOK": "contoso",
        }
    )
    # The devhosts share the agent registry (Table storage); each keeps its own Durable state.
    hosts = {
        setup: DevHost(
            ROOT,
            port=0,
            run_timers=False,
            environ={
                **os.environ,
                "DEVHOST_DURABLE_STORE": store,
                "FUNCTIONS_WORKER_PROCESS_COUNT": str(count),
            },
        )
        for setup, (store, count) in setups.items()
    }
    for devhost in hosts.values():
        run(devhost.start())
    host = next(iter(hosts.values()))
    # The agents are other services: their own process, as in production, not this one's CPU.
    base_port = free_port_block(6)
    agents = subprocess.Popen(  # noqa: S603 (this interpreter, fixed arguments)
        [sys.executable, "-m", "agents", "--base-port", str(base_port)],
        cwd=ROOT,
        env={**os.environ, "AGENT_FAULTS_ENABLED": "true", "FUNCTION_APP_URL": host.base_url},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    urls = {
        name: f"http://127.0.0.1:{base_port + offset}" for offset, name in enumerate(LATENCY_MS)
    }

    def signed_in(user: str) -> dict[str, str]:
        now = int(time.time())
        claims = {"iss": "voicea2a", "aud": "voicea2a-api", "sub": user, "iat": now}
        token = jwt.encode(
            {**claims, "exp": now + 3600},
            signing_key,
            algorithm="HS256",
            headers={"kid": key_id(signing_key)},
        )
        return {"Authorization": f"Bearer {token}"}

    # Each conversation is another person: the authentication agent limits verifications per
    # person (agents/limits.py, 10 a minute), which one bench user would hit at once.
    callers = itertools.count()
    headers = signed_in("bench")
    deadline = time.monotonic() + 30
    while len(httpx.get(f"{host.base_url}/api/agents", headers=headers).json()["agents"]) < 6:
        assert time.monotonic() < deadline, "agents did not register"
        time.sleep(0.2)
    for name, latency in LATENCY_MS.items():
        httpx.post(f"{urls[name]}/_faults", json={"latencyMs": latency}, timeout=10)

    async def level(count: int, devhost: DevHost) -> list[float]:
        async with httpx.AsyncClient(
            base_url=devhost.base_url, timeout=120, limits=httpx.Limits(max_connections=count)
        ) as client:
            return list(
                await asyncio.gather(
                    *(
                        conversation(client, signed_in(f"bench-{next(callers)}"), i)
                        for i in range(count)
                    )
                )
            )

    async def baseline(count: int) -> list[float]:
        return list(
            await asyncio.gather(
                *(sequential(urls, i, f"bench-{next(callers)}") for i in range(count))
            )
        )

    try:
        for devhost in hosts.values():
            run(level(5, devhost))  # warm-up: caches, connections, tables
        alone = run(service_times(urls))
        ideal = alone["authentication"] + max(
            alone["outage-check"], alone["modem-check"], alone["internet-plan"]
        )
        print(
            f"no-internet conversations; agents at {LATENCY_MS['authentication']}/"
            f"{LATENCY_MS['outage-check']}/{LATENCY_MS['modem-check']}/"
            f"{LATENCY_MS['internet-plan']} ms set; measured alone "
            + ", ".join(f"{name} {ms:.0f}" for name, ms in alone.items())
            + f" ms; ideal {ideal:.0f} ms\n"
        )
        print(
            f"{'setup':>12} {'pubsub':>10} {'concurrency':>11} {'p50 ms':>8} {'p95 ms':>8} "
            f"{'overhead p50':>13} {'overhead p95':>13} {'sequential p50':>15}   "
            "CPU ms per conversation: app+devhost / agents / Azurite"
        )
        ports = {"up": pubsub_port, "black-hole": black_hole()}
        modes = ["up", "black-hole"] if args.pubsub == "both" else [args.pubsub]
        variants = [(c, setup, mode) for c in levels for setup in hosts for mode in modes]
        splits: list[tuple[str, str, int, Split]] = []
        for count, store, mode in variants:
            use_pubsub(ports[mode])
            run(publisher.close_clients())
            devhost = hosts[store]
            processes = {
                "app": [os.getpid(), *worker_pids(devhost)],
                "agents": [agents.pid],
                "azurite": [azurite.process.pid],
            }
            known = set(devhost.engine.instances)
            start = Sample.take(devhost, harness)
            before = {name: sum(map(cpu_seconds, pids)) for name, pids in processes.items()}
            times = run(cpu.metered(level(count, devhost), harness["load"]))
            used = {
                name: (sum(map(cpu_seconds, pids)) - before[name]) * 1000 / count
                for name, pids in processes.items()
            }
            # The turns answered; their orchestrations go on (recording, events): the split
            # below waits for them, so it holds whole turns.
            run(cpu.metered(settle(devhost, known), harness["load"]))
            splits.append((store, mode, count, Sample.take(devhost, harness).since(start)))
            seq = run(baseline(count))
            print(
                f"{store:>12} {mode:>10} {count:>11} {statistics.median(times):>8.0f} "
                f"{percentile(times, 0.95):>8.0f} "
                f"{statistics.median(times) / ideal:>13.2f} "
                f"{percentile(times, 0.95) / ideal:>13.2f} {statistics.median(seq):>15.0f}"
                f"   {used['app']:.0f} / {used['agents']:.0f} / {used['azurite']:.0f}"
            )
        print_splits(splits)
        print_instance_time(splits)
        use_pubsub(ports["up"])
        for setup, devhost in hosts.items() if args.capacity_limit else ():
            probes: dict[int, float] = {}

            def passes(count: int, devhost: DevHost = devhost, probes=probes) -> bool:
                known = set(devhost.engine.instances)
                probes[count] = statistics.median(run(level(count, devhost))) / ideal
                run(settle(devhost, known))  # the next probe starts with nothing left running
                return probes[count] <= CAPACITY_OVERHEAD

            found = highest_passing(passes, args.capacity_limit)
            print(
                f"\ncapacity ({setup}, Web PubSub up): {found} concurrent conversations "
                f"with overhead p50 <= {CAPACITY_OVERHEAD} (searched up to "
                f"{args.capacity_limit}; overhead p50 by concurrency: "
                + ", ".join(f"{count} {ratio:.2f}" for count, ratio in sorted(probes.items()))
                + ")"
            )
    finally:
        agents.terminate()
        agents.wait(30)
        for devhost in hosts.values():
            run(devhost.stop())
        run(pubsub.stop())
        run(storage.close_all())
        run(httpclient.close_http_clients())
        run(publisher.close_clients())
        azurite.stop()


if __name__ == "__main__":
    main()
