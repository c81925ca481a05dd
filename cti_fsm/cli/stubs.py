"""``cti-fsm stubs CHART``: write a chart's commands as typed Python methods.

The output is a module with one class (``--class``, default from the chart's name): by
default a class whose methods call its ``command`` hook, with ``--protocol`` a
``typing.Protocol`` to ``cast`` an agent running the chart to (see ``cti_fsm.stubs``).
The shipped ``cti_fsm/default_commands.py`` is this command's output for the default
chart: ``cti-fsm stubs specs/agent.yaml --class DefaultCommands -o cti_fsm/default_commands.py``;
``--blocking`` writes plain methods for ``cti_fsm.sync`` (``cti_fsm/default_sync_commands.py``).
"""

from __future__ import annotations

import argparse
import keyword
import os
import sys

from ..chart_loader import load_chart
from ..errors import SpecError
from ..stubs import render_commands

HELP = "write a chart's commands as a typed Python class (or protocol) for mypy and IDEs"


def _class_name(value: str) -> str:
    # checked while parsing, so a bad name is reported as argparse reports any bad
    # argument: usage, the argument's name, exit status 2
    if not value.isidentifier() or keyword.iskeyword(value):
        raise argparse.ArgumentTypeError(f"{value!r} is not a Python class name")
    return value


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the subcommand's arguments."""
    parser.add_argument("chart", metavar="CHART", help="chart file (YAML)")
    parser.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    parser.add_argument(
        "--class",
        dest="class_name",
        metavar="NAME",
        type=_class_name,
        help="the class's name (default: from the chart's name, e.g. AfterCallWorkCommands)",
    )
    parser.add_argument(
        "--protocol",
        action="store_true",
        help="write a typing.Protocol to cast an agent to, instead of a class to subclass",
    )
    parser.add_argument(
        "--blocking",
        action="store_true",
        help="plain def methods returning the step (cti_fsm.sync's agent), not async def",
    )


def _fail(argument: str, message: str) -> int:
    print(f"cti-fsm stubs: argument {argument}: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    """Write the module; 0 on success, 1 if the chart has problems, 2 for bad arguments."""
    # a path that is no file is a mistake in the command line, not in a chart
    if not os.path.isfile(args.chart):
        return _fail("CHART", f"no such file: {args.chart!r}")
    try:
        text = render_commands(
            load_chart(args.chart),
            args.class_name,
            protocol=args.protocol,
            blocking=args.blocking,
        )
    except SpecError as exc:
        # the same report as `cti-fsm check`: one FILE:LINE:COL line per problem
        print(str(exc), file=sys.stderr)
        print(f"{args.chart}: {len(exc.problems)} problem(s)", file=sys.stderr)
        return 1
    if not args.output:
        sys.stdout.write(text)
        return 0
    try:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as exc:
        return _fail("-o/--output", f"cannot write {args.output!r}: {exc.strerror or exc}")
    return 0
