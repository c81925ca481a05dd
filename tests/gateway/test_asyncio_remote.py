"""``cti_fsm.remote.asyncio`` against a gateway run in a thread of this process: the same
commands, errors, listeners and ``allowed()`` as a local agent; health for monitoring; a
clean stop hands the leases back."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest
import trio

from cti_fsm import IllegalCommand, InvalidArguments, Notification
from cti_fsm.errors import Disconnected
from cti_fsm.gateway import Gateway, load_config
from cti_fsm.gateway.wire import decode_state
from cti_fsm.remote.asyncio import open_remote_agent
from cti_fsm.testing import SimulatorProcess, simulator_process

from .conftest import write_config


@pytest.fixture
def sim() -> Iterator[SimulatorProcess]:
    with simulator_process("csta-ws") as running:
        yield running


class GatewayThread:
    """A gateway's trio run in a thread of its own."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.ready = threading.Event()
        self.token: trio.lowlevel.TrioToken | None = None
        self.thread = threading.Thread(target=trio.run, args=(self._main,))
        self.thread.start()
        assert self.ready.wait(15)

    async def _main(self) -> None:
        self.token = trio.lowlevel.current_trio_token()
        async with trio.open_nursery() as nursery:
            await nursery.start(self.gateway.run)
            while len(self.gateway.held) < len(self.gateway.config.agents) or not all(
                h.started.is_set() for h in self.gateway.held.values()
            ):
                await trio.sleep(0.02)
            self.ready.set()

    def stop(self) -> None:
        if self.thread.is_alive():
            assert self.token is not None
            self.token.run_sync_soon(self.gateway.stop)
        self.thread.join(15)
        assert not self.thread.is_alive()


def test_an_asyncio_service_drives_a_remote_agent_like_a_local_one(
    tmp_path: Path, nats_url: str, sim: SimulatorProcess, demo_passwords: dict[str, str]
) -> None:
    config = load_config(write_config(tmp_path / "gw.yaml", nats_url, sim.url, ["1001"]))
    running = GatewayThread(Gateway(config, "gw-1"))
    try:

        async def service() -> None:
            nc = await nats.connect(nats_url)
            health = await nc.subscribe("cti.acme.gateway.*.health")
            async with open_remote_agent(nats_url, "acme", "1001", nc=nc) as agent:
                assert agent.state == "connected"
                assert "check_in" in agent.allowed()
                heard: list[Notification] = []
                agent.on("onCheckIn", heard.append)
                notes = agent.notifications()
                pending = asyncio.ensure_future(anext(notes))
                await asyncio.sleep(0)  # the consumer is waiting now
                step = await agent.check_in("sales")
                assert step is not None and step.target == "checked_in.available.idle"
                assert [n.name for n in heard] == ["onCheckIn"]
                first = await asyncio.wait_for(pending, 5)
                assert first.name == "onCheckIn"
                assert agent.state == "checked_in.available.idle"
                assert "pause" in agent.allowed() and "check_in" not in agent.allowed()

                sent = sim.control("received", agent="1001")["frames"]
                with pytest.raises(IllegalCommand) as refused:
                    await agent.hangup()
                assert refused.value.state == "checked_in.available.idle"
                assert refused.value.allowed == tuple(sorted(agent.allowed()))
                with pytest.raises(InvalidArguments):
                    await agent.command("check_in", grp="sales")
                assert sim.control("received", agent="1001")["frames"] == sent
                with pytest.raises(AttributeError):
                    agent.hodl  # noqa: B018 - no such command in the chart

                report = json.loads((await health.next_msg(timeout=5)).data)
                assert report["gateway"] == "gw-1"
                assert (report["agents"], report["connected"]) == (1, 1)
                assert report["lagging"] >= 0

                # a clean stop: the lease is handed back, the state entry stays the truth
                await asyncio.to_thread(running.stop)
                with pytest.raises(Disconnected, match="no gateway holds agent '1001'"):
                    await agent.pause()
                kv = await nc.jetstream().key_value("cti_acme")
                entry = decode_state((await kv.get("state.1001")).value or b"")
                assert entry.snapshot.state == "checked_in.available.idle"
                assert entry.seq == agent.seq
                with pytest.raises(nats.js.errors.KeyNotFoundError):
                    await kv.get("lease.1001")
            await nc.close()

        asyncio.run(service())
    finally:
        running.stop()
