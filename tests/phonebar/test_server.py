"""The phone bar's server over real sockets, with hand-written websocket clients (no
browser): the Origin and Host checks, the login, what a refused command reaches (nothing),
malformed frames, one agent per bar, the headers every page carries."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import attrs
import pytest
import trio
from cti_fsm_csta_ws import adapter
from trio_websocket import ConnectionRejected, WebSocketConnection, open_websocket_url

from cti_fsm.phonebar.server import MAX_IN_FLIGHT, BarConfig, create_app, serve
from cti_fsm.phonebar.world import World
from cti_fsm.switch import Switch, demo_switch
from cti_fsm.testing.conformance import LoopbackRelay


@attrs.frozen
class Served:
    base: str
    app: Any
    switch: Switch
    relay: LoopbackRelay

    @property
    def ws_url(self) -> str:
        return self.base.replace("http://", "ws://") + "/ws"


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    """The bar's server before a relay before the simulator; stopped in that order, so the
    bars' agents still log out from a live simulator."""
    switch = demo_switch()
    sim = adapter.simulator(switch)
    async with trio.open_nursery() as outer:
        await outer.start(sim.serve, "127.0.0.1", 0)
        relay = LoopbackRelay(sim.url)  # counts every byte the bars' agents send the vendor
        await outer.start(relay.serve)
        config = BarConfig(
            adapter,
            relay.url,
            allow_origins=frozenset({"http://crm.example"}),
            world=World(switch, sim),
            team_every=0.2,
        )
        app = create_app(config)
        async with trio.open_nursery() as inner:
            base = await inner.start(serve, app, "127.0.0.1", 0)
            yield Served(base, app, switch, relay)
            # the bars whose browsers left log their agents out before the server stops
            # (an agent closed by cancellation cannot read its logout's answer)
            with trio.move_on_after(5):
                while app.state.bars:
                    await trio.sleep(0.01)
            inner.cancel_scope.cancel()
        outer.cancel_scope.cancel()


async def frames_until(ws: WebSocketConnection, kind: str, **match: Any) -> dict[str, Any]:
    """The next frame of ``kind`` whose fields equal ``match`` (others skipped)."""
    with trio.fail_after(5):
        while True:
            frame = json.loads(await ws.get_message())
            if frame["type"] == kind and all(frame.get(k) == v for k, v in match.items()):
                return dict(frame)


async def send(ws: WebSocketConnection, frame: dict[str, Any]) -> None:
    await ws.send_message(json.dumps(frame))


async def logged_in(ws: WebSocketConnection, user: str, password: str | None = None) -> None:
    await frames_until(ws, "hello")
    await send(ws, {"type": "login", "user": user, "password": password or f"pw{user}"})
    await frames_until(ws, "view", user=user)


def connect(served: Served, origin: str | None = "own") -> Any:
    headers = []
    if origin is not None:
        headers.append(("Origin", served.base if origin == "own" else origin))
    return open_websocket_url(served.ws_url, extra_headers=headers)


async def http_get(base: str, path: str, host: str | None = None) -> tuple[int, str, str]:
    """A bare HTTP/1.1 GET: status, headers and body as text."""
    hostport = base.removeprefix("http://")
    h, p = hostport.split(":")
    stream = await trio.open_tcp_stream(h, int(p))
    async with stream:
        request = f"GET {path} HTTP/1.1\r\nHost: {host or hostport}\r\nConnection: close\r\n\r\n"
        await stream.send_all(request.encode())
        data = b""
        while chunk := await stream.receive_some(65536):
            data += chunk
    head, _, body = data.decode(errors="replace").partition("\r\n\r\n")
    return int(head.split()[1]), head.lower(), body


# --- Origin and Host ------------------------------------------------------------------------------
@pytest.mark.parametrize("origin", ["http://evil.example", None, "http://127.0.0.1:1"])
async def test_a_websocket_from_another_origin_is_refused(
    served: Served, origin: str | None
) -> None:
    with pytest.raises(ConnectionRejected) as raised:
        async with connect(served, origin):
            pass
    assert raised.value.status_code == 403
    assert not served.app.state.bars


async def test_an_allowed_embedding_origin_may_open_a_bar(served: Served) -> None:
    async with connect(served, "http://crm.example") as ws:
        hello = await frames_until(ws, "hello")
        assert hello["vendor"] == "csta-ws"


async def test_a_page_for_another_host_name_is_refused(served: Served) -> None:
    status, _, _ = await http_get(served.base, "/", host="attacker.example")
    assert status == 400


async def test_every_page_carries_a_content_security_policy(served: Served) -> None:
    for path in ("/", "/phone-bar.js", "/static/bar.css"):
        status, head, body = await http_get(served.base, path)
        assert status == 200, path
        assert "content-security-policy: default-src 'none'; script-src 'self'" in head
        assert "frame-ancestors 'self' http://crm.example" in head
        assert "x-content-type-options: nosniff" in head
        assert body


# --- login, password ------------------------------------------------------------------------------
async def test_a_wrong_password_goes_back_to_the_login_and_is_never_echoed(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    async with connect(served) as ws:
        await frames_until(ws, "hello")
        await send(ws, {"type": "login", "user": "1001", "password": "wrong-Secret-77"})
        with trio.fail_after(5):
            while True:
                seen.append(await ws.get_message())
                if json.loads(seen[-1])["type"] == "logged_out":
                    break
        # the bar is still up: the right password logs in on the same socket
        await send(ws, {"type": "login", "user": "1001", "password": "pw1001"})
        view = await frames_until(ws, "view", user="1001")
        assert view["state"] == "connected"
    assert "wrong-Secret-77" not in "".join(seen)
    assert "wrong-Secret-77" not in caplog.text and "pw1001" not in caplog.text


async def test_one_bar_drives_only_the_agent_that_logged_in_there(served: Served) -> None:
    async with connect(served) as one, connect(served) as two:
        await logged_in(one, "1001")
        await logged_in(two, "1002")
        # a second login on a bar is refused; the bar stays 1001's
        await send(one, {"type": "login", "user": "1002", "password": "pw1002"})
        error = await frames_until(one, "error")
        assert "already logged in as '1001'" in error["message"]
        await send(
            one, {"type": "command", "id": 1, "name": "check_in", "args": {"group_ids": "sales"}}
        )
        assert (await frames_until(one, "result", id=1))["ok"]
        with trio.fail_after(5):
            while served.switch.chart_state("1001") != "checked_in.available.idle":
                await trio.sleep(0.01)
        assert served.switch.chart_state("1002") == "connected"
        users = {bar.user for bar in served.app.state.bars}
        assert users == {"1001", "1002"}


async def test_a_command_before_login_is_refused(served: Served) -> None:
    async with connect(served) as ws:
        await frames_until(ws, "hello")
        await send(ws, {"type": "command", "id": 4, "name": "check_in", "args": {}})
        result = await frames_until(ws, "result", id=4)
        assert not result["ok"] and "log in first" in result["message"]
        assert served.relay.accepted == 0


# --- refused commands reach nothing ---------------------------------------------------------------
REFUSED = [
    ("hold", {}, "IllegalCommand"),  # not in a call
    ("check_out", {"now": True}, "InvalidArguments"),
    ("listen", {"agent_id": "1002"}, "PermissionDenied"),  # no rights
    ("pause", {"agent_id": "1002"}, "PermissionDenied"),  # another agent's: no rights
    ("connect", {"user": "9001", "url": "ws://elsewhere"}, "IllegalCommand"),
    ("check_in", {"group_ids": "sales", "password": "x"}, "InvalidArguments"),
    ("check_in", {"group_ids": 12}, "InvalidArguments"),
    ("no_such_command", {}, "IllegalCommand"),
]


async def test_a_command_the_chart_refuses_reaches_nothing(served: Served) -> None:
    async with connect(served) as ws:
        await logged_in(ws, "1001")
        await send(
            ws, {"type": "command", "id": 0, "name": "check_in", "args": {"group_ids": "sales"}}
        )
        assert (await frames_until(ws, "result", id=0))["ok"]
        await trio.sleep(0.3)  # the bar's own queries at login are answered
        before = served.relay.upstream
        for rid, (name, args, error) in enumerate(REFUSED, start=1):
            await send(ws, {"type": "command", "id": rid, "name": name, "args": args})
            result = await frames_until(ws, "result", id=rid)
            assert (result["ok"], result["error"]) == (False, error), name
        await trio.sleep(0.2)
        assert served.relay.upstream == before  # not one byte reached the vendor
        assert served.switch.chart_state("1001") == "checked_in.available.idle"
        # and the bar still works
        await send(ws, {"type": "command", "id": 99, "name": "pause", "args": {"reason": "lunch"}})
        assert (await frames_until(ws, "result", id=99))["ok"]
        assert served.relay.upstream > before
        assert served.switch.agent_info("1001").reason == "lunch"


async def test_malformed_frames_are_answered_and_the_bar_stays_up(served: Served) -> None:
    async with connect(served) as ws:
        await logged_in(ws, "1001")
        for frame in ("{oops", "[]", json.dumps({"type": "command", "id": 5})):
            await ws.send_message(frame)
            error = await frames_until(ws, "error")
            assert error["message"]
        await ws.send_message(b"\x00binary")
        assert "binary" in (await frames_until(ws, "error"))["message"]
        await send(
            ws, {"type": "command", "id": 6, "name": "check_in", "args": {"group_ids": "sales"}}
        )
        assert (await frames_until(ws, "result", id=6))["ok"]


# --- what is pushed -------------------------------------------------------------------------------
async def test_each_step_pushes_the_event_then_a_view_of_the_agent(served: Served) -> None:
    async with connect(served) as ws:
        await logged_in(ws, "1001")
        await send(
            ws, {"type": "command", "id": 1, "name": "check_in", "args": {"group_ids": "sales"}}
        )
        await frames_until(ws, "view", state="checked_in.available.idle")
        served.switch.inbound_call("sales", caller="+15550001")
        event = await frames_until(ws, "event", name="onCallInRing")
        assert event["payload"]["phone_number"] == "+15550001"
        view = await frames_until(ws, "view", state="checked_in.ringing")
        assert view["ringing"] and view["call"]["phone_number"] == "+15550001"
        assert view["enabled"]["self"] == [
            c for c in view["allowed"] if c in view["enabled"]["self"]
        ]
        assert {"answer", "hangup"} <= set(view["enabled"]["self"])
        assert [t["id"] for t in view["choices"]["targets"]] == ["sales", "support"]


async def test_a_supervisor_sees_the_team_and_the_world_acts_for_the_bar(served: Served) -> None:
    async with connect(served) as sup:
        await logged_in(sup, "9001")
        with trio.fail_after(5):
            while True:
                view = await frames_until(sup, "view")
                if view["team"]:
                    break
        assert view["rights"] == ["supervisor"]
        assert {m["id"] for m in view["team"]} == {"1001", "1002", "1003"}
        assert "logout_agent" in view["enabled"]["team"]
        await send(sup, {"type": "world", "id": 2, "action": "customer_hangs_up", "args": {}})
        result = await frames_until(sup, "result", id=2)
        assert not result["ok"] and "no call" in result["message"]
        await send(sup, {"type": "world", "id": 3, "action": "link_drops", "args": {}})
        assert (await frames_until(sup, "result", id=3))["ok"]
        down = await frames_until(sup, "view", link="down")
        assert down["state"] == "offline"
        back = await frames_until(sup, "view", link="up", state="connected")
        assert back["user"] == "9001"


async def test_a_page_flooding_commands_gets_refusals_not_a_queue(served: Served) -> None:
    async with connect(served) as ws:
        await logged_in(ws, "1001")
        await trio.sleep(0.3)  # the bar's own queries at login are answered
        served.relay.stall()  # the vendor answers nothing: commands stay in flight
        for rid in range(MAX_IN_FLIGHT + 4):
            await send(ws, {"type": "command", "id": rid, "name": "get_transfer_groups"})
        for rid in range(MAX_IN_FLIGHT, MAX_IN_FLIGHT + 4):
            result = await frames_until(ws, "result", id=rid)
            assert not result["ok"] and "waiting for answers" in result["message"]
        served.relay.resume()
        answered: dict[int, bool] = {}
        with trio.fail_after(5):
            while len(answered) < MAX_IN_FLIGHT:
                frame = json.loads(await ws.get_message())
                if frame["type"] == "result":
                    answered[frame["id"]] = frame["ok"]
        assert answered == dict.fromkeys(range(MAX_IN_FLIGHT), True)


async def test_a_bar_on_asterisk_offers_only_what_asterisk_can_do(nursery: trio.Nursery) -> None:
    from cti_fsm_asterisk_ami import adapter as ami

    switch = demo_switch()
    sim = ami.simulator(switch)
    await nursery.start(sim.serve, "127.0.0.1", 0)
    options = {"username": "1001", "queues": ["sales", "support"]}  # the server's, per agent
    app = create_app(BarConfig(ami, sim.url, options=options))
    base = await nursery.start(serve, app, "127.0.0.1", 0)
    url = base.replace("http://", "ws://") + "/ws"
    async with open_websocket_url(url, extra_headers=[("Origin", base)]) as ws:
        hello = await frames_until(ws, "hello")
        assert {"answer", "hold"} <= set(hello["unsupported"])
        await send(ws, {"type": "login", "user": "PJSIP/8001", "password": "pw1001"})
        await frames_until(ws, "view", state="connected")
        await send(
            ws, {"type": "command", "id": 1, "name": "check_in", "args": {"group_ids": "sales"}}
        )
        assert (await frames_until(ws, "result", id=1))["ok"]
        await frames_until(ws, "view", state="checked_in.available.idle")
        switch.inbound_call("sales", caller="+15550002")
        ringing = await frames_until(ws, "view", state="checked_in.ringing")
        assert "answer" not in ringing["allowed"] and "hangup" in ringing["allowed"]
        await send(ws, {"type": "command", "id": 2, "name": "answer"})
        assert (await frames_until(ws, "result", id=2))["error"] == "Unsupported"
    with trio.move_on_after(5):
        while app.state.bars:
            await trio.sleep(0.01)
