"""``cti-fsm replay --vendor V --agent USER FILE``: a recorded stream, as the agent lived it.

Each packet that moved the agent's machine (or that the codec could not read) is printed
on one line: its position, the vendor's message name, the signal, the state change and
the notifications with their non-empty fields. ``--all`` also shows signals the current
state ignored and the answers to requests.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping
from typing import Any

from ..adapter import AdapterNotFound, DescribesMessages, Malformed, RawMessage, load_adapter
from ..errors import CtiError
from ..replay import Replayed, replay

HELP = "replay a recorded vendor stream and print the agent's transitions and notifications"


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the subcommand's arguments."""
    parser.add_argument("file", metavar="FILE", help="the capture")
    parser.add_argument("--vendor", required=True, help="adapter name (see cti-fsm vendors)")
    parser.add_argument("--agent", required=True, metavar="USER", help="the agent to follow")
    parser.add_argument(
        "--start", metavar="STATE", help="state to start in (default: the adapter's choice)"
    )
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a protocol option (repeatable)",
    )
    parser.add_argument(
        "--all", action="store_true", help="also show ignored signals and request answers"
    )


def run(args: argparse.Namespace) -> int:
    """Replay and print; 0 on success, 2 if the capture or adapter cannot be used."""
    options: dict[str, Any] = {}
    for item in args.option:
        key, sep, value = item.partition("=")
        if not sep:
            print(f"--option {item!r}: expected KEY=VALUE", file=sys.stderr)
            return 2
        options[key] = value
    counts = {"malformed": 0, "signals": 0, "ignored": 0, "transitions": 0}
    final = None
    try:
        # how a message is named is the adapter's knowledge (optional: else its start)
        adapter = load_adapter(args.vendor)
        describe = adapter.describe_message if isinstance(adapter, DescribesMessages) else _describe
        for item in replay(
            args.vendor, args.file, user=args.agent, start=args.start, options=options
        ):
            line = _line(item, counts, args.all, describe)
            if item.step is not None:
                final = item.step.target
            if line:
                print(line)
    except (AdapterNotFound, OSError, KeyError, ValueError, CtiError) as exc:
        print(f"cti-fsm replay: {exc}", file=sys.stderr)
        return 2
    summary = ", ".join(f"{v} {k}" for k, v in counts.items())
    print(f"-- {summary}; final state: {final or args.start or 'unchanged'}")
    return 0


def _line(
    item: Replayed,
    counts: dict[str, int],
    show_all: bool,
    describe: Callable[[RawMessage], str],
) -> str | None:
    if isinstance(item.message, Malformed):
        counts["malformed"] += 1
        return f"{item.index:6}  MALFORMED {item.message.reason}: {item.message.excerpt!r}"
    name = describe(item.message)[:22]
    step = item.step
    if step is None:
        return f"{item.index:6}  {name:<22} {item.inbound}" if show_all else None
    if step.signal is None:
        counts["transitions"] += 1
        return f"{item.index:6}  {name:<22} {'(snapshot)':<18} {step.source} -> {step.target}"
    counts["signals"] += 1
    if step.ignored:
        counts["ignored"] += 1
        if not show_all:
            return None
        return f"{item.index:6}  {name:<22} {step.signal:<18} ignored in {step.source}"
    if step.changed:
        counts["transitions"] += 1
    notes = " ".join(f"{n.name}({_fields(n.payload)})" for n in step.notifications)
    move = f"{step.source} -> {step.target}" if step.changed else f"{step.source} (stays)"
    return f"{item.index:6}  {name:<22} {step.signal:<18} {move}  {notes}".rstrip()


def _describe(message: RawMessage) -> str:
    """A message named by its first field's value (for adapters that do not say)."""
    for value in message.values():
        if isinstance(value, str):
            return value
    return "?"


def _fields(payload: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in payload.items() if v not in (None, "", [], ()))
