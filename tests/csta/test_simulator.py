"""The csta-ws simulator over a real socket on 127.0.0.1, driven by the adapter's transport
and protocol (no Agent): requests act on the switch, its events come back as signals, and
the switch's ground truth matches what the client was told."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
import trio
from cti_fsm_csta_ws import CstaSimulator, adapter

from cti_fsm.adapter import Answer, Snapshot
from cti_fsm.errors import Disconnected
from cti_fsm.switch import Switch, demo_switch

if TYPE_CHECKING:  # the fixtures' types; pytest provides the fixtures themselves
    from .conftest import Client, OpenClient

A, B, SUP = "1001", "1002", "9001"


def chart_state(switch: Switch, agent: str) -> str:
    return switch.chart_state(agent)


async def signed_in(connect: OpenClient, agent: str, *groups: str) -> Client:
    client = await connect(agent)
    answer = await client.command("check_in", group_ids=list(groups))
    assert answer.ok, answer.reason
    await client.wait_signal("checked_in")
    await client.wait_signal("restored")  # agentReady follows agentLoggedOn
    return client


async def raw(client: Client, message: dict[str, Any]) -> Answer:
    await client.transport.send(json.dumps(message))
    return await client.answer(message["invokeId"])


async def test_login_and_check_in(connect: OpenClient, sim: CstaSimulator, switch: Switch) -> None:
    client = await connect(A)
    assert client.signals() == ["logged_in"]
    assert client.protocol.device == "8001"  # type: ignore[attr-defined]
    assert sim.connected_agents() == (A,)
    assert chart_state(switch, A) == "connected"
    answer = await client.command("check_in", group_ids=["sales", "support"])
    assert answer.ok
    checked_in = await client.wait_signal("checked_in")
    assert checked_in.payload == {"group_ids": ["sales", "support"]}
    await client.wait_signal("restored")  # agentReady follows agentLoggedOn
    assert chart_state(switch, A) == "checked_in.available.idle"
    assert sim.services(A) == ["StartApplicationSession", "SetAgentState"]


async def test_wrong_password_is_refused_and_never_shown(
    connect: OpenClient, sim: CstaSimulator, switch: Switch
) -> None:
    client = await connect(A, login=False)
    answer = await client.command("connect", user=A, password="wrong-s3cret", url=sim.url)
    assert not answer.ok
    assert answer.reason.startswith("operation.invalidAgentPassword")
    assert "wrong-s3cret" not in answer.reason
    assert sim.connected_agents() == ()
    assert chart_state(switch, A) == "offline"
    [login] = sim.requests(A)
    assert login["params"]["applicationInfo"]["applicationSpecificInfo"]["password"] == "***"
    assert "wrong-s3cret" not in repr(sim.requests()) + repr(sim)


async def test_requests_before_login_are_refused(connect: OpenClient) -> None:
    client = await connect(A, login=False)
    answer = await raw(
        client,
        {"type": "request", "invokeId": 5, "service": "HoldCall", "params": {}},
    )
    assert not answer.ok and answer.reason.startswith("security.generic")


async def test_inbound_call_offered_answered_held_and_retrieved(
    connect: OpenClient, switch: Switch
) -> None:
    client = await signed_in(connect, A, "sales")
    call = switch.inbound_call("sales", "13800000001")
    ringing = await client.wait_signal("ringing")
    assert ringing.payload == {"call_id": call, "phone_number": "13800000001", "agent_id": A}
    assert chart_state(switch, A) == "checked_in.ringing"
    assert (await client.command("answer")).ok
    answered = await client.wait_signal("answered")
    assert answered.payload == {"call_id": call, "phone_number": "13800000001"}
    assert chart_state(switch, A) == "checked_in.talking"
    assert (await client.command("hold")).ok
    assert (await client.wait_signal("held")).payload == {"call_id": call}
    assert chart_state(switch, A) == "checked_in.held"
    assert (await client.command("retrieve")).ok
    await client.wait_signal("retrieved")
    assert chart_state(switch, A) == "checked_in.talking"
    assert (await client.command("send_dtmf", digits="12#")).ok
    assert (await client.wait_signal("dtmf_sent")).payload == {"digits": "12#"}
    switch.customer_hangs_up(call)
    hung_up = await client.wait_signal("hung_up")
    assert hung_up.payload == {"call_id": call, "reason": "normalClearing"}
    assert chart_state(switch, A) == "checked_in.available.idle"


async def test_an_illegal_switch_operation_is_an_error_response(
    connect: OpenClient, switch: Switch
) -> None:
    client = await signed_in(connect, A, "sales")
    switch.inbound_call("sales")
    await client.wait_signal("ringing")
    await client.command("answer")
    await client.wait_signal("answered")
    before = switch.snapshot(A)
    seen = len(client.items)
    answer = await client.command("retrieve")  # nothing is held
    assert not answer.ok
    assert answer.reason == (
        f"stateIncompatibility.noHeldCall: agent '{A}': the agent has no held call"
    )
    assert switch.snapshot(A) == before
    assert client.items[seen:] == [answer]  # no event, no signal


async def test_malformed_and_unknown_requests_leave_the_connection_up(
    connect: OpenClient, switch: Switch
) -> None:
    client = await signed_in(connect, A, "sales")
    await client.transport.send("not json at all")
    await client.transport.send('{"type": "request", "service": "HoldCall"}')  # no invokeId
    answer = await raw(client, {"type": "request", "invokeId": 6, "service": "FlyCall"})
    assert answer.reason.startswith("operation.serviceNotSupported")
    answer = await raw(
        client,
        {
            "type": "request",
            "invokeId": 7,
            "service": "AnswerCall",
            "params": {"callToBeAnswered": {"callID": "c1", "deviceID": "8002"}},
        },
    )
    assert answer.reason.startswith("operation.privilegeViolationSpecifiedDevice")
    assert (await client.command("pause", reason="lunch")).ok
    await client.wait_signal("paused")
    assert chart_state(switch, A) == "checked_in.available.paused"


async def test_outbound_call_rings_fails_and_connects(connect: OpenClient, switch: Switch) -> None:
    client = await signed_in(connect, A, "sales")
    assert (await client.command("dial_out", number="13900000000")).ok
    dialing = await client.wait_signal("dialing")
    call = dialing.payload["call_id"]
    await client.wait_signal("remote_ringing")
    assert chart_state(switch, A) == "checked_in.dialing"
    switch.customer_busy(call)
    failed = await client.wait_signal("dial_failed")
    assert failed.payload == {"call_id": call, "reason": "busy"}
    assert chart_state(switch, A) == "checked_in.available.idle"
    await client.command("dial_out", number="13900000000")
    await client.wait_for(lambda: client.signals().count("dialing") == 2)
    call = (await client.wait_signal("dialing")).payload["call_id"]
    assert call == switch.call_of(A)
    switch.customer_answers(call)
    answered = await client.wait_signal("answered")
    assert answered.payload == {"call_id": call, "phone_number": "13900000000"}
    assert chart_state(switch, A) == "checked_in.talking"


async def test_consultation_between_two_agents(connect: OpenClient, switch: Switch) -> None:
    a = await signed_in(connect, A, "sales")
    b = await signed_in(connect, B, "support")
    call = switch.inbound_call("sales")
    await a.wait_signal("ringing")
    await a.command("answer")
    await a.wait_signal("answered")
    assert (await a.command("consult", target=B)).ok
    started = await a.wait_signal("consult_started")
    consult = started.payload["call_id"]
    assert started.payload == {"call_id": consult, "target": "8002"}
    assert "held" not in a.signals()  # the consultation's hold is part of consulting
    await b.wait_signal("ringing")
    assert chart_state(switch, A) == "checked_in.consulting.consult_ringing"
    assert (await b.command("answer")).ok
    assert (await a.wait_signal("consult_answered")).payload == {
        "call_id": consult,
        "target": "8002",
    }
    assert chart_state(switch, A) == "checked_in.consulting.consult_talking"
    await b.wait_signal("answered")
    assert (await a.command("complete_transfer")).ok
    assert (await a.wait_signal("transferred")).payload == {"call_id": call, "target": "8002"}
    assert chart_state(switch, A) == "checked_in.available.idle"
    assert chart_state(switch, B) == "checked_in.talking"
    # B now follows the customer's call: its hang-up names it
    assert b.protocol.call_id == call  # type: ignore[attr-defined]
    await b.command("hangup")
    assert (await b.wait_signal("hung_up")).payload["call_id"] == call


async def test_supervisor_listens_barges_in_and_takes_over(
    connect: OpenClient, switch: Switch
) -> None:
    a = await signed_in(connect, A, "sales")
    sup = await signed_in(connect, SUP, "support")
    switch.inbound_call("sales")
    await a.wait_signal("ringing")
    await a.command("answer")
    await a.wait_signal("answered")
    assert not (await a.command("listen", agent_id=SUP)).ok  # no rights
    assert (await sup.command("listen", agent_id=A)).ok
    await sup.wait_signal("listen_started")
    assert chart_state(switch, SUP) == "checked_in.listening"
    assert (await sup.command("join_talk", agent_id=A)).ok
    await sup.wait_signal("conferenced")
    await a.wait_signal("conferenced")
    assert chart_state(switch, A) == chart_state(switch, SUP) == "checked_in.three_party"
    assert (await sup.command("disconnect_call", agent_id=A)).ok
    await sup.wait_signal("took_over")
    assert (await a.wait_signal("hung_up")).payload["reason"] == "takeOver"
    assert chart_state(switch, SUP) == "checked_in.talking"
    assert chart_state(switch, A) == "checked_in.available.idle"


async def test_supervisor_pauses_restores_and_forces_out_an_agent(
    connect: OpenClient, switch: Switch
) -> None:
    a = await signed_in(connect, A, "sales")
    sup = await signed_in(connect, SUP, "support")
    assert (await sup.command("pause", agent_id=A, reason="coaching")).ok
    assert (await sup.wait_signal("agent_paused")).payload == {"agent_id": A, "reason": "coaching"}
    assert (await a.wait_signal("paused")).payload == {"reason": "coaching", "agent_id": A}
    assert "paused" not in sup.signals()  # the supervisor's own state is untouched
    assert (await sup.command("restore", agent_id=A)).ok
    await sup.wait_signal("agent_restored")
    await a.wait_for(lambda: a.signals().count("restored") == 2)
    assert (await sup.command("logout_agent", agent_id=A)).ok
    await sup.wait_signal("agent_logged_out")
    assert (await a.wait_signal("checked_out")).payload == {"message": "forcedTransition"}
    assert chart_state(switch, A) == "connected"
    assert chart_state(switch, SUP) == "checked_in.available.idle"


async def test_queries(connect: OpenClient) -> None:
    a = await connect(A)
    sup = await connect(SUP)
    await a.command("get_transfer_groups")
    groups = (await a.wait_signal("transfer_groups")).payload["groups"]
    assert groups == [
        {"id": "sales", "name": "Sales", "dtmf": "1"},
        {"id": "support", "name": "Support", "dtmf": "2"},
    ]
    await a.command("get_agent_groups")
    assert [g["id"] for g in (await a.wait_signal("agent_groups")).payload["groups"]] == [
        "sales",
        "support",
    ]
    await a.command("get_rights")
    assert (await a.wait_signal("agent_rights")).payload == {"rights": []}
    assert not (await a.command("get_all_agents")).ok
    await sup.command("get_all_agents")
    agents = (await sup.wait_signal("all_agents")).payload["agents"]
    assert {x["agentID"]: x["situation"] for x in agents} == {
        A: "connected",
        B: "offline",
        "1003": "offline",
        SUP: "connected",
    }


async def test_snapshot_matches_the_switch_in_every_call_situation(
    connect: OpenClient, switch: Switch
) -> None:
    a = await signed_in(connect, A, "sales")
    sup = await signed_in(connect, SUP, "support")

    async def check(client: Client, agent: str) -> Snapshot:
        snapshot = await client.snapshot()
        assert isinstance(snapshot, Snapshot)
        assert adapter.chart.resolve(snapshot.state) == chart_state(switch, agent)
        return snapshot

    await check(a, A)
    call = switch.inbound_call("sales")
    await a.wait_signal("ringing")
    assert (await check(a, A)).payload["call_id"] == call
    switch.answer(A)
    await check(a, A)
    switch.hold(A)
    await check(a, A)
    switch.consult(A, "13900000000")
    snapshot = await check(a, A)
    assert snapshot.payload["consult_call_id"] == switch.consultation_of(A)
    switch.cancel_consult(A)
    switch.listen(SUP, A)
    await check(sup, SUP)
    switch.barge_in(SUP)
    await check(sup, SUP)
    await check(a, A)


async def test_garbage_truncated_and_oversized_frames_are_reported_and_decoding_goes_on(
    connect: OpenClient, sim: CstaSimulator, switch: Switch
) -> None:
    client = await signed_in(connect, A, "sales")
    assert sim.send_garbage(A) == 1
    assert sim.send_truncated(A) == 1
    assert sim.send_oversized(A) == 1
    assert sim.send_garbage(A, b"\xff\xfe") == 1
    switch.pause(A, "after the faults")
    await client.wait_signal("paused")
    reasons = [m.reason for m in client.malformed]
    assert len(reasons) == 4
    assert reasons[0].startswith("not JSON")
    assert reasons[1].startswith("truncated JSON")
    assert "exceeds" in reasons[2]
    assert "not UTF-8" in reasons[3]
    assert client.closed is None
    assert sim.send_garbage("1003") == 0  # not connected: nobody to send to


async def test_duplicated_event(connect: OpenClient, sim: CstaSimulator, switch: Switch) -> None:
    client = await signed_in(connect, A, "sales")
    sim.duplicate_next_event(A)
    switch.pause(A, "x")
    switch.restore(A)
    await client.wait_for(lambda: client.signals().count("restored") == 2)
    assert client.signals()[-3:] == ["paused", "paused", "restored"]


async def test_delayed_event_arrives_after_later_ones(
    connect: OpenClient, sim: CstaSimulator, switch: Switch
) -> None:
    client = await signed_in(connect, A, "sales")
    sim.delay_next_event(A, 0.2)
    switch.pause(A, "late")
    switch.restore(A)
    await client.wait_for(lambda: "paused" in client.signals())
    assert client.signals()[-2:] == ["restored", "paused"]


@pytest.mark.parametrize("abrupt", [True, False])
async def test_dropped_link_keeps_the_switch_and_a_new_login_resumes(
    connect: OpenClient, sim: CstaSimulator, switch: Switch, abrupt: bool
) -> None:
    client = await signed_in(connect, A, "sales")
    call = switch.inbound_call("sales")
    await client.wait_signal("ringing")
    await client.command("answer")
    await client.wait_signal("answered")
    assert sim.drop_link(A, abrupt=abrupt) == 1
    await client.wait_for(lambda: client.closed)
    expected = "1006" if abrupt else "1001 GOING_AWAY"
    assert expected in str(client.closed)
    with pytest.raises(Disconnected):
        await client.transport.send("{}")
    await client.wait_for(lambda: sim.connected_agents() == ())
    assert chart_state(switch, A) == "checked_in.talking"
    # events while the agent is away go nowhere; a new session resynchronises
    switch.hold(A)
    again = await connect(A)
    snapshot = await again.snapshot()
    assert isinstance(snapshot, Snapshot)
    assert snapshot.state == "checked_in.held" and snapshot.payload["call_id"] == call
    assert (await again.command("retrieve")).ok
    await again.wait_signal("retrieved")
    assert chart_state(switch, A) == "checked_in.talking"


async def test_logging_out_ends_the_session(
    connect: OpenClient, sim: CstaSimulator, switch: Switch
) -> None:
    client = await signed_in(connect, A, "sales")
    assert (await client.command("disconnect")).ok
    assert (await client.wait_signal("logged_out")).payload == {"reason": "logged out"}
    assert chart_state(switch, A) == "offline"
    assert sim.connected_agents() == ()
    answer = await raw(client, {"type": "request", "invokeId": 9, "service": "SnapshotDevice"})
    assert answer.reason.startswith("security.generic")


async def test_two_connections_of_one_agent_both_hear_its_events(
    connect: OpenClient, switch: Switch
) -> None:
    first = await signed_in(connect, A, "sales")
    second = await connect(A)
    switch.pause(A, "both")
    await first.wait_signal("paused")
    await second.wait_signal("paused")


async def test_url_needs_a_serving_simulator() -> None:
    simulator = adapter.simulator(demo_switch())
    with pytest.raises(RuntimeError, match="not serving"):
        simulator.url  # noqa: B018


async def test_connect_to_nothing_is_disconnected() -> None:
    listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
    port = listener.socket.getsockname()[1]
    await listener.aclose()
    with pytest.raises(Disconnected, match="cannot open a websocket"):
        async with adapter.connect(f"ws://127.0.0.1:{port}/"):
            pass  # pragma: no cover - entering fails
    with pytest.raises(Disconnected, match="ws://"):
        async with adapter.connect("http://127.0.0.1/"):
            pass  # pragma: no cover - entering fails


async def test_a_simulator_bug_fails_one_request_not_the_server(
    connect: OpenClient,
    switch: Switch,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = await signed_in(connect, A, "sales")

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(switch, "pause", broken)
    answer = await client.command("pause", reason="x")
    assert answer == Answer(
        answer.request_id, False, "unspecified.generic: internal simulator error"
    )
    assert "bug" in caplog.text
    monkeypatch.undo()
    assert (await client.command("pause", reason="y")).ok


async def test_fault_injection_applies_to_events_a_request_causes(
    connect: OpenClient, sim: CstaSimulator, switch: Switch
) -> None:
    # the events of the agent's own request are written by the connection's reader, after
    # the response; duplicating and delaying them works there as for the switch's events
    client = await signed_in(connect, A, "sales")
    switch.inbound_call("sales")
    await client.wait_signal("ringing")
    assert (await client.command("answer")).ok
    await client.wait_signal("answered")
    sim.duplicate_next_event(A)
    request = await client.send("hold")
    await client.wait_for(lambda: client.signals().count("held") == 2)
    kinds = [type(i).__name__ for i in client.items[-3:]]
    assert kinds == ["Answer", "Signal", "Signal"]
    assert client.items[-3].request_id == request  # type: ignore[union-attr]
    sim.delay_next_event(A, 0.2)
    assert (await client.command("retrieve")).ok
    assert (await client.command("hold")).ok  # while the retrieved event is late
    await client.wait_for(lambda: "retrieved" in client.signals())
    assert client.signals()[-4:] == ["held", "held", "held", "retrieved"]


async def test_the_switchs_timers_run_on_the_servers_clock(autojump_clock: trio.abc.Clock) -> None:
    """While it serves, the simulator fires the switch's timers on its trio clock (here a
    virtual one: a minute passes at once), and gives the switch its own clock back after."""
    switch = demo_switch()
    switch.login(A, "pw1001")
    switch.check_in(A, ["sales"])
    switch.set_ring_timeout("sales", 60)
    switch.set_wrap_up("sales", 30)
    own_clock = switch.clock
    async with trio.open_nursery() as nursery:
        await nursery.start(adapter.simulator(switch).serve)
        assert switch.clock is trio.current_time
        first = switch.inbound_call("sales")
        await trio.sleep(59)
        assert switch.situation(A) == "ringing"
        await trio.sleep(2)
        assert switch.situation(A) == "not_ready" and switch.call(first).queued
        switch.customer_hangs_up(first)
        switch.restore(A)
        switch.inbound_call("sales")
        switch.answer(A)
        switch.hangup(A)
        assert switch.situation(A) == "wrap_up"
        await trio.sleep(29)
        assert switch.situation(A) == "wrap_up"
        await trio.sleep(2)
        assert switch.situation(A) == "ready" and switch.wake_at == float("inf")
        nursery.cancel_scope.cancel()
    assert switch.clock is own_clock
