"""`python -m agents`: run the Contoso specialist agents until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from agents import settings as agent_settings
from agents.catalog import AGENT_NAMES, DEFAULT_BASE_PORT
from agents.server import AgentStartError, start_agents
from agents.settings import AgentConfigError, load_settings


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    ports = ", ".join(f"{name} +{offset}" for offset, name in enumerate(AGENT_NAMES))
    parser = argparse.ArgumentParser(
        prog="python -m agents",
        description=(
            "Run the six Contoso specialist agents as A2A 1.0 servers (JSON-RPC at /a2a, card at "
            "/.well-known/agent-card.json, GET /health), one port each from --base-port: "
            f"{ports}. Each registers with the Function App on a heartbeat."
        ),
        epilog="Settings (environment variables):\n" + (agent_settings.__doc__ or ""),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=AGENT_NAMES,
        metavar="NAME",
        help=f"run only this agent (repeatable); one of: {', '.join(AGENT_NAMES)}",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    parser.add_argument(
        "--base-port",
        type=int,
        default=DEFAULT_BASE_PORT,
        help=(
            f"port of the first agent; the others follow (default {DEFAULT_BASE_PORT}; "
            "0: any free ports)"
        ),
    )
    parser.add_argument(
        "--v03-compat",
        action="store_true",
        help="also accept A2A 0.3 JSON-RPC (message/send) and list a 0.3 interface on the cards",
    )
    parser.add_argument("--verbose", action="store_true", help="debug logging")
    return parser.parse_args(argv)


async def run(args: argparse.Namespace) -> int:
    """Start the agents, print their URLs, and wait for Ctrl-C or SIGTERM."""
    group = await start_agents(
        args.only,
        host=args.host,
        base_port=args.base_port,
        settings=load_settings(),
        enable_v0_3_compat=args.v03_compat,
    )
    try:
        for name, url in group.urls.items():
            print(f"{name} {url}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        await group.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point; bad settings or a taken port exit with status 2 and the cause."""
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(name)s %(message)s",
        datefmt="%H:%M:%S",
    )
    # uvicorn's start/stop lines, six times over, add nothing to the agents' own log.
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
    try:
        return asyncio.run(run(args))
    except (AgentConfigError, AgentStartError) as exc:
        print(f"agents: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
