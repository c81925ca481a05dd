"""``cti-fsm phonebar``: the browser phone bar, against a CTI server or the demo simulator."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import trio

from ..adapter import AdapterNotFound, adapter_names
from ..chart_loader import load_chart
from ..errors import SpecError

HELP = "serve the browser phone bar (--demo: with the embedded simulator and a world panel)"


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the subcommand's arguments."""
    parser.add_argument(
        "--vendor", help=f"adapter to use (installed: {', '.join(adapter_names()) or 'none'})"
    )
    parser.add_argument("--url", help="the CTI server's address")
    parser.add_argument("--demo", action="store_true", help="run the embedded simulator too")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8700, help="port to listen on (8700)")
    parser.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="an origin whose pages may embed the bar (https://crm.example.com); repeatable",
    )
    parser.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="a host name the server may be reached by, besides loopback and --host; repeatable",
    )
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a vendor option for every agent (VALUE as JSON if it parses, else text); repeatable",
    )
    parser.add_argument("--chart", help="the agents' chart, a YAML file (default: the vendor's)")
    parser.add_argument(
        "--reasons",
        default=None,
        help="not-ready reason codes, comma-separated (default: break,lunch,...)",
    )


def run(args: argparse.Namespace) -> int:
    """Serve until Ctrl-C (0); 2 for a bad argument, a missing extra or an unusable address."""
    if not args.demo and (args.vendor is None or args.url is None):
        print("cti-fsm phonebar: --vendor and --url are required without --demo", file=sys.stderr)
        return 2
    try:
        from ..phonebar.run import run_phonebar
        from ..phonebar.server import DEFAULT_REASONS
    except ImportError as exc:
        print(
            f"cti-fsm phonebar: {exc.name} is missing; install it with"
            " pip install 'cti-fsm[phonebar]'",
            file=sys.stderr,
        )
        return 2
    chart = None
    if args.chart is not None:
        try:
            chart = load_chart(args.chart)
        except (OSError, SpecError) as exc:
            print(f"cti-fsm phonebar: --chart: {exc}", file=sys.stderr)
            return 2
    options: dict[str, Any] = {}
    for item in args.option:
        key, sep, value = item.partition("=")
        if not sep or not key:
            print(f"cti-fsm phonebar: --option: {item!r} is not KEY=VALUE", file=sys.stderr)
            return 2
        try:
            options[key] = json.loads(value)
        except ValueError:
            options[key] = value
    reasons = DEFAULT_REASONS
    if args.reasons is not None:
        reasons = tuple(r.strip() for r in args.reasons.split(",") if r.strip())
    try:
        trio.run(
            lambda: run_phonebar(
                vendor=args.vendor,
                url=args.url,
                host=args.host,
                port=args.port,
                demo=args.demo,
                allow_origins=args.allow_origin,
                allow_hosts=args.allow_host,
                reasons=reasons,
                chart=chart,
                options=options,
            )
        )
    except BaseException as raised:  # trio wraps errors in groups: unwrapped here
        error = _sole(raised)
        if isinstance(error, KeyboardInterrupt):
            return 0
        if isinstance(error, AdapterNotFound):
            print(f"cti-fsm phonebar: --vendor: {error}", file=sys.stderr)
            return 2
        if isinstance(error, OSError):
            print(
                f"cti-fsm phonebar: cannot listen on {args.host}:{args.port}: {error}",
                file=sys.stderr,
            )
            return 2
        raise
    return 0


def _sole(error: BaseException) -> BaseException:
    """The one exception inside nested single-exception groups (trio's nurseries wrap)."""
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error
