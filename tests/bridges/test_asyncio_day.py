"""``cti_fsm.asyncio``: a working day from an asyncio program against ``cti-fsm simulate``
in its own process, driven through its HTTP control; nothing left running afterwards."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

import cti_fsm.asyncio
from cti_fsm import Backoff, IllegalCommand, Notification
from cti_fsm._trio_thread import shared_thread
from cti_fsm.errors import CommandFailed, Disconnected
from cti_fsm.testing import SimulatorProcess

FAST = Backoff(base=0.05, cap=0.2)


async def next_named(notes: asyncio.Queue[Notification], name: str) -> Notification:
    """The next notification called ``name`` (others before it are skipped)."""
    async with asyncio.timeout(10):
        while True:
            note = await notes.get()
            if note.name == name:
                return note


def test_a_working_day_from_asyncio(sim: SimulatorProcess) -> None:
    threads_before = set(threading.enumerate())

    async def day() -> None:
        async with cti_fsm.asyncio.open_agent(
            "csta-ws", sim.url, "1001", "pw1001", reconnect=FAST
        ) as agent:
            assert shared_thread().running
            loop_thread = threading.current_thread()
            heard: asyncio.Queue[Notification] = asyncio.Queue()
            called_on: set[threading.Thread] = set()

            def listener(note: Notification) -> None:
                called_on.add(threading.current_thread())
                heard.put_nowait(note)

            agent.on("*", listener)
            step = await agent.check_in("sales")
            assert step is not None and step.target == "checked_in.available.idle"

            answer = sim.control("call", group="sales", caller="5550100")
            assert answer["ok"] and answer["ringing"] == "1001", answer
            ring = await next_named(heard, "onCallInRing")
            assert ring["phone_number"] == "5550100"
            assert agent.state == "checked_in.ringing"

            await agent.answer()
            assert agent.state == "checked_in.talking"
            await agent.hold()
            assert agent.state == "checked_in.held"
            assert sim.control("state", agent="1001")["situation"] == "held"
            await agent.retrieve()
            assert agent.state == "checked_in.talking"

            # refused by the chart: nothing reaches the simulator, nothing changes
            sent = sim.control("received", agent="1001")["frames"]
            with pytest.raises(IllegalCommand) as refused:
                await agent.check_out()
            assert refused.value.state == "checked_in.talking"
            assert "hold" in refused.value.allowed
            assert sim.control("received", agent="1001")["frames"] == sent
            assert agent.state == "checked_in.talking"

            await agent.hangup()
            await next_named(heard, "onIdle")
            assert agent.state == "checked_in.available.idle"

            # a malformed frame is counted and dropped; the link stays up
            assert sim.control("malformed", agent="1001")["ok"]
            await agent.pause()
            assert agent.statistics().malformed_frames == 1
            await agent.restore()

            # the link drops: the agent says so, reconnects, resyncs and works on
            assert sim.control("drop_link", agent="1001")["ok"]
            await next_named(heard, "onDisconnect")
            await next_named(heard, "onConnect")
            assert agent.connected
            assert agent.state == "checked_in.available.idle"
            assert agent.statistics().reconnects == 1
            await agent.pause(reason="lunch")
            assert sim.control("state", agent="1001")["reason"] == "lunch"
            assert called_on == {loop_thread}, "listeners run on the asyncio loop"

        assert not shared_thread().running, "closing the last agent stops the trio thread"
        assert asyncio.all_tasks() == {asyncio.current_task()}

    asyncio.run(day())
    assert set(threading.enumerate()) == threads_before
    assert sim.control("state", agent="1001")["connected"] is False


def test_cancelling_the_task_cancels_its_command(sim: SimulatorProcess) -> None:
    async def program() -> None:
        async with cti_fsm.asyncio.open_agent("csta-ws", sim.url, "1001", "pw1001") as agent:
            await agent.check_in("sales")
            # the confirming event is held back: the command waits for it
            assert sim.control("delay", agent="1001", seconds=2.5)["ok"]
            task = asyncio.create_task(agent.pause())
            async with asyncio.timeout(2):  # sent, and waiting for its confirming event
                while agent.statistics().pending != ("pause",):
                    await asyncio.sleep(0.005)
            assert not task.done()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            async with asyncio.timeout(5):  # the cancel crosses to the trio thread
                while agent.statistics().pending:
                    await asyncio.sleep(0.01)
            # the late event still moves the machine; the next command goes through
            async with asyncio.timeout(5):
                async for note in agent.notifications(["onPause"]):
                    assert note.name == "onPause"
                    break
            await agent.restore()
            assert agent.state == "checked_in.available.idle"

    asyncio.run(program())
    assert not shared_thread().running


def test_two_agents_share_one_trio_thread_and_errors_are_the_trio_agents(
    sim: SimulatorProcess,
) -> None:
    async def program() -> None:
        with pytest.raises(CommandFailed):
            async with cti_fsm.asyncio.open_agent("csta-ws", sim.url, "1002", "wrong"):
                pass
        assert not shared_thread().running
        async with (
            cti_fsm.asyncio.open_agent("csta-ws", sim.url, "1001", "pw1001") as first,
            cti_fsm.asyncio.open_agent("csta-ws", sim.url, "1003", "pw1003") as second,
        ):
            assert shared_thread().users == 2
            await asyncio.gather(first.check_in("sales"), second.check_in("sales"))
            assert (first.state, second.state) == ("checked_in.available.idle",) * 2
            # a chart command the default chart types, and one looked up by name
            await first.command("pause", reason="training")
            assert first.state == "checked_in.available.paused"
            async with first.subscribe(["onRestore"]) as notes:
                await first.restore()
                async with asyncio.timeout(5):
                    assert (await anext(notes)).name == "onRestore"
        assert not shared_thread().running
        with pytest.raises(Disconnected):
            await first.hold()

    asyncio.run(program())


def test_steps_and_the_raw_passthrough_from_asyncio(sim: SimulatorProcess) -> None:
    async def program() -> None:
        async with cti_fsm.asyncio.open_agent("csta-ws", sim.url, "1001", "pw1001") as agent:
            steps: list[str] = []
            raw: asyncio.Queue[object] = asyncio.Queue()
            agent.on_step(lambda step: steps.append(f"{step.source} -> {step.target}"))
            agent.on_raw(raw.put_nowait)
            await agent.check_in("sales")
            await agent.send_raw(
                {"type": "request", "invokeId": 99999, "service": "VendorThing", "params": {}}
            )
            async with asyncio.timeout(5):
                while True:
                    message = await raw.get()
                    if isinstance(message, dict) and message.get("invokeId") == 99999:
                        break
            assert message["error"]["value"] == "serviceNotSupported"
            assert steps[-1] == "connected -> checked_in.available.idle"
            assert agent.state == "checked_in.available.idle"

    asyncio.run(program())


def test_a_blocked_loop_loses_notifications_not_memory(sim: SimulatorProcess) -> None:
    async def program() -> None:
        async with cti_fsm.asyncio.open_agent("csta-ws", sim.url, "1001", "pw1001") as agent:
            agent._buffer = 4  # what the crossing and each consumer may hold
            heard: list[str] = []
            agent.on("*", lambda note: heard.append(note.name))
            await agent.check_in("sales")
            for _ in range(5):
                await agent.pause()
                await agent.restore()
            assert len(heard) == 11
            # the loop is blocked (these control calls block it) while the trio thread
            # receives seven notifications: four rings and three hang-ups
            assert sim.control("call", group="sales")["ok"]
            for _ in range(3):
                assert sim.control("hangup", agent="1001")["ok"]
                assert sim.control("call", group="sales")["ok"]
            time.sleep(1)  # and blocked a while longer, on purpose
            await asyncio.sleep(0.2)
            assert heard[11:] == ["onCallInRing", "onIdle", "onCallInRing", "onIdle"]
            assert agent.statistics().dropped_notifications == 3
            assert agent.state == "checked_in.ringing"

    asyncio.run(program())
