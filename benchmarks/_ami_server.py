"""The simulator process of ``peers.py``: the Asterisk AMI simulator (or, with ``--vendor``,
another adapter's) over the demo switch, on 127.0.0.1, in a process of its own.

    python benchmarks/_ami_server.py [--vendor asterisk-ami|freeswitch-esl] [--max-seconds S]

Prints one line once it listens, ``ready port=P``, then serves until its standard input
closes (the parent is gone: nothing is left behind whatever happened to it) or after
``--max-seconds``. Lines on standard input steer a profile of this process:

    profile       start a cProfile of the simulator (answers "ok")
    sample        start a CPU-weighted sampling profile (``_bench.CpuSampler``) instead
    report N      stop it and write its report to standard error, per round trip of the
                  N round trips it covered (answers "ok")
"""

from __future__ import annotations

import argparse
import cProfile
import sys

import trio
from _bench import CpuSampler, profile_report

from cti_fsm.adapter import load_adapter
from cti_fsm.switch import demo_switch


class Profiling:
    """The stdin-driven profile of this process."""

    def __init__(self, vendor: str) -> None:
        self.vendor = {"asterisk-ami": "AMI", "freeswitch-esl": "ESL"}.get(vendor, vendor)
        self.probe: cProfile.Profile | CpuSampler | None = None

    def run(self, words: list[str]) -> str:
        match words:
            case ["profile" | "sample"] if self.probe is None:
                self.probe = cProfile.Profile() if words == ["profile"] else CpuSampler()
                self.probe.__enter__()
                return "ok"
            case ["report", n] if self.probe is not None:
                probe, self.probe = self.probe, None
                probe.__exit__(None, None, None)
                if isinstance(probe, cProfile.Profile):
                    report = profile_report(probe, max(1, int(n)), top=15)
                    title = f"{self.vendor} simulator process, cProfile"
                else:
                    report = probe.report(max(1, int(n)), top=15)
                    title = f"{self.vendor} simulator process, CPU sampler"
                print(f"[{title}]\n{report}\n", file=sys.stderr, flush=True)
                return "ok"
        return f"error unknown command {' '.join(words)!r}"


async def steer(scope: trio.CancelScope, vendor: str) -> None:
    """Carry out stdin's commands; end everything when it closes (the parent is gone)."""
    stdin = trio.lowlevel.FdStream(sys.stdin.fileno())
    profiling = Profiling(vendor)
    buffer = b""
    while data := await stdin.receive_some(4096):
        buffer += data
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            print(profiling.run(line.decode("ascii", "replace").split()), flush=True)
    scope.cancel()


async def main(max_seconds: float, vendor: str) -> None:
    simulator = load_adapter(vendor).simulator(demo_switch())
    with trio.move_on_after(max_seconds) as done:
        async with trio.open_nursery() as nursery:
            port = await nursery.start(simulator.serve, "127.0.0.1", 0)
            nursery.start_soon(steer, nursery.cancel_scope, vendor)
            print(f"ready port={port}", flush=True)
    if done.cancelled_caught:
        print(f"_ami_server: stopped after --max-seconds {max_seconds:g}", file=sys.stderr)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="peers.py's AMI simulator process")
    parser.add_argument("--max-seconds", type=float, default=900.0)
    parser.add_argument("--vendor", default="asterisk-ami", help="the adapter whose simulator")
    args = parser.parse_args()
    trio.run(main, args.max_seconds, args.vendor)
