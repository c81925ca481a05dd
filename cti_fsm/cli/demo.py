"""``cti-fsm demo``: a working day against the embedded simulator, as a live timeline."""

from __future__ import annotations

import argparse

import trio

from ..demo import run_demo

HELP = "play a working day (agent and supervisor) against the embedded simulator"


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the subcommand's arguments."""
    parser.add_argument(
        "--vendor",
        help="adapter to demo (default: the first installed one that supports the whole day)",
    )
    parser.add_argument(
        "--pace", type=float, default=0.2, help="seconds between the day's scenes (default 0.2)"
    )


def run(args: argparse.Namespace) -> int:
    """Play the day; 0 if the agent ends where the switch says it is."""
    status: int = trio.run(lambda: run_demo(args.vendor, pace=args.pace))
    return status
