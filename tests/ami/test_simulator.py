"""The AMI simulator over real sockets, driven by the real Agent, the adapter and the switch."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio
from cti_fsm_asterisk_ami import adapter

from cti_fsm.adapter import Answer, Signal, Snapshot
from cti_fsm.agent import Agent, open_agent
from cti_fsm.errors import CommandFailed
from cti_fsm.switch import Switch, demo_switch

AGENT, SUPERVISOR = "PJSIP/8001", "PJSIP/8901"


@asynccontextmanager
async def running(switch: Switch) -> AsyncIterator[str]:
    async with trio.open_nursery() as nursery:
        port = await nursery.start(adapter.simulator(switch).serve)
        yield f"tcp://127.0.0.1:{port}"
        nursery.cancel_scope.cancel()


@asynccontextmanager
async def agent_of(url: str, interface: str, agent_id: str, **kw: object) -> AsyncIterator[Agent]:
    async with open_agent(
        "asterisk-ami",
        url,
        interface,
        f"pw{agent_id}",
        options={"username": agent_id},
        reconnect=None,
        **kw,  # type: ignore[arg-type]
    ) as agent:
        yield agent


async def until(agent: Agent, state: str) -> None:
    with trio.fail_after(5):
        while agent.state != state:
            await trio.sleep(0.001)


async def test_a_working_day_end_to_end() -> None:
    sw = demo_switch()
    notes: list[str] = []
    async with running(sw) as url, agent_of(url, AGENT, "1001") as agent:
        agent.on("*", lambda n: notes.append(n.name))
        assert agent.state == "connected"  # logged in, in no queue (the snapshot said so)
        await agent.check_in(group_ids=["sales", "support"])
        assert agent.state == "checked_in.available.idle"
        assert sw.agent_info("1001").checked_in == ("sales", "support")

        call = sw.inbound_call("sales", caller="5551234")
        await until(agent, "checked_in.ringing")
        sw.answer("1001")  # the agent picks up its phone
        await until(agent, "checked_in.talking")
        await agent.send_dtmf(digits="12")
        sw.hold("1001")  # the phone's hold key
        await until(agent, "checked_in.held")
        sw.retrieve("1001")
        await until(agent, "checked_in.talking")

        await agent.consult(target="5550199")
        assert agent.state == "checked_in.consulting.consult_ringing"
        consultation = sw.consultation_of("1001")
        assert consultation is not None
        sw.customer_answers(consultation)
        await until(agent, "checked_in.consulting.consult_talking")
        await agent.complete_transfer()
        await until(agent, "checked_in.available.idle")
        assert sw.call_of("1001") is None and sw.call(call).legs[-1].device == "5550199"

        await agent.dial_out(number="5550100")
        assert agent.state == "checked_in.dialing"
        out = sw.call_of("1001")
        assert out is not None
        sw.customer_answers(out)
        await until(agent, "checked_in.talking")
        await agent.hangup()
        assert agent.state == "checked_in.available.idle"

        await agent.pause(reason="lunch")
        assert sw.agent_info("1001").reason == "lunch"
        await agent.restore()
        await agent.check_out()
        assert agent.state == "connected" and sw.agent_info("1001").checked_in == ()
        await trio.sleep(0.01)
    assert notes[:3] == ["onCheckIn", "onCallInRing", "onCallIn"]
    for expected in [
        "onDtmfSent",
        "onHold",
        "onRetrieve",
        "onThreePartCallOutRing",
        "onConsult",
        "onTransfer",
        "onCallout",
        "onCallOut",
        "onIdle",
        "onPause",
        "onRestore",
        "onCheckOut",
    ]:
        assert expected in notes
    assert sw.agent_info("1001").logged_in is False  # closing logged off


async def test_blind_transfer_and_a_failed_dial() -> None:
    sw = demo_switch()
    async with running(sw) as url, agent_of(url, AGENT, "1001") as agent:
        with pytest.raises(CommandFailed, match="No such queue"):
            await agent.check_in(group_ids=["nope"])
        assert agent.state == "connected"
        await agent.check_in(group_ids=["sales"])
        sw.inbound_call("sales")
        await until(agent, "checked_in.ringing")
        sw.answer("1001")
        await until(agent, "checked_in.talking")
        await agent.transfer(target="5550111")
        assert agent.state == "checked_in.available.idle"
        await agent.dial_out(number="5550100")
        out = sw.call_of("1001")
        assert out is not None
        sw.customer_busy(out)
        await until(agent, "checked_in.available.idle")


async def test_consultation_cancelled_returns_to_the_customer() -> None:
    sw = demo_switch()
    async with running(sw) as url, agent_of(url, AGENT, "1001") as agent:
        await agent.check_in(group_ids=["sales"])
        sw.inbound_call("sales")
        await until(agent, "checked_in.ringing")
        sw.answer("1001")
        await until(agent, "checked_in.talking")
        await agent.consult(target="5550199")
        await agent.cancel_consult()
        # CancelAtxfer puts the agent back with the customer, who is no longer held
        assert agent.state == "checked_in.talking"
        assert sw.situation("1001") == "talking"


async def test_supervisor_listens_barges_and_takes_over() -> None:
    sw = demo_switch()
    async with (
        running(sw) as url,
        agent_of(url, AGENT, "1001") as agent,
        agent_of(url, SUPERVISOR, "9001", rights=["supervisor"]) as sup,
    ):
        await agent.check_in(group_ids=["sales"])
        await sup.check_in(group_ids=["support"])
        sw.inbound_call("sales")
        await until(agent, "checked_in.ringing")
        sw.answer("1001")
        await until(agent, "checked_in.talking")
        await sup.listen(agent_id=AGENT)
        assert sup.state == "checked_in.listening"
        await sup.join_talk(agent_id=AGENT)
        assert sup.state == "checked_in.three_party"
        await sup.disconnect_call(agent_id=AGENT)
        assert sup.state == "checked_in.talking"
        await until(agent, "checked_in.available.idle")  # the agent was dropped
        assert sw.situation("9001") == "talking"


async def test_wrong_password_fails_the_login() -> None:
    sw = demo_switch()
    async with running(sw) as url:
        with pytest.raises(CommandFailed, match="Authentication failed"):
            async with open_agent(
                "asterisk-ami", url, AGENT, "wrong", options={"username": "1001"}, reconnect=None
            ):
                pass


async def test_snapshot_after_reconnect_restores_the_call() -> None:
    sw = demo_switch()
    async with running(sw) as url:
        # a first session leaves agent 1001 in a call, then its link drops
        async with agent_of(url, AGENT, "1001") as agent:
            await agent.check_in(group_ids=["sales"])
            sw.inbound_call("sales")
            await until(agent, "checked_in.ringing")
            sw.answer("1001")
            await until(agent, "checked_in.talking")
            await agent._link.transport.aclose()  # type: ignore[union-attr]
        # a new connection: log in, snapshot, and hang up the call it never saw start
        async with adapter.connect(url) as transport:
            protocol = adapter.protocol(user=AGENT, options={"username": "1001"})

            async def exchange(messages: list[dict[str, str]], last: type) -> list[object]:
                for m in messages:
                    await transport.send(protocol.codec.encode(m))
                got: list[object] = []
                with trio.fail_after(5):
                    while not any(isinstance(g, last) for g in got):
                        for raw in protocol.codec.feed(await transport.receive()):
                            got.extend(protocol.receive(raw))
                return got

            login = protocol.encode_command(
                "connect", {"user": AGENT, "password": "pw1001", "url": url}, 1
            )
            assert await exchange(list(login), Answer) == [Signal("logged_in", {}), Answer(1, True)]
            got = await exchange(list(protocol.snapshot_request(2)), Snapshot)
            snapshot = got[-1]
            assert isinstance(snapshot, Snapshot) and snapshot.state == "checked_in.talking"
            # Asterisk answers the action first, then reports the Hangup (in the same write
            # as the answer or a later one)
            got = await exchange(list(protocol.encode_command("hangup", {}, 3)), Answer)
            assert got[0] == Answer(3, True)
            if not any(isinstance(g, Signal) for g in got):
                got += await exchange([], Signal)
            assert [g.name for g in got if isinstance(g, Signal)] == ["hung_up"]
            assert sw.call_of("1001") is None
            await transport.aclose()


async def test_unknown_actions_and_garbage_get_errors_and_the_link_stays() -> None:
    sw = demo_switch()
    async with running(sw) as url, adapter.connect(url) as transport:
        protocol = adapter.protocol(user=AGENT, options={"username": "1001"})
        await transport.send(b"this is not AMI\r\n\r\nAction: Ping\r\nActionID: p1\r\n\r\n")
        await transport.send(b"Action: Frobnicate\r\nActionID: f1\r\n\r\n")
        got: list[object] = []
        with trio.fail_after(5):
            while len([g for g in got if isinstance(g, dict) and "Response" in g]) < 2:
                got.extend(protocol.codec.feed(await transport.receive()))
        responses = [g for g in got if isinstance(g, dict) and "Response" in g]
        assert responses[0] == {
            "Response": "Success",
            "ActionID": "p1",
            "Ping": "Pong",
            "Timestamp": responses[0]["Timestamp"],
        }
        assert responses[1] == {
            "Response": "Error",
            "ActionID": "f1",
            "Message": "Permission denied",
        }
        await transport.aclose()


async def test_ring_no_answer_and_a_caller_who_gives_up() -> None:
    sw = demo_switch()
    async with running(sw) as url, agent_of(url, AGENT, "1001") as agent:
        seen: list[str] = []
        agent.on("*", lambda n: seen.append(n.name))
        await agent.check_in(group_ids=["sales"])
        sw.inbound_call("sales")
        await until(agent, "checked_in.ringing")
        # app_queue: AgentRingNoAnswer, DialEnd NOANSWER, the member paused (autopause);
        # the chart's ring_no_answer pauses it too, with its own reason
        sw.agent_no_answer("1001")
        await until(agent, "checked_in.available.paused")
        with trio.fail_after(5):
            while seen.count("onPause") < 2:
                await trio.sleep(0.001)
        assert sw.agent_info("1001").reason == "ring_no_answer"
        await agent.restore()
        sw.inbound_call("sales")  # the first call is never offered to 1001 again
        await until(agent, "checked_in.ringing")
        call = sw.call_of("1001")
        assert call is not None
        sw.customer_hangs_up(call)
        await until(agent, "checked_in.available.idle")
        await trio.sleep(0.01)
    assert seen == [
        "onCheckIn",
        "onCallInRing",
        "onRingNoAnswer",
        "onPause",  # app_queue's autopause
        "onPause",  # the pause the chart sent
        "onRestore",
        "onCallInRing",
        "onIdle",
        "onDisconnect",  # leaving the block logs off
    ]


async def test_the_switchs_wrap_up_is_silent_but_a_queuepause_ending_it_is_not() -> None:
    """app_queue's wrapuptime writes nothing; a supervisor's QueuePause that ends it is
    answered with QueueMemberPause, as every QueuePause is."""
    sw = demo_switch()
    sw.set_wrap_up("sales", 30)
    async with (
        running(sw) as url,
        agent_of(url, AGENT, "1001") as agent,
        agent_of(url, SUPERVISOR, "9001", rights={"supervisor"}) as supervisor,
    ):
        seen: list[str] = []
        agent.on("*", lambda n: seen.append(n.name))
        await agent.check_in(group_ids=["sales"])
        sw.inbound_call("sales")
        await until(agent, "checked_in.ringing")
        sw.answer("1001")
        await until(agent, "checked_in.talking")
        sw.hangup("1001")
        await until(agent, "checked_in.available.idle")
        assert sw.situation("1001") == "wrap_up"
        await trio.sleep(0.05)
        assert seen == ["onCheckIn", "onCallInRing", "onCallIn", "onInCall", "onIdle"]
        step = await supervisor.restore(agent_id=AGENT)  # members are named by interface
        assert step is not None and step.signal == "agent_restored"
        assert sw.situation("1001") == "ready"
