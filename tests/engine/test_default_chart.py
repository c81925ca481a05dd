"""The default chart (specs/agent.yaml): the seed's vocabulary, and realistic call flows.

Flows are walked h11-style: after every step the whole machine (leaf state and history)
and the whole Step (source, target, signal, every notification with its full payload)
are asserted.
"""

from __future__ import annotations

from typing import Any

import pytest

from cti_fsm import Chart, CommandRule, Machine, Notification, Step

AVAILABLE = "checked_in.available"
IDLE = "checked_in.available.idle"
PAUSED = "checked_in.available.paused"
CONSULT_RINGING = "checked_in.consulting.consult_ringing"
CONSULT_TALKING = "checked_in.consulting.consult_talking"

#: the seed's methods, by their Python names (DESIGN.md), plus what every CTI API has
SEED_METHODS = (
    "connect",
    "check_in",
    "check_out",
    "dial_out",
    "send_dtmf",
    "hangup",
    "pause",
    "restore",
    "hold",
    "retrieve",
    "transfer",
    "listen",
    "logout_agent",
    "join_talk",
    "disconnect_call",
)
BEYOND_SEED = ("answer", "consult", "complete_transfer", "conference")
SUPERVISOR_COMMANDS = ("listen", "logout_agent", "join_talk", "disconnect_call")

#: the seed's events (DESIGN.md), with the payload fields the seed documents for them
SEED_EVENTS = {
    "onConnect": {"result", "message"},
    "onDisconnect": {"reason"},
    "onCheckIn": {"result", "message"},
    "onCheckOut": {"result", "message"},
    "onPause": {"result", "message"},
    "onRestore": {"result", "message"},
    "onHold": {"result", "message"},
    "onRetrieve": {"result", "message"},
    "onCallInRing": {"phone_number", "area", "agent_id"},
    "onCallOutRing": {"phone_number"},
    "onCallout": set(),
    "onDialOver": {"reason"},
    "onCallIn": {"call_id"},
    "onCallOut": {"call_id"},
    "onInCall": {"call_id"},
    "onIdle": {"call_id"},
    "onThreePartCallInRing": set(),
    "onThreePartCallOutRing": set(),
    "onThreePart": set(),
    "onGetOrgAgtgrps": {"groups"},
    "onGetAgtGroups": {"groups"},
    "onAllAgtInfo": {"agents"},
    "onGetAgentRights": {"rights"},
}

CALL = {"call_id": "c-1001"}
CALLER = {"call_id": "c-1001", "phone_number": "13800138000"}


def note(name: str, **payload: Any) -> Notification:
    return Notification(name, payload)


class Walk:
    """A machine and what its whole state must be; each step asserts all of it."""

    def __init__(self, chart: Chart, rights: tuple[str, ...] = ()) -> None:
        self.m = Machine(chart, rights=rights)
        self.resume: str | None = None  # the availability history would resume
        self.at("offline")

    def at(self, state: str) -> None:
        assert (self.m.state, self.m.history) == (state, (self.resume,))

    def step(self, signal: str, state: str, *notes: Notification, **payload: Any) -> None:
        source = self.m.state
        got = self.m.apply(signal, **payload)
        if state.startswith(AVAILABLE + "."):
            self.resume = state
        assert got == Step(source, state, signal, notes, payload)
        assert got.changed == (source != state)
        assert not got.ignored
        self.at(state)

    def ok(self, command: str, **args: Any) -> CommandRule:
        """The command is accepted, and checking it changed nothing."""
        before = (self.m.state, self.m.history)
        assert command in self.m.allowed()
        rule = self.m.check(command, **args)
        assert (self.m.state, self.m.history) == before
        return rule

    def checked_in(self) -> None:
        self.ok("connect", user="1001", password="pw-1001", url="wss://cti.example/agent")
        self.step("logged_in", "connected", note("onConnect", result="success", message=None))
        rule = self.ok("check_in", group_ids="g1,g2")
        assert (rule.confirm, rule.fail) == ("checked_in", "check_in_failed")
        self.step(
            "checked_in",
            IDLE,
            note("onCheckIn", result="success", message=None, group_ids="g1,g2"),
            group_ids="g1,g2",
        )


@pytest.fixture
def walk(agent_chart: Chart) -> Walk:
    w = Walk(agent_chart)
    w.checked_in()
    return w


@pytest.fixture
def supervisor(agent_chart: Chart) -> Walk:
    w = Walk(agent_chart, rights=("supervisor",))
    w.checked_in()
    return w


# --- vocabulary ----------------------------------------------------------------------------------


def test_every_seed_method_and_more_is_a_command(agent_chart: Chart) -> None:
    missing = [c for c in (*SEED_METHODS, *BEYOND_SEED) if c not in agent_chart.commands]
    assert missing == []


def test_every_seed_event_is_emitted_with_its_fields(agent_chart: Chart) -> None:
    emitted = {e.notification for t in agent_chart.transitions() for e in t.emits}
    assert set(SEED_EVENTS) - emitted == set()
    for name, fields in SEED_EVENTS.items():
        assert fields <= set(agent_chart.notifications[name].fields), name


def test_pause_takes_an_optional_reason_code(agent_chart: Chart) -> None:
    args = {a.name: a for a in agent_chart.commands["pause"].args}
    assert (args["reason"].type, args["reason"].required) == ("string", False)
    assert "reason" in agent_chart.notifications["onPause"].fields
    assert "reason" in agent_chart.signals["paused"].payload


def test_supervisor_commands_need_rights(agent_chart: Chart) -> None:
    for name in SUPERVISOR_COMMANDS:
        assert agent_chart.commands[name].rule.rights == {"supervisor"}, name
    for name in ("pause", "restore"):
        spec = agent_chart.commands[name]
        assert spec.rule.rights == frozenset()
        (agent_id,) = (a for a in spec.args if a.name == "agent_id")
        assert agent_id.when_given is not None and agent_id.when_given.rights == {"supervisor"}


def test_the_password_is_secret(agent_chart: Chart) -> None:
    secret = {a.name for a in agent_chart.commands["connect"].args if a.secret}
    assert secret == {"password"}


# --- flows ------------------------------------------------------------------------------------


def test_login_failure_then_success(agent_chart: Chart) -> None:
    w = Walk(agent_chart)
    assert w.m.allowed() == ("connect",)
    rule = w.ok("connect", user="1001", password="wrong", url="wss://cti.example/agent")
    assert (rule.confirm, rule.fail) == ("logged_in", "login_failed")
    w.step(
        "login_failed",
        "offline",
        note("onConnect", result="fail", message="bad password"),
        message="bad password",
    )
    w.step("logged_in", "connected", note("onConnect", result="success", message=None))
    assert set(w.m.allowed()) == {
        "disconnect",
        "check_in",
        "get_transfer_groups",
        "get_agent_groups",
        "get_rights",
    }


def test_inbound_call_answered(walk: Walk) -> None:
    ring = {**CALLER, "area": "Shanghai", "agent_id": "1001"}
    walk.step("ringing", "checked_in.ringing", note("onCallInRing", **ring), **ring)
    assert set(walk.m.allowed()) >= {"answer", "hangup"}
    assert walk.ok("answer").confirm == "answered"
    walk.step(
        "answered",
        "checked_in.talking",
        note("onCallIn", **CALLER),
        note("onInCall", **CALLER),
        **CALLER,
    )
    walk.ok("send_dtmf", digits="1#")
    walk.step("dtmf_sent", "checked_in.talking", note("onDtmfSent", digits="1#"), digits="1#")
    walk.ok("hangup")
    walk.step(
        "hung_up",
        IDLE,
        note("onIdle", call_id="c-1001", reason="normal"),
        call_id="c-1001",
        reason="normal",
    )


def test_inbound_call_abandoned_while_ringing(walk: Walk) -> None:
    walk.step(
        "ringing",
        "checked_in.ringing",
        note("onCallInRing", **CALLER, area=None, agent_id=None),
        **CALLER,
    )
    walk.step(
        "hung_up",
        IDLE,
        note("onIdle", call_id="c-1001", reason="abandoned"),
        call_id="c-1001",
        reason="abandoned",
    )


def test_outbound_call_failed(walk: Walk) -> None:
    assert walk.ok("dial_out", number="13800138000").fail == "dial_failed"
    walk.step("dialing", "checked_in.dialing", note("onCallout", **CALLER), **CALLER)
    walk.step("remote_ringing", "checked_in.dialing", note("onCallOutRing", **CALLER), **CALLER)
    walk.step(
        "dial_failed",
        IDLE,
        note("onDialOver", call_id="c-1001", reason="busy"),
        call_id="c-1001",
        reason="busy",
    )


def test_outbound_call_refused_before_dialing(walk: Walk) -> None:
    walk.step(
        "dial_failed",
        IDLE,
        note("onDialOver", call_id=None, reason="no trunk"),
        reason="no trunk",
    )


def test_outbound_call_connected_then_far_end_hangs_up(walk: Walk) -> None:
    walk.ok("dial_out", number="13800138000")
    walk.step("dialing", "checked_in.dialing", note("onCallout", **CALLER), **CALLER)
    walk.step(
        "answered",
        "checked_in.talking",
        note("onCallOut", **CALLER),
        note("onInCall", **CALLER),
        **CALLER,
    )
    walk.step("hung_up", IDLE, note("onIdle", call_id="c-1001", reason=None), **CALL)


def test_outbound_call_cancelled_while_dialing(walk: Walk) -> None:
    walk.step("dialing", "checked_in.dialing", note("onCallout", call_id=None, phone_number=None))
    walk.ok("hangup")
    walk.step("hung_up", IDLE, note("onDialOver", call_id=None, reason=None))


def talking(walk: Walk) -> None:
    walk.step(
        "ringing",
        "checked_in.ringing",
        note("onCallInRing", **CALLER, area=None, agent_id=None),
        **CALLER,
    )
    walk.step(
        "answered",
        "checked_in.talking",
        note("onCallIn", **CALLER),
        note("onInCall", **CALLER),
        **CALLER,
    )


def test_hold_and_retrieve(walk: Walk) -> None:
    talking(walk)
    walk.ok("hold")
    walk.step(
        "hold_failed",
        "checked_in.talking",
        note("onHold", result="fail", message="no moh", call_id=None),
        message="no moh",
    )
    walk.step(
        "held", "checked_in.held", note("onHold", result="success", message=None, **CALL), **CALL
    )
    assert "hold" not in walk.m.allowed()
    walk.ok("retrieve")
    walk.step(
        "retrieve_failed",
        "checked_in.held",
        note("onRetrieve", result="fail", message="x", call_id=None),
        message="x",
    )
    walk.step(
        "retrieved",
        "checked_in.talking",
        note("onRetrieve", result="success", message=None, **CALL),
        **CALL,
    )
    walk.step("hung_up", IDLE, note("onIdle", **CALL, reason=None), **CALL)


def test_blind_transfer_from_hold(walk: Walk) -> None:
    talking(walk)
    walk.step(
        "held", "checked_in.held", note("onHold", result="success", message=None, call_id=None)
    )
    assert walk.ok("transfer", target="g-sales").confirm == "transferred"
    walk.step(
        "transferred",
        IDLE,
        note("onTransfer", result="success", message=None, call_id="c-1001", target="g-sales"),
        note("onIdle", call_id="c-1001", reason=None),
        call_id="c-1001",
        target="g-sales",
    )


def consulting(walk: Walk) -> None:
    talking(walk)
    assert walk.ok("consult", target="2002").confirm == "consult_started"
    consult = {"call_id": "c-1002", "target": "2002"}
    walk.step(
        "consult_started",
        CONSULT_RINGING,
        note("onThreePartCallOutRing", **consult),
        **consult,
    )
    # conference waits for the consulted party to answer
    assert "conference" not in walk.m.allowed()
    walk.step(
        "consult_answered",
        CONSULT_TALKING,
        note("onConsult", result="success", message=None, **consult),
        **consult,
    )


def test_consult_then_transfer(walk: Walk) -> None:
    consulting(walk)
    walk.ok("send_dtmf", digits="9")
    assert walk.ok("complete_transfer").confirm == "transferred"
    walk.step(
        "transferred",
        IDLE,
        note("onTransfer", result="success", message=None, call_id="c-1001", target="2002"),
        note("onIdle", call_id="c-1001", reason=None),
        call_id="c-1001",
        target="2002",
    )


def test_consult_then_conference_then_third_party_leaves(walk: Walk) -> None:
    consulting(walk)
    assert walk.ok("conference").confirm == "conferenced"
    walk.step("conferenced", "checked_in.three_party", note("onThreePart", **CALL), **CALL)
    walk.step(
        "party_left",
        "checked_in.talking",
        note("onThreePartEnd", call_id="c-1001", agent_id="2002"),
        call_id="c-1001",
        agent_id="2002",
    )
    walk.step("hung_up", IDLE, note("onIdle", call_id=None, reason=None))


def test_consultation_that_fails_leaves_the_customer_on_hold(walk: Walk) -> None:
    consulting(walk)
    walk.step(
        "consult_failed",
        "checked_in.held",
        note("onConsult", result="fail", message="no answer", call_id=None, target=None),
        message="no answer",
    )
    walk.ok("consult", target="2003")
    walk.step(
        "consult_started",
        CONSULT_RINGING,
        note("onThreePartCallOutRing", call_id=None, target=None),
    )
    walk.ok("cancel_consult")
    walk.step("consult_ended", "checked_in.held", note("onConsultEnd", call_id=None))
    walk.step(
        "retrieved",
        "checked_in.talking",
        note("onRetrieve", result="success", message=None, call_id=None),
    )


def test_supervisor_listens_barges_in_and_takes_over(supervisor: Walk) -> None:
    w = supervisor
    assert w.ok("listen", agent_id="1002").confirm == "listen_started"
    listen = {"call_id": "c-2001", "agent_id": "1002"}
    w.step("listen_started", "checked_in.listening", note("onListen", **listen), **listen)
    assert set(w.m.allowed()) >= {"join_talk", "disconnect_call", "hangup"}
    assert w.ok("join_talk", agent_id="1002").confirm == "conferenced"
    w.step(
        "conferenced",
        "checked_in.three_party",
        note("onThreePart", call_id="c-2001"),
        call_id="c-2001",
    )
    assert w.ok("disconnect_call", agent_id="1002").confirm == "took_over"
    w.step(
        "took_over",
        "checked_in.talking",
        note("onTakeOver", **listen),
        note("onInCall", call_id="c-2001", phone_number=None),
        **listen,
    )
    w.step("hung_up", IDLE, note("onIdle", call_id="c-2001", reason=None), call_id="c-2001")


def test_supervisor_takes_over_straight_from_listening(supervisor: Walk) -> None:
    w = supervisor
    w.step("listen_started", "checked_in.listening", note("onListen", call_id=None, agent_id=None))
    w.step(
        "take_over_failed",
        "checked_in.listening",
        note("onCommandFailed", command="disconnect_call", message="x", agent_id=None),
        message="x",
    )
    w.step(
        "took_over",
        "checked_in.talking",
        note("onTakeOver", call_id=None, agent_id=None),
        note("onInCall", call_id=None, phone_number=None),
    )


def test_supervisor_acts_on_other_agents(supervisor: Walk) -> None:
    w = supervisor
    talking(w)
    rule = w.ok("pause", agent_id="1002", reason="coaching")
    assert (rule.confirm, rule.fail) == ("agent_paused", "pause_failed")
    other = {"agent_id": "1002", "reason": "coaching"}
    w.step(
        "agent_paused",
        "checked_in.talking",
        note("onPause", result="success", message=None, **other),
        **other,
    )
    assert w.ok("restore", agent_id="1002").confirm == "agent_restored"
    w.step(
        "agent_restored",
        "checked_in.talking",
        note("onRestore", result="success", message=None, agent_id="1002"),
        agent_id="1002",
    )
    assert w.ok("logout_agent", agent_id="1002").confirm == "agent_logged_out"
    w.step(
        "agent_logged_out",
        "checked_in.talking",
        note("onLogoutAgent", agent_id="1002"),
        agent_id="1002",
    )
    w.ok("get_all_agents")
    agents = [{"id": "1002", "state": "offline"}]
    w.step("all_agents", "checked_in.talking", note("onAllAgtInfo", agents=agents), agents=agents)


def test_queries_answer_in_any_state(walk: Walk) -> None:
    talking(walk)
    groups = [{"id": "g-sales", "dtmf": "1"}]
    for command, signal, name, field, value in (
        ("get_transfer_groups", "transfer_groups", "onGetOrgAgtgrps", "groups", groups),
        ("get_agent_groups", "agent_groups", "onGetAgtGroups", "groups", groups),
        ("get_rights", "agent_rights", "onGetAgentRights", "rights", ["listen"]),
    ):
        assert walk.ok(command).confirm == signal
        walk.step(signal, "checked_in.talking", note(name, **{field: value}), **{field: value})


def test_pause_with_reason_codes_and_restore(walk: Walk) -> None:
    rule = walk.ok("pause", reason="lunch")
    assert (rule.confirm, rule.fail) == ("paused", "pause_failed")
    lunch = {"reason": "lunch", "agent_id": None}
    walk.step(
        "paused", PAUSED, note("onPause", result="success", message=None, **lunch), reason="lunch"
    )
    # changing the reason code while paused
    walk.ok("pause", reason="training")
    walk.step(
        "paused",
        PAUSED,
        note("onPause", result="success", message=None, reason="training", agent_id=None),
        reason="training",
    )
    walk.ok("restore")
    walk.step(
        "restore_failed",
        PAUSED,
        note("onRestore", result="fail", message="busy", agent_id=None),
        message="busy",
    )
    walk.step("restored", IDLE, note("onRestore", result="success", message=None, agent_id=None))
    assert "restore" not in walk.m.allowed()


def test_forced_check_out_mid_call(walk: Walk) -> None:
    talking(walk)
    walk.step(
        "held", "checked_in.held", note("onHold", result="success", message=None, call_id=None)
    )
    walk.step(
        "checked_out",
        "connected",
        note("onCheckOut", result="success", message="forced"),
        message="forced",
    )
    assert "hangup" not in walk.m.allowed()
    walk.ok("check_in", group_ids=["g1"])
    walk.step("checked_in", IDLE, note("onCheckIn", result="success", message=None, group_ids=None))


def test_check_out_and_link_lost(walk: Walk) -> None:
    walk.ok("check_out")
    walk.step("check_out_failed", IDLE, note("onCheckOut", result="fail", message="x"), message="x")
    walk.step("checked_out", "connected", note("onCheckOut", result="success", message=None))
    walk.step("link_lost", "offline", note("onDisconnect", reason="timeout"), reason="timeout")
    assert walk.m.allowed() == ("connect",)


# --- history ------------------------------------------------------------------------------------


def test_a_call_ends_back_in_idle(walk: Walk) -> None:
    talking(walk)
    walk.step("hung_up", IDLE, note("onIdle", call_id=None, reason=None))


def test_a_call_ends_back_in_paused(walk: Walk) -> None:
    walk.step(
        "paused",
        PAUSED,
        note("onPause", result="success", message=None, reason=None, agent_id=None),
    )
    # an outbound call placed while not ready ...
    walk.ok("dial_out", number="13800138000")
    walk.step("dialing", "checked_in.dialing", note("onCallout", call_id=None, phone_number=None))
    walk.step(
        "answered",
        "checked_in.talking",
        note("onCallOut", call_id=None, phone_number=None),
        note("onInCall", call_id=None, phone_number=None),
    )
    walk.step(
        "held", "checked_in.held", note("onHold", result="success", message=None, call_id=None)
    )
    # ... ends not ready again, not idle
    walk.step("hung_up", PAUSED, note("onIdle", call_id=None, reason=None))
    # and a failed attempt too
    walk.step("dialing", "checked_in.dialing", note("onCallout", call_id=None, phone_number=None))
    walk.step("dial_failed", PAUSED, note("onDialOver", call_id=None, reason=None))


def test_every_way_a_call_ends_resumes_the_availability(agent_chart: Chart) -> None:
    """Each call state, entered from idle and from paused, returns where it started."""
    endings = {
        "checked_in.ringing": "hung_up",
        "checked_in.dialing": "hung_up",
        "checked_in.talking": "transferred",
        "checked_in.held": "transferred",
        "checked_in.consulting": "transferred",
        "checked_in.three_party": "hung_up",
        "checked_in.listening": "hung_up",
    }
    for start in (IDLE, PAUSED):
        for state, signal in endings.items():
            m = Machine(agent_chart, state=start)
            m.jump(state)
            assert m.history == (start,)
            assert m.apply(signal).target == start, (start, state)


def test_jump_into_available_follows_history(agent_chart: Chart) -> None:
    m = Machine(agent_chart, state=PAUSED)
    m.jump("checked_in.talking")
    assert m.jump(AVAILABLE) == Step("checked_in.talking", PAUSED, None)
    assert Machine(agent_chart, state="checked_in").state == IDLE
    assert Machine(agent_chart).history == (None,)


def test_configuration_tells_apart_exactly_what_behaves_differently(agent_chart: Chart) -> None:
    talking_from_idle = Machine(agent_chart, state=IDLE)
    talking_from_idle.jump("checked_in.talking")
    talking_from_paused = Machine(agent_chart, state=PAUSED)
    talking_from_paused.jump("checked_in.talking")
    # same leaf, different history: they end the call in different states
    assert talking_from_idle.state == talking_from_paused.state
    assert talking_from_idle.configuration != talking_from_paused.configuration
    # a copy, and a machine brought to the same place another way, compare equal
    assert talking_from_idle.copy().configuration == talking_from_idle.configuration
    other = Machine(agent_chart, state=IDLE)
    other.apply("ringing")
    other.apply("answered")
    assert other.configuration == talking_from_idle.configuration
    assert hash(other.configuration) == hash(talking_from_idle.configuration)
    # an ignored signal leaves it as it was
    before = other.configuration
    assert other.apply("checked_in").ignored
    assert other.configuration == before
