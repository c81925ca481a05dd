"""The shell's hooks the control uses, on both simulators with a real agent: a malformed
frame is dropped and counted and the link stays up; ``frames_from`` counts what was sent."""

from __future__ import annotations

import pytest
import trio

from cti_fsm import open_agent
from cti_fsm.adapter import load_adapter
from cti_fsm.simulator_control import SimulatorControl
from cti_fsm.switch import demo_switch

LOGINS = {
    "csta-ws": ("1001", {}),
    "asterisk-ami": ("PJSIP/8001", {"username": "1001"}),
}


@pytest.mark.parametrize("vendor", sorted(LOGINS))
async def test_malformed_frame_and_frame_count(vendor: str, nursery: trio.Nursery) -> None:
    switch = demo_switch()
    simulator = load_adapter(vendor).simulator(switch)
    await nursery.start(simulator.serve)
    control = SimulatorControl(switch, simulator)
    user, options = LOGINS[vendor]
    async with open_agent(vendor, simulator.url, user, "pw1001", options=options) as agent:
        await agent.check_in("sales")
        sent = control.handle({"op": "received", "agent": "1001"})["frames"]
        assert sent >= 1
        assert control.handle({"op": "malformed", "agent": "1001"})["connections"] == 1
        await agent.pause()  # after the malformed frame, in order
        assert agent.statistics().malformed_frames == 1
        assert agent.connected and agent.state == "checked_in.available.paused"
        assert control.handle({"op": "received", "agent": "1001"})["frames"] > sent
        dropped = control.handle({"op": "drop_link", "agent": "1001"})
        assert dropped == {"ok": True, "op": "drop_link", "agent": "1001", "connections": 1}
