"""``cti-fsm demo``: a working day against the embedded simulator, as a live timeline."""

from __future__ import annotations

import argparse
import sys

import trio

from ..adapter import AdapterNotFound
from ..demo import choose_adapter, run_demo
from ..errors import CtiError
from ._args import nonnegative_seconds, refuse

HELP = "play a working day (agent and supervisor) against the embedded simulator"


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the subcommand's arguments."""
    parser.add_argument(
        "--vendor",
        help="adapter to demo (default: the first installed one that supports the whole day)",
    )
    parser.add_argument(
        "--pace",
        type=nonnegative_seconds,
        default=0.2,
        help="seconds between the day's scenes, 0 or more (default 0.2)",
    )


def run(args: argparse.Namespace) -> int:
    """Play the day; 0 if the agent ends where the switch says it is, 1 if not or if the
    day failed, 2 if ``--vendor`` cannot play it."""
    try:
        choose_adapter(args.vendor)
    except (AdapterNotFound, CtiError) as exc:
        if args.vendor is None:
            print(f"cti-fsm demo: {exc}", file=sys.stderr)
            return 1
        return refuse("demo", "--vendor", str(exc))
    try:
        status: int = trio.run(lambda: run_demo(args.vendor, pace=args.pace))
    except CtiError as exc:
        print(f"cti-fsm demo: the day failed: {exc}", file=sys.stderr)
        return 1
    return status
