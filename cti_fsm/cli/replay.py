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
from ..machine import Machine
from ..replay import Replayed, read_frames, replay
from ._args import refuse

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


def _options(args: argparse.Namespace) -> dict[str, Any] | int:
    """The ``--option`` values, or the exit status of refusing one (naming it)."""
    options: dict[str, Any] = {}
    for item in args.option:
        key, sep, value = item.partition("=")
        if not sep or not key:
            return refuse("replay", "--option", f"{item!r}: expected KEY=VALUE")
        options[key] = value
    return options


def _check_options(args: argparse.Namespace, options: dict[str, Any]) -> int | None:
    """None if the adapter takes ``options``, else the exit status of refusing them: each
    is tried alone first, so the refusal names the one at fault."""
    adapter = load_adapter(args.vendor)
    for key, value in options.items():
        try:
            adapter.protocol(user=args.agent, options={key: value})
        except (ValueError, TypeError, OSError, CtiError) as exc:
            return refuse("replay", "--option", f"{key}={value}: {_reason(exc)}")
    try:
        adapter.protocol(user=args.agent, options=options)
    except (ValueError, TypeError, OSError, CtiError) as exc:
        return refuse("replay", "--option", f"{', '.join(args.option)}: {_reason(exc)}")
    return None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    return str(exc)


def run(args: argparse.Namespace) -> int:
    """Replay and print; 0 on success, 1 if nothing in the file was a valid message, 2 if
    an argument cannot be used (naming it)."""
    options = _options(args)
    if isinstance(options, int):
        return options
    try:
        adapter = load_adapter(args.vendor)
    except AdapterNotFound as exc:
        return refuse("replay", "--vendor", str(exc))
    refused = _check_options(args, options)
    if refused is not None:
        return refused
    try:
        with open(args.file, "rb"):
            pass
    except OSError as exc:
        return refuse("replay", "FILE", f"cannot read {args.file!r}: {exc.strerror or exc}")
    if args.start is not None:
        try:
            Machine(adapter.chart, state=args.start)
        except KeyError:
            chart = adapter.chart.name
            return refuse("replay", "--start", f"chart {chart!r} has no state {args.start!r}")
    counts = {"malformed": 0, "signals": 0, "ignored": 0, "transitions": 0}
    final = None
    try:
        # decoded here, so that what is valid is counted even where it means nothing to
        # the agent followed (the replay itself reads the same messages)
        decoder = adapter.protocol(user=args.agent, options=options)
        messages = [m for f in read_frames(adapter, args.file) for m in decoder.decode(f)]
        valid = sum(1 for m in messages if not isinstance(m, Malformed))
        # how a message is named is the adapter's knowledge (optional: else its start)
        describe = adapter.describe_message if isinstance(adapter, DescribesMessages) else _describe
        for item in replay(adapter, messages, user=args.agent, start=args.start, options=options):
            line = _line(item, counts, args.all, describe)
            if item.step is not None:
                final = item.step.target
            if line:
                print(line)
    except (OSError, CtiError) as exc:
        print(f"cti-fsm replay: {args.file}: {_reason(exc)}", file=sys.stderr)
        return 1
    summary = ", ".join(f"{v} {k}" for k, v in counts.items())
    print(f"-- {summary}; final state: {final or args.start or 'unchanged'}")
    if not valid:
        print(
            f"cti-fsm replay: {args.file}: no valid {args.vendor} message in it"
            f" ({len(messages)} read, {counts['malformed']} malformed)",
            file=sys.stderr,
        )
        return 1
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
