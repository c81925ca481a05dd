"""Fuzz every adapter's codec and protocol (``cti_fsm.testing.fuzz``): mutated real
captures and simulator frames, random splits compared with the whole, wrong-typed fields.

    python benchmarks/fuzz.py --inputs 1000000 [--adapter asterisk-ami] [--seed 1]

Prints each adapter's findings (examples of each, if any), then one line per run::

    inputs=N crashes=0 undocumented=0 split_mismatches=0 moved_by_malformed=0

``inputs`` is the mutated frames each adapter got (``--inputs``); the other figures are
summed over the adapters.
Exits 1 if anything was found. A new adapter is one entry in ``ADAPTERS``.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from cti_fsm.testing.conformance import Account, Login
from cti_fsm.testing.fuzz import FuzzReport, FuzzTarget, fuzz

ROOT = Path(__file__).resolve().parents[1]


def ami_login(account: Account) -> Login:
    """An AMI agent is the queue member PJSIP/<device>; the manager user is its agent id."""
    return Login(
        f"PJSIP/{account.device}",
        account.password,
        {"username": account.id, "queues": ["sales", "support"]},
    )


#: Every adapter fuzzed, with what the harness needs to know of it.
ADAPTERS: Mapping[str, FuzzTarget] = {
    "csta-ws": FuzzTarget(),
    "asterisk-ami": FuzzTarget(
        login=ami_login,
        stream=True,
        captures=("tests/captures/*.raw", "tests/captures/*.yaml", "tests/captures/*.md"),
        # lists the protocol computes itself (query answers), not read from a packet field
        structured=frozenset({"groups", "agents"}),
    ),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", type=int, default=10_000, help="mutated frames per adapter")
    parser.add_argument("--seed", type=int, default=1, help="random seed (runs repeat exactly)")
    parser.add_argument(
        "--adapter", choices=sorted(ADAPTERS), action="append", help="only this one (repeatable)"
    )
    args = parser.parse_args()
    if args.inputs < 1:
        parser.error("--inputs must be at least 1")
    # what the fuzzed sessions warn about is the point of the run, not its output
    logging.disable(logging.CRITICAL)
    total = FuzzReport("all")
    for name in args.adapter or sorted(ADAPTERS):
        started = time.perf_counter()
        report = fuzz(name, ADAPTERS[name], inputs=args.inputs, seed=args.seed, root=ROOT)
        seconds = time.perf_counter() - started
        print(f"{report}  ({seconds:.1f}s, {report.inputs / seconds:.0f} inputs/s)", flush=True)
        for field in ("crashes", "undocumented", "split_mismatches", "moved_by_malformed"):
            setattr(total, field, getattr(total, field) + getattr(report, field))
    total.inputs = args.inputs
    print(total.line())
    return 0 if total.clean else 1


if __name__ == "__main__":
    sys.exit(main())
