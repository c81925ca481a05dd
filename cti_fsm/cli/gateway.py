"""``cti-fsm gateway --config FILE``: serve a configuration's agents over NATS JetStream
until Ctrl-C or SIGTERM (a clean stop: the leases are handed back for the other gateways).

Prints ``gateway NAME serving TENANT on NATS_URL`` once it is connected and through its
first lease round; passwords come from the environment or the secrets file the
configuration names, and are never printed.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys

import trio

from ..adapter import AdapterNotFound
from ..errors import SpecError
from ._args import refuse, sole

HELP = "serve a configuration's agents over NATS JetStream (events, state, commands, failover)"


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the subcommand's arguments."""
    parser.add_argument("--config", required=True, metavar="FILE", help="the configuration file")
    parser.add_argument(
        "--name",
        default=None,
        help="this gateway's name among the tenant's gateways (default: HOST-PID)",
    )
    parser.add_argument("--verbose", action="store_true", help="log what the gateway does")


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted; exit 0 on a clean stop, 2 on a bad configuration."""
    from ..gateway import Gateway, load_config

    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    try:
        config = load_config(args.config)
    except OSError as exc:
        return refuse("gateway", "--config", f"cannot read {args.config!r}: {exc.strerror}")
    except SpecError as exc:
        print(f"cti-fsm gateway: argument --config: {exc}", file=sys.stderr)
        return 2
    name = args.name or f"{socket.gethostname()}-{os.getpid()}".replace(".", "-")
    try:
        gateway = Gateway(config, name)
    except AdapterNotFound as exc:
        return refuse("gateway", "--config", str(exc))

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(gateway.run)
            print(f"gateway {name} serving {config.tenant} on {config.nats}", flush=True)
            with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                async for _ in signals:
                    gateway.stop()
                    break

    try:
        trio.run(main)
    except BaseException as exc:
        if isinstance(sole(exc), KeyboardInterrupt):
            return 0
        raise
    return 0
