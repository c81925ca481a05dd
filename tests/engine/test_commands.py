"""Commands against the default chart: exhaustively legal or refused, and refused cleanly.

The expected tables below are written by hand from the chart's meaning, not computed
from it, so a change to specs/agent.yaml that moves what an agent may do shows up here.
"""

from __future__ import annotations

from typing import Any

import pytest

from cti_fsm import (
    Chart,
    CommandError,
    IllegalCommand,
    InvalidArguments,
    Machine,
    PermissionDenied,
)

IDLE = "checked_in.available.idle"
PAUSED = "checked_in.available.paused"
ANYWHERE = {"get_transfer_groups", "get_agent_groups", "get_rights"}
#: logging out is refused in the middle of a call
NO_CALL = ANYWHERE | {"disconnect"}

#: per leaf, the commands an agent without rights may send
AGENT = {
    "offline": {"connect"},
    "connected": NO_CALL | {"check_in"},
    IDLE: NO_CALL | {"check_out", "pause", "dial_out"},
    PAUSED: NO_CALL | {"check_out", "pause", "restore", "dial_out"},
    "checked_in.ringing": ANYWHERE | {"answer", "hangup"},
    "checked_in.dialing": ANYWHERE | {"hangup"},
    "checked_in.talking": ANYWHERE
    | {"hangup", "hold", "send_dtmf", "transfer", "consult", "set_next_state"},
    "checked_in.held": ANYWHERE | {"hangup", "retrieve", "transfer", "consult", "set_next_state"},
    # conference only once the consulted party has answered
    "checked_in.consulting.consult_ringing": ANYWHERE
    | {"hangup", "send_dtmf", "cancel_consult", "complete_transfer", "set_next_state"},
    "checked_in.consulting.consult_talking": ANYWHERE
    | {"hangup", "send_dtmf", "cancel_consult", "complete_transfer", "conference"}
    | {"set_next_state"},
    "checked_in.three_party": ANYWHERE | {"hangup", "send_dtmf", "set_next_state"},
    "checked_in.listening": ANYWHERE | {"hangup"},
    # after-call work: no call, so no hangup; ready, not ready or out
    "checked_in.wrap_up": NO_CALL | {"check_out", "pause", "finish_wrap_up", "set_next_state"},
}
#: per leaf, what a supervisor may send besides (pause/restore: of another agent)
ON_OTHERS = {"logout_agent", "get_all_agents", "pause", "restore"}
SUPERVISOR_EXTRA = {
    "offline": set(),
    "connected": ON_OTHERS,
    IDLE: ON_OTHERS | {"listen"},
    PAUSED: ON_OTHERS | {"listen"},
    "checked_in.ringing": ON_OTHERS,
    "checked_in.dialing": ON_OTHERS,
    "checked_in.talking": ON_OTHERS,
    "checked_in.held": ON_OTHERS,
    "checked_in.consulting.consult_ringing": ON_OTHERS,
    "checked_in.consulting.consult_talking": ON_OTHERS,
    "checked_in.three_party": ON_OTHERS | {"disconnect_call"},
    "checked_in.listening": ON_OTHERS | {"join_talk", "disconnect_call"},
    "checked_in.wrap_up": ON_OTHERS,
}
SUPERVISOR = {leaf: AGENT[leaf] | SUPERVISOR_EXTRA[leaf] for leaf in AGENT}
#: valid arguments for every command, acting on oneself
ARGS: dict[str, dict[str, Any]] = {
    "connect": {"user": "1001", "password": "pw", "url": "wss://cti.example/agent"},
    "check_in": {"group_ids": "g1,g2"},
    "dial_out": {"number": "13800138000"},
    "send_dtmf": {"digits": "1#"},
    "transfer": {"target": "2002"},
    "consult": {"target": "2002"},
    "listen": {"agent_id": "1002"},
    "join_talk": {"agent_id": "1002"},
    "disconnect_call": {"agent_id": "1002"},
    "logout_agent": {"agent_id": "1002"},
    "set_next_state": {"next": "not_ready", "reason": "lunch"},
}
#: an argument that makes the command act on another agent (other states, rights)
ON_OTHER = {"pause": {"agent_id": "1002"}, "restore": {"agent_id": "1002"}}


def snapshot(m: Machine) -> tuple[str, tuple[str | None, ...]]:
    return m.state, m.history


def machines(chart: Chart, rights: tuple[str, ...]) -> list[Machine]:
    """A machine in every leaf, each with both histories (idle and paused)."""
    out = []
    for resume in (IDLE, PAUSED):
        for leaf in chart.leaves():
            m = Machine(chart, rights=rights, state=resume)
            m.jump(leaf)
            out.append(m)
    return out


def test_the_tables_cover_the_chart(agent_chart: Chart) -> None:
    assert set(AGENT) == set(agent_chart.leaves())
    assert set().union(*SUPERVISOR.values()) == set(agent_chart.commands)


@pytest.mark.parametrize("rights", [(), ("supervisor",)], ids=["agent", "supervisor"])
def test_allowed_is_the_table(agent_chart: Chart, rights: tuple[str, ...]) -> None:
    table = SUPERVISOR if rights else AGENT
    order = list(agent_chart.commands)
    for m in machines(agent_chart, rights):
        allowed = m.allowed()
        assert set(allowed) == table[m.state], m.state
        assert list(allowed) == sorted(allowed, key=order.index)  # chart order


def expected(command: str, on_other: bool, leaf: str, rights: bool) -> str:
    """What check should do: "ok", "denied" (PermissionDenied) or "illegal"."""
    if command in ON_OTHER:
        if not on_other:
            return "ok" if command in AGENT[leaf] else "illegal"
        if leaf == "offline":
            return "illegal"
        return "ok" if rights else "denied"
    if command in AGENT[leaf]:
        return "ok"
    if command in SUPERVISOR[leaf]:
        return "ok" if rights else "denied"
    return "illegal"


@pytest.mark.parametrize("rights", [(), ("supervisor",)], ids=["agent", "supervisor"])
def test_every_leaf_and_command(agent_chart: Chart, rights: tuple[str, ...]) -> None:
    """Every (leaf, command) pair, with and without the argument that acts on another
    agent: accepted exactly where the tables say; refused with IllegalCommand or
    PermissionDenied naming the command, the state and what is allowed; nothing changed."""
    table = SUPERVISOR if rights else AGENT
    for m in machines(agent_chart, rights):
        leaf = m.state
        before = snapshot(m)
        for command in agent_chart.commands:
            for on_other in (False, True) if command in ON_OTHER else (False,):
                args = {**ARGS.get(command, {}), **(ON_OTHER[command] if on_other else {})}
                outcome = expected(command, on_other, leaf, bool(rights))
                if outcome == "ok":
                    rule = m.check(command, **args)
                    assert any(leaf.startswith(s) for s in rule.allowed_from)
                    assert command in m.allowed()
                elif outcome == "denied":
                    with pytest.raises(PermissionDenied) as denied:
                        m.check(command, **args)
                    err = denied.value
                    assert (err.command, err.state, err.missing) == (command, leaf, ("supervisor",))
                    why = "with 'agent_id'" if on_other else "itself"
                    assert str(err) == (
                        f"command {command!r} {why} needs rights supervisor (state {leaf!r})"
                    )
                else:
                    with pytest.raises(IllegalCommand) as refused:
                        m.check(command, **args)
                    err = refused.value
                    assert (err.command, err.state) == (command, leaf)
                    assert err.allowed == tuple(sorted(table[leaf]))
                    # a supervisor may pause others here, so the refusal says how
                    hint = bool(rights) and command in ON_OTHER and leaf != "offline"
                    assert str(err) == (
                        f"command {command!r} cannot be sent in state {leaf!r};"
                        f" allowed now: {', '.join(sorted(table[leaf]))}"
                        + ("; here it needs argument 'agent_id'" if hint else "")
                    )
                assert snapshot(m) == before


def test_unknown_command(agent_chart: Chart) -> None:
    m = Machine(agent_chart)
    with pytest.raises(IllegalCommand) as refused:
        m.check("fly", to="moon")
    assert (
        str(refused.value)
        == "command 'fly' cannot be sent in state 'offline'; allowed now: connect"
    )


def test_pause_and_restore_of_another_agent_need_rights(agent_chart: Chart) -> None:
    m = Machine(agent_chart, state=PAUSED)
    m.check("restore")
    m.check("pause", reason="lunch")
    for command in ("pause", "restore"):
        with pytest.raises(PermissionDenied) as denied:
            m.check(command, agent_id="1002")
        assert str(denied.value) == (
            f"command {command!r} with 'agent_id' needs rights supervisor (state {PAUSED!r})"
        )
    sup = Machine(agent_chart, rights=["supervisor"], state=PAUSED)
    assert sup.check("pause", agent_id="1002").confirm == "agent_paused"
    assert sup.check("restore", agent_id="1002").confirm == "agent_restored"
    assert sup.check("restore").confirm == "restored"
    # an argument left as None is not given: the agent's own rule applies
    assert sup.check("pause", agent_id=None).confirm == "paused"


def test_rights_are_the_machines_not_the_callers(agent_chart: Chart) -> None:
    m = Machine(agent_chart, rights=["supervisor", "unrelated"], state=IDLE)
    assert m.rights == {"supervisor", "unrelated"}
    assert m.check("listen", agent_id="1002").confirm == "listen_started"
    assert Machine(agent_chart, rights=[], state=IDLE).rights == frozenset()
    with pytest.raises(TypeError, match="not the string 'supervisor'"):
        Machine(agent_chart, rights="supervisor")


# --- arguments --------------------------------------------------------------------------------


def test_missing_argument(agent_chart: Chart) -> None:
    m = Machine(agent_chart, state=IDLE)
    with pytest.raises(InvalidArguments) as bad:
        m.check("dial_out")
    assert str(bad.value) == "command 'dial_out' needs argument 'number'"
    assert (bad.value.command, bad.value.state) == ("dial_out", IDLE)
    with pytest.raises(InvalidArguments, match="needs argument 'number'"):
        m.check("dial_out", number=None)


def test_unknown_argument(agent_chart: Chart) -> None:
    m = Machine(agent_chart, state=IDLE)
    with pytest.raises(InvalidArguments) as bad:
        m.check("dial_out", number="1", phone="1")
    assert str(bad.value) == "command 'dial_out' has no argument 'phone'; it takes: number"
    with pytest.raises(InvalidArguments) as bad:
        m.check("check_out", force=True)
    assert str(bad.value) == "command 'check_out' has no argument 'force'; it takes: no arguments"


@pytest.mark.parametrize(
    ("command", "state", "args", "message"),
    [
        (
            "dial_out",
            IDLE,
            {"number": 13800138000},
            "'number' of command 'dial_out' must be a string, not int",
        ),
        (
            "check_in",
            "connected",
            {"group_ids": {"g1"}},
            "'group_ids' of command 'check_in' must be a list (or comma-separated string), not set",
        ),
        ("pause", IDLE, {"reason": 7}, "'reason' of command 'pause' must be a string, not int"),
        (
            "send_dtmf",
            "checked_in.talking",
            {"digits": b"1"},
            "'digits' of command 'send_dtmf' must be a string, not bytes",
        ),
    ],
)
def test_wrong_argument_type(
    agent_chart: Chart, command: str, state: str, args: dict[str, Any], message: str
) -> None:
    m = Machine(agent_chart, state=state)
    with pytest.raises(InvalidArguments) as bad:
        m.check(command, **args)
    assert str(bad.value) == f"argument {message}"
    assert m.state == state


def test_list_arguments_take_lists_or_comma_separated_strings(agent_chart: Chart) -> None:
    m = Machine(agent_chart, state="connected")
    m.check("check_in", group_ids=["g1", "g2"])
    m.check("check_in", group_ids=("g1",))
    m.check("check_in", group_ids="g1,g2")


SECRET = "Tr0ub4dor&3-secret"


@pytest.mark.parametrize(
    ("state", "args"),
    [
        ("connected", {"user": "1001", "password": SECRET, "url": "u"}),  # illegal here
        ("offline", {"user": "1001", "password": SECRET}),  # url missing
        ("offline", {"user": 1001, "password": SECRET, "url": "u"}),  # user mistyped
        ("offline", {"user": "1001", "password": SECRET, "url": "u", "pwd": SECRET}),  # unknown
        ("offline", {"user": "1001", "password": [SECRET], "url": "u"}),  # the secret mistyped
        ("offline", {"user": "1001", "password": SECRET.encode(), "url": "u"}),
    ],
)
def test_a_secret_never_appears_in_an_error(
    agent_chart: Chart, state: str, args: dict[str, Any]
) -> None:
    m = Machine(agent_chart, state=state)
    with pytest.raises(CommandError) as refused:
        m.check("connect", **args)
    err = refused.value
    for text in (str(err), repr(err), repr(err.args), repr(vars(err))):
        assert "Tr0ub4dor" not in text
    assert m.state == state
