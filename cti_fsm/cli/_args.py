"""What every subcommand shares: bad arguments refused in one line naming the argument,
with exit status 2 and no traceback, and argument types that check their values.

argparse's own refusals (a missing argument, a value of the wrong type) go through
``Parser.error``; a refusal only ``run`` can make (an adapter that is not installed, an
address that cannot be listened on) through ``refuse``. Both print
``cti-fsm SUBCOMMAND: argument NAME: what was wrong`` on one line of stderr.
"""

from __future__ import annotations

import argparse
import math
import sys
from typing import NoReturn

__all__ = ["Parser", "nonnegative_seconds", "port", "refuse", "sole"]


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose refusal is one line (no usage block), exit status 2.

    Subparsers made by ``add_subparsers`` are of the same class, so every subcommand
    refuses the same way.
    """

    def error(self, message: str) -> NoReturn:
        """Print ``PROG: MESSAGE (see PROG --help)`` on stderr and exit with status 2."""
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def refuse(subcommand: str, argument: str, message: str) -> int:
    """Print the one-line refusal of ``argument`` and return exit status 2."""
    print(f"cti-fsm {subcommand}: argument {argument}: {message}", file=sys.stderr)
    return 2


def nonnegative_seconds(value: str) -> float:
    """A number of seconds, 0 or more (finite).

    Raises:
        argparse.ArgumentTypeError: not a number, negative, infinite or NaN.
    """
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds") from None
    if not math.isfinite(seconds) or seconds < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more seconds, not {value}")
    return seconds


def port(value: str) -> int:
    """A TCP port, 0 to 65535 (0: any free one).

    Raises:
        argparse.ArgumentTypeError: not an integer in that range.
    """
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port number") from None
    if not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0 to 65535, not {number}")
    return number


def sole(error: BaseException) -> BaseException:
    """The one exception inside nested single-exception groups (what trio's nurseries
    wrap a task's error in), else ``error`` itself."""
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error
