"""`python -m devhost`: run this Function App locally without Azure Functions Core Tools."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

from devhost.azurite import AzuriteError, start_azurite
from devhost.durable.faults import ACTIVITY_FAULTS_SETTING
from devhost.durable.store import StoreUnavailable, TableStore
from devhost.durable.storeconfig import DURABLE_STORE_SETTING
from devhost.functions import AppLoadError
from devhost.host import DevHost
from devhost.keys import HOST_KEY_SETTING
from devhost.pubsub import PubSubService
from devhost.server import describe_routes
from devhost.settings import SettingsError, load_settings

log = logging.getLogger("devhost")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="python -m devhost",
        description=(
            "Run the Function App in --script-root locally, the way `func start` would: HTTP "
            "triggers "
            "under the route prefix, Durable orchestrations and activities, timer triggers, and "
            "(unless told not to) Azurite. Settings come from local.settings.json, falling back to "
            "local.settings.example.json; variables already set in the environment win."
        ),
    )
    parser.add_argument(
        "--script-root",
        type=Path,
        default=Path.cwd(),
        help="folder holding function_app.py and host.json (default: current folder)",
    )
    parser.add_argument(
        "--port", type=int, default=7071, help="HTTP port (default 7071; 0 picks a free one)"
    )
    parser.add_argument(
        "--bind", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    parser.add_argument(
        "--no-azurite", action="store_true", help="do not start Azurite (use one already running)"
    )
    parser.add_argument(
        "--azurite-ports",
        default="10000,10001,10002",
        help="Azurite's blob,queue,table ports (default 10000,10001,10002, which "
        "UseDevelopmentStorage=true points at)",
    )
    parser.add_argument(
        "--azurite-location",
        type=Path,
        default=None,
        help="Azurite's data folder (default: .azurite in --script-root)",
    )
    parser.add_argument(
        "--no-agents",
        action="store_true",
        help="do not start the sample A2A agents (ports 8101-8106)",
    )
    parser.add_argument(
        "--no-timers", action="store_true", help="do not run timer triggers on their schedule"
    )
    parser.add_argument(
        "--no-pubsub",
        action="store_true",
        help="do not start the local Web PubSub service (use the official emulator instead)",
    )
    parser.add_argument("--verbose", action="store_true", help="debug logging")
    return parser.parse_args(argv)


def local_pubsub(environ: Mapping[str, str]) -> PubSubService | None:
    """The local Web PubSub service for WEBPUBSUB_CONNECTION_STRING, when it points here."""
    value = environ.get("WEBPUBSUB_CONNECTION_STRING", "")
    if not value:
        return None
    service = PubSubService.from_connection_string(value)
    host = urlsplit(service.endpoint).hostname if service.endpoint else None
    return service if host in ("localhost", "127.0.0.1") else None


class SampleAgentsError(Exception):
    """The sample agents could not start."""


async def start_sample_agents(function_app_url: str) -> contextlib.AsyncExitStack:
    """The six Contoso agents on 8101-8106, registering themselves with this app; close to stop."""
    # Imported here: with --no-agents the host needs none of the agents' packages (a2a-sdk), as
    # when it runs an unpacked deployment package with only requirements.txt installed.
    from agents.server import AgentStartError, start_agents
    from agents.settings import load_settings as load_agent_settings

    settings = replace(load_agent_settings(), function_app_url=function_app_url)
    try:
        agents = await start_agents(settings=settings)
    except AgentStartError as exc:
        raise SampleAgentsError(str(exc)) from exc
    log.info("Agents: %s", ", ".join(f"{n} {u}" for n, u in agents.urls.items()))
    stack = contextlib.AsyncExitStack()
    stack.push_async_callback(agents.stop)
    return stack


async def serve(args: argparse.Namespace) -> int:
    """Start everything, print where to go, and run until Ctrl-C or SIGTERM."""
    root = args.script_root.resolve()
    load_settings(root)  # the local services below read the same settings as the app
    # Handled from the start: a Ctrl-C during start-up stops cleanly once start-up is done.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with contextlib.AsyncExitStack() as running:
        if not args.no_azurite:
            blob, queue, table = azurite_ports(args.azurite_ports)
            location = (args.azurite_location or root / ".azurite").resolve()
            azurite = start_azurite(
                blob_port=blob,
                queue_port=queue,
                table_port=table,
                location=location,
                in_memory=False,
            )
            running.callback(azurite.stop)
            log.info(
                "Azurite (PID %s%s): blob %d, queue %d, table %d (data in %s)",
                azurite.pid,
                ", already running: reused" if azurite.reused_pid else "",
                blob,
                queue,
                table,
                location,
            )
        pubsub = None if args.no_pubsub else local_pubsub(os.environ)
        if pubsub is not None:
            await pubsub.start()
            running.push_async_callback(pubsub.stop)
            log.info("Web PubSub (local service): %s", pubsub.base_url)
        host = DevHost(
            root,
            port=args.port,
            bind=args.bind,
            web_root=root / "web",
            run_timers=not args.no_timers,
        )
        running.push_async_callback(host.stop)
        await host.start()
        if not args.no_agents:
            running.push_async_callback((await start_sample_agents(host.base_url)).aclose)
        log.info(
            "Functions:\n%s", "\n".join(describe_routes(host.index)) or "  (no HTTP functions)"
        )
        log.info(
            "%d function(s) indexed: %d orchestrator(s), %d activity(ies), %d timer(s)",
            len(host.index.by_name),
            len(host.index.orchestrators),
            len(host.index.activities),
            len(host.index.timers),
        )
        if host.index.unsupported:
            log.warning("Not hosted here: %s", ", ".join(host.index.unsupported))
        log.info(
            "Open %s/ (API under %s/%s/)", host.base_url, host.base_url, host.settings.route_prefix
        )
        # The one line that shows the key: /admin and /runtime/webhooks refuse callers without it.
        log.info(
            "Host key (x-functions-key header or code= for /admin/ and /runtime/webhooks/; %s): %s",
            f"from {HOST_KEY_SETTING}" if host.host_key.from_setting else "random for this run",
            host.host_key.value,
        )
        store = host.engine.store
        if isinstance(store, TableStore):
            log.info(
                "Durable store: %s (%s=memory to keep orchestrations in memory only)",
                store.endpoint,
                DURABLE_STORE_SETTING,
            )
        elif host.index.orchestrators:
            log.warning(
                "Durable store: memory (%s): a restart loses every orchestration",
                DURABLE_STORE_SETTING,
            )
        if host.engine.activity_faults:
            log.warning(
                "Activity fault modes on (%s): %s",
                ACTIVITY_FAULTS_SETTING,
                ", ".join(sorted(host.engine.activity_faults)),
            )
        await stop.wait()
        log.info("Stopping")
    return 0


def azurite_ports(text: str) -> tuple[int, int, int]:
    """The blob, queue and table ports of `--azurite-ports`."""
    try:
        blob, queue, table = (int(part) for part in text.split(","))
    except ValueError as exc:
        raise SettingsError(
            f"--azurite-ports: three comma-separated port numbers, got {text!r}"
        ) from exc
    return blob, queue, table


def main(argv: list[str] | None = None) -> int:
    """Entry point; a broken app or settings file exits non-zero with the cause."""
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(message)s",
        datefmt="%H:%M:%S",
    )
    # One line per request and per orchestration step is ours; the libraries' chatter is not.
    for noisy in ("aiohttp.access", "azure", "uvicorn.error", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return asyncio.run(serve(args))
    except (AppLoadError, SampleAgentsError, AzuriteError, SettingsError, StoreUnavailable) as exc:
        print(f"devhost: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
