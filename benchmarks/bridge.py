"""Command round trips through ``cti_fsm.asyncio`` and ``cti_fsm.sync`` against the trio agent.

    python benchmarks/bridge.py [--vendor csta-ws|asterisk-ami] [--round-trips N] [--rounds R]

One ``cti-fsm simulate`` runs in a process of its own (so the simulator does not take
this process's interpreter from the agents), and the same demo agent, checked in, sends
``pause`` then ``restore``, each awaited until its confirming event, from three clients in
turns:

- **trio** (the baseline): ``cti_fsm.open_agent`` under ``trio.run`` in the main thread;
- **asyncio**: ``cti_fsm.asyncio.open_agent`` under ``asyncio.run``; each command crosses
  to the shared trio thread and its answer back to the loop;
- **sync**: ``cti_fsm.sync.open_agent`` from the main thread; each command crosses to the
  trio thread while the caller blocks on a lock.

Each round opens each client's agent (not timed), warms it up, times ``--round-trips``
commands and closes it; the best of ``--rounds`` rounds counts (the least disturbed by
other load). The last line::

    asyncio_per_trio=R sync_per_trio=S trio_rt_per_s=T asyncio_rt_per_s=A sync_rt_per_s=Y

Targets: R >= 0.7 and S >= 0.7.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

import trio
from _bench import Rates, key_values, rates_table

import cti_fsm
import cti_fsm.asyncio
import cti_fsm.sync
from cti_fsm.testing import simulator_process

TARGET = 0.7
WARMUP = 200

#: per vendor: the demo agent's login, the group it signs in to, the adapter's options
LOGIN: dict[str, tuple[str, str, str, dict[str, str]]] = {
    "csta-ws": ("1001", "pw1001", "sales", {}),
    "asterisk-ami": ("PJSIP/8001", "pw1001", "sales", {"username": "1001"}),
}


class Clock:
    """Wall and CPU time (this process, every thread) of the timed loop only."""

    def __init__(self) -> None:
        self.wall = time.perf_counter()
        self.cpu = time.process_time()

    def stop(self) -> tuple[float, float]:
        return time.perf_counter() - self.wall, time.process_time() - self.cpu


async def pause_restore(
    agent: cti_fsm.Agent | cti_fsm.asyncio.Agent, group: str, n: int
) -> tuple[float, float]:
    """Check in, warm up, then time ``n`` commands: the same coroutine under trio and
    asyncio, since it only awaits the agent's commands."""
    await agent.check_in(group)
    for _ in range(WARMUP // 2):
        await agent.pause()
        await agent.restore()
    clock = Clock()
    for _ in range(n // 2):
        await agent.pause()
        await agent.restore()
    return clock.stop()


def trio_round(url: str, vendor: str, n: int) -> tuple[float, float]:
    user, password, group, options = LOGIN[vendor]

    async def main() -> tuple[float, float]:
        async with cti_fsm.open_agent(vendor, url, user, password, options=options) as agent:
            return await pause_restore(agent, group, n)

    return trio.run(main)


def asyncio_round(url: str, vendor: str, n: int) -> tuple[float, float]:
    user, password, group, options = LOGIN[vendor]

    async def main() -> tuple[float, float]:
        bridged = cti_fsm.asyncio.open_agent(vendor, url, user, password, options=options)
        async with bridged as agent:
            return await pause_restore(agent, group, n)

    return asyncio.run(main())


def sync_round(url: str, vendor: str, n: int) -> tuple[float, float]:
    user, password, group, options = LOGIN[vendor]
    with cti_fsm.sync.open_agent(vendor, url, user, password, options=options) as agent:
        agent.check_in(group)
        for _ in range(WARMUP // 2):
            agent.pause()
            agent.restore()
        clock = Clock()
        for _ in range(n // 2):
            agent.pause()
            agent.restore()
        return clock.stop()


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the table and the last line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vendor", default="csta-ws", choices=sorted(LOGIN))
    parser.add_argument("--round-trips", type=int, default=4000, help="timed commands a round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of each client, in turns")
    args = parser.parse_args(argv)
    n = max(2, args.round_trips)
    contenders = {"trio": trio_round, "asyncio": asyncio_round, "sync": sync_round}
    walls: dict[str, list[float]] = {name: [] for name in contenders}
    cpus: dict[str, list[float]] = {name: [] for name in contenders}
    with simulator_process(args.vendor) as sim:
        print(f"simulator process pid {sim.process.pid} started at {sim.url}", file=sys.stderr)
        for _ in range(args.rounds):
            for name, run in contenders.items():
                wall, cpu = run(sim.url, args.vendor, n)
                walls[name].append(n / wall)
                cpus[name].append(n / cpu if cpu > 0 else 0.0)
    rates = {name: Rates(name, tuple(walls[name]), tuple(cpus[name])) for name in contenders}
    print(f"{args.vendor}: {n} commands a round (pause/restore), best of {args.rounds} rounds")
    print("(cpu rt/s: by this process's CPU time, every thread, during the timed loop)")
    print(rates_table(list(rates.values()), rates["trio"]))
    asyncio_ratio = rates["asyncio"].best / rates["trio"].best
    sync_ratio = rates["sync"].best / rates["trio"].best
    verdict = "met" if min(asyncio_ratio, sync_ratio) >= TARGET else "NOT met"
    print(f"target {TARGET}: {verdict}")
    print(
        key_values(
            asyncio_per_trio=asyncio_ratio,
            sync_per_trio=sync_ratio,
            trio_rt_per_s=rates["trio"].best,
            asyncio_rt_per_s=rates["asyncio"].best,
            sync_rt_per_s=rates["sync"].best,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
