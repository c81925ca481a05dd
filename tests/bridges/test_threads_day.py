"""``cti_fsm.sync``: a working day from plain threads against ``cti-fsm simulate`` in its
own process, driven through its HTTP control; no thread left afterwards."""

from __future__ import annotations

import queue
import threading
import time

import pytest

import cti_fsm.sync
from cti_fsm import Backoff, IllegalCommand, Notification
from cti_fsm._trio_thread import shared_thread
from cti_fsm.errors import CommandFailed, CommandTimeout, Disconnected
from cti_fsm.testing import SimulatorProcess

FAST = Backoff(base=0.05, cap=0.2)


def next_named(notes: queue.Queue[Notification], name: str) -> Notification:
    deadline = time.monotonic() + 10
    while True:
        note = notes.get(timeout=max(deadline - time.monotonic(), 0.001))
        if note.name == name:
            return note


def test_a_working_day_from_threads(sim: SimulatorProcess) -> None:
    threads_before = set(threading.enumerate())
    with cti_fsm.sync.open_agent(
        "csta-ws", sim.url, "1001", "pw1001", timeout=10, reconnect=FAST
    ) as agent:
        heard: queue.Queue[Notification] = queue.Queue()
        called_on: set[str] = set()

        def listener(note: Notification) -> None:
            called_on.add(threading.current_thread().name)
            heard.put(note)

        agent.on("*", listener)
        step = agent.check_in("sales")
        assert step is not None and step.target == "checked_in.available.idle"

        assert sim.control("call", group="sales", caller="5550100")["ringing"] == "1001"
        assert next_named(heard, "onCallInRing")["phone_number"] == "5550100"

        # a second thread works the same agent: commands may come from any thread
        answered: list[object] = []
        worker = threading.Thread(target=lambda: answered.append(agent.answer()))
        worker.start()
        worker.join()
        assert answered and agent.state == "checked_in.talking"
        agent.hold()
        assert sim.control("state", agent="1001")["situation"] == "held"
        agent.retrieve()
        assert agent.state == "checked_in.talking"

        sent = sim.control("received", agent="1001")["frames"]
        with pytest.raises(IllegalCommand) as refused:
            agent.check_out()
        assert refused.value.command == "check_out"
        assert sim.control("received", agent="1001")["frames"] == sent
        assert agent.state == "checked_in.talking"

        agent.hangup()
        next_named(heard, "onIdle")
        assert agent.state == "checked_in.available.idle"

        assert sim.control("drop_link", agent="1001")["ok"]
        next_named(heard, "onDisconnect")
        next_named(heard, "onConnect")
        assert agent.connected and agent.state == "checked_in.available.idle"
        agent.pause(reason="lunch")
        assert sim.control("state", agent="1001")["reason"] == "lunch"
        assert called_on == {"cti-fsm listeners 1001"}
    assert not shared_thread().running
    assert set(threading.enumerate()) == threads_before
    assert sim.control("state", agent="1001")["connected"] is False


def test_a_timeout_cancels_the_command_and_the_agent_goes_on(sim: SimulatorProcess) -> None:
    with cti_fsm.sync.open_agent("csta-ws", sim.url, "1001", "pw1001", timeout=10) as agent:
        agent.check_in("sales")
        assert sim.control("delay", agent="1001", seconds=2.0)["ok"]
        agent.timeout = 0.2
        started = time.monotonic()
        with pytest.raises(CommandTimeout) as late:
            agent.pause()
        assert 0.2 <= time.monotonic() - started < 1.8
        assert late.value.command == "pause"
        assert agent.statistics().pending == ()
        agent.timeout = 10
        # the late event arrives; the iteration ends when nothing came for its timeout
        names = [note.name for note in agent.notifications(timeout=3)]
        assert names == ["onPause"]
        agent.restore()
        assert agent.state == "checked_in.available.idle"
    assert not shared_thread().running


def test_a_refused_login_raises_and_leaves_no_thread(sim: SimulatorProcess) -> None:
    before = set(threading.enumerate())
    with (
        pytest.raises(CommandFailed),
        cti_fsm.sync.open_agent("csta-ws", sim.url, "1001", "not-the-password"),
    ):
        pass
    with (
        pytest.raises(Disconnected),
        cti_fsm.sync.open_agent("csta-ws", "ws://127.0.0.1:9/", "1001", "pw1001", timeout=5),
    ):
        pass
    assert set(threading.enumerate()) == before


def test_steps_and_the_raw_passthrough_from_threads(sim: SimulatorProcess) -> None:
    with cti_fsm.sync.open_agent("csta-ws", sim.url, "1001", "pw1001", timeout=10) as agent:
        steps: queue.Queue[str] = queue.Queue()
        raw: queue.Queue[object] = queue.Queue()
        agent.on_step(lambda step: steps.put(f"{step.source} -> {step.target}"))
        agent.on_raw(raw.put)
        agent.check_in("sales")
        agent.send_raw({"type": "request", "invokeId": 99999, "service": "VendorThing"})
        deadline = time.monotonic() + 5
        while True:
            message = raw.get(timeout=max(deadline - time.monotonic(), 0.001))
            if isinstance(message, dict) and message.get("invokeId") == 99999:
                break
        assert message["error"]["value"] == "serviceNotSupported"
        assert steps.get(timeout=5) == "connected -> checked_in.available.idle"
    assert not shared_thread().running


def test_asyncio_and_thread_agents_share_the_one_trio_thread(sim: SimulatorProcess) -> None:
    import asyncio

    import cti_fsm.asyncio

    before = set(threading.enumerate())
    with cti_fsm.sync.open_agent("csta-ws", sim.url, "1002", "pw1002") as from_thread:
        trio_threads = {t for t in threading.enumerate() if t.name == "cti-fsm trio"}

        async def program() -> None:
            async with cti_fsm.asyncio.open_agent("csta-ws", sim.url, "1001", "pw1001") as agent:
                assert shared_thread().users == 2
                # the same thread as the sync agent's, not a second one
                assert {t for t in threading.enumerate() if t.name == "cti-fsm trio"} == (
                    trio_threads
                )
                await agent.check_in("sales")
                from_thread.check_in("support")  # blocking the loop briefly, on purpose
                assert from_thread.state == agent.state == "checked_in.available.idle"

        asyncio.run(program())
        assert shared_thread().users == 1 and len(trio_threads) == 1
    assert set(threading.enumerate()) == before
