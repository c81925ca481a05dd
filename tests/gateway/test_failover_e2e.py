"""End to end: two ``cti-fsm gateway`` processes, the csta-ws simulator and a real
nats-server; a business service on ``cti_fsm.remote`` runs a working day; the gateway
holding the agent is killed mid-call; the other takes it over with its state right, and the
agent's stream has every notification once, in order."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest
import trio

from cti_fsm import IllegalCommand, Notification
from cti_fsm._asyncio_thread import asyncio_thread
from cti_fsm.errors import Disconnected
from cti_fsm.gateway.wire import decode_event
from cti_fsm.remote import open_remote_agent
from cti_fsm.testing import SimulatorProcess, simulator_process

from .conftest import write_config


@pytest.fixture
def sim() -> Iterator[SimulatorProcess]:
    with simulator_process("csta-ws") as running:
        yield running


class GatewayProcess:
    """``cti-fsm gateway`` in a process of its own (so it can be killed as a crash kills)."""

    def __init__(self, config: Path, name: str, env: dict[str, str]) -> None:
        command = [sys.executable, "-m", "cti_fsm.cli", "gateway", "--config", str(config)]
        self.process = subprocess.Popen(
            [*command, "--name", name],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line.startswith(f"gateway {name} serving acme"), line

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(5)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        assert self.process.stdout is not None
        self.process.stdout.close()


async def stream_of(nats_url: str, agent: str) -> list[dict[str, object]]:
    """Every event on the agent's subject, read straight from the stream."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        sub = await js.subscribe(f"cti.acme.agent.{agent}.evt", ordered_consumer=True)
        events = []
        while True:
            try:
                msg = await sub.next_msg(timeout=1.0)
            except nats.errors.TimeoutError:
                break
            event = decode_event(msg.data)
            events.append(
                {
                    "seq": event.seq,
                    "name": event.notification.name if event.notification else None,
                    "gateway": event.gateway,
                    "msg_id": msg.headers.get("Nats-Msg-Id") if msg.headers else None,
                }
            )
        return events
    finally:
        await nc.close()


def test_a_gateway_killed_mid_call_hands_its_agents_over(
    tmp_path: Path, nats_url: str, sim: SimulatorProcess, demo_passwords: dict[str, str]
) -> None:
    config = write_config(tmp_path / "gateway.yaml", nats_url, sim.url, ["1001", "1002"])
    first = GatewayProcess(config, "gw-a", demo_passwords)
    second: GatewayProcess | None = None
    heard: list[tuple[int, str]] = []
    try:

        async def service() -> float:
            nonlocal second
            async with open_remote_agent(nats_url, "acme", "1001") as agent:
                # the first gateway holds both agents before the second starts
                with trio.fail_after(10):
                    while agent.state != "connected":
                        await trio.sleep(0.05)
                second = GatewayProcess(config, "gw-b", demo_passwords)

                def listener(note: Notification) -> None:
                    heard.append((agent.seq, note.name))

                agent.on("*", listener)
                step = await agent.check_in("sales")
                assert step is not None and step.target == "checked_in.available.idle"
                assert agent.state == "checked_in.available.idle"
                assert heard[-1][1] == "onCheckIn"

                answer = sim.control("call", group="sales", caller="5550100")
                assert answer["ok"] and answer["ringing"] == "1001", answer
                with trio.fail_after(10):
                    while agent.state != "checked_in.ringing":
                        await trio.sleep(0.02)
                await agent.answer()
                assert agent.state == "checked_in.talking"

                # refused by the chart at the gateway: the same exception, nothing sent
                sent = sim.control("received", agent="1001")["frames"]
                with pytest.raises(IllegalCommand) as refused:
                    await agent.check_out()
                assert refused.value.state == "checked_in.talking"
                assert "hold" in refused.value.allowed
                assert str(refused.value).startswith("command 'check_out' cannot be sent")
                assert sim.control("received", agent="1001")["frames"] == sent

                # mid-call, the gateway holding the agent dies
                first.kill()
                killed = time.monotonic()
                with trio.fail_after(15):
                    while True:
                        try:
                            await agent.hold()
                            break
                        except Disconnected:
                            await trio.sleep(0.1)
                failover = time.monotonic() - killed
                assert agent.state == "checked_in.held"
                assert sim.control("state", agent="1001")["situation"] == "held"
                await agent.retrieve()
                assert agent.state == "checked_in.talking"
                sim.control("hangup", agent="1001")
                with trio.fail_after(10):
                    while agent.state != "checked_in.available.idle":
                        await trio.sleep(0.02)
                await agent.check_out()
                assert agent.state == "connected"
            # the other agent the dead gateway held is served by the survivor too
            async with open_remote_agent(nats_url, "acme", "1002") as other:
                assert other.state == "connected"
                await other.check_in("support")
                assert other.state == "checked_in.available.idle"
                await other.check_out()
            return failover

        failover = trio.run(service)
        events = trio.run(lambda: _in_asyncio(stream_of(nats_url, "1001")))
    finally:
        first.stop()
        if second is not None:
            second.stop()
    # the lease (1.5 s) lapses, the next round (every 0.5 s) claims it, the agent logs in
    assert failover < 6, failover
    seqs = [e["seq"] for e in events]
    assert seqs == list(range(1, len(seqs) + 1)), events
    assert len({e["msg_id"] for e in events}) == len(events)
    # the takeover says what a local agent says of a reconnect: the link dropped, and is
    # back; the call is not announced again (the resync walked from the talking state)
    assert [(e["gateway"], e["name"]) for e in events] == [
        ("gw-a", "onConnect"),
        ("gw-a", "onCheckIn"),
        ("gw-a", "onCallInRing"),
        ("gw-a", "onCallIn"),
        ("gw-a", "onInCall"),
        ("gw-b", "onDisconnect"),
        ("gw-b", "onConnect"),
        ("gw-b", "onHold"),
        ("gw-b", "onRetrieve"),
        ("gw-b", "onIdle"),
        ("gw-b", "onCheckOut"),
    ]
    # the service heard exactly the stream's notifications after it began listening
    start = heard[0][0]
    assert heard == [(e["seq"], e["name"]) for e in events if e["seq"] >= start]


async def _in_asyncio(coro: object) -> list[dict[str, object]]:
    thread = asyncio_thread()
    thread.acquire()
    try:
        result: list[dict[str, object]] = await thread.run(coro)  # type: ignore[arg-type]
        return result
    finally:
        thread.release()
