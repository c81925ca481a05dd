"""Many agents in one process against a simulator in another: connect time, memory per
agent, and how fast an offered call reaches each agent's listener.

    python benchmarks/scale.py [--agents N] [--rate R] [--concurrency C] [--no-burst]
                               [--profile]

1. The simulator runs in a child process (``_scale_server.py``): a csta-ws simulator on
   127.0.0.1 over a switch with N agents in one group, and a small control channel. The
   child is killed on every way out of this script and exits by itself when this
   process's end of its standard input closes.
2. This process opens N agents (``Agent.run`` in one nursery, at most ``--concurrency``
   connecting at once), then checks them all in. ``connect_all_s`` is the wall time to
   connect, log in and synchronise them (all but the first, opened beforehand on its own;
   check-in time is shown apart).
3. Memory: the resident set size (RSS, from /proc) after the first agent is connected and
   checked in, and again once all N are and each has a call ringing; the difference over
   N - 1 is ``kib_per_agent``. RSS rather than tracemalloc because it is what the machine
   pays: every Python object plus allocator overhead and fragmentation and C-level
   buffers (wsproto, sockets' user-space side), and because tracemalloc would slow the
   run two- to threefold and so distort the latency figures measured in the same run.
   The first agent is outside the figure: it pays one-time costs (code paths, caches).
4. Latency: the simulator offers each agent one inbound call, ``--rate`` calls a second
   (a busy contact centre's arrival rate, far above most), stamping ``time.monotonic()``
   just before each offer; each agent's ``onCallInRing`` listener stamps the same clock
   (CLOCK_MONOTONIC is system-wide on Linux). ``p99_notify_ms`` is the 99th percentile of
   the difference. Then (unless ``--no-burst``) every caller hangs up and N calls are
   offered again as fast as the simulator can, every agent offered one at once (the
   simulator's control channel ``offer 0``): the worst case; ``burst_p99_ms`` is the 99th
   percentile of its offer -> ``onCallInRing`` latencies. Garbage-collector pauses of both
   processes during each phase are shown; the simulator freezes what it holds
   (``gc.freeze``) before offering, so that its own full collections over N connections,
   which a vendor's server would not charge to our agents, stay out of the figures.

``--profile`` profiles this process (cProfile) while connecting and during the last
offer phase, grouped by area, per agent. The last line is::

    agents=N connect_all_s=S kib_per_agent=K p99_notify_ms=P burst_p99_ms=B burst_frozen_p99_ms=F

``F`` is the same burst again with the connected fleet frozen out of the garbage collector
(``gc.freeze()``, as README advises for thousands of agents in one process). Without the
bursts under ``--no-burst``. Targets: K <= 40, P <= 5, B <= 600.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import attrs
import trio
from _bench import GcPauses, key_values, percentile, profile_report, rss_bytes
from _scale_server import GROUP, agent_id, password, raise_open_files

from cti_fsm.adapter import Adapter, load_adapter
from cti_fsm.agent import Agent

SERVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_scale_server.py")
TARGET_KIB = 40
TARGET_P99_MS = 5
TARGET_BURST_P99_MS = 600
#: Seconds the child has to start listening, and each control command to be answered.
START_TIMEOUT = 60.0
#: Seconds per agent allowed for connecting, checking in or ringing (plus a minute).
PER_AGENT_TIMEOUT = 0.02


# --- the child process ------------------------------------------------------------------------
class LineChannel:
    """Lines over a trio stream (the child's stdout, or the control connection)."""

    def __init__(self, stream: trio.abc.ReceiveStream) -> None:
        self.stream = stream
        self.buffer = b""

    async def line(self) -> str:
        """The next line, without its newline.

        Raises:
            EOFError: the stream ended first.
        """
        while b"\n" not in self.buffer:
            data = await self.stream.receive_some(1 << 16)
            if not data:
                raise EOFError("the simulator process closed the stream")
            self.buffer += data
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line.decode()


@attrs.define
class Control:
    """The client end of the child's control channel."""

    stream: trio.SocketStream
    lines: LineChannel

    async def ask(self, command: str, timeout: float = START_TIMEOUT) -> str:
        """Send one command; its answer.

        Raises:
            RuntimeError: the child answered with an error.
            trio.TooSlowError: no answer within ``timeout``.
        """
        with trio.fail_after(timeout):
            await self.stream.send_all(command.encode() + b"\n")
            answer = await self.lines.line()
        if answer.startswith("error"):
            raise RuntimeError(f"simulator process: {answer}")
        return answer


def figures(answer: str) -> dict[str, str]:
    """``ok a=1 b=2`` as ``{"a": "1", "b": "2"}``."""
    return dict(word.split("=", 1) for word in answer.split()[1:] if "=" in word)


# --- the agents -------------------------------------------------------------------------------
@attrs.define
class Fleet:
    """N agents and when each one's call rang."""

    agents: list[Agent]
    rang: dict[str, float] = attrs.field(factory=dict)
    all_rang: trio.Event = attrs.field(factory=trio.Event)

    def ring(self, user: str, _note: Any) -> None:
        self.rang.setdefault(user, time.monotonic())
        if len(self.rang) == len(self.agents):
            self.all_rang.set()

    def reset(self) -> None:
        self.rang.clear()
        self.all_rang = trio.Event()


async def bounded(jobs: Sequence[Callable[[], Any]], concurrency: int) -> None:
    """Run async ``jobs`` with at most ``concurrency`` at once; the first error ends all."""
    limiter = trio.CapacityLimiter(concurrency)

    async def one(job: Callable[[], Any]) -> None:
        async with limiter:
            await job()

    async with trio.open_nursery() as nursery:
        for job in jobs:
            nursery.start_soon(one, job)


async def settled(fleet: Fleet, states: Sequence[str], timeout: float) -> None:
    """Wait until every agent is back in the state it had (after a clear)."""
    with trio.fail_after(timeout):
        while any(a.state != s for a, s in zip(fleet.agents, states, strict=True)):
            await trio.sleep(0.05)


@attrs.frozen
class Phase:
    """One offer phase: how long offering took and each agent's latency.

    Attributes:
        gc: this process's garbage-collector pauses meanwhile.
        simulator_gc: the simulator process's, while it was offering.
    """

    name: str
    offered_s: float
    latencies_ms: tuple[float, ...]
    gc: str
    simulator_gc: str

    def rows(self) -> str:
        lat = self.latencies_ms
        return (
            f"{self.name:22} offered in {self.offered_s:5.2f}s  p50 {percentile(lat, 0.5):7.2f}"
            f"  p90 {percentile(lat, 0.9):7.2f}  p99 {percentile(lat, 0.99):7.2f}"
            f"  max {max(lat):7.2f}\n"
            f"  {'':22} gc pauses: agents' process {self.gc}; simulator's {self.simulator_gc}"
        )


async def offer_phase(
    name: str, control: Control, fleet: Fleet, rate: float, timeout: float
) -> Phase:
    """Offer every agent one call at ``rate`` (0: as fast as the simulator can); the
    latencies.

    Raises:
        RuntimeError: an agent was offered a call and did not ring, or the reverse.
    """
    fleet.reset()
    with GcPauses() as pauses:
        answer = figures(await control.ask(f"offer {rate:g}", timeout))
        with trio.fail_after(timeout):
            await fleet.all_rang.wait()
    offered = json.loads(await control.ask("offers"))
    missing = set(offered) ^ set(fleet.rang)
    if missing:
        raise RuntimeError(f"{len(missing)} agents were offered a call or rang but not both")
    latencies = tuple(1e3 * (fleet.rang[a] - t) for a, t in offered.items())
    simulator_gc = answer["gc"].replace("_", " ")
    return Phase(name, float(answer["seconds"]), latencies, pauses.summary(), simulator_gc)


# --- the run ----------------------------------------------------------------------------------
@attrs.define
class Profiler:
    """cProfile of this process over chosen stretches (nothing when not ``enabled``)."""

    enabled: bool
    reports: list[str] = attrs.field(factory=list)
    _profile: cProfile.Profile | None = None

    def start(self) -> None:
        if self.enabled:
            self._profile = cProfile.Profile()
            self._profile.enable()

    def stop(self, what: str, units: int) -> None:
        if self._profile is not None:
            self._profile.disable()
            self.reports.append(f"[{what}]\n" + profile_report(self._profile, units, unit="agent"))
            self._profile = None


@attrs.frozen
class Outcome:
    agents: int
    connect_s: float
    check_in_s: float
    rss_first: int
    rss_connected: int
    rss_ringing: int
    simulator_kib: int
    connect_gc: str
    phases: tuple[Phase, ...]
    profiles: tuple[str, ...] = ()

    @property
    def kib_per_agent(self) -> float:
        grown = max(self.rss_connected, self.rss_ringing) - self.rss_first
        return grown / max(1, self.agents - 1) / 1024


async def run_fleet(
    adapter: Adapter, url: str, control: Control, args: argparse.Namespace
) -> Outcome:
    n = args.agents
    timeout = 60 + PER_AGENT_TIMEOUT * n
    fleet = Fleet([Agent(adapter, url, agent_id(0), password(0), reconnect=None)])
    async with trio.open_nursery() as nursery:
        first = fleet.agents[0]
        first.on("onCallInRing", partial(fleet.ring, first.user))
        await nursery.start(first.run)
        await first.check_in(group_ids=GROUP)
        gc.collect()
        rss_first = rss_bytes()

        profiler = Profiler(args.profile)
        started = time.perf_counter()
        profiler.start()
        for i in range(1, n):
            agent = Agent(adapter, url, agent_id(i), password(i), reconnect=None)
            agent.on("onCallInRing", partial(fleet.ring, agent.user))
            fleet.agents.append(agent)
        with trio.fail_after(timeout), GcPauses() as connect_gc:
            await bounded(
                [partial(nursery.start, a.run) for a in fleet.agents[1:]], args.concurrency
            )
        connect_s = time.perf_counter() - started
        profiler.stop(f"connecting {n - 1} agents (per agent)", n - 1)
        started = time.perf_counter()
        with trio.fail_after(timeout):
            await bounded(
                [partial(a.check_in, group_ids=GROUP) for a in fleet.agents[1:]],
                args.concurrency,
            )
        check_in_s = time.perf_counter() - started
        gc.collect()
        rss_connected = rss_bytes()
        idle = [a.state for a in fleet.agents]

        paced = f"paced, {args.rate:g} calls/s"
        if not args.burst:
            profiler.start()
        phases = [await offer_phase(paced, control, fleet, args.rate, timeout)]
        if not args.burst:
            profiler.stop(f"{paced} (per call)", n)
        gc.collect()
        rss_ringing = rss_bytes()
        if args.burst:
            await control.ask("clear", timeout)
            await settled(fleet, idle, timeout)
            profiler.start()
            phases.append(await offer_phase("burst, all at once", control, fleet, 0, timeout))
            profiler.stop("burst, all at once (per call)", n)
            # the same burst with the connected fleet frozen out of the collector, as
            # README advises for thousands of agents: a full collection then scans only
            # what the burst itself made, not every agent's long-lived state
            await control.ask("clear", timeout)
            await settled(fleet, idle, timeout)
            gc.collect()
            gc.freeze()
            try:
                phases.append(
                    await offer_phase("burst, after gc.freeze()", control, fleet, 0, timeout)
                )
            finally:
                gc.unfreeze()
        simulator_kib = int(figures(await control.ask("stats"))["rss_kib"])
        # the agents' tasks end with the nursery: no logout round trips for N agents
        nursery.cancel_scope.cancel()
    return Outcome(
        n,
        connect_s,
        check_in_s,
        rss_first,
        rss_connected,
        rss_ringing,
        simulator_kib,
        connect_gc.summary(),
        tuple(phases),
        tuple(profiler.reports),
    )


async def run(args: argparse.Namespace) -> Outcome:
    """Start the simulator process, run the fleet against it, stop it whatever happens.

    Raises:
        RuntimeError: the simulator process did not start or misbehaved.
    """
    process = await trio.lowlevel.open_process(
        [sys.executable, SERVER, "--agents", str(args.agents)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    print(f"simulator process pid {process.pid} started", flush=True)
    try:
        assert process.stdout is not None
        with trio.fail_after(START_TIMEOUT):
            ready = figures(await LineChannel(process.stdout).line())
        if "ws_port" not in ready:
            raise RuntimeError(f"the simulator process said {ready!r}, not ready")
        print(
            f"simulator process pid {process.pid} listening on port {ready['ws_port']}", flush=True
        )
        stream = await trio.open_tcp_stream("127.0.0.1", int(ready["control_port"]))
        async with stream:
            control = Control(stream, LineChannel(stream))
            url = f"ws://127.0.0.1:{ready['ws_port']}/"
            outcome = await run_fleet(load_adapter("csta-ws"), url, control, args)
            with trio.move_on_after(5):
                await control.ask("quit")
        with trio.move_on_after(10):
            await process.wait()
        return outcome
    finally:
        with trio.CancelScope(shield=True):
            if process.returncode is None:
                process.kill()
                await process.wait()
            if process.stdin is not None:
                await process.stdin.aclose()
        print(f"simulator process pid {process.pid} ended (exit code {process.returncode})")


def report(outcome: Outcome, args: argparse.Namespace) -> None:
    n = outcome.agents
    p99 = percentile(outcome.phases[0].latencies_ms, 0.99)
    kib = outcome.kib_per_agent
    mib = 1 / (1 << 20)
    rows = [
        (
            "connect, log in, resync all",
            f"{outcome.connect_s:8.2f} s"
            f"  ({(n - 1) / outcome.connect_s:,.0f} agents/s; gc: {outcome.connect_gc})",
        ),
        (
            "check in all",
            f"{outcome.check_in_s:8.2f} s  ({(n - 1) / outcome.check_in_s:,.0f} agents/s)",
        ),
        ("RSS with the first agent", f"{outcome.rss_first * mib:8.1f} MiB"),
        ("RSS with all checked in", f"{outcome.rss_connected * mib:8.1f} MiB"),
        ("RSS with all ringing", f"{outcome.rss_ringing * mib:8.1f} MiB"),
        (f"per agent (RSS growth / {n - 1})", f"{kib:8.1f} KiB"),
        ("simulator process RSS", f"{outcome.simulator_kib / 1024:8.1f} MiB"),
    ]
    print(f"scale benchmark: csta-ws, {n} agents in one process, simulator in another, 127.0.0.1")
    print(f"Python {sys.version.split()[0]}, at most {args.concurrency} agents connecting at once")
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:{width}} : {value}")
    print("offer -> onCallInRing latency (simulator's monotonic stamp to the listener's), ms:")
    for phase in outcome.phases:
        print(f"  {phase.rows()}")
    for profile in outcome.profiles:
        print(profile)
    print(f"target kib_per_agent <= {TARGET_KIB}: {'met' if kib <= TARGET_KIB else 'MISSED'}")
    print(f"target p99_notify_ms <= {TARGET_P99_MS}: {'met' if p99 <= TARGET_P99_MS else 'MISSED'}")
    for phase, key in zip(
        outcome.phases[1:], ("burst_p99_ms", "burst_frozen_p99_ms"), strict=False
    ):
        worst = percentile(phase.latencies_ms, 0.99)
        verdict = "met" if worst <= TARGET_BURST_P99_MS else "MISSED"
        print(f"target {key} <= {TARGET_BURST_P99_MS}: {verdict}")
    burst = (
        {
            "burst_p99_ms": percentile(outcome.phases[1].latencies_ms, 0.99),
            "burst_frozen_p99_ms": percentile(outcome.phases[2].latencies_ms, 0.99),
        }
        if len(outcome.phases) > 2
        else {}
    )
    print(
        key_values(
            agents=n,
            connect_all_s=outcome.connect_s,
            kib_per_agent=kib,
            p99_notify_ms=p99,
            **burst,
        )
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=1000.0, help="calls offered a second")
    parser.add_argument("--concurrency", type=int, default=64, help="agents connecting at once")
    parser.add_argument(
        "--no-burst", dest="burst", action="store_false", help="skip the all-at-once offer"
    )
    parser.add_argument("--profile", action="store_true", help="profile this process")
    args = parser.parse_args(argv)
    if args.agents < 2 or args.rate <= 0 or args.concurrency < 1:
        parser.error("--agents must be at least 2, --rate and --concurrency positive")
    limit = raise_open_files(args.agents + 1000)
    if limit < args.agents + 100:
        parser.error(f"{args.agents} agents need more open files than the limit of {limit}")
    outcome = trio.run(run, args)
    report(outcome, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
