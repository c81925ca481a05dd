"""The phone bar's protocol, frame by frame, with no socket: what a browser may send, what
the chart refuses before anything is sent, and what the page is told to draw."""

from __future__ import annotations

import json
import pathlib

import pytest

from cti_fsm import Machine, default_chart, load_chart
from cti_fsm.errors import IllegalCommand, InvalidArguments, PermissionDenied, Unsupported
from cti_fsm.events import Notification, Step
from cti_fsm.phonebar import protocol
from cti_fsm.phonebar.protocol import BadFrame, BarState, CommandRequest, Login

CHART = default_chart()


def connected(rights: set[str] | None = None) -> Machine:
    m = Machine(CHART, rights=rights or set())
    m.apply("logged_in")
    return m


def check(m: Machine, name: str, unsupported: tuple[str, ...] = (), **args: object) -> dict:
    request = CommandRequest(1, name, args)
    return protocol.check_command(m, unsupported, request, vendor="v", login_command="connect")


# --- parsing --------------------------------------------------------------------------------------
def test_a_login_frame_hides_its_password_from_repr() -> None:
    login = protocol.parse(json.dumps({"type": "login", "user": "1001", "password": "s3cret"}))
    assert login == Login("1001", "s3cret")
    assert "s3cret" not in repr(login)


@pytest.mark.parametrize(
    ("frame", "says"),
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "must be a JSON object, not list"),
        ('{"type": "shout"}', "unknown frame type 'shout'"),
        ('{"type": "login", "user": "1001"}', "'password' must be a non-empty string"),
        ('{"type": "command", "name": "hold"}', "'id' must be a non-negative integer"),
        ('{"type": "command", "id": 3, "name": "hold", "args": []}', "'args' must be an object"),
        ('{"type": "command", "id": 3}', "'name' must be a non-empty string"),
        ('{"type": "world", "id": 3, "action": "x", "args": {"a": 1}}', "must be a string"),
    ],
)
def test_a_bad_frame_says_what_is_wrong(frame: str, says: str) -> None:
    with pytest.raises(BadFrame, match=says):
        protocol.parse(frame)


def test_a_bad_login_frame_never_quotes_the_password() -> None:
    frame = json.dumps({"type": "login", "user": "1001", "password": "s3cret", "pin": 1})
    with pytest.raises(BadFrame) as raised:
        protocol.parse(frame)
    assert "'pin'" in str(raised.value)
    assert "s3cret" not in str(raised.value)


def test_an_oversized_frame_is_refused_before_parsing() -> None:
    with pytest.raises(BadFrame, match="over the limit"):
        protocol.parse(" " * (protocol.MAX_FRAME + 1))


def test_a_bad_frame_keeps_its_request_id_for_the_answer() -> None:
    with pytest.raises(BadFrame) as raised:
        protocol.parse('{"type": "command", "id": 9, "args": {}}')
    assert raised.value.id == 9


# --- checking commands ----------------------------------------------------------------------------
def test_a_command_the_state_refuses_raises_and_changes_nothing() -> None:
    m = connected()
    with pytest.raises(IllegalCommand, match="hold"):
        check(m, "hold")
    assert m.state == "connected"


def test_an_unknown_command_is_refused_naming_the_allowed_ones() -> None:
    with pytest.raises(IllegalCommand, match="check_in"):
        check(connected(), "format_disk")


def test_the_login_command_is_never_taken_from_a_browser() -> None:
    m = Machine(CHART)  # offline: connect is allowed by the chart itself
    with pytest.raises(IllegalCommand, match="login frame"):
        check(m, "connect", user="1001", url="ws://elsewhere")


def test_a_secret_argument_is_never_taken_from_a_browser() -> None:
    # even where the chart allows the command and no login command is set apart
    m = Machine(CHART)
    request = CommandRequest(1, "connect", {"user": "1001", "password": "x", "url": "u"})
    with pytest.raises(InvalidArguments, match="'password' a bar may send") as raised:
        protocol.check_command(m, (), request, vendor="v", login_command=None)
    assert "'x'" not in str(raised.value)


def test_rights_are_the_machines_not_the_browsers() -> None:
    m = connected()
    m.apply("checked_in")
    with pytest.raises(PermissionDenied):
        check(m, "listen", agent_id="1002")
    with pytest.raises(PermissionDenied):
        check(m, "pause", agent_id="1002")
    assert check(m, "pause", reason="lunch") == {"reason": "lunch"}


def test_a_command_the_vendor_cannot_do_is_refused() -> None:
    m = connected()
    m.apply("checked_in")
    m.apply("ringing", call_id="c1")
    with pytest.raises(Unsupported, match="answer"):
        check(m, "answer", unsupported=("answer",))


def test_form_text_becomes_the_charts_types() -> None:
    m = connected()
    assert check(m, "check_in", group_ids="sales, support") == {"group_ids": ["sales", "support"]}
    with pytest.raises(InvalidArguments, match="group_ids"):
        check(m, "check_in", group_ids=7)
    # an empty optional field is no argument at all
    m.apply("checked_in")
    assert check(m, "pause", reason="") == {}


def test_an_argument_the_command_does_not_declare_is_refused() -> None:
    m = connected()
    m.apply("checked_in")
    with pytest.raises(InvalidArguments, match="no argument 'force'"):
        check(m, "hold", force=True)


# --- what the page draws --------------------------------------------------------------------------
def view(m: Machine, bar: BarState | None = None, unsupported: tuple[str, ...] = ()) -> dict:
    frame = protocol.view_frame(
        m,
        unsupported,
        bar or BarState(),
        user="9001",
        connected=True,
        now=10.0,
        wall=1000.0,
        login_command="connect",
    )
    return dict(json.loads(frame))


def test_the_view_splits_a_supervisors_commands_into_own_and_aimed() -> None:
    m = connected({"supervisor"})
    v = view(m)
    assert set(v["allowed"]) == set(m.allowed())
    # connected: pausing oneself is not allowed, pausing a team member is
    assert "pause" not in v["enabled"]["self"]
    assert {"pause", "restore", "logout_agent"} <= set(v["enabled"]["team"])
    assert set(v["enabled"]["self"]) | set(v["enabled"]["team"]) == set(v["allowed"])
    m.apply("checked_in")
    v = view(m)
    assert "pause" in v["enabled"]["self"] and "listen" in v["enabled"]["team"]


def test_the_view_leaves_out_the_login_and_what_the_vendor_cannot_do() -> None:
    m = Machine(CHART)
    assert "connect" not in view(m)["allowed"]
    m.apply("logged_in")
    m.apply("checked_in")
    m.apply("ringing", call_id="c1")
    assert "answer" not in view(m, unsupported=("answer",))["allowed"]


def test_the_view_says_when_the_state_began() -> None:
    bar = BarState(since=4.0)
    v = view(connected(), bar)
    assert v["elapsed"] == 6.0 and v["since"] == 994.0


def test_the_bar_follows_the_call_from_ring_to_idle() -> None:
    bar = BarState()
    ring = Step(
        "checked_in.available.idle",
        "checked_in.ringing",
        "ringing",
        payload={"call_id": "c1", "phone_number": "555", "area": "sales"},
    )
    bar.observe_step(ring, 3.0)
    bar.observe(Notification("onCallInRing", {"call_id": "c1"}))
    assert bar.ringing and bar.call == {"call_id": "c1", "phone_number": "555", "area": "sales"}
    assert bar.since == 3.0
    bar.observe_step(
        Step("checked_in.ringing", "checked_in.talking", "answered", payload={"call_id": "c1"}), 5.0
    )
    assert not bar.ringing and bar.call is not None
    bar.observe(Notification("onTransfer", {"result": "fail"}))
    assert bar.call is not None  # a failed transfer leaves the call where it was
    bar.observe(Notification("onIdle", {"call_id": "c1"}))
    assert bar.call is None


def test_the_team_and_targets_come_from_the_queries() -> None:
    bar = BarState()
    bar.set_groups("targets", [{"id": "sales", "name": "Sales", "dtmf": "1"}])
    bar.set_team(
        [{"agentID": "1001", "situation": "ready"}, {"agent_id": "9001", "state": "x"}, "junk"],
        me="9001",
    )
    assert bar.team == [{"id": "1001", "state": "ready", "reason": ""}]
    kinds = [(t["id"], t["kind"]) for t in bar.choices["targets"]]
    assert kinds == [("sales", "group"), ("1001", "agent")]
    bar.set_groups("targets", [{"id": "support"}])
    assert [t["id"] for t in bar.choices["targets"]] == ["support", "1001"]


def test_hello_lists_commands_without_the_login_or_secret_arguments() -> None:
    hello = json.loads(
        protocol.hello_frame(
            CHART,
            vendor="v",
            unsupported=("hold",),
            login_command="connect",
            svg=None,
            mermaid="m",
            demo=None,
        )
    )
    names = [c["name"] for c in hello["commands"]]
    assert "connect" not in names and names[0] == "disconnect"
    listen = next(c for c in hello["commands"] if c["name"] == "listen")
    assert listen["team"] and not listen["self"] and listen["args"] == []
    pause = next(c for c in hello["commands"] if c["name"] == "pause")
    assert pause["team"] and pause["self"] and pause["team_rights"] == ["supervisor"]
    assert [a["name"] for a in pause["args"]] == ["reason"]
    assert pause["args"][0]["choices"] == "reasons"
    assert hello["unsupported"] == ["hold"]


def test_a_chart_of_your_own_gets_its_buttons_with_no_code_change() -> None:
    chart = load_chart(pathlib.Path(__file__).parents[1] / "charts" / "after_call_work.yaml")
    hello = json.loads(
        protocol.hello_frame(
            chart,
            vendor="v",
            unsupported=(),
            login_command="connect",
            svg=None,
            mermaid="",
            demo=None,
        )
    )
    assert "finish_wrap_up" in [c["name"] for c in hello["commands"]]
    m = Machine(chart)
    m.jump("checked_in.wrap_up")
    v = view(m)
    assert "finish_wrap_up" in v["enabled"]["self"] and "pause" in v["enabled"]["self"]
    assert "answer" not in v["allowed"]
    args = protocol.check_command(
        m, (), CommandRequest(1, "finish_wrap_up", {}), vendor="v", login_command="connect"
    )
    assert args == {}


def test_a_notification_with_seconds_starts_a_countdown_and_next_shows_the_next_state() -> None:
    bar = BarState()
    m = connected()
    bar.observe(Notification("onNextState", {"next": "not_ready", "reason": "lunch"}), 1.0)
    bar.observe(Notification("onWrapUp", {"seconds": 30}), 4.0)
    v = view(m, bar)  # at now=10
    assert v["countdown"] == {"name": "onWrapUp", "remaining": 24.0}
    assert v["next"] == {"next": "not_ready", "reason": "lunch"}
    # the state moves on: the countdown is over; the call ends: so is the next state
    bar.observe_step(Step("checked_in.wrap_up", "checked_in.available.idle", "done"), 11.0)
    bar.observe(Notification("onIdle", {}), 11.0)
    v = view(m, bar)
    assert v["countdown"] is None and v["next"] is None
    # a flag is no number of seconds
    bar.observe(Notification("onX", {"timeout": True}), 12.0)
    assert bar.countdown is None
