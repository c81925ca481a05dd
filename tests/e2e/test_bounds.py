"""Nothing grows without bound (issue 11): a simulator drops a client that stops reading,
with its memory flat; a protocol forgets requests never answered past a cap."""

from __future__ import annotations

import gc
import json
import socket
import sys
from typing import Any

import pytest
import trio
from trio_websocket import connect_websocket_url

from cti_fsm.adapter import load_adapter
from cti_fsm.switch import demo_switch


async def _log_in_and_stop_reading(name: str, port: int, nursery: trio.Nursery) -> Any:
    """A client that logs in as agent 1001, then never reads again."""
    if name == "asterisk-ami":
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        await stream.send_all(
            b"Action: Login\r\nUsername: 1001\r\nSecret: pw1001\r\nActionID: 1\r\n\r\n"
        )
        return stream
    ws = await connect_websocket_url(nursery, f"ws://127.0.0.1:{port}/")
    login = {
        "type": "request",
        "invokeId": 1,
        "service": "StartApplicationSession",
        "params": {
            "applicationInfo": {
                "applicationID": "t",
                "applicationSpecificInfo": {"userID": "1001", "password": "pw1001"},
            }
        },
    }
    await ws.send_message(json.dumps(login))
    await ws.get_message()
    return ws


@pytest.mark.parametrize("name", ["asterisk-ami", "csta-ws"])
async def test_a_client_that_stops_reading_is_dropped_with_memory_flat(name: str) -> None:
    switch = demo_switch()
    simulator: Any = load_adapter(name).simulator(switch)
    async with trio.open_nursery() as nursery:
        port = await nursery.start(simulator.serve, "127.0.0.1", 0)
        client = await _log_in_and_stop_reading(name, port, nursery)
        with trio.fail_after(5):
            while simulator.connected_agents() != ("1001",):
                await trio.sleep(0.01)
        switch.check_in("1001", ["sales"])
        gc.collect()
        start = sys.getallocatedblocks()
        peak = 0
        events = 0
        # far more events than any backlog: the client must be gone before the end
        while simulator.connected_agents() and events < 200_000:
            switch.pause("1001", "x")
            switch.restore("1001")
            events += 2
            if events % 1000 == 0:
                await trio.sleep(0)
                peak = max(peak, sys.getallocatedblocks() - start)
        assert simulator.connected_agents() == ()
        assert events < 200_000
        # the backlog holds at most its 10,000 frames (a few blocks each), then it is gone
        assert peak < 60_000, f"{peak} blocks held for a client that stopped reading"
        gc.collect()
        assert sys.getallocatedblocks() - start < 5_000
        await client.aclose()
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize(("name", "count"), [("asterisk-ami", 100_000), ("csta-ws", 50_000)])
def test_requests_never_answered_are_capped_and_memory_stays_flat(name: str, count: int) -> None:
    adapter = load_adapter(name)
    user = "PJSIP/1001" if name == "asterisk-ami" else "1001"
    protocol: Any = adapter.protocol(user=user, options={})
    if name == "csta-ws":
        protocol.device = "8001"
    # past the cap (10k) the protocol's memory must not grow any more: counted in the
    # interpreter's allocated blocks (a request never answered costs about ten of them)
    for request_id in range(1, 20_001):
        protocol.encode_command("pause", {"reason": "x"}, request_id)
    gc.collect()
    before = sys.getallocatedblocks()
    for request_id in range(20_001, count + 1):
        protocol.encode_command("pause", {"reason": "x"}, request_id)
    gc.collect()
    grown = sys.getallocatedblocks() - before
    outstanding = protocol._pending if name == "asterisk-ami" else protocol._outstanding
    assert len(outstanding) <= 10_000
    assert grown < 2_000, f"{grown} blocks more for {count - 20_000} more unanswered requests"
    # the newest is still matched to its answer
    if name == "asterisk-ami":
        answer = protocol.receive({"Response": "Success", "ActionID": f"cti-{count}-0"})
        assert [type(a).__name__ for a in answer] == ["Answer"]
