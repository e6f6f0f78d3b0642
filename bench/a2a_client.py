"""Our thin A2A client (voicea2a/a2a.py) against a2a-sdk's client (issue 16, item 6).

Four measurements, side by side in one run, against a2a-sdk peers on loopback
(tests/a2a_peers.py):

1. cold import: a fresh interpreter imports what the `call_specialist` activity needs anyway
   (the floor), then our client or a2a-sdk's; the cases alternate, each run after a warm-up;
2. first call: a fresh interpreter imports a client and makes one streamed call to the
   multi-artifact peer (card fetch included), timed from its start to the answer;
3. behaviour: each client against streaming-only, slow (longer than the old 6 s), silent,
   multi-artifact (1.0 and 0.3, parts compared) and oversized streams;
4. calls in a row: ours, streamed calls one after another on one client, with each stream read
   to its end (the client's way) or closed at the task's last event (`STREAM_END_SECONDS = 0`,
   its way before): this process's CPU per call (client and peer share it) and the TCP
   connections opened.

    .venv/bin/python bench/a2a_client.py [--runs 9] [--slow-updates 7]
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bench.common import add_log_option, send_logs_to  # noqa: E402

FLOOR_IMPORTS = (
    "import httpx, opentelemetry.trace, voicea2a.errors, voicea2a.telemetry.spans, "
    "voicea2a.telemetry.redaction"
)
IMPORTS = {
    "floor (what the activity imports anyway)": FLOOR_IMPORTS,
    "ours: + voicea2a.a2a": f"{FLOOR_IMPORTS}; import voicea2a.a2a",
    "a2a-sdk: + a2a.client, a2a.types": (
        f"{FLOOR_IMPORTS}; from a2a.client import ClientConfig, create_client; import a2a.types"
    ),
}
IMPORT_PROBE = """
import json, sys, time
started = time.perf_counter()
{statement}
print(json.dumps({{"ms": (time.perf_counter() - started) * 1000, "modules": len(sys.modules)}}))
"""
CALL_PROBES = {
    "ours": """
import asyncio, json, time
started = time.perf_counter()
import httpx
from voicea2a.a2a import fetch_card, send_message
async def main():
    async with httpx.AsyncClient() as http:
        card = await fetch_card(http, {url!r}, timeout=10, max_bytes=1_000_000)
        result = await send_message(http, card, text="hi", timeout=10, max_bytes=1_000_000)
        return len(result.parts)
parts = asyncio.run(main())
print(json.dumps({{"ms": (time.perf_counter() - started) * 1000, "parts": parts}}))
""",
    "a2a-sdk": """
import asyncio, json, time, uuid
started = time.perf_counter()
from a2a.client import ClientConfig, create_client
from a2a.types import Message, Part, Role, SendMessageRequest
async def main():
    client = await create_client({url!r}, client_config=ClientConfig(streaming=True))
    message = Message(message_id=str(uuid.uuid4()), role=Role.ROLE_USER, parts=[Part(text="hi")])
    task = None
    async for event in client.send_message(SendMessageRequest(message=message)):
        task = event
    await client.close()
    return 1 if task is not None else 0
parts = asyncio.run(main())
print(json.dumps({{"ms": (time.perf_counter() - started) * 1000, "parts": parts}}))
""",
}


def fresh(code: str) -> dict[str, Any]:
    """Run `code` in a fresh interpreter at the repository root; its one JSON line."""
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def alternate(cases: dict[str, str], runs: int) -> dict[str, list[float]]:
    """Each case once to warm up, then `runs` rounds of all cases in turn."""
    for code in cases.values():
        fresh(code)
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(runs):
        for name, code in cases.items():
            samples[name].append(fresh(code)["ms"])
    return samples


def table(title: str, samples: dict[str, list[float]], base: str) -> None:
    """Print medians, spread and the ratio to `base`."""
    print(f"\n{title}")
    print(f"{'case':<44} {'median ms':>10} {'min':>8} {'max':>8} {'/ ' + base[:12]:>14}")
    medians = {name: statistics.median(values) for name, values in samples.items()}
    for name, values in samples.items():
        print(
            f"{name:<44} {medians[name]:>10.1f} {min(values):>8.1f} {max(values):>8.1f} "
            f"{medians[name] / medians[base]:>14.2f}"
        )


# --- behaviour ---------------------------------------------------------------------------------


async def ours(url: str, *, timeout: float = 30, silence: float | None = None, **extra: Any):
    """Our client's answer: (state, normalised parts, progress texts) or the error kind."""
    from voicea2a.a2a import A2AError, fetch_card, send_message

    reports: list[str] = []

    async def progress(report: Any) -> None:
        reports.append(report.text)

    async with httpx.AsyncClient() as http:
        card = await fetch_card(http, url, timeout=10, max_bytes=1_000_000)
        try:
            result = await send_message(
                http,
                card,
                text="hi",
                timeout=timeout,
                silence=silence,
                max_bytes=extra.get("max_bytes", 1_000_000),
                on_progress=progress,
            )
        except A2AError as exc:
            return f"error: {exc.kind}"
    parts = [
        {k: v for k, v in part.to_json().items() if k not in ("artifactId",)}
        for part in result.parts
    ]
    return result.state, parts, reports


async def sdk(url: str, *, timeout: float | None = None):
    """a2a-sdk's client: (state, parts as ProtoJSON, progress texts) or the error."""
    from a2a.client import ClientCallContext, ClientConfig, create_client
    from a2a.types import Message, Part, Role, SendMessageRequest, TaskState
    from google.protobuf.json_format import MessageToDict

    http = httpx.AsyncClient(timeout=None)
    client = await create_client(url, client_config=ClientConfig(streaming=True, httpx_client=http))
    message = Message(message_id="m-1", role=Role.ROLE_USER, parts=[Part(text="hi")])
    context = ClientCallContext(timeout=timeout) if timeout else None
    reports: list[str] = []
    task: Any = None
    try:
        async for event in client.send_message(
            SendMessageRequest(message=message), context=context
        ):
            which = event.WhichOneof("payload")
            status = event.status_update.status
            ongoing = status.state in (TaskState.TASK_STATE_SUBMITTED, TaskState.TASK_STATE_WORKING)
            if which == "status_update" and ongoing and status.HasField("message"):
                reports.append(status.message.parts[0].text)
            if which == "task":
                task = event.task
            if which == "message":
                task = event.message
        if task is None:
            return "no answer"
        if hasattr(task, "status"):
            # The stream's events, gathered as the SDK leaves it to its caller: GetTask.
            fetched = await client.get_task(_get_task(task.id))
            parts = [MessageToDict(p) for p in fetched.status.message.parts]
            parts += [MessageToDict(p) for a in fetched.artifacts for p in a.parts]
            state = TaskState.Name(fetched.status.state)
        else:
            parts = [MessageToDict(p) for p in task.parts]
            state = "message"
        return str(state), parts, reports
    except Exception as exc:  # what the SDK raised is the result here
        return f"error: {type(exc).__name__}"
    finally:
        await client.close()
        await http.aclose()


def _get_task(task_id: str) -> Any:
    from a2a.types import GetTaskRequest

    return GetTaskRequest(id=task_id)


async def sdk_stream_bytes(url: str) -> int:
    """How many bytes a2a-sdk's client reads of an endless-ish stream (it has no cap)."""
    from a2a.client import ClientConfig, create_client
    from a2a.types import Message, Part, Role, SendMessageRequest

    read = 0

    async def measure(response: httpx.Response) -> None:
        original = response.aiter_raw

        async def counting(*args: Any, **kwargs: Any):
            nonlocal read
            async for chunk in original(*args, **kwargs):
                read += len(chunk)
                yield chunk

        response.aiter_raw = counting  # type: ignore[method-assign]

    http = httpx.AsyncClient(timeout=None, event_hooks={"response": [measure]})
    client = await create_client(url, client_config=ClientConfig(streaming=True, httpx_client=http))
    message = Message(message_id="m-2", role=Role.ROLE_USER, parts=[Part(text="hi")])
    try:
        async for _ in client.send_message(SendMessageRequest(message=message)):
            pass
    finally:
        await client.close()
        await http.aclose()
    return read


async def behaviour(slow_updates: int) -> list[tuple[str, str, str]]:
    """Each case against each client: what came back."""
    from tests.a2a_peers import multi_artifact_agent, slow_agent, streaming_only_agent

    rows: list[tuple[str, str, str]] = []

    def brief(outcome: Any) -> str:
        if isinstance(outcome, str):
            return outcome
        state, parts, reports = outcome
        return f"{state}, {len(parts)} parts, {len(reports)} progress"

    for version in ("1.0", "0.3"):
        async with streaming_only_agent(version) as agent:
            rows.append(
                (
                    f"streaming-only {version}",
                    brief(await ours(agent.url)),
                    brief(await sdk(agent.url)),
                )
            )
    agent, _ = slow_agent(updates=slow_updates, interval=1.0)
    async with agent:
        started = time.perf_counter()
        mine = brief(await ours(agent.url, timeout=60, silence=3))
        mine += f" in {time.perf_counter() - started:.1f} s"
        started = time.perf_counter()
        theirs = brief(await sdk(agent.url))
        theirs += f" in {time.perf_counter() - started:.1f} s"
        rows.append((f"slow streaming ({slow_updates} x 1 s)", mine, theirs))
    agent, executor = slow_agent(updates=1, interval=0.0, hang=True)
    async with agent:
        mine = brief(await ours(agent.url, timeout=30, silence=1))
        theirs = brief(await sdk(agent.url, timeout=1))
        executor.release.set()
        rows.append(("silent after one update (limit 1 s)", mine, theirs))
    seen: dict[str, dict[str, Any]] = {"ours": {}, "sdk": {}}
    for version in ("1.0", "0.3"):
        async with multi_artifact_agent(version) as agent:
            seen["ours"][version] = await ours(agent.url)
            seen["sdk"][version] = await sdk(agent.url)
        rows.append(
            (
                f"multi-artifact {version}",
                brief(seen["ours"][version]),
                brief(seen["sdk"][version]),
            )
        )

    def same(client: str) -> str:
        one, other = seen[client]["1.0"], seen[client]["0.3"]
        if isinstance(one, str) or isinstance(other, str):
            return "no answer"
        lists = [p for p in one[1] if isinstance(p.get("data"), list)]
        return ("identical" if one[1] == other[1] else "differ") + (
            ", list data kept" if lists else ", list data lost"
        )

    rows.append(("parts 1.0 vs 0.3", same("ours"), same("sdk")))
    agent, _ = slow_agent(updates=3000, interval=0.0)
    async with agent:
        mine = brief(await ours(agent.url, max_bytes=100_000))
        theirs = f"read {await sdk_stream_bytes(agent.url):,} bytes (no cap)"
        rows.append(("stream of ~1.4 MB, cap 100 KB", mine, theirs))
    return rows


async def calls_in_a_row(calls: int, rounds: int) -> dict[str, tuple[list[float], list[int]]]:
    """Per case, each round's CPU ms per call and connections opened (see the docstring, 4)."""
    import voicea2a.a2a as a2a
    from tests.a2a_peers import multi_artifact_agent

    cases = {"read to its end": a2a.STREAM_END_SECONDS, "closed at the last event": 0.0}
    seen: dict[str, tuple[list[float], list[int]]] = {name: ([], []) for name in cases}
    async with multi_artifact_agent("1.0") as agent:
        for round_ in range(rounds + 1):  # the first round warms up
            for name, wait in cases.items():
                a2a.STREAM_END_SECONDS = wait
                used, connections = await _one_client(agent.url, calls)
                if round_:
                    seen[name][0].append(used)
                    seen[name][1].append(connections)
    a2a.STREAM_END_SECONDS = cases["read to its end"]
    return seen


async def _one_client(url: str, calls: int) -> tuple[float, int]:
    """`calls` streamed calls in a row on a new client: CPU ms per call, connections opened."""
    from tests.a2a_peers import LocalPorts
    from voicea2a.a2a import fetch_card, send_message

    local = LocalPorts()
    async with httpx.AsyncClient(event_hooks={"response": [local]}) as http:
        card = await fetch_card(http, url, timeout=10, max_bytes=1_000_000)
        started = time.process_time()
        for _ in range(calls):
            await send_message(http, card, text="hi", timeout=10, max_bytes=1_000_000)
        return (time.process_time() - started) * 1000 / calls, len(set(local.ports))


# --- lines of code -----------------------------------------------------------------------------

WIRE = {
    "send_message",
    "_exchange",
    "_read_body",
    "_stream_exchange",
    "_read_stream",
    "_sse_data",
    "_next_line",
    "_stream_result",
    "_StreamedTask",
    "_stream_event",
    "_MessageFields",
    "_request_v1",
    "_request_v03",
    "_optional_fields",
    "_parse_reply",
    "_rpc_failure",
    "_is_rpc_error",
    "_result",
    "_state",
    "_from_task",
    "_from_message",
    "_parts",
    "_part",
    "_decoded_size",
    "_text_and_data",
    "_whole_numbers",
}


def code_lines(path: Path) -> tuple[int, int]:
    """Lines of code (no blank, comment or docstring lines) of `path`: all, and those of the
    wire-level functions a2a-sdk's client would replace."""
    source = path.read_text()
    tree = ast.parse(source)
    docstrings = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        first = body[0] if isinstance(body, list) and body else None
        value = first.value if isinstance(first, ast.Expr) else None
        if first is not None and isinstance(value, ast.Constant) and isinstance(value.value, str):
            docstrings.update(range(first.lineno, (first.end_lineno or first.lineno) + 1))
    lines = source.splitlines()

    def counted(first: int, last: int) -> int:
        return sum(
            1
            for n in range(first, last + 1)
            if n not in docstrings
            and lines[n - 1].strip()
            and not lines[n - 1].strip().startswith("#")
        )

    wire = sum(
        counted(node.lineno, node.end_lineno or node.lineno)
        for node in tree.body
        if getattr(node, "name", None) in WIRE
    )
    return counted(1, len(lines)), wire


def sdk_lines() -> int:
    """Lines (all) of the a2a-sdk client code a call goes through: client, JSON-RPC transport,
    the 0.3 compatibility layer it needs, and the types' Python modules."""
    import a2a

    base = Path(a2a.__file__).parent
    files = [*(base / "client").rglob("*.py"), *(base / "compat").rglob("*.py")]
    return sum(len(f.read_text().splitlines()) for f in files)


def main() -> None:
    """Measure and print the four tables and the lines of code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--slow-updates", type=int, default=7)
    add_log_option(parser, "a2a-client")
    args = parser.parse_args()
    send_logs_to(args.log)

    probes = {name: IMPORT_PROBE.format(statement=code) for name, code in IMPORTS.items()}
    samples = alternate(probes, args.runs)
    table(
        f"1. cold import, fresh interpreters, {args.runs} alternated runs",
        samples,
        "floor (what the activity imports anyway)",
    )
    floor = statistics.median(samples["floor (what the activity imports anyway)"])
    ours_ms = statistics.median(samples["ours: + voicea2a.a2a"]) - floor
    sdk_ms = statistics.median(samples["a2a-sdk: + a2a.client, a2a.types"]) - floor
    print(f"added to the floor: ours {ours_ms:.1f} ms, a2a-sdk {sdk_ms:.1f} ms")
    modules = {name: fresh(code)["modules"] for name, code in probes.items()}
    print("modules loaded: " + ", ".join(f"{n.split(':')[0]} {m}" for n, m in modules.items()))

    async def first_calls() -> dict[str, list[float]]:
        from tests.a2a_peers import multi_artifact_agent

        async with multi_artifact_agent("1.0") as agent:
            cases = {name: code.format(url=agent.url) for name, code in CALL_PROBES.items()}
            return await asyncio.to_thread(alternate, cases, args.runs)

    table(
        f"2. first streamed call from a fresh interpreter (imports, card, call), {args.runs} runs",
        asyncio.run(first_calls()),
        "ours",
    )

    print("\n3. behaviour against a2a-sdk peers")
    print(f"{'case':<38} | {'ours':<44} | a2a-sdk client")
    for case, mine, theirs in asyncio.run(behaviour(args.slow_updates)):
        print(f"{case:<38} | {mine:<44} | {theirs}")

    in_a_row = asyncio.run(calls_in_a_row(calls=100, rounds=args.runs))
    print(f"\n4. 100 streamed calls in a row on one client, {args.runs} alternated rounds")
    print(f"{'case':<28} {'CPU ms per call':>16} {'connections':>12}")
    for case, (cpu, connections) in in_a_row.items():
        print(f"{case:<28} {statistics.median(cpu):>16.2f} {max(connections):>12}")
    ratio = statistics.median(in_a_row["read to its end"][0]) / statistics.median(
        in_a_row["closed at the last event"][0]
    )
    print(f"read to its end / closed at the last event: {ratio:.2f}")

    total, wire = code_lines(ROOT / "voicea2a" / "a2a.py")
    print(
        f"\n5. lines of code: voicea2a/a2a.py {total} (of which {wire} wire-level: requests, "
        f"SSE, replies, parts; the rest, card validation, errors, credentials, trace headers, "
        f"stays either way); a2a-sdk client + 0.3 compat: {sdk_lines()} lines"
    )


if __name__ == "__main__":
    main()
