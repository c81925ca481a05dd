"""After the call, end to end on csta-ws and asterisk-ami: the next state chosen during a
call, after-call work (the chart's timer, finish_wrap_up, the switch's own), ring-no-answer
(reported by the vendor, and the chart's ring timer), and a forced sign-out mid-call.

Each test runs against both real simulators over loopback sockets and checks, after every
step, the agent's state (main and ``next`` region), the notifications in order and what
the simulator received. Timers run in real time, cut short by charts that extend the
default chart with small settings (a few tenths of a second): the agent's and the
simulator's clocks are the same trio clock, so the order of events is the one a user sees.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio
from cti_fsm_asterisk_ami import adapter as ami
from cti_fsm_csta_ws import adapter as csta
from e2etools import FAST, Pair, Recorder, fast_chart, run_recorded, until

from cti_fsm.adapter import Adapter
from cti_fsm.agent import Agent
from cti_fsm.chart import Chart
from cti_fsm.chart_loader import load_chart, load_chart_text
from cti_fsm.errors import IllegalCommand
from cti_fsm.events import Step
from cti_fsm.switch import Switch, demo_switch

A, S = "1001", "9001"
CHARTS = Path(__file__).resolve().parents[1] / "charts"
#: how long a test waits for something that follows a timer of a few tenths of a second
PATIENCE = 5.0
#: the short timers of the extending charts and the switch, in seconds
SHORT = 0.3

IDLE = "checked_in.available.idle"
PAUSED = "checked_in.available.paused"
RINGING = "checked_in.ringing"
TALKING = "checked_in.talking"
WRAP_UP = "checked_in.wrap_up"
UNCHANGED = "checked_in.next.unchanged"
NOT_READY_NEXT = "checked_in.next.not_ready_next"


def extending(**settings: float) -> Chart:
    """A chart that extends the default chart with these settings only."""
    lines = "".join(f"  {k}: {v}\n" for k, v in settings.items())
    return load_chart_text(f"chart: short_timers\nversion: 1\nextends: agent\nsettings:\n{lines}")


@attrs.define
class Vendor:
    """One vendor's simulator over a demo switch, and how its agent is driven."""

    name: str
    adapter: Adapter
    switch: Switch
    sim: Any
    nursery: trio.Nursery
    agents: list[Agent] = attrs.field(factory=list)

    async def login(self, chart: Chart | None = None) -> Pair:
        """Agent 1001 logged in with ``chart`` (default: the default chart, fast timeouts)."""
        kwargs: dict[str, Any] = {"chart": chart or fast_chart(2.0), "reconnect": FAST}
        if self.name == "asterisk-ami":
            user, options = "PJSIP/8001", {"username": A, "queues": ["sales", "support"]}
            agent = Agent(self.adapter, self.sim.url, user, f"pw{A}", options=options, **kwargs)
        else:
            agent = Agent(self.adapter, self.sim.url, A, f"pw{A}", **kwargs)
        self.agents.append(agent)
        return await run_recorded(self.nursery, agent)

    async def answer(self, pair: Pair) -> None:
        """Answer the ringing call: by CTI on csta-ws, on the phone on AMI (no action)."""
        agent, notes = pair
        mark = notes.mark()
        if "answer" in self.adapter.unsupported:
            self.switch.answer(A)
        else:
            await agent.answer()
        await wait(notes, "onInCall", after=mark)

    def log(self) -> list[Any]:
        """Everything the simulator received from the agent so far, in order."""
        if self.name == "asterisk-ami":
            return [p for p in self.sim.received if p.get("Action") != "Ping"]
        return list(self.sim.requests(A))

    async def sent(self, agent: Agent, mark: int) -> list[str]:
        """What the agent sent since ``mark`` (a ``log()`` length), one word per request
        (csta: service and agent state; AMI: action, pause flag and reason). A query goes
        last as a barrier: all that was sent before it has arrived once it is answered."""
        await agent.get_transfer_groups()
        out = [self._word(m) for m in self.log()[mark:]]
        assert out[-1] in ("Escape", "QueueSummary")
        return out[:-1]

    def _word(self, m: dict[str, Any]) -> str:
        if self.name == "asterisk-ami":
            action = str(m.get("Action"))
            if action == "QueuePause":
                paused = str(m.get("Paused")).lower() == "true"
                return f"QueuePause {m.get('Reason')}" if paused else "QueuePause off"
            return action
        params = m.get("params") or {}
        state = params.get("requestedAgentState")
        if state == "notReady":
            return f"SetAgentState notReady {params.get('reasonCode')}"
        if state == "ready" and (params.get("privateData") or {}).get("endWrapUp"):
            return "SetAgentState ready endWrapUp"
        return f"{m['service']} {state}" if state else str(m["service"])

    def word(self, command: str, reason: str | None = None) -> str:
        """What ``command`` looks like in ``sent`` for this vendor."""
        csta_words = {
            "pause": f"SetAgentState notReady {reason}",
            "restore": "SetAgentState ready",
            "check_out": "SetAgentState loggedOff",
            "hangup": "ClearConnection",
            "finish_wrap_up": "SetAgentState ready endWrapUp",
            "dial_out": "MakeCall",
        }
        ami_words = {
            "pause": f"QueuePause {reason}",
            "restore": "QueuePause off",
            "check_out": "QueueRemove",
            "hangup": "Hangup",
            "dial_out": "Originate",
        }
        return (ami_words if self.name == "asterisk-ami" else csta_words)[command]


@pytest.fixture(params=["csta-ws", "asterisk-ami"])
async def vendor(request: pytest.FixtureRequest) -> AsyncIterator[Vendor]:
    adapter = csta if request.param == "csta-ws" else ami
    switch = demo_switch()
    switch.login(S, f"pw{S}")  # a supervisor elsewhere (forced sign-outs), never ringing
    async with trio.open_nursery() as nursery:
        sim = adapter.simulator(switch)
        await nursery.start(sim.serve)
        v = Vendor(request.param, adapter, switch, sim, nursery)
        yield v
        for agent in v.agents:
            await agent.aclose()
        nursery.cancel_scope.cancel()


async def wait(notes: Recorder, name: str, count: int = 1, *, after: int = 0) -> None:
    with trio.fail_after(PATIENCE):
        while notes.since(after).count(name) < count:
            await trio.sleep(0.002)


def flow(notes: Recorder, mark: int) -> list[str]:
    """The notifications since ``mark``, without the answers to ``Vendor.sent``'s barrier."""
    return [name for name in notes.since(mark) if name != "onGetOrgAgtgrps"]


async def local(agent: Agent, command: str, **args: Any) -> None:
    """Send a command the chart (or the vendor map) does locally: its step is handed out
    at once (``test_a_local_commands_notifications_come_at_once``)."""
    await agent.command(command, **args)


def where(agent: Agent) -> tuple[str, ...]:
    """The agent's active leaves: the main one, then the next-state region's."""
    return agent.machine.states


async def quiet(agent: Agent, seconds: float) -> None:
    """Let ``seconds`` pass (a timer that should not fire, or late frames)."""
    await trio.sleep(seconds)


async def checked_in(v: Vendor, pair: Pair) -> None:
    agent, notes = pair
    mark = notes.mark()
    await agent.check_in(group_ids=["sales"])
    await wait(notes, "onCheckIn", after=mark)
    assert where(agent) == (IDLE, UNCHANGED)


async def in_a_call(v: Vendor, pair: Pair) -> str:
    """Signed in, rung by an inbound call and talking on it; returns its id."""
    agent, notes = pair
    await checked_in(v, pair)
    mark = notes.mark()
    call = v.switch.inbound_call("sales")
    await wait(notes, "onCallInRing", after=mark)
    assert where(agent) == (RINGING, UNCHANGED)
    await v.answer(pair)
    assert where(agent) == (TALKING, UNCHANGED)
    assert flow(notes, mark) == ["onCallInRing", "onCallIn", "onInCall"]
    return call


# --- next state ---------------------------------------------------------------------------------
async def test_not_ready_next_pauses_with_the_reason_once_the_call_ends(vendor: Vendor) -> None:
    pair = await vendor.login()
    agent, notes = pair
    await in_a_call(vendor, pair)
    sent, mark = len(vendor.log()), notes.mark()
    await local(agent, "set_next_state", next="not_ready", reason="training")
    assert where(agent) == (TALKING, NOT_READY_NEXT)
    assert flow(notes, mark) == ["onNextState"]
    assert dict(notes.last("onNextState").payload) == {"next": "not_ready", "reason": "training"}
    assert await vendor.sent(agent, sent) == []  # a local command: nothing goes out
    sent = len(vendor.log())
    await agent.hangup()
    await wait(notes, "onPause", after=mark)
    assert where(agent) == (PAUSED, UNCHANGED)
    assert flow(notes, mark) == ["onNextState", "onIdle", "onPause"]
    assert notes.last("onPause")["reason"] == "training"
    assert await vendor.sent(agent, sent) == [
        vendor.word("hangup"),
        vendor.word("pause", "training"),
    ]
    info = vendor.switch.agent_info(A)
    assert (info.ready, info.reason) == (False, "training")
    assert vendor.switch.chart_state(A) == PAUSED


async def test_ready_next_restores_a_paused_agent_after_its_call(vendor: Vendor) -> None:
    pair = await vendor.login()
    agent, notes = pair
    await checked_in(vendor, pair)
    await agent.pause(reason="callback")
    await agent.dial_out(number="5550100")
    call = vendor.switch.call_of(A)
    assert call is not None
    vendor.switch.customer_answers(call)
    await wait(notes, "onInCall")
    assert where(agent) == (TALKING, UNCHANGED)
    mark = notes.mark()
    await local(agent, "set_next_state", next="ready")
    assert where(agent) == (TALKING, "checked_in.next.ready_next")
    sent = len(vendor.log())
    await agent.hangup()
    await wait(notes, "onRestore", after=mark)
    assert where(agent) == (IDLE, UNCHANGED)
    # back to paused (history), then ready as asked
    assert flow(notes, mark) == ["onNextState", "onIdle", "onRestore"]
    assert await vendor.sent(agent, sent) == [vendor.word("hangup"), vendor.word("restore")]
    assert vendor.switch.agent_info(A).ready


async def test_logout_next_signs_out_once_the_call_ends(vendor: Vendor) -> None:
    pair = await vendor.login()
    agent, notes = pair
    await in_a_call(vendor, pair)
    mark = notes.mark()
    await local(agent, "set_next_state", next="logout")
    assert where(agent) == (TALKING, "checked_in.next.logout_next")
    sent = len(vendor.log())
    vendor.switch.customer_hangs_up(vendor.switch.call_of(A) or "")
    await wait(notes, "onCheckOut", after=mark)
    assert where(agent) == ("connected",)
    assert flow(notes, mark) == ["onNextState", "onIdle", "onCheckOut"]
    assert notes.last("onCheckOut")["result"] == "success"
    assert await vendor.sent(agent, sent) == [vendor.word("check_out")]
    assert vendor.switch.chart_state(A) == "connected"


async def test_next_state_is_refused_outside_a_call(vendor: Vendor) -> None:
    pair = await vendor.login()
    agent, notes = pair
    await checked_in(vendor, pair)
    sent, mark = len(vendor.log()), notes.mark()
    with pytest.raises(IllegalCommand) as info:
        await agent.set_next_state(next="not_ready", reason="x")
    assert info.value.state == IDLE
    assert where(agent) == (IDLE, UNCHANGED) and flow(notes, mark) == []
    assert await vendor.sent(agent, sent) == []


# --- after-call work: the chart's own ------------------------------------------------------------
async def test_the_charts_wrap_up_ends_by_its_timer_then_goes_where_asked(vendor: Vendor) -> None:
    pair = await vendor.login(extending(wrap_up_seconds=SHORT))
    agent, notes = pair
    await in_a_call(vendor, pair)
    mark = notes.mark()
    await local(agent, "set_next_state", next="not_ready", reason="notes")
    sent = len(vendor.log())
    await agent.hangup()
    assert where(agent) == (WRAP_UP, NOT_READY_NEXT)
    assert flow(notes, mark) == ["onNextState", "onIdle", "onWrapUp"]
    assert [t.seconds for t in agent.machine.timers()] == [SHORT]
    began = trio.current_time()
    await wait(notes, "onPause", after=mark)
    assert trio.current_time() - began >= SHORT * 0.9
    assert where(agent) == (PAUSED, UNCHANGED)
    assert flow(notes, mark) == ["onNextState", "onIdle", "onWrapUp", "onWrapUpEnd", "onPause"]
    assert notes.last("onPause")["reason"] == "notes"
    # the switch heard the hang-up and, only after the wrap-up, the pause
    assert await vendor.sent(agent, sent) == [vendor.word("hangup"), vendor.word("pause", "notes")]
    assert vendor.switch.agent_info(A).reason == "notes"


async def test_the_charts_wrap_up_ends_by_finish_wrap_up(vendor: Vendor) -> None:
    pair = await vendor.login(extending(wrap_up_seconds=30))
    agent, notes = pair
    await in_a_call(vendor, pair)
    mark = notes.mark()
    vendor.switch.customer_hangs_up(vendor.switch.call_of(A) or "")
    await wait(notes, "onWrapUp", after=mark)
    assert where(agent) == (WRAP_UP, UNCHANGED)
    assert flow(notes, mark) == ["onIdle", "onWrapUp"]
    assert "finish_wrap_up" in agent.allowed() and "dial_out" not in agent.allowed()
    sent = len(vendor.log())
    await local(agent, "finish_wrap_up")  # local on AMI; the response confirms it on csta-ws
    assert where(agent) == (IDLE, UNCHANGED)
    assert flow(notes, mark) == ["onIdle", "onWrapUp", "onWrapUpEnd"]
    assert agent.machine.timers() == ()
    # csta-ws sets the agent ready, marked as the end of after-call work (the switch had
    # none, so nothing changes there); AMI has no such thing: the chart does it locally
    expected = [] if vendor.name == "asterisk-ami" else [vendor.word("finish_wrap_up")]
    assert await vendor.sent(agent, sent) == expected
    assert vendor.switch.chart_state(A) == IDLE
    # and the next call is the agent's again
    vendor.switch.inbound_call("sales")
    await wait(notes, "onCallInRing", after=mark)
    assert where(agent) == (RINGING, UNCHANGED)


async def test_finish_wrap_up_then_goes_where_the_agent_asked(vendor: Vendor) -> None:
    pair = await vendor.login(extending(wrap_up_seconds=30))
    agent, notes = pair
    await in_a_call(vendor, pair)
    mark = notes.mark()
    # a held customer hangs up: the call ends all the same
    if "hold" in vendor.adapter.unsupported:
        vendor.switch.hold(A)  # the phone's hold key (AMI)
    else:
        await agent.hold()
    await wait(notes, "onHold", after=mark)
    assert where(agent) == ("checked_in.held", UNCHANGED)
    await local(agent, "set_next_state", next="logout")
    sent = len(vendor.log())
    vendor.switch.customer_hangs_up(vendor.switch.call_of(A) or "")
    await wait(notes, "onWrapUp", after=mark)
    assert where(agent) == (WRAP_UP, "checked_in.next.logout_next")
    await local(agent, "finish_wrap_up")
    await wait(notes, "onCheckOut", after=mark)
    assert where(agent) == ("connected",)
    assert flow(notes, mark) == [
        "onHold",
        "onNextState",
        "onIdle",
        "onWrapUp",
        "onWrapUpEnd",
        "onCheckOut",
    ]
    ended = [] if vendor.name == "asterisk-ami" else [vendor.word("finish_wrap_up")]
    assert await vendor.sent(agent, sent) == [*ended, vendor.word("check_out")]
    assert vendor.switch.chart_state(A) == "connected"


# --- after-call work: the switch's own (csta-ws's agentWorkingAfterCall) --------------------------
async def test_the_switchs_wrap_up_holds_calls_back_until_it_ends(vendor: Vendor) -> None:
    vendor.switch.set_wrap_up("sales", SHORT)
    pair = await vendor.login()
    agent, notes = pair
    await in_a_call(vendor, pair)
    mark, sent = notes.mark(), len(vendor.log())
    await agent.hangup()
    queued = vendor.switch.inbound_call("sales")
    assert vendor.switch.chart_state(A) == WRAP_UP and vendor.switch.call(queued).queued
    if vendor.name == "asterisk-ami":
        # app_queue's wrapuptime says nothing on AMI: the agent sits idle, and the queue
        # simply offers it nothing until the time is up
        await wait(notes, "onIdle", after=mark)
        assert where(agent) == (IDLE, UNCHANGED)
        assert flow(notes, mark) == ["onIdle"]
    else:
        await wait(notes, "onWrapUp", after=mark)
        assert where(agent) == (WRAP_UP, UNCHANGED)
        assert flow(notes, mark) == ["onIdle", "onWrapUp"]
        assert agent.machine.timers() == ()  # the switch's time: the chart arms none
    await wait(notes, "onCallInRing", after=mark)
    assert where(agent) == (RINGING, UNCHANGED)
    expected = ["onIdle", "onCallInRing"]
    if vendor.name == "csta-ws":
        expected = ["onIdle", "onWrapUp", "onWrapUpEnd", "onRestore", "onCallInRing"]
    assert flow(notes, mark) == expected
    assert await vendor.sent(agent, sent) == [vendor.word("hangup")]


# AMI reports no wrap-up of the switch's (the test above shows what it does there)
@pytest.mark.parametrize("vendor", ["csta-ws"], indirect=True)
async def test_finish_wrap_up_ends_the_switchs_wrap_up(vendor: Vendor) -> None:
    vendor.switch.set_wrap_up(A, 30)
    pair = await vendor.login()
    agent, notes = pair
    await in_a_call(vendor, pair)
    mark = notes.mark()
    await agent.hangup()
    await wait(notes, "onWrapUp", after=mark)
    assert where(agent) == (WRAP_UP, UNCHANGED)
    sent = len(vendor.log())
    await agent.finish_wrap_up()
    assert where(agent) == (IDLE, UNCHANGED)
    await quiet(agent, 0.05)  # the agentReady that follows the response changes nothing
    assert flow(notes, mark) == ["onIdle", "onWrapUp", "onWrapUpEnd"]
    assert await vendor.sent(agent, sent) == [vendor.word("finish_wrap_up")]
    assert vendor.switch.chart_state(A) == IDLE and vendor.switch.wake_at == float("inf")


# --- ring-no-answer -------------------------------------------------------------------------------
async def test_a_call_the_switch_takes_back_unanswered_pauses_the_agent(vendor: Vendor) -> None:
    vendor.switch.set_ring_timeout("sales", SHORT)
    pair = await vendor.login()
    agent, notes = pair
    await checked_in(vendor, pair)
    mark, sent = notes.mark(), len(vendor.log())
    call = vendor.switch.inbound_call("sales")
    await wait(notes, "onCallInRing", after=mark)
    assert where(agent) == (RINGING, UNCHANGED)
    await wait(notes, "onPause", 2, after=mark)
    assert where(agent) == (PAUSED, UNCHANGED)
    # the vendor's ring-no-answer; its own not-ready (app_queue's autopause, the ACD's
    # not ready) confirms the pause the chart sends, whose event comes next
    assert flow(notes, mark) == ["onCallInRing", "onRingNoAnswer", "onPause", "onPause"]
    assert notes.last("onPause")["reason"] == "ring_no_answer"
    assert await vendor.sent(agent, sent) == [vendor.word("pause", "ring_no_answer")]
    assert vendor.switch.call(call).queued  # back in the queue, not offered to 1001 again
    assert vendor.switch.agent_info(A).reason == "ring_no_answer"


async def test_the_charts_ring_timer_rejects_the_call_and_pauses(vendor: Vendor) -> None:
    pair = await vendor.login(extending(ring_timeout_seconds=SHORT))
    agent, notes = pair
    await checked_in(vendor, pair)
    mark = notes.mark()
    call = vendor.switch.inbound_call("sales")
    await wait(notes, "onCallInRing", after=mark)
    assert where(agent) == (RINGING, UNCHANGED)
    sent = len(vendor.log())
    await wait(notes, "onRingNoAnswer", after=mark)
    await wait(notes, "onPause", after=mark)
    assert where(agent) == (PAUSED, UNCHANGED)
    assert flow(notes, mark) == ["onCallInRing", "onRingNoAnswer", "onIdle", "onPause"]
    assert notes.last("onPause")["reason"] == "ring_no_answer"
    assert await vendor.sent(agent, sent) == [
        vendor.word("hangup"),
        vendor.word("pause", "ring_no_answer"),
    ]
    assert vendor.switch.call(call).queued and vendor.switch.chart_state(A) == PAUSED


async def test_a_call_answered_in_time_cancels_the_ring_timer(vendor: Vendor) -> None:
    pair = await vendor.login(extending(ring_timeout_seconds=SHORT))
    agent, notes = pair
    await in_a_call(vendor, pair)
    mark, sent = notes.mark(), len(vendor.log())
    await quiet(agent, SHORT * 2)
    assert where(agent) == (TALKING, UNCHANGED) and flow(notes, mark) == []
    assert await vendor.sent(agent, sent) == []


# --- forced sign-out mid-call ---------------------------------------------------------------------
async def test_a_forced_sign_out_mid_call_leaves_the_call_and_its_timers(vendor: Vendor) -> None:
    pair = await vendor.login(extending(wrap_up_seconds=SHORT))
    agent, notes = pair
    await in_a_call(vendor, pair)
    mark = notes.mark()
    await local(agent, "set_next_state", next="not_ready", reason="meeting")
    assert where(agent) == (TALKING, NOT_READY_NEXT)
    sent = len(vendor.log())
    vendor.switch.force_logout(S, A)
    await wait(notes, "onCheckOut", after=mark)
    assert where(agent) == ("connected",)
    # the call ended (after-call work began, with its timer), then the sign-out ended
    # everything: no wrap-up is left running and the next state is forgotten
    assert flow(notes, mark) == ["onNextState", "onIdle", "onWrapUp", "onCheckOut"]
    assert agent.machine.timers() == ()
    await quiet(agent, SHORT * 2)
    assert flow(notes, mark) == ["onNextState", "onIdle", "onWrapUp", "onCheckOut"]
    assert await vendor.sent(agent, sent) == []  # no pause, no check-out: nothing sent
    assert vendor.switch.chart_state(A) == "connected" and vendor.switch.calls() == ()
    # signed in again, the agent starts afresh: its next call ends with no pause
    await in_a_call(vendor, pair)
    mark, sent = notes.mark(), len(vendor.log())
    await agent.hangup()
    await quiet(agent, SHORT * 2)  # its wrap-up ends too
    assert where(agent) == (IDLE, UNCHANGED)
    assert flow(notes, mark) == ["onIdle", "onWrapUp", "onWrapUpEnd"]
    assert await vendor.sent(agent, sent) == [vendor.word("hangup")]


async def test_a_forced_sign_out_while_ringing_cancels_the_ring_timer(vendor: Vendor) -> None:
    pair = await vendor.login(extending(ring_timeout_seconds=SHORT))
    agent, notes = pair
    await checked_in(vendor, pair)
    mark = notes.mark()
    vendor.switch.inbound_call("sales")
    await wait(notes, "onCallInRing", after=mark)
    sent = len(vendor.log())
    vendor.switch.force_logout(S, A)
    await wait(notes, "onCheckOut", after=mark)
    assert where(agent) == ("connected",) and agent.machine.timers() == ()
    await quiet(agent, SHORT * 2)
    assert flow(notes, mark) == ["onCallInRing", "onIdle", "onCheckOut"]
    assert await vendor.sent(agent, sent) == []


# --- a chart of one's own, on both vendors unchanged ---------------------------------------
async def test_a_wrap_up_variant_of_the_default_chart_runs_unchanged(vendor: Vendor) -> None:
    chart = load_chart(CHARTS / "wrap_up_variant.yaml")
    assert chart.extends == ("agent",)
    pair = await vendor.login(chart)
    agent, notes = pair
    await in_a_call(vendor, pair)
    mark, sent = notes.mark(), len(vendor.log())
    await agent.hangup()
    assert where(agent) == (WRAP_UP, UNCHANGED)
    assert [t.seconds for t in agent.machine.timers()] == [30.0]  # the chart's setting
    steps: list[Step] = []
    agent.on_step(steps.append)
    await local(agent, "extend_wrap_up", wrap_up_seconds=60)
    assert where(agent) == (WRAP_UP, UNCHANGED)
    # the timer starts again, with the seconds asked for
    assert [(t.timer, t.seconds) for t in steps[-1].timers] == [
        ("checked_in.wrap_up.after.0", None),
        ("checked_in.wrap_up.after.0", 60.0),
    ]
    assert notes.last("onWrapUpExtended")["wrap_up_seconds"] == 60
    await local(agent, "finish_wrap_up")
    assert where(agent) == (IDLE, UNCHANGED) and agent.machine.timers() == ()
    assert flow(notes, mark) == ["onIdle", "onWrapUp", "onWrapUpExtended", "onWrapUpEnd"]
    expected = [vendor.word("hangup")]
    if vendor.name == "csta-ws":
        expected.append(vendor.word("finish_wrap_up"))
    assert await vendor.sent(agent, sent) == expected
    await until(lambda: vendor.switch.chart_state(A) == IDLE)


async def test_a_local_commands_notifications_come_at_once(vendor: Vendor) -> None:
    pair = await vendor.login()
    agent, notes = pair
    await in_a_call(vendor, pair)
    mark = notes.mark()
    await agent.set_next_state(next="not_ready", reason="training")
    assert where(agent) == (TALKING, NOT_READY_NEXT)
    await quiet(agent, 0.05)  # no frame arrives meanwhile on either vendor
    assert flow(notes, mark) == ["onNextState"]


async def test_a_timer_a_local_command_starts_fires_on_time(vendor: Vendor) -> None:
    pair = await vendor.login(load_chart(CHARTS / "wrap_up_variant.yaml"))
    agent, notes = pair
    await in_a_call(vendor, pair)
    mark = notes.mark()
    await agent.hangup()
    assert where(agent) == (WRAP_UP, UNCHANGED)  # its timer: 30 seconds
    await agent.command("extend_wrap_up", wrap_up_seconds=SHORT)  # now: a few tenths
    with trio.move_on_after(SHORT * 5):
        await wait(notes, "onWrapUpEnd", after=mark)
    assert where(agent) == (IDLE, UNCHANGED)


# --- the link drops in after-call work or a consultation: the snapshot says where ----------------
@pytest.mark.parametrize("vendor", ["csta-ws"], indirect=True)
async def test_a_resync_during_the_switchs_wrap_up_lands_in_wrap_up(vendor: Vendor) -> None:
    vendor.switch.set_wrap_up(A, SHORT * 2)
    pair = await vendor.login()
    agent, notes = pair
    await in_a_call(vendor, pair)
    mark = notes.mark()
    await agent.hangup()
    await wait(notes, "onWrapUp", after=mark)
    assert vendor.sim.drop_link(A) == 1
    await wait(notes, "onConnect", after=mark)
    # the snapshot's agentWorkingAfterCall is the chart's wrap_up
    assert where(agent) == (WRAP_UP, UNCHANGED)
    assert flow(notes, mark) == ["onIdle", "onWrapUp", "onDisconnect", "onConnect"]
    await wait(notes, "onWrapUpEnd", after=mark)
    assert where(agent) == (IDLE, UNCHANGED) and vendor.switch.chart_state(A) == IDLE


@pytest.mark.parametrize("vendor", ["csta-ws"], indirect=True)
async def test_a_resync_in_a_consultation_knows_whether_it_was_answered(vendor: Vendor) -> None:
    pair = await vendor.login()
    agent, notes = pair
    await in_a_call(vendor, pair)
    await agent.consult(target="5550199")
    assert where(agent) == ("checked_in.consulting.consult_ringing", UNCHANGED)
    vendor.switch.third_party_answers(A)
    await wait(notes, "onConsult")
    mark = notes.mark()
    assert vendor.sim.drop_link(A) == 1
    await wait(notes, "onConnect", after=mark)
    assert where(agent) == ("checked_in.consulting.consult_talking", UNCHANGED)
    assert "conference" in agent.allowed()  # the consulted party is there to join
    await agent.conference()
    assert where(agent) == ("checked_in.three_party", UNCHANGED)
