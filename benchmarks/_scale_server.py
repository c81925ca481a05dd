"""The simulator process of ``scale.py``: a csta-ws simulator over a switch with N agents
in one group, plus a line-based control channel on another loopback port.

    python benchmarks/_scale_server.py --agents N [--max-seconds S]

Prints one line once both listen, ``ready ws_port=P control_port=C``, then serves until
told to quit, until its standard input closes (the parent died: nothing is left behind
whatever happened to it), or after ``--max-seconds``.

Agents are ``a00000``, ``a00001``, ... on devices ``d00000``, ...; the password of
``a00042`` is ``pw00042`` (benchmark credentials, on loopback only); the group is
``sales``. Control commands, one per line, each answered by one line:

    offer RATE    offer one inbound call per checked-in agent, RATE calls a second (0: as
                  fast as it can, yielding to the writers between offers); "ok offered=N
                  seconds=S gc=PAUSES" when the last is offered (PAUSES: this process's
                  garbage-collector pauses meanwhile, spaces as underscores)
    offers        the offer times as JSON {agent: time.monotonic() just before the offer}
    clear         every caller hangs up; "ok cleared=N"
    stats         "ok connections=N calls=M rss_kib=K"
    quit          "ok", then the process exits
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import sys
import time
from collections.abc import Sequence
from functools import partial

import trio
from _bench import GcPauses, rss_bytes
from cti_fsm_csta_ws import CstaSimulator

from cti_fsm.switch import LegAlerting, Switch, SwitchError, SwitchEvent

GROUP = "sales"
#: Longest accepted control line.
MAX_LINE = 4096


def agent_id(i: int) -> str:
    """The id of the ``i``-th agent (``a00042``)."""
    return f"a{i:05d}"


def password(i: int) -> str:
    """The ``i``-th agent's benchmark password."""
    return f"pw{i:05d}"


def build_switch(agents: int) -> Switch:
    """A switch with ``agents`` agents in group ``sales``."""
    switch = Switch()
    switch.add_group(GROUP, name="Sales", dtmf="1")
    for i in range(agents):
        switch.add_agent(agent_id(i), password(i), device=f"d{i:05d}", groups=[GROUP])
    return switch


def raise_open_files(wanted: int) -> int:
    """Raise the soft limit on open files towards ``wanted`` (up to the hard limit);
    returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


class Control:
    """The control channel's commands over one switch and its simulator."""

    def __init__(self, switch: Switch, simulator: CstaSimulator, done: trio.CancelScope) -> None:
        self.switch = switch
        self.simulator = simulator
        self.done = done
        self.offered: dict[str, float] = {}
        self.calls: list[str] = []
        self._stamp = 0.0
        switch.subscribe(self._on_events)

    def _on_events(self, events: Sequence[SwitchEvent]) -> None:
        for event in events:
            if isinstance(event, LegAlerting) and event.agent is not None:
                self.offered.setdefault(event.agent, self._stamp)

    async def offer(self, rate: float) -> str:
        ready = [a for a in self.switch.agent_ids if self.switch.situation(a) == "ready"]
        # the simulator stands in for a vendor's server: its own full collections over N
        # connections (half a second at 5000) must not be charged to the agents, so what
        # exists now is moved out of the collector's sight
        gc.collect()
        gc.freeze()
        start = time.monotonic()
        with GcPauses() as pauses:
            for i in range(len(ready)):
                due = start + i / rate if rate > 0 else 0.0
                # at rate 0 still let the writers run between offers: a switch sends each
                # offer as it makes it, it does not queue thousands before sending any
                await trio.sleep(max(0.0, due - time.monotonic()))
                self._stamp = time.monotonic()
                self.calls.append(self.switch.inbound_call(GROUP, caller=f"+4420794{i:05d}"))
            offering = time.monotonic() - start
            # the last offers are still being written: count the pauses delaying them too
            await trio.sleep(0.1)
        return (
            f"ok offered={len(ready)} seconds={offering:.3f}"
            f" gc={pauses.summary().replace(' ', '_')}"
        )

    def clear(self) -> str:
        cleared = 0
        for call in self.calls:
            try:
                self.switch.customer_hangs_up(call)
                cleared += 1
            except SwitchError:
                pass  # already over
        self.calls.clear()
        self.offered.clear()
        return f"ok cleared={cleared}"

    def stats(self) -> str:
        return (
            f"ok connections={len(self.simulator.connected_agents())}"
            f" calls={len(self.switch.calls())} rss_kib={rss_bytes() // 1024}"
        )

    async def serve(self, stream: trio.SocketStream) -> None:
        buffer = b""
        async with stream:
            while True:
                data = await stream.receive_some(MAX_LINE)
                if not data:
                    return
                buffer += data
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    words = line.decode("ascii", "replace").split()
                    answer = await self.run(words)
                    await stream.send_all(answer.encode() + b"\n")
                    if words == ["quit"]:
                        self.done.cancel()
                        return
                if len(buffer) > MAX_LINE:
                    await stream.send_all(b"error line too long\n")
                    return

    async def run(self, words: list[str]) -> str:
        match words:
            case ["offer", rate]:
                return await self.offer(float(rate))
            case ["offers"]:
                return json.dumps(self.offered, separators=(",", ":"))
            case ["clear"]:
                return self.clear()
            case ["stats"]:
                return self.stats()
            case ["quit"]:
                return "ok"  # the caller ends the process once this is sent
        return f"error unknown command {' '.join(words)!r}"


async def watch_stdin(scope: trio.CancelScope) -> None:
    """End everything when standard input closes: the parent is gone."""
    stdin = trio.lowlevel.FdStream(sys.stdin.fileno())
    while await stdin.receive_some(1024):
        pass
    scope.cancel()


async def main(agents: int, max_seconds: float) -> None:
    raise_open_files(agents + 1000)
    switch = build_switch(agents)
    simulator = CstaSimulator(switch)
    with trio.move_on_after(max_seconds) as done:
        async with trio.open_nursery() as nursery:
            control = Control(switch, simulator, nursery.cancel_scope)
            ws_port = await nursery.start(simulator.serve, "127.0.0.1", 0)
            listeners = await nursery.start(
                partial(trio.serve_tcp, control.serve, 0, host="127.0.0.1")
            )
            control_port = listeners[0].socket.getsockname()[1]
            nursery.start_soon(watch_stdin, nursery.cancel_scope)
            print(f"ready ws_port={ws_port} control_port={control_port}", flush=True)
    if done.cancelled_caught:
        print(f"_scale_server: stopped after --max-seconds {max_seconds:g}", file=sys.stderr)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="scale.py's simulator process")
    parser.add_argument("--agents", type=int, required=True)
    parser.add_argument("--max-seconds", type=float, default=900.0)
    args = parser.parse_args()
    trio.run(main, args.agents, args.max_seconds)
