"""`python -m devhost.worker`: one worker process of the devhost (FUNCTIONS_WORKER_PROCESS_COUNT).

Like one Azure Functions Python worker: it imports and indexes the app itself (so module-level
state is its own), runs the invocations the host sends (async functions on its own event loop,
sync ones on its own thread pool, orchestrator episodes on one thread of their own) and sends
back results, exceptions and its log records. It exits when the host's end of the socket
closes, whether the host stopped or was killed.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import threading
import traceback
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from devhost import workerwire as wire
from devhost.cpu import attribute_spawned_tasks
from devhost.functions import AppLoadError, FunctionIndex, Invoker, index_app, load_app


class HostLink:
    """The worker's end of the socket: sends from any thread, one message at a time."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self._lock = threading.Lock()

    def send(self, message: wire.FromWorker) -> None:
        """Send one message to the host."""
        with self._lock:
            self.connection.send(message)


class ForwardingHandler(logging.Handler):
    """Sends every record to the host, as the Python worker sends RpcLog messages."""

    def __init__(self, link: HostLink) -> None:
        super().__init__(logging.NOTSET)
        self.link = link
        self.plain = logging.Formatter()

    def emit(self, record: logging.LogRecord) -> None:
        """Forward `record` (its message formatted, its `extra` fields kept)."""
        try:
            self.link.send(wire.LogMessage.of(record, self.plain))
        except Exception:  # logging must never break the function that logs
            self.handleError(record)


class Worker:
    """Runs the invocations one host sends to this process."""

    def __init__(self, link: HostLink, index: FunctionIndex, script_root: Path) -> None:
        self.link = link
        self.index = index
        self.invoker = Invoker(script_root)
        self.loop = asyncio.new_event_loop()
        # The tasks the app's async functions create are charged to them (devhost/cpu.py).
        attribute_spawned_tasks(self.loop)
        # The engine runs episodes one at a time on one thread; so does each worker.
        self.orchestrator_thread = ThreadPoolExecutor(1, thread_name_prefix="orchestrator")
        threading.Thread(target=self.loop.run_forever, name="worker-loop", daemon=True).start()

    def serve(self) -> None:
        """Answer the host's messages until its end of the socket closes."""
        while True:
            try:
                message: wire.ToWorker = self.link.connection.recv()
            except (EOFError, OSError):
                return
            if isinstance(message, wire.CpuQuery):
                tallies = self.invoker.ledger.snapshot().by_function
                self.link.send(wire.CpuReport(message.id, dict(tallies)))
            elif isinstance(message.call, wire.OrchestratorCall):
                self.orchestrator_thread.submit(self._episode, message, message.call)
            else:
                asyncio.run_coroutine_threadsafe(self._invoke(message), self.loop)

    def _episode(self, message: wire.Invocation, call: wire.OrchestratorCall) -> None:
        info = self.index.by_name[message.function]
        try:
            value = self.invoker.call_orchestrator(info, call.context_json)
        except Exception as exc:  # the engine reads the SDK's failure from the message
            self._fail(message.id, exc)
            return
        self.link.send(wire.Result(message.id, value))

    async def _invoke(self, message: wire.Invocation) -> None:
        try:
            value = await self._call(message)
        except Exception as exc:  # every outcome goes back to the host, which decides
            self._fail(message.id, exc)
            return
        self.link.send(wire.Result(message.id, value))

    async def _call(self, message: wire.Invocation) -> Any:
        info = self.index.by_name[message.function]
        call = message.call
        if isinstance(call, wire.HttpCall):
            return await self.invoker.call_http(info, call.request.build(), call.client_json)
        if isinstance(call, wire.TimerCall):
            return await self.invoker.call_timer(info, call.client_json, call.past_due)
        if isinstance(call, wire.ActivityCall):
            return await self.invoker.call_activity(info, call.input_json)
        raise TypeError(f"not a call for the worker's loop: {call!r}")

    def _fail(self, invocation_id: int, exc: Exception) -> None:
        text = "".join(traceback.format_exception(exc))
        self.link.send(wire.Failure.of(invocation_id, exc, text))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line the host starts a worker with."""
    parser = argparse.ArgumentParser(prog="python -m devhost.worker")
    parser.add_argument("--script-root", type=Path, required=True)
    parser.add_argument("--fd", type=int, required=True, help="this end of the host's socket")
    parser.add_argument("--route-prefix", default="api")
    parser.add_argument("--log-level", type=int, default=logging.INFO)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Import and index the app, report Ready (or why not), then serve until the host goes."""
    args = parse_args(argv)
    # Ctrl-C in a terminal reaches the whole process group: the host decides when we stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    link = HostLink(Connection(args.fd))
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(ForwardingHandler(link))
    root.setLevel(args.log_level)
    try:
        index = index_app(load_app(args.script_root), args.route_prefix)
    except AppLoadError as exc:
        link.send(wire.LoadFailed(str(exc)))
        return
    worker = Worker(link, index, args.script_root.resolve())
    link.send(wire.Ready(os.getpid()))
    worker.serve()
    # The host is gone: end now, without waiting for functions still running on our threads.
    os._exit(0)


if __name__ == "__main__":
    main()
