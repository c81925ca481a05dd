"""The trio Agent over the tiny in-memory adapter: commands, failures, listeners,
reconnect and resync. Time is virtual (pytest-trio's autojump clock), so timeouts and
backoff run instantly and exactly."""

from __future__ import annotations

import logging
import pathlib
from typing import Any

import pytest
import tiny_adapter
import trio
import trio.testing

import cti_fsm
from cti_fsm.adapter import adapter_names, load_adapter
from cti_fsm.agent import Agent, Backoff, Lifecycle, open_agent

FAST = Backoff(base=0.01, cap=0.1)
PASSWORD = "s3cret-pw"


async def deliver(link: tiny_adapter.Link, message: dict[str, Any] | str) -> None:
    """The server sends a message; return once the agent has processed it."""
    link.push(message)
    await trio.testing.wait_all_tasks_blocked()


def names(notes: list[cti_fsm.Notification]) -> list[str]:
    return [n.name for n in notes]


def recorder(agent: Agent) -> list[cti_fsm.Notification]:
    seen: list[cti_fsm.Notification] = []
    agent.on("*", seen.append)
    return seen


async def test_open_logs_in_and_resyncs_to_the_servers_state(tiny, server, autojump_clock):
    server.state = "checked_in.available.paused"
    seen: list[str] = []

    async with open_agent(tiny, "mem://", "1001", PASSWORD, reconnect=FAST) as agent:
        # the listener is added after the opening notifications: they are in statistics
        agent.on("*", lambda n: seen.append(n.name))
        assert agent.state == "checked_in.available.paused"
        assert agent.connected
        assert server.ops() == ["connect", "snapshot"]
        assert agent.statistics().notifications == 3  # onCheckIn, onPause, onConnect
    assert server.ops()[-1] == "disconnect"


async def test_resync_notifications_come_before_onconnect(tiny, server, autojump_clock):
    server.state = "checked_in.available.idle"
    agent = Agent(tiny, "mem://", "1001", PASSWORD, reconnect=FAST)
    seen = recorder(agent)
    async with trio.open_nursery() as nursery:
        await nursery.start(agent.run)
        assert names(seen) == ["onCheckIn", "onConnect"]
        assert seen[-1]["result"] == "success"
        await agent.aclose()


async def test_command_round_trip_returns_the_confirming_step(tiny, server, autojump_clock):
    async with open_agent(tiny, "mem://", "1001", PASSWORD) as agent:
        seen = recorder(agent)
        step = await agent.check_in("g1,g2")
        assert step is not None
        assert (step.source, step.target, step.signal) == (
            "connected",
            "checked_in.available.idle",
            "checked_in",
        )
        assert names(seen) == ["onCheckIn"]
        assert server.received[-1]["args"] == {"group_ids": "g1,g2"}
        await agent.dial_out(number="555")
        assert agent.state == "checked_in.dialing"
        assert names(seen) == ["onCheckIn", "onCallout"]


async def test_refused_commands_send_nothing_and_change_nothing(tiny, server, autojump_clock):
    async with open_agent(tiny, "mem://", "1001", PASSWORD) as agent:
        sent = len(server.received)
        with pytest.raises(cti_fsm.IllegalCommand) as info:
            await agent.hold()
        assert info.value.state == "connected"
        assert "check_in" in info.value.allowed
        with pytest.raises(cti_fsm.PermissionDenied):
            await agent.get_all_agents()
        with pytest.raises(cti_fsm.InvalidArguments):
            await agent.command("check_in")  # the typed method would not even let us
        # the vendor cannot do logout_agent: refused even with the rights
        agent.machine.rights = frozenset({"supervisor"})
        with pytest.raises(cti_fsm.Unsupported):
            await agent.logout_agent("1002")
        assert "logout_agent" not in agent.allowed()
        assert len(server.received) == sent
        assert agent.state == "connected"


async def test_vendor_error_fails_the_command_through_the_failure_signal(
    tiny, server, autojump_clock
):
    server.script["hold"] = [{"answer": "{id}", "ok": False, "reason": "invalidCallID"}]
    async with open_agent(tiny, "mem://", "1001", PASSWORD) as agent:
        await agent.check_in("g1")
        await deliver(server.link, {"signal": "ringing", "payload": {"call_id": "c1"}})
        await agent.answer()
        seen = recorder(agent)
        with pytest.raises(cti_fsm.CommandFailed) as info:
            await agent.hold()
        assert info.value.reason == "invalidCallID"
        assert agent.state == "checked_in.talking"
        assert names(seen) == ["onHold"]
        assert seen[0]["result"] == "fail" and seen[0]["message"] == "invalidCallID"


async def test_a_command_without_answer_times_out_after_the_charts_timeout(
    tiny, server, autojump_clock
):
    server.script["check_in"] = []  # the server says nothing
    async with open_agent(tiny, "mem://", "1001", PASSWORD) as agent:
        start = trio.current_time()
        with pytest.raises(cti_fsm.CommandTimeout):
            await agent.check_in("g1")
        timeout = agent.chart.commands["check_in"].rule.timeout
        assert trio.current_time() - start == pytest.approx(timeout)
        assert agent.state == "connected"
        assert agent.statistics().pending == ()


async def test_each_command_gets_its_whole_timeout_whatever_was_answered_before(
    tiny, server, autojump_clock
):
    # one watchdog times every command out; a deadline left from an answered command must
    # neither cut a later command short nor stop it timing out
    async with open_agent(tiny, "mem://", "1001", PASSWORD) as agent:
        timeout = agent.chart.commands["check_in"].rule.timeout
        await agent.check_in("g1")  # answered at once, at time 0
        await trio.sleep(timeout / 2)
        await deliver(server.link, {"signal": "ringing", "payload": {"call_id": "c1"}})
        server.script["answer"] = []  # the server says nothing
        start = trio.current_time()
        with trio.fail_after(3 * timeout), pytest.raises(cti_fsm.CommandTimeout):
            await agent.answer()
        assert trio.current_time() - start == pytest.approx(
            agent.chart.commands["answer"].rule.timeout
        )
        # and the watchdog is ready for the next one
        start = trio.current_time()
        with trio.fail_after(3 * timeout), pytest.raises(cti_fsm.CommandTimeout):
            await agent.answer()
        assert trio.current_time() - start == pytest.approx(
            agent.chart.commands["answer"].rule.timeout
        )
        assert agent.statistics().pending == ()


async def test_link_drop_fails_pending_command_then_reconnects_and_resyncs(
    tiny, server, autojump_clock
):
    server.script["hold"] = []
    async with open_agent(tiny, "mem://", "1001", PASSWORD, reconnect=FAST) as agent:
        await agent.check_in("g1")
        await deliver(server.link, {"signal": "ringing", "payload": {"call_id": "c1"}})
        await agent.answer()
        seen = recorder(agent)
        async with trio.open_nursery() as nursery:

            async def hold() -> None:
                with pytest.raises(cti_fsm.Disconnected):
                    await agent.hold()

            nursery.start_soon(hold)
            await trio.sleep(0.001)
            server.state = "checked_in.available.idle"  # the call ended while we were away
            server.link.drop()
        assert names(seen)[0] == "onDisconnect"
        while not agent.connected:
            await trio.sleep(0.01)
        # walked from talking to idle: the call's end is reported, then the login
        assert names(seen) == ["onDisconnect", "onIdle", "onConnect"]
        assert agent.state == "checked_in.available.idle"
        assert agent.statistics().reconnects == 1
        assert len(server.links) == 2


async def test_commands_while_reconnecting_raise_disconnected(tiny, server, autojump_clock):
    async with open_agent(tiny, "mem://", "1001", PASSWORD, reconnect=FAST) as agent:
        server.reachable = False
        server.link.drop()
        await trio.sleep(0.001)
        assert agent.state == "offline"
        with pytest.raises(cti_fsm.Disconnected):
            await agent.check_in("g1")
        server.reachable = True
        while not agent.connected:
            await trio.sleep(0.05)
        assert agent.state == "connected"
        await agent.check_in("g1")


async def test_signals_before_the_snapshot_are_dropped_and_after_it_applied(
    tiny, server, autojump_clock
):
    server.state = "checked_in.available.idle"
    # already part of the snapshot: applying it again would be wrong
    server.before_snapshot = [{"signal": "paused"}]
    server.after_snapshot = [{"signal": "ringing", "payload": {"call_id": "c9"}}]
    async with open_agent(tiny, "mem://", "1001", PASSWORD) as agent:
        await trio.sleep(0.001)
        assert agent.state == "checked_in.ringing"
        assert agent.statistics().dropped_during_resync == 1


async def test_wrong_password_fails_open_without_showing_the_password(
    tiny, server, autojump_clock, caplog
):
    caplog.set_level(logging.DEBUG)
    with pytest.raises(cti_fsm.CommandFailed) as info:
        async with open_agent(tiny, "mem://", "1001", "wrong-pw-123"):
            pass  # pragma: no cover - never reached
    assert "authentication failed" in str(info.value)
    assert "wrong-pw-123" not in caplog.text
    assert "wrong-pw-123" not in str(info.value)


async def test_password_never_in_logs_or_repr(tiny, server, autojump_clock, caplog):
    caplog.set_level(logging.DEBUG)
    async with open_agent(tiny, "mem://", "1001", PASSWORD) as agent:
        await agent.check_in("g1")
        assert PASSWORD not in repr(agent)
        assert PASSWORD not in repr(agent.statistics())
    assert PASSWORD not in caplog.text


async def test_failing_listeners_do_not_break_the_agent(tiny, server, autojump_clock):
    async with open_agent(tiny, "mem://", "1001", PASSWORD) as agent:
        seen: list[str] = []
        got_async = trio.Event()

        def broken(note: cti_fsm.Notification) -> None:
            raise ValueError("listener bug")

        async def slow(note: cti_fsm.Notification) -> None:
            await trio.sleep(1)
            got_async.set()
            raise ValueError("async listener bug")

        agent.on("onCheckIn", broken)
        agent.on("onCheckIn", slow)
        agent.on("onCheckIn", lambda n: seen.append(n.name))
        await agent.check_in("g1")
        await got_async.wait()
        await trio.sleep(0)
        assert seen == ["onCheckIn"]
        assert agent.statistics().listener_errors == 2
        agent.off("onCheckIn", broken)
        await agent.check_out()
        assert agent.state == "connected"
        with pytest.raises(KeyError):
            agent.on("onNoSuchThing", print)


async def test_notifications_async_iteration_in_order(tiny, server, autojump_clock):
    async with open_agent(tiny, "mem://", "1001", PASSWORD) as agent:
        got: list[str] = []
        async with agent.subscribe() as notes:
            await agent.check_in("g1")
            await deliver(server.link, {"signal": "ringing", "payload": {"call_id": "c1"}})
            await agent.answer()
            async for note in notes:
                got.append(note.name)
                if note.name == "onInCall":
                    break
        assert got == ["onCheckIn", "onCallInRing", "onCallIn", "onInCall"]


async def test_queued_commands_do_not_interleave(tiny, server, autojump_clock):
    order: list[str] = []

    def slow_hold(link: tiny_adapter.Link, message: dict[str, Any]) -> None:
        order.append("hold sent")

        async def later() -> None:
            await trio.sleep(1)
            order.append("held")
            link.push({"signal": "held"})

        nursery.start_soon(later)

    server.script["hold"] = slow_hold
    async with open_agent(tiny, "mem://", "1001", PASSWORD) as agent:
        await agent.check_in("g1")
        await deliver(server.link, {"signal": "ringing"})
        await agent.answer()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(agent.hold)
            await trio.sleep(0.01)

            async def retrieve() -> None:
                await agent.retrieve()  # allowed only once hold has landed
                order.append("retrieved")

            nursery.start_soon(retrieve)
        assert order == ["hold sent", "held", "retrieved"]
        assert agent.state == "checked_in.talking"


async def test_reject_mode_refuses_while_another_command_waits(server, autojump_clock):
    text = pathlib.Path(cti_fsm.default_chart_path()).read_text()
    marker = "  hangup:\n    description:"
    assert marker in text
    chart = cti_fsm.load_chart_text(
        text.replace(marker, "  hangup:\n    pending: reject\n    description:"), "reject.yaml"
    )
    assert chart.commands["hangup"].pending == "reject"
    tiny = tiny_adapter.TinyAdapter(server)
    server.script["hold"] = []  # hold stays pending until the test sends `held`
    async with open_agent(tiny, "mem://", "1001", PASSWORD, chart=chart) as agent:
        await agent.check_in("g1")
        await deliver(server.link, {"signal": "ringing"})
        await agent.answer()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(agent.hold)
            await trio.testing.wait_all_tasks_blocked()
            sent = len(server.received)
            with pytest.raises(cti_fsm.errors.Busy) as info:
                await agent.hangup()
            assert info.value.waiting == "hold"
            assert len(server.received) == sent
            await deliver(server.link, {"signal": "held"})
        await agent.hangup()
        assert agent.state == "checked_in.available.idle"


async def test_malformed_frames_and_adapter_errors_keep_the_session(tiny, server, autojump_clock):
    async with open_agent(tiny, "mem://", "1001", PASSWORD) as agent:
        server.link.push("{not json")
        server.link.push("[1, 2]")
        server.link.push({"boom": True})
        await agent.check_in("g1")
        stats = agent.statistics()
        assert stats.malformed_frames == 2
        assert agent.state == "checked_in.available.idle"
        assert agent.connected


async def test_step_listeners_see_every_transition(tiny, server, autojump_clock):
    async with open_agent(tiny, "mem://", "1001", PASSWORD) as agent:
        steps: list[cti_fsm.Step] = []
        agent.on_step(steps.append)
        await agent.check_in("g1")
        await deliver(server.link, {"signal": "ringing", "payload": {"call_id": "c1"}})
        await deliver(server.link, {"signal": "no_such_signal"})
        agent.off_step(steps.append)
        await agent.answer()
        assert [(s.source, s.target, s.names) for s in steps] == [
            ("connected", "checked_in.available.idle", ("onCheckIn",)),
            ("checked_in.available.idle", "checked_in.ringing", ("onCallInRing",)),
        ]
        assert agent.statistics().ignored_signals == 1


async def test_raw_passthrough(tiny, server, autojump_clock):
    async with open_agent(tiny, "mem://", "1001", PASSWORD) as agent:
        raw: list[dict[str, Any]] = []
        agent.on_raw(raw.append)
        server.script["vendor_thing"] = [{"vendor": "reply"}]
        await agent.send_raw({"op": "vendor_thing", "id": 0})
        await trio.sleep(0.001)
        assert server.received[-1] == {"op": "vendor_thing", "id": 0}
        assert raw == [{"vendor": "reply"}]
        assert agent.state == "connected"


async def test_adapter_found_through_the_entry_point_group(registered_tiny, autojump_clock):
    assert "tiny" in adapter_names()
    found = load_adapter("tiny")
    assert found is tiny_adapter.adapter
    async with open_agent("tiny", "mem://", "1001", PASSWORD) as agent:
        await agent.check_in("g1")
        assert agent.state == "checked_in.available.idle"
    with pytest.raises(cti_fsm.adapter.AdapterNotFound):
        load_adapter("no-such-vendor")


async def test_unreachable_server_fails_open(tiny, server, autojump_clock):
    server.reachable = False
    with pytest.raises(cti_fsm.Disconnected):
        async with open_agent(tiny, "mem://", "1001", PASSWORD):
            pass  # pragma: no cover


async def test_no_reconnect_policy_ends_the_agent_on_a_drop(tiny, server, autojump_clock):
    with pytest.raises(cti_fsm.Disconnected):
        async with open_agent(tiny, "mem://", "1001", PASSWORD, reconnect=None):
            server.link.drop()
            await trio.sleep(1)


async def test_an_unanswered_keepalive_means_a_dead_link(tiny, server, autojump_clock):
    options = {"keepalive": 5.0}
    async with open_agent(
        tiny, "mem://", "1001", PASSWORD, options=options, reconnect=FAST
    ) as agent:
        seen = recorder(agent)
        await trio.sleep(12)  # pings at 5 and 10 were answered
        assert server.ops().count("ping") == 2
        assert seen == [] and len(server.links) == 1
        server.answer_pings = False  # the server hangs without closing the socket
        await trio.sleep(11)
        assert names(seen)[:1] == ["onDisconnect"]
        assert "keepalive" in seen[0]["reason"]
        server.answer_pings = True
        while not agent.connected:
            await trio.sleep(0.1)
        assert len(server.links) == 2
        assert agent.state == "connected"


async def test_backoff_is_capped_exponential_with_jitter():
    import random

    policy = Backoff(base=1.0, cap=8.0)
    rng = random.Random(7)
    for attempt in range(12):
        bound = min(8.0, 2.0**attempt)
        delays = [policy.delay(attempt, rng) for _ in range(200)]
        assert all(0 <= d <= bound for d in delays)
        assert max(delays) > bound * 0.8  # jitter spreads over the whole range


async def test_the_chart_names_the_login_command(server, autojump_clock):
    text = pathlib.Path(cti_fsm.default_chart_path()).read_text()
    text = text.replace("  connect: connect\n", "  connect: login\n")
    text = text.replace("  connect:\n    description: Log in", "  login:\n    description: Log in")
    chart = cti_fsm.load_chart_text(text, "login.yaml")
    assert chart.session["connect"] == "login"
    server.script["login"] = [{"answer": "{id}", "ok": True}, {"signal": "logged_in"}]
    tiny = tiny_adapter.TinyAdapter(server)
    async with open_agent(tiny, "mem://", "1001", PASSWORD, chart=chart) as agent:
        assert agent.lifecycle.connect == "login"
        assert agent.state == "connected"
    assert server.ops()[:2] == ["login", "snapshot"]


# --- reconciliation: periodic snapshots heal lost or late events -------------------------------
async def test_reconciliation_corrects_a_lost_event_after_a_second_look(
    tiny, server, autojump_clock, caplog
):
    server.state = "checked_in.available.idle"
    async with open_agent(tiny, "mem://", "1001", PASSWORD, reconcile_every=10) as agent:
        seen = recorder(agent)
        server.state = "checked_in.available.paused"  # its "paused" event never comes
        await trio.sleep(10.5)
        # the first look disagrees: not corrected yet, a second look is coming
        assert agent.state == "checked_in.available.idle"
        assert server.ops().count("snapshot") == 2
        await trio.sleep(1.0)
        assert server.ops().count("snapshot") == 3
        assert agent.state == "checked_in.available.paused"
        assert names(seen) == ["onPause"]
        assert agent.statistics().drift_corrections == 1
        assert "out of step with the server" in caplog.text
        await trio.sleep(10.5)  # in step now: the next look changes nothing
        assert names(seen) == ["onPause"]
        assert agent.statistics().drift_corrections == 1


async def test_reconciliation_does_not_mistake_an_event_on_its_way_for_drift(
    tiny, server, autojump_clock
):
    server.state = "checked_in.available.idle"
    async with open_agent(tiny, "mem://", "1001", PASSWORD, reconcile_every=10) as agent:
        seen = recorder(agent)
        # the server is already paused when it answers, and sends the event just after
        server.state = "checked_in.available.paused"
        server.after_snapshot = [{"signal": "paused", "payload": {"reason": "lunch"}}]
        await trio.sleep(10.5)
        server.after_snapshot = []  # sent once
        await trio.sleep(1.5)
        assert server.ops().count("snapshot") == 3  # the second look was taken
        assert agent.state == "checked_in.available.paused"
        assert names(seen) == ["onPause"]  # once, from the event itself, with its reason
        assert seen[0]["reason"] == "lunch"
        assert agent.statistics().drift_corrections == 0


async def test_reconciliation_waits_while_a_command_awaits_its_answer(tiny, server, autojump_clock):
    server.state = "checked_in.available.idle"
    server.script["pause"] = []  # never answered: pause times out after the chart's timeout
    async with open_agent(tiny, "mem://", "1001", PASSWORD, reconcile_every=1) as agent:
        before = server.ops().count("snapshot")
        with pytest.raises(cti_fsm.CommandTimeout):
            await agent.pause()
        assert server.ops().count("snapshot") == before  # none while pause was waiting
        await trio.sleep(1.5)
        assert server.ops().count("snapshot") == before + 1


async def test_no_reconciliation_unless_asked_and_a_bad_interval_is_refused(
    tiny, server, autojump_clock
):
    async with open_agent(tiny, "mem://", "1001", PASSWORD) as agent:
        await trio.sleep(3600)
        assert server.ops() == ["connect", "snapshot"]
        assert agent.statistics().drift_corrections == 0
    with pytest.raises(ValueError, match="reconcile_every must be positive"):
        Agent(tiny, "mem://", "1001", PASSWORD, reconcile_every=0)


@pytest.mark.parametrize(
    "kwargs", [{"reconcile_every": 5.0}, {"options": {"keepalive": 5.0}}], ids=["reconcile", "ping"]
)
async def test_a_background_send_on_a_closing_link_does_not_end_the_agent(
    tiny, server, autojump_clock, kwargs
):
    async with open_agent(tiny, "mem://", "1001", PASSWORD, reconnect=FAST, **kwargs) as agent:
        sent = len(server.received)
        server.link.closed = True  # closing: sends fail, the last frames still come in
        await trio.sleep(6)  # the periodic snapshot or ping fails to go out
        assert len(server.received) == sent
        server.link.drop()  # now the link is gone: the receive loop reports it
        while len(server.links) < 2 or not agent.connected:
            await trio.sleep(0.1)
        assert agent.state == "connected"
        assert agent.statistics().reconnects == 1


# --- rights from the server -------------------------------------------------------------------
def granting(*rights: str) -> list[dict[str, Any]]:
    """The fake server's answer to get_rights."""
    return [
        {"answer": "{id}", "ok": True},
        {"signal": "agent_rights", "payload": {"rights": list(rights)}},
    ]


async def test_rights_from_the_server_are_asked_after_each_login(tiny, server, autojump_clock):
    server.script["get_rights"] = granting("supervisor", "teleport")
    async with open_agent(
        tiny, "mem://", "9001", PASSWORD, rights="server", reconnect=FAST
    ) as agent:
        seen = recorder(agent)
        assert server.ops() == ["connect", "snapshot", "get_rights"]
        # the ones the chart knows: an unknown right is ignored
        assert agent.machine.rights == frozenset({"supervisor"})
        await agent.check_in("g1")
        await agent.listen("1001")  # a supervisor's command, now allowed
        assert agent.state == "checked_in.listening"
        server.script["get_rights"] = granting()  # demoted while the link was down
        server.link.drop()
        while len(server.links) < 2 or not agent.connected:
            await trio.sleep(0.1)
        assert server.ops()[-1] == "get_rights"
        assert agent.machine.rights == frozenset()
        await agent.check_in("g1")
        with pytest.raises(cti_fsm.PermissionDenied):
            await agent.listen("1001")
        assert "onConnect" in names(seen)


async def test_no_rights_when_the_server_cannot_say(tiny, autojump_clock, caplog):
    tiny.unsupported = frozenset({"get_rights"})
    async with open_agent(tiny, "mem://", "9001", PASSWORD, rights="server") as agent:
        assert agent.connected and agent.machine.rights == frozenset()
        assert "cannot ask the server for rights" in caplog.text


def test_rights_server_needs_a_rights_query_in_the_chart(tiny) -> None:
    # a lifecycle naming no rights query, as a chart without `session: rights` gives
    with pytest.raises(ValueError, match="needs the chart 'agent' to name its rights query"):
        Agent(tiny, "mem://", "9001", PASSWORD, rights="server", lifecycle=Lifecycle())


async def test_a_chart_of_your_own_gets_its_commands_as_attributes(tiny, server, autojump_clock):
    chart = cti_fsm.load_chart(
        pathlib.Path(__file__).parents[1] / "charts" / "after_call_work.yaml"
    )
    server.state = "checked_in.wrap_up"
    server.script["finish_wrap_up"] = [{"answer": "{id}", "ok": True}, {"signal": "wrap_up_done"}]
    async with open_agent(tiny, "mem://", "1001", PASSWORD, chart=chart) as agent:
        assert agent.state == "checked_in.wrap_up"
        assert "finish_wrap_up" in agent.allowed()
        step = await agent.finish_wrap_up()  # not a typed method: the chart's own command
        assert step is not None and step.target == "checked_in.available.idle"
        assert server.ops()[-1] == "finish_wrap_up"
        with pytest.raises(AttributeError, match="no attribute or command 'finish_wrap_upp'"):
            agent.finish_wrap_upp  # noqa: B018
        # a default-chart method this chart lacks is refused by the chart, nothing sent
        with pytest.raises(cti_fsm.IllegalCommand):
            await agent.hold()
        assert server.ops()[-1] == "finish_wrap_up"


async def test_a_consumer_that_stops_reading_costs_one_warning_not_one_per_loss(
    tiny, server, autojump_clock, caplog
):
    async with open_agent(tiny, "mem://", "1001", PASSWORD, notification_buffer=2) as agent:
        await agent.check_in("g1")
        async with agent.subscribe():
            for n in range(200):  # nobody reads: the buffer of two overflows 200 times
                await deliver(server.link, {"signal": "paused", "payload": {"reason": str(n)}})
                await deliver(server.link, {"signal": "restored"})
            assert agent.statistics().dropped_notifications >= 390
        lost = [r for r in caplog.records if "slow notification consumer" in r.getMessage()]
        assert len(lost) == 1
