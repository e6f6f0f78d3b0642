"""The host's side of FUNCTIONS_WORKER_PROCESS_COUNT >= 2: worker processes and their invocations.

As Azure's host does with its language worker channels: each process (devhost/worker.py)
imports the app itself, invocations go to the processes in turn (the host's
RpcFunctionInvocationDispatcherLoadBalancer is a round-robin counter), their log records come
back into this process's `logging`, and a process that dies is started again, its in-flight
invocations failed with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Mapping
from concurrent.futures import Future
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import azure.functions as func

from devhost import workerwire as wire
from devhost.cpu import CpuLedger, Kind, Usage
from devhost.functions import AppLoadError, FunctionInfo, HttpResult
from devhost.occupancy import Occupancy

log = logging.getLogger("devhost.workers")

# The package folder's parent, so `python -m devhost.worker` imports this devhost from anywhere.
_DEVHOST_PARENT = str(Path(__file__).resolve().parent.parent)
# How long a worker may take to import and index the app, and to answer a CPU query.
START_TIMEOUT_SECONDS = 120.0
QUERY_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 5.0


class WorkerProcessExited(Exception):
    """The worker process running an invocation exited before answering."""


class WorkerProcess:
    """One worker process, its socket, the invocations it has not answered yet, and the thread
    that reads its messages."""

    def __init__(self, pool: WorkerPool, slot: int) -> None:
        self.pool = pool
        self.slot = slot
        host_end, worker_end = socket.socketpair()
        env = dict(pool.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [_DEVHOST_PARENT, *filter(None, [env.get("PYTHONPATH")])]
        )
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [
                sys.executable,
                "-m",
                "devhost.worker",
                "--script-root",
                str(pool.script_root),
                "--fd",
                str(worker_end.fileno()),
                "--route-prefix",
                pool.route_prefix,
                "--log-level",
                str(logging.getLogger().getEffectiveLevel()),
            ],
            env=env,
            pass_fds=[worker_end.fileno()],
        )
        worker_end.close()  # only the worker holds its end: it sees EOF when we go
        # The socket is kept to shut down: closing a descriptor another thread is blocked
        # reading on would neither wake that thread nor end the connection.
        self.socket = host_end
        self.connection = Connection(os.dup(host_end.fileno()))
        self.pid = self.process.pid
        self.pending: dict[int, tuple[Future[Any], str]] = {}
        self.lock = threading.Lock()
        self.ready: Future[None] = Future()
        self.alive = True
        self.reader = threading.Thread(
            target=self._read, name=f"devhost-worker-{slot}-reader", daemon=True
        )
        self.reader.start()

    def submit(self, message: wire.Invocation | wire.CpuQuery, what: str) -> Future[Any]:
        """Send `message`; its future gets the answer, or the reason there is none."""
        future: Future[Any] = Future()
        # Running from now on: cancelling the asyncio side (a host stopping) cannot cancel it,
        # so the answer, whenever it comes, always has a future to go to.
        future.set_running_or_notify_cancel()
        with self.lock:
            if not self.alive:
                future.set_exception(self._exited(what))
                return future
            self.pending[message.id] = (future, what)
            try:
                self.connection.send(message)
            except OSError:
                self.pending.pop(message.id, None)
                future.set_exception(self._exited(what))
        return future

    def stop(self) -> None:
        """Close our end (the worker exits on EOF) and wait for the process, killing it late."""
        with contextlib.suppress(OSError):  # already shut down, or the worker has gone
            self.socket.shutdown(socket.SHUT_RDWR)
        self.socket.close()
        try:
            self.process.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def _read(self) -> None:
        while True:
            try:
                message: wire.FromWorker = self.connection.recv()
            except (EOFError, OSError):
                break
            except Exception:  # one message that does not unpickle here (a log's `extra`)
                log.exception("a message from worker process %d could not be read", self.pid)
                continue
            try:
                self._handle(message)
            except Exception:  # a log handler that fails must not stop the answers
                log.exception("a message from worker process %d failed here", self.pid)
        self._ended()

    def _handle(self, message: wire.FromWorker) -> None:
        if isinstance(message, wire.LogMessage):
            record = message.record()
            logger = logging.getLogger(record.name)
            if logger.isEnabledFor(record.levelno):
                logger.handle(record)
        elif isinstance(message, wire.Ready):
            self.ready.set_result(None)
        elif isinstance(message, wire.LoadFailed):
            self.ready.set_exception(AppLoadError(message.message))
        else:
            with self.lock:
                future, _ = self.pending.pop(message.id)
            if isinstance(message, wire.Failure):
                future.set_exception(message.exception())
            elif isinstance(message, wire.CpuReport):
                future.set_result(message.by_function)
            else:
                future.set_result(message.value)

    def _ended(self) -> None:
        with self.lock:  # `submit` sends under this lock, so never on a closed descriptor
            self.alive = False
            self.connection.close()
            pending = list(self.pending.values())
            self.pending.clear()
        code = self.process.wait()
        if not self.ready.done():
            self.ready.set_exception(
                AppLoadError(f"worker process {self.pid} exited with code {code} while starting")
            )
        for future, what in pending:
            future.set_exception(self._exited(what, code))
        self.pool._exited(self)

    def _exited(self, what: str, code: int | None = None) -> WorkerProcessExited:
        code = self.process.returncode if code is None else code
        return WorkerProcessExited(
            f"the worker process (pid {self.pid}) exited with code {code} before {what} "
            "returned; the host starts another"
        )


class WorkerPool:
    """FUNCTIONS_WORKER_PROCESS_COUNT worker processes, used as the in-process Invoker is."""

    def __init__(
        self, script_root: Path, count: int, environ: Mapping[str, str], route_prefix: str
    ) -> None:
        self.script_root = script_root
        self.count = count
        self.environ = environ
        self.route_prefix = route_prefix
        self._ids = itertools.count(1)
        self._turn = itertools.count()
        self._lock = threading.Lock()
        self._workers: list[WorkerProcess | None] = [None] * count
        # CPU counted by worker processes that have exited: still the app's.
        self._retired: dict[tuple[Kind, str], Usage] = {}
        self._last_report: dict[int, dict[tuple[Kind, str], Usage]] = {}
        self._serving = False
        self._closing = False
        self.ledger = CpuLedger(remote=self.cpu_tallies)
        self.occupancy = Occupancy()

    @property
    def pids(self) -> list[int]:
        """The worker processes' ids, in slot order (those running now)."""
        return [w.pid for w in self._workers if w is not None and w.alive]

    def start(self) -> None:
        """Start every worker process and wait until each has indexed the app (blocking)."""
        workers = [WorkerProcess(self, slot) for slot in range(self.count)]
        self._workers = list(workers)
        try:
            for worker in workers:
                worker.ready.result(START_TIMEOUT_SECONDS)
        except Exception:
            self.close()
            raise
        self._serving = True

    async def call_http(
        self, info: FunctionInfo, request: func.HttpRequest, client_json: str | None
    ) -> HttpResult:
        """Invoke an HTTP-triggered function in a worker process."""
        call = wire.HttpCall(wire.HttpRequestData.of(request), client_json)
        return await asyncio.wrap_future(self._invoke(info, call))

    async def call_timer(
        self, info: FunctionInfo, client_json: str | None, past_due: bool = False
    ) -> None:
        """Invoke a timer-triggered function in a worker process."""
        await asyncio.wrap_future(self._invoke(info, wire.TimerCall(client_json, past_due)))

    async def call_activity(self, info: FunctionInfo, input_json: str | None) -> str:
        """Invoke an activity in a worker process; its result as JSON text."""
        return await asyncio.wrap_future(self._invoke(info, wire.ActivityCall(input_json)))

    def call_orchestrator(self, info: FunctionInfo, context_json: str) -> str:
        """Run one orchestrator episode in a worker process (blocking, as the Invoker's)."""
        return self._invoke(info, wire.OrchestratorCall(context_json)).result()

    def cpu_tallies(self) -> dict[tuple[Kind, str], Usage]:
        """Every worker process's CPU tallies added up, those of exited ones included."""
        queries = [
            (worker, worker.submit(wire.CpuQuery(next(self._ids)), "a CPU query"))
            for worker in self._workers
            if worker is not None
        ]
        for worker, query in queries:
            try:
                report = query.result(QUERY_TIMEOUT_SECONDS)
            except WorkerProcessExited:
                continue  # its last report went to the retired tallies
            with self._lock:
                if worker.alive:  # else `_exited` has already retired its last report
                    self._last_report[worker.pid] = report
        with self._lock:
            total = dict(self._retired)
            for report in self._last_report.values():
                for key, usage in report.items():
                    total[key] = total.get(key, Usage()).plus(usage)
        return total

    def close(self) -> None:
        """Stop every worker process."""
        with self._lock:
            self._closing = True
        for worker in self._workers:
            if worker is not None:
                worker.stop()

    def _invoke(self, info: FunctionInfo, call: wire.Call) -> Future[Any]:
        message = wire.Invocation(next(self._ids), info.name, call)
        return self._next_worker().submit(message, f"{info.name} (invocation {message.id})")

    def _next_worker(self) -> WorkerProcess:
        with self._lock:
            running = [w for w in self._workers if w is not None and w.alive]
            if not running:
                raise WorkerProcessExited("no worker process is running (see the log for why)")
            return running[next(self._turn) % len(running)]

    def _exited(self, worker: WorkerProcess) -> None:
        """A worker process ended: keep what it counted, and start another if it was serving."""
        with self._lock:
            for key, usage in self._last_report.pop(worker.pid, {}).items():
                self._retired[key] = self._retired.get(key, Usage()).plus(usage)
        # One that never became ready (the app no longer loads) is not started again and again.
        if self._closing or not self._serving or worker.ready.exception() is not None:
            return
        log.warning(
            "worker process %d exited with code %s; starting another",
            worker.pid,
            worker.process.returncode,
        )
        replacement = WorkerProcess(self, worker.slot)
        try:
            replacement.ready.result(START_TIMEOUT_SECONDS)
        except Exception:  # a replacement that cannot start leaves the others serving
            log.exception("worker process %d could not be replaced", worker.pid)
            replacement.stop()
            return
        with self._lock:
            if not self._closing:
                self._workers[worker.slot] = replacement
                return
        replacement.stop()
