"""The csta-ws adapter as the agent finds it: through the entry point, satisfying the
adapter contract, with a map that passes the checker, driven by the real Agent."""

from __future__ import annotations

import trio
from cti_fsm_csta_ws import CstaSimulator, adapter

import cti_fsm
from cti_fsm.adapter import Adapter, Simulator, Transport, VendorProtocol, load_adapter
from cti_fsm.agent import Backoff, open_agent
from cti_fsm.cli import main
from cti_fsm.switch import Switch
from cti_fsm.vendor_map import load_vendor_map, vendor_map_path


def test_registered_under_its_name_and_satisfies_the_contract() -> None:
    found = load_adapter("csta-ws")
    assert found is adapter and isinstance(found, Adapter)
    assert found.name == "csta-ws" and found.chart is cti_fsm.default_chart()
    assert isinstance(found.protocol(user="1001", options={}), VendorProtocol)


def test_the_shipped_map_passes_the_checker() -> None:
    path = vendor_map_path("csta-ws")
    vmap = load_vendor_map(path, cti_fsm.default_chart())
    assert vmap.vendor == "csta-ws" and vmap.secrets == {"password"}
    assert main(["check", path]) == 0


async def test_simulator_and_transport_satisfy_the_contract(
    sim: CstaSimulator, switch: Switch
) -> None:
    assert isinstance(sim, Simulator)
    async with adapter.connect(sim.url) as transport:
        assert isinstance(transport, Transport)
        await transport.aclose()
        await transport.aclose()  # idempotent


async def test_an_agent_follows_the_switch(sim: CstaSimulator, switch: Switch) -> None:
    async with open_agent(
        "csta-ws", sim.url, "1001", "pw1001", reconnect=Backoff(0.01, 0.05)
    ) as agent:
        assert agent.state == switch.chart_state("1001") == "connected"
        await agent.check_in(["sales"])
        call = switch.inbound_call("sales")
        with trio.fail_after(3):
            async for note in agent.notifications(["onCallInRing"]):
                assert note["call_id"] == call
                break
        await agent.answer()
        await agent.hold()
        assert agent.state == switch.chart_state("1001") == "checked_in.held"
        sim.drop_link("1001")
        switch.retrieve("1001")  # changes while the agent is away come back in the snapshot
        with trio.fail_after(3):
            while not (agent.connected and agent.state == "checked_in.talking"):
                await trio.sleep(0.01)
        assert switch.chart_state("1001") == "checked_in.talking"
        await agent.hangup()
        assert agent.state == switch.chart_state("1001") == "checked_in.available.idle"
