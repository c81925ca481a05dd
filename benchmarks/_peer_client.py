"""A client process of ``peers.py``: our agent (trio) or panoramisk (asyncio), doing
QueuePause round trips against the AMI simulator, one turn at a time; or, on FreeSWITCH's
Event Socket, our agent, python-ESL (FreeSWITCH's own libesl) or greenswitch (gevent)
setting a mod_callcenter agent's status.

    python benchmarks/_peer_client.py --client agent|panoramisk|bare-trio --url tcp://127.0.0.1:P
    python benchmarks/_peer_client.py --client esl-agent|python-esl|greenswitch --url ...

Each line on standard input is a turn, ``run N WARMUP [profile|sample]``: connect and log
in as demo agent 1001 (member ``PJSIP/8001``), join queue ``sales``, do WARMUP untimed round trips
and then N timed ones (pause and restore alternately), log off. The answer is one line,
``done n=N wall=S cpu=S`` (CPU: this process's ``time.process_time``, user + system),
or ``error ...``. With ``profile``, the timed round trips are profiled by cProfile, with
``sample`` by ``_bench.CpuSampler`` (CPU-weighted sampling, no per-call overhead); the
report goes to standard error. The process ends when its standard input closes.

A round trip is one ``QueuePause`` awaited until the ``QueueMemberPause`` event for this
member with the new ``Paused`` value has arrived, as the agent's ``pause()``/``restore()``
return on that event; panoramisk also awaits the action's response (which the simulator
writes first, so it is in by then).

On ESL, a round trip is one ``bgapi callcenter_config agent set status 1001@default``
(``'On Break'`` and ``Available`` alternately) awaited until the ``agent-status-change``
event of agent ``1001@default`` with that status has arrived, as the agent's
``pause()``/``restore()`` return on it. Every client logs in with ``userauth`` as the
agent, subscribes to ``CUSTOM callcenter::info BACKGROUND_JOB`` and adds the agent's tier
to queue ``sales@default`` (already there after the first turn: no matter).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import logging
import math
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any
from urllib.parse import urlsplit

from _bench import CpuSampler, profile_report

#: Demo switch agent 1001: AMI manager account 1001, queue member PJSIP/8001 (demo
#: credentials, on loopback only).
USER, PASSWORD, INTERFACE = "1001", "pw1001", "PJSIP/8001"
QUEUE = "sales"
#: The event classes both clients ask for at login (the agent's default).
EVENTS = "call,agent,dtmf,originate"
#: Seconds a login, check-in or round trip may take before the turn fails.
TIMEOUT = 10.0

#: What watches the timed round trips: nothing, cProfile or the CPU sampler.
Probe = AbstractContextManager[Any]


async def _timed(
    run: Callable[[int], Awaitable[None]], n: int, warmup: int, probe: Probe
) -> tuple[float, float]:
    """Warm up, then time ``run(n)`` under ``probe``: wall-clock and CPU seconds."""
    await run(warmup)
    gc.collect()
    start, cpu = time.perf_counter(), time.process_time()
    with probe:
        await run(n)
    return time.perf_counter() - start, time.process_time() - cpu


# --- our agent --------------------------------------------------------------------------------
def agent_turn(url: str, n: int, warmup: int, probe: Probe) -> tuple[float, float]:
    import trio

    from cti_fsm import open_agent

    async def turn() -> tuple[float, float]:
        # the deadline bounds connecting, logging in and checking in; the timed round
        # trips are bounded by the agent's own command timeouts
        with trio.fail_after(TIMEOUT) as login:
            async with open_agent(
                "asterisk-ami", url, INTERFACE, PASSWORD, options={"username": USER}, reconnect=None
            ) as agent:
                if not agent.state.startswith("checked_in"):
                    await agent.check_in(group_ids=QUEUE)
                if agent.state.endswith("paused"):
                    await agent.restore()
                login.deadline = math.inf

                async def rounds(count: int) -> None:
                    for i in range(count):
                        if i & 1:
                            await agent.restore()
                        else:
                            await agent.pause()

                figures = await _timed(rounds, n, warmup, probe)
                login.deadline = trio.current_time() + TIMEOUT  # for the logoff
                return figures

    return trio.run(turn)


# --- panoramisk -------------------------------------------------------------------------------
def panoramisk_turn(url: str, n: int, warmup: int, probe: Probe) -> tuple[float, float]:
    from panoramisk import Manager  # type: ignore[import-untyped]

    # panoramisk logs a lost connection (our own Logoff) at error level
    logging.getLogger("panoramisk").setLevel(logging.CRITICAL)
    where = urlsplit(url)

    async def turn() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        logged_in: asyncio.Future[bool] = loop.create_future()
        waiting: dict[str, Any] = {}  # event name -> (Paused wanted or None, future)

        def on_member(_manager: Any, event: Any) -> None:
            wanted = waiting.get(event["Event"])
            if wanted is None or event.get("Interface") != INTERFACE:
                return
            paused, future = wanted
            if (paused is None or event.get("Paused") == paused) and not future.done():
                del waiting[event["Event"]]
                future.set_result(event)

        def expect(name: str, paused: str | None = None) -> asyncio.Future[Any]:
            future: asyncio.Future[Any] = loop.create_future()
            waiting[name] = (paused, future)
            return future

        manager = Manager(
            loop=loop,
            host=where.hostname,
            port=where.port,
            username=USER,
            secret=PASSWORD,
            events=EVENTS,
            on_login=lambda _m: None if logged_in.done() else logged_in.set_result(True),
        )
        manager.register_event("QueueMemberPause", on_member)
        manager.register_event("QueueMemberAdded", on_member)
        try:
            await manager.connect()
            await asyncio.wait_for(logged_in, TIMEOUT)
            added = expect("QueueMemberAdded")
            response = manager.send_action(
                {"Action": "QueueAdd", "Queue": QUEUE, "Interface": INTERFACE, "Paused": "false"}
            )
            # panoramisk takes "Added interface to queue" for a list that never ends: the
            # member's event confirms it, or an error response ("Already there") does
            await asyncio.wait({added, response}, timeout=TIMEOUT, return_when="FIRST_COMPLETED")
            if not added.done() and not response.done():
                raise TimeoutError("QueueAdd was not answered")

            async def rounds(count: int) -> None:
                for i in range(count):
                    paused = "false" if i & 1 else "true"
                    event = expect("QueueMemberPause", "0" if i & 1 else "1")
                    reply = await manager.send_action(
                        {"Action": "QueuePause", "Interface": INTERFACE, "Paused": paused}
                    )
                    if not reply.success:
                        raise RuntimeError(f"QueuePause failed: {dict(reply)}")
                    await event

            figures = await _timed(rounds, n, warmup, probe)
            await asyncio.wait_for(manager.send_action({"Action": "Logoff"}), TIMEOUT)
            return figures
        finally:
            manager.close()

    return asyncio.run(turn())


# --- a bare trio client: the floor for any trio library on this exchange ----------------------
def bare_trio_turn(url: str, n: int, warmup: int, probe: Probe) -> tuple[float, float]:
    """The same round trips written straight on trio's socket stream: no codec, no
    protocol, no chart; a reply is found by searching the bytes. What no trio client can
    beat, so the agent's distance from panoramisk splits into trio's and ours."""
    import trio

    where = urlsplit(url)
    event = b"Event: QueueMemberPause\r\n"

    async def turn() -> tuple[float, float]:
        with trio.fail_after(TIMEOUT) as login:
            stream = await trio.open_tcp_stream(where.hostname or "127.0.0.1", where.port or 0)
            async with stream:
                buffer = bytearray()

                async def until(marker: bytes) -> None:
                    while True:
                        found = buffer.find(marker)
                        if found >= 0:
                            end = buffer.find(b"\r\n\r\n", found)
                            if end >= 0:
                                del buffer[: end + 4]
                                return
                        data = await stream.receive_some(65536)
                        if not data:
                            raise ConnectionError("the simulator closed the connection")
                        buffer.extend(data)

                async def action(text: str) -> None:
                    await stream.send_all(text.replace("\n", "\r\n").encode() + b"\r\n")

                await action(
                    f"Action: Login\nUsername: {USER}\nSecret: {PASSWORD}\nEvents: {EVENTS}\n"
                )
                await until(b"Response: Success")
                # added, or "already there" from an earlier turn: either is a response
                await action(
                    f"Action: QueueAdd\nQueue: {QUEUE}\nInterface: {INTERFACE}\nPaused: false\n"
                )
                await until(b"Response: ")
                login.deadline = math.inf

                async def rounds(count: int) -> None:
                    for i in range(count):
                        paused = "false" if i & 1 else "true"
                        await action(
                            f"Action: QueuePause\nInterface: {INTERFACE}\nPaused: {paused}\n"
                        )
                        await until(event)

                figures = await _timed(rounds, n, warmup, probe)
                await action("Action: Logoff\n")
                return figures

    return trio.run(turn)


# --- FreeSWITCH Event Socket ------------------------------------------------------------------
ESL_AGENT = "1001@default"
ESL_QUEUE = "sales@default"
ESL_EVENTS = "CUSTOM callcenter::info BACKGROUND_JOB"
ESL_STATUS = ("'On Break'", "Available")


def esl_agent_turn(url: str, n: int, warmup: int, probe: Probe) -> tuple[float, float]:
    import trio

    from cti_fsm import open_agent

    async def turn() -> tuple[float, float]:
        with trio.fail_after(TIMEOUT) as login:
            async with open_agent(
                "freeswitch-esl",
                url,
                USER,
                PASSWORD,
                options={"extension": "8001"},
                reconnect=None,
            ) as agent:
                if not agent.state.startswith("checked_in"):
                    await agent.check_in(group_ids=QUEUE)
                if agent.state.endswith("paused"):
                    await agent.restore()
                login.deadline = math.inf

                async def rounds(count: int) -> None:
                    for i in range(count):
                        if i & 1:
                            await agent.restore()
                        else:
                            await agent.pause()

                figures = await _timed(rounds, n, warmup, probe)
                login.deadline = trio.current_time() + TIMEOUT  # for the logoff
                return figures

    return trio.run(turn)


def python_esl_turn(url: str, n: int, warmup: int, probe: Probe) -> tuple[float, float]:
    """FreeSWITCH's own client: libesl in C behind SWIG, blocking calls."""
    import ESL  # type: ignore[import-not-found]

    where = urlsplit(url)
    con = ESL.ESLconnection(where.hostname, str(where.port), ESL_AGENT, PASSWORD)
    if not con.connected():
        raise ConnectionError("python-ESL could not log in")
    try:
        con.sendRecv(f"event json {ESL_EVENTS}")
        con.bgapi("callcenter_config", f"tier add {ESL_QUEUE} {ESL_AGENT}")
        timeout_ms = int(TIMEOUT * 1000)

        def set_status(status: str) -> None:
            con.bgapi("callcenter_config", f"agent set status {ESL_AGENT} {status}")
            wanted = status.strip("'")
            while True:
                event = con.recvEventTimed(timeout_ms)
                if event is None:
                    raise TimeoutError(f"no agent-status-change {wanted!r}")
                if (
                    event.getHeader("CC-Action") == "agent-status-change"
                    and event.getHeader("CC-Agent") == ESL_AGENT
                    and event.getHeader("CC-Agent-Status") == wanted
                ):
                    return

        set_status("Available")

        async def rounds(count: int) -> None:
            for i in range(count):
                set_status(ESL_STATUS[i & 1])

        figures = asyncio.run(_timed(rounds, n, warmup, probe))
        set_status("'Logged Out'")
        return figures
    finally:
        con.disconnect()


def greenswitch_turn(url: str, n: int, warmup: int, probe: Probe) -> tuple[float, float]:
    """greenswitch: a gevent reader greenlet, events handed to handlers by another."""
    import gevent
    import gevent.event
    import greenswitch

    where = urlsplit(url)

    class UserAuth(greenswitch.InboundESL):  # type: ignore[misc]
        """greenswitch sends ``auth``; the agent logs in with ``userauth``."""

        def authenticate(self) -> None:
            reply = self.send(f"userauth {ESL_AGENT}:{PASSWORD}")
            if reply.headers.get("Reply-Text") != "+OK accepted":
                raise ConnectionError("greenswitch could not log in")

    esl = UserAuth(host=where.hostname, port=where.port, password=PASSWORD)
    esl.connect()
    wanted: list[Any] = [None, gevent.event.Event()]

    def on_event(event: Any) -> None:
        h = event.headers
        if (
            h.get("CC-Action") == "agent-status-change"
            and h.get("CC-Agent") == ESL_AGENT
            and h.get("CC-Agent-Status") == wanted[0]
        ):
            wanted[1].set()

    esl.register_handle("callcenter::info", on_event)
    try:
        esl.send(f"event plain {ESL_EVENTS}")
        esl.send(f"bgapi callcenter_config tier add {ESL_QUEUE} {ESL_AGENT}")

        def set_status(status: str) -> None:
            wanted[0], wanted[1] = status.strip("'"), gevent.event.Event()
            esl.send(f"bgapi callcenter_config agent set status {ESL_AGENT} {status}")
            if not wanted[1].wait(TIMEOUT):
                raise TimeoutError(f"no agent-status-change {wanted[0]!r}")

        set_status("Available")

        async def rounds(count: int) -> None:
            for i in range(count):
                set_status(ESL_STATUS[i & 1])

        figures = asyncio.run(_timed(rounds, n, warmup, probe))
        set_status("'Logged Out'")
        return figures
    finally:
        esl.stop()


CLIENTS: dict[str, Callable[..., tuple[float, float]]] = {
    "agent": agent_turn,
    "panoramisk": panoramisk_turn,
    "bare-trio": bare_trio_turn,
    "esl-agent": esl_agent_turn,
    "python-esl": python_esl_turn,
    "greenswitch": greenswitch_turn,
}


def main() -> int:
    parser = argparse.ArgumentParser(description="peers.py's client process")
    parser.add_argument("--client", choices=sorted(CLIENTS), required=True)
    parser.add_argument("--url", required=True, help="tcp://127.0.0.1:PORT")
    args = parser.parse_args()
    turn = CLIENTS[args.client]
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        try:
            n, warmup = int(words[1]), int(words[2])
            probe: Probe = nullcontext()
            if "profile" in words[3:]:
                probe = cProfile.Profile()
            elif "sample" in words[3:]:
                probe = CpuSampler()
            wall, cpu = turn(args.url, n, warmup, probe)
        except Exception as exc:  # the parent reports it and stops
            traceback.print_exc()
            print(f"error {type(exc).__name__}: {exc}".replace("\n", " "), flush=True)
            continue
        if isinstance(probe, cProfile.Profile):
            report = profile_report(probe, n, top=25)
            print(f"[{args.client} client process, cProfile]\n{report}\n", file=sys.stderr)
        elif isinstance(probe, CpuSampler):
            report = probe.report(n, top=25)
            print(f"[{args.client} client process, CPU sampler]\n{report}\n", file=sys.stderr)
        sys.stderr.flush()
        print(f"done n={n} wall={wall:.6f} cpu={cpu:.6f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
