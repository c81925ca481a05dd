"""Agent round trips over a real socket against raw round trips of the same transport.

    python benchmarks/wire.py [--vendor csta-ws|asterisk-ami] [--seconds S] [--repeats N]
                              [--profile]

Everything runs in one process, one trio loop, on 127.0.0.1:

1. **Capture.** The vendor's simulator (over a demo switch) serves one agent, logged in
   through the real adapter with a wiretap on its transport. The agent is brought into
   position (csta-ws: checked in, an inbound call answered; asterisk-ami: signed in to a
   queue, since AMI cannot hold) and one round trip of each command of the pair
   (csta-ws: ``hold``/``retrieve``; asterisk-ami: ``pause``/``restore``) is recorded: the
   request frame the agent sent and every frame the simulator sent back (response and
   event), including any that arrive after the await returned.
2. **Raw baseline** (the ratio's denominator). A client and a server of the vendor's
   transport replay exactly those frames: the client sends the request, the server
   answers with the captured replies, the client reads them all. csta-ws: both ends
   trio-websocket (``serve_websocket`` / ``open_websocket_url``); asterisk-ami: both ends
   raw trio TCP streams, the server writing each captured packet with its own
   ``send_all`` as the simulator does.
3. **Agent round trips** (the numerator). ``await agent.hold()`` then ``await
   agent.retrieve()`` (or pause/restore), alternately: chart check -> encode -> simulator
   -> switch -> response and confirming event -> decode -> vendor map -> machine ->
   notification -> the await returns. The simulator runs in the same process and loop,
   as the raw server does.

Two more rows tell the costs apart: the adapter's own client transport replaying the raw
frames (the transport's cost, for information), and a second agent against a replay
server that plays the whole captured session back, request ids rewritten, instead of the
simulator (the agent library's cost without the simulator's: ``agent_replay_per_raw_ws``
in the last line, its best rate over the raw baseline's).

Each contender is warmed up, then timed ``--repeats`` times in turns (so a burst of load
from elsewhere hits all alike); the table shows best and median wall-clock rates and the
best rate by this process's CPU time; ratios use the best wall-clock runs. ``--profile``
adds a cProfile of each contender grouped by area, and the costliest functions of the
agent round trip. The last line is::

    wire_per_raw_ws=R agent_round_trips_per_s=N raw_ws_round_trips_per_s=M agent_replay_per_raw_ws=Q

with the same keys for asterisk-ami (its ``raw_ws`` baseline is then raw trio TCP, as the
table says), so one parser reads both vendors. Target: R >= 0.8.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import re
import sys
import time
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import attrs
import trio
import trio_websocket
from _bench import Rates, key_values, profile_report, rates_table
from _replay import (
    Exchange,
    Script,
    as_bytes,
    exchanges,
    split_packets,
    tcp_server,
    websocket_server,
)
from _tap import TapAdapter

from cti_fsm.adapter import Adapter, Transport, load_adapter
from cti_fsm.agent import Agent, open_agent
from cti_fsm.errors import CtiError
from cti_fsm.switch import Switch, demo_switch

TARGET = 0.8
#: Round trips each contender runs before it is timed.
WARMUP = 300
#: Seconds to wait for frames arriving after a captured command's await returned.
TRAILING = 0.05

RoundTrips = Callable[[int], Awaitable[None]]


# --- the vendors ----------------------------------------------------------------------------
async def _into_a_call(agent: Agent, switch: Switch | None) -> None:
    ringing = trio.Event()
    # listening before check_in: a replayed session delivers the call right behind it
    agent.on("onCallInRing", lambda _: ringing.set())
    await agent.check_in(group_ids="sales")
    if switch is not None:
        switch.inbound_call("sales", caller="+442079460001")
    with trio.fail_after(5):
        await ringing.wait()
    await agent.answer()


async def _into_a_queue(agent: Agent, switch: Switch | None) -> None:
    await agent.check_in(group_ids="sales")


@attrs.frozen
class Vendor:
    """How to bring one agent of a vendor into position for the round-trip pair.

    Attributes:
        user, password, options: the agent's login (demo switch agent 1001).
        pair: the two commands alternated, with their arguments.
        stream: True for a byte-stream transport (TCP), False for websocket messages.
        baseline: what the raw baseline is, for the table.
        request_id: finds a request's id (group 0 as the replies carry it).
        url: the simulator's URL from the simulator and its port.
        setup: brings the agent into position (``switch`` None: against a replay).
    """

    name: str
    user: str
    password: str
    options: Mapping[str, Any]
    pair: tuple[tuple[str, Mapping[str, Any]], tuple[str, Mapping[str, Any]]]
    stream: bool
    baseline: str
    request_id: re.Pattern[str]
    url: Callable[[Any, int], str]
    setup: Callable[[Agent, Switch | None], Awaitable[None]]


VENDORS: Mapping[str, Vendor] = {
    "csta-ws": Vendor(
        name="csta-ws",
        user="1001",
        password="pw1001",
        options={},
        pair=(("hold", {}), ("retrieve", {})),
        stream=False,
        baseline="trio-websocket client <-> server",
        request_id=re.compile(r'"invokeId":(\d+)'),
        url=lambda sim, port: str(sim.url),
        setup=_into_a_call,
    ),
    "asterisk-ami": Vendor(
        name="asterisk-ami",
        user="PJSIP/8001",
        password="pw1001",
        options={"username": "1001"},
        # hold is unsupported on AMI (no server-side hold); pause/restore is its command
        # confirmed by an event (QueueMemberPause), like hold/retrieve on csta-ws
        pair=(("pause", {"reason": "break"}), ("restore", {})),
        stream=True,
        baseline="raw trio TCP client <-> server",
        request_id=re.compile(r"ActionID: cti-(\d+)-"),
        url=lambda sim, port: f"tcp://127.0.0.1:{port}",
        setup=_into_a_queue,
    ),
}


# --- capture ----------------------------------------------------------------------------------
async def capture(agent: Agent, tap: TapAdapter, command: str, args: Mapping[str, Any]) -> Exchange:
    """Record one real round trip of ``command``.

    Raises:
        SystemExit: nothing went out or nothing came back.
    """
    tap.start()
    await agent.command(command, **args)
    before = sum(1 for c in tap.log if c.direction == "in")
    await trio.sleep(TRAILING)
    found = exchanges(tap.stop())
    if len(found) != 1 or not found[0].replies:
        raise SystemExit(f"wire.py: capturing {command} did not see one request and its replies")
    return attrs.evolve(found[0], command=command, replies_before_return=before)


def as_written(exchange: Exchange, stream: bool) -> Exchange:
    """For a stream, replies cut into packets (the simulator writes each separately; the
    tap saw reads, which the kernel may have merged)."""
    if not stream:
        return exchange
    return attrs.evolve(
        exchange, replies=tuple(split_packets(b"".join(as_bytes(f) for f in exchange.replies)))
    )


def describe(pair: Sequence[Exchange], stream: bool) -> str:
    rows = []
    for ex in pair:
        unit = "packets" if stream else "messages"
        rows.append(
            f"  {ex.command:9} out {len(ex.requests)} ({ex.out_bytes} B), in {len(ex.replies)}"
            f" {unit} ({ex.in_bytes} B; {ex.replies_before_return} read before the await"
            " returned)"
        )
        for frame in (*ex.requests, *ex.replies):
            flat = as_bytes(frame).decode("utf-8", "replace").replace("\r\n", " | ")
            rows.append(f"      {flat[:96]}{'...' if len(flat) > 96 else ''}")
    return "\n".join(rows)


# --- contenders ------------------------------------------------------------------------------
def websocket_client(
    ws: trio_websocket.WebSocketConnection, pair: Sequence[Exchange]
) -> RoundTrips:
    async def rounds(n: int) -> None:
        for i in range(n):
            turn = pair[i & 1]
            for request in turn.requests:
                await ws.send_message(request)
            for _ in turn.replies:
                await ws.get_message()

    return rounds


def tcp_client(stream: trio.SocketStream, pair: Sequence[Exchange]) -> RoundTrips:
    out = [b"".join(as_bytes(f) for f in e.requests) for e in pair]
    back = [e.in_bytes for e in pair]

    async def rounds(n: int) -> None:
        for i in range(n):
            await stream.send_all(out[i & 1])
            got = 0
            while got < back[i & 1]:
                got += len(await stream.receive_some(65536))

    return rounds


def transport_client(transport: Transport, pair: Sequence[Exchange], stream: bool) -> RoundTrips:
    """The adapter's own client transport replaying the frames (no codec, no agent)."""
    back = [e.in_bytes for e in pair]

    async def messages(n: int) -> None:
        for i in range(n):
            turn = pair[i & 1]
            for request in turn.requests:
                await transport.send(request)
            for _ in turn.replies:
                await transport.receive()

    async def chunks(n: int) -> None:
        for i in range(n):
            for request in pair[i & 1].requests:
                await transport.send(request)
            got = 0
            while got < back[i & 1]:
                got += len(as_bytes(await transport.receive()))

    return chunks if stream else messages


def agent_client(agent: Agent, vendor: Vendor) -> RoundTrips:
    (first, first_args), (second, second_args) = vendor.pair

    async def rounds(n: int) -> None:
        for i in range(n):
            # looked up each time, as ``await agent.hold()`` in user code is
            if i & 1:
                await getattr(agent, second)(**second_args)
            else:
                await getattr(agent, first)(**first_args)

    return rounds


# --- timing -----------------------------------------------------------------------------------
async def timed(run: RoundTrips, n: int) -> tuple[float, float]:
    """Round trips per second of ``run(n)``, by the wall clock and by CPU time."""
    gc.collect()
    start, cpu = time.perf_counter(), time.process_time()
    await run(n)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    return n / wall, n / max(cpu, 1e-9)


async def measure(
    contenders: Mapping[str, RoundTrips], seconds: float, repeats: int
) -> dict[str, Rates]:
    """Warm each contender up, size its runs to share ``seconds``, time them in turns."""
    sizes: dict[str, int] = {}
    per_run = seconds / (len(contenders) * repeats)
    for name, run in contenders.items():
        rate, _ = await timed(run, WARMUP)
        sizes[name] = max(2, int(rate * per_run) & ~1)  # even: the pair ends where it began
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, run in contenders.items():
            runs[name].append(await timed(run, sizes[name]))
    return {
        name: Rates(name, tuple(w for w, _ in r), tuple(c for _, c in r))
        for name, r in runs.items()
    }


async def profiles(contenders: Mapping[str, RoundTrips], rates: Mapping[str, Rates]) -> list[str]:
    """A profile of each contender over about a second's worth of its round trips."""
    out = []
    for i, (name, run) in enumerate(contenders.items()):
        n = max(2, int(rates[name].median) & ~1)
        profile = cProfile.Profile()
        profile.enable()
        await run(n)
        profile.disable()
        out.append(f"[{name}]\n" + profile_report(profile, n, top=20 if i == 0 else 0))
    return out


# --- the run ----------------------------------------------------------------------------------
@attrs.frozen
class Outcome:
    pair: tuple[Exchange, Exchange]
    rates: dict[str, Rates]
    baseline: str
    agent: str
    replay: str
    profiles: tuple[str, ...]


async def run_vendor(vendor: Vendor, seconds: float, repeats: int, profile: bool) -> Outcome:
    """Capture, then race the contenders.

    Raises:
        SystemExit: the vendor's adapter or simulator is not usable.
    """
    try:
        adapter: Adapter = load_adapter(vendor.name)
    except CtiError as exc:
        raise SystemExit(f"wire.py: the {vendor.name} adapter is not usable: {exc}") from None
    tap = TapAdapter(adapter)
    switch = demo_switch()
    async with trio.open_nursery() as nursery:
        simulator = adapter.simulator(switch)
        port = await nursery.start(simulator.serve, "127.0.0.1", 0)
        outcome = await _race(
            vendor, adapter, tap, switch, vendor.url(simulator, port), profile, seconds, repeats
        )
        nursery.cancel_scope.cancel()
    return outcome


async def _race(
    vendor: Vendor,
    adapter: Adapter,
    tap: TapAdapter,
    switch: Switch,
    url: str,
    profile: bool,
    seconds: float,
    repeats: int,
) -> Outcome:
    async with AsyncExitStack() as stack:
        login = (vendor.user, vendor.password)
        tap.start()
        agent = await stack.enter_async_context(
            open_agent(tap, url, *login, options=vendor.options, reconnect=None)
        )
        await vendor.setup(agent, switch)
        session = exchanges(tap.stop())
        pair = (
            await capture(agent, tap, *vendor.pair[0]),
            await capture(agent, tap, *vendor.pair[1]),
        )
        written = (as_written(pair[0], vendor.stream), as_written(pair[1], vendor.stream))
        server = tcp_server if vendor.stream else websocket_server
        raw_url = await stack.enter_async_context(server(Script((), written)))
        replay_url = await stack.enter_async_context(
            server(
                Script(
                    tuple(as_written(e, vendor.stream) for e in session),
                    written,
                    vendor.request_id,
                )
            )
        )
        replayed = await stack.enter_async_context(
            open_agent(adapter, replay_url, *login, options=vendor.options, reconnect=None)
        )
        await vendor.setup(replayed, None)
        raw = await stack.enter_async_context(_raw_client(raw_url, written, vendor.stream))
        transport = await stack.enter_async_context(adapter.connect(raw_url))
        pair_names = "/".join(name for name, _ in vendor.pair)
        baseline = f"raw: {vendor.baseline}"
        agent_row = f"agent {pair_names} <-> simulator"
        replay_row = f"agent {pair_names} <-> replay server"
        contenders = {
            baseline: raw,
            f"raw: {vendor.name} adapter transport <-> same": transport_client(
                transport, written, vendor.stream
            ),
            replay_row: agent_client(replayed, vendor),
            agent_row: agent_client(agent, vendor),
        }
        rates = await measure(contenders, seconds, repeats)
        ordered = {agent_row: contenders[agent_row], **contenders}
        reports = await profiles(ordered, rates) if profile else []
    return Outcome(pair, rates, baseline, agent_row, replay_row, tuple(reports))


@asynccontextmanager
async def _raw_client(
    url: str, pair: Sequence[Exchange], stream: bool
) -> AsyncIterator[RoundTrips]:
    if stream:
        host, port = url.removeprefix("tcp://").rsplit(":", 1)
        tcp = await trio.open_tcp_stream(host, int(port))
        async with tcp:
            yield tcp_client(tcp, pair)
    else:
        async with trio_websocket.open_websocket_url(url) as ws:
            yield websocket_client(ws, pair)


def _sole(error: BaseException) -> BaseException:
    """The one exception inside nested single-exception groups."""
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--vendor", choices=sorted(VENDORS), default="csta-ws")
    parser.add_argument("--seconds", type=float, default=12.0, help="total timed seconds")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per contender")
    parser.add_argument("--profile", action="store_true", help="also profile (cProfile)")
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.repeats < 1:
        parser.error("--seconds must be positive and --repeats at least 1")
    vendor = VENDORS[args.vendor]
    try:
        outcome = trio.run(run_vendor, vendor, args.seconds, args.repeats, args.profile)
    except Exception as exc:  # say which vendor failed and how, under the traceback
        traceback.print_exc()
        error = _sole(exc)
        sys.exit(
            f"wire.py: the {vendor.name} adapter or its simulator is not usable here:"
            f" {type(error).__name__}: {error}"
        )
    base, agent = outcome.rates[outcome.baseline], outcome.rates[outcome.agent]
    replay = outcome.rates[outcome.replay]
    ratio = agent.best / base.best
    print(f"wire benchmark: vendor {vendor.name}, Python {sys.version.split()[0]}, one process,")
    print(f"127.0.0.1, {args.repeats} timed runs per contender in turns, ~{args.seconds:g}s in all")
    print("captured round trips (the raw contenders replay these frames byte for byte):")
    print(describe(outcome.pair, vendor.stream))
    print()
    print(rates_table(list(outcome.rates.values()), base))
    print()
    for report in outcome.profiles:
        print(report)
        print()
    print(f"target wire_per_raw >= {TARGET}: {'met' if ratio >= TARGET else 'MISSED'}")
    print(
        key_values(
            wire_per_raw_ws=ratio,
            agent_round_trips_per_s=agent.best,
            raw_ws_round_trips_per_s=base.best,
            agent_replay_per_raw_ws=replay.best / base.best,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
