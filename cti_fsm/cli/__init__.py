"""The ``cti-fsm`` command line: one module per subcommand in this package.

Each subcommand module defines ``HELP`` (one line), ``configure(parser)`` and
``run(args) -> int`` (the exit status). Adding a subcommand is adding its module name
to ``SUBCOMMANDS``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

__all__ = ["SUBCOMMANDS", "main"]

SUBCOMMANDS: tuple[str, ...] = (
    "check",
    "demo",
    "diagram",
    "phonebar",
    "replay",
    "simulate",
    "stubs",
    "vendors",
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand configured."""
    parser = argparse.ArgumentParser(
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
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    status: int = args.run(args)
    return status


if __name__ == "__main__":  # pragma: no cover - python -m cti_fsm.cli
    sys.exit(main())
