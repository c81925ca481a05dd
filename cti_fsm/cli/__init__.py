"""The ``cti-fsm`` command line: one module per subcommand in this package.

Each subcommand module defines ``HELP`` (one line), ``configure(parser)`` and
``run(args) -> int`` (the exit status). Adding a subcommand is adding its module name
to ``SUBCOMMANDS``. A bad argument is refused in one line naming it, with exit status 2
(``_args``); Ctrl-C ends any subcommand without a traceback (``simulate``: status 0, having
been asked to stop; the others: 130, interrupted).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from ._args import Parser, sole

__all__ = ["SUBCOMMANDS", "main"]

SUBCOMMANDS: tuple[str, ...] = (
    "check",
    "demo",
    "diagram",
    "phonebar",
    "gateway",
    "replay",
    "simulate",
    "stubs",
    "vendors",
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand configured."""
    parser = Parser(
        prog="cti-fsm", description="One declarative state chart between business code and CTI."
    )
    sub = parser.add_subparsers(dest="subcommand", required=True, metavar="COMMAND")
    for name in SUBCOMMANDS:
        module = importlib.import_module(f"{__name__}.{name.replace('-', '_')}")
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.configure(p)
        p.set_defaults(run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    Raises:
        SystemExit: an argument was refused (status 2), or ``--help`` was asked (0).
    """
    args = build_parser().parse_args(argv)
    try:
        status: int = args.run(args)
    except BaseException as exc:
        # Ctrl-C, however deep in trio's nurseries it arrived, ends quietly
        if isinstance(sole(exc), KeyboardInterrupt):
            print(f"cti-fsm {args.subcommand}: interrupted", file=sys.stderr)
            return 130
        raise
    return status


if __name__ == "__main__":  # pragma: no cover - python -m cti_fsm.cli
    sys.exit(main())
