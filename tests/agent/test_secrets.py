"""Secrets held as secrets: through a whole login and session at DEBUG logging, on each
adapter over a real socket, the password is in no log record, repr, ``vars()``, exception
or simulator log; a ``Secret`` hides itself; testing's flows hide secret arguments."""

from __future__ import annotations

import contextlib
import logging
import pickle
import traceback
import types
from collections.abc import Iterator
from typing import Any

import pytest
import trio
from hypothesis import given, settings
from tiny_adapter import TinyProtocol

from cti_fsm import Secret
from cti_fsm.adapter import load_adapter
from cti_fsm.agent import Agent, open_agent
from cti_fsm.chart_loader import default_chart
from cti_fsm.errors import CommandFailed, InvalidArguments
from cti_fsm.machine import Machine
from cti_fsm.secrets import revealed, stand_ins
from cti_fsm.session import Session
from cti_fsm.switch import Switch
from cti_fsm.testing import flows

PASSWORD = "Zq9-very-secret-9qZ"
WRONG = "Wx7-wrong-guess-7xW"


def _switch() -> Switch:
    sw = Switch()
    sw.add_group("sales", name="Sales", dtmf="1")
    sw.add_agent("1001", PASSWORD, device="8001", groups=["sales"])
    return sw


#: per adapter: the login user and options for agent 1001
ACCOUNTS: dict[str, tuple[str, dict[str, Any]]] = {
    "csta-ws": ("1001", {}),
    "asterisk-ami": ("PJSIP/8001", {"username": "1001", "queues": ["sales"]}),
}


def _reachable(root: object, limit: int = 200_000) -> Iterator[object]:
    """Every object reachable from ``root`` through attributes, slots and containers,
    except inside ``Secret`` (which holds its value by design), code and modules."""
    seen: set[int] = set()
    todo = [root]
    while todo and len(seen) < limit:
        obj = todo.pop()
        if id(obj) in seen or isinstance(
            obj, (Secret, type, types.ModuleType, types.FunctionType, types.CodeType)
        ):
            continue
        seen.add(id(obj))
        yield obj
        if isinstance(obj, (str, bytes, bytearray, int, float, bool)) or obj is None:
            continue
        if isinstance(obj, dict):
            todo.extend(obj.keys())
            todo.extend(obj.values())
            continue
        if isinstance(obj, (list, tuple, set, frozenset)) or type(obj).__name__ == "deque":
            todo.extend(obj)
            continue
        if isinstance(obj, types.MethodType):
            todo.append(obj.__self__)
            continue
        with_dict = getattr(obj, "__dict__", None)
        if isinstance(with_dict, dict):
            todo.extend(with_dict.values())
        for klass in type(obj).__mro__:
            for slot in klass.__dict__.get("__slots__", ()):
                name = f"_{klass.__name__.lstrip('_')}{slot}" if slot.startswith("__") else slot
                with contextlib.suppress(AttributeError):
                    todo.append(getattr(obj, name))


def _holders(root: object, value: str) -> list[str]:
    raw = value.encode()
    found = []
    for obj in _reachable(root):
        if (isinstance(obj, str) and value in obj) or (
            isinstance(obj, (bytes, bytearray)) and raw in obj
        ):
            found.append(repr(obj)[:80])
    return found


def _shown(record: logging.LogRecord) -> str:
    text = record.getMessage()
    if record.exc_info:
        text += "".join(traceback.format_exception(*record.exc_info))
    return text


@pytest.mark.parametrize("vendor", sorted(ACCOUNTS))
async def test_a_whole_session_never_shows_the_password(
    vendor: str, caplog: pytest.LogCaptureFixture
) -> None:
    adapter = load_adapter(vendor)
    user, options = ACCOUNTS[vendor]
    caplog.set_level(logging.DEBUG)
    sim = adapter.simulator(_switch())
    seen: list[str] = []
    async with trio.open_nursery() as nursery:
        await nursery.start(sim.serve)
        # a refused login: its error and its log carry no password, the wrong one included
        with pytest.raises(CommandFailed) as refused:
            async with open_agent(adapter, sim.url, user, WRONG, options=options, reconnect=None):
                pass  # pragma: no cover - the login is refused
        error = refused.value
        seen += [str(error), repr(error), *map(str, error.args), *getattr(error, "__notes__", [])]
        seen.append("".join(traceback.format_exception(error)))

        async with open_agent(adapter, sim.url, user, PASSWORD, options=options) as agent:
            await agent.check_in(group_ids=["sales"])
            await agent.pause()
            await agent.restore()
            # while it is up: the agent, its session, its protocol and transport
            seen += [repr(agent), repr(vars(agent)), str(vars(agent))]
            assert _holders(agent, PASSWORD) == []
            assert isinstance(vars(agent)["_Agent__password"], Secret)
            await agent.check_out()
        seen += [repr(agent), repr(vars(agent))]
        assert _holders(agent, PASSWORD) == []
        # the simulator's own log of what it received
        received = sim.requests() if hasattr(sim, "requests") else list(sim.received)
        assert received, "the simulator logged nothing: the check below would prove nothing"
        seen.append(repr(received))
        assert _holders(sim._received, PASSWORD) == []
        assert _holders(sim._received, WRONG) == []
        nursery.cancel_scope.cancel()
    seen += [_shown(r) for r in caplog.records]
    assert any("sending" in r.getMessage() for r in caplog.records), "DEBUG was not on"
    for text in seen:
        assert PASSWORD not in text
        assert WRONG not in text


async def test_an_agent_given_a_secret_logs_in_with_its_value() -> None:
    adapter = load_adapter("csta-ws")
    sim = adapter.simulator(_switch())
    async with trio.open_nursery() as nursery:
        await nursery.start(sim.serve)
        async with open_agent(adapter, sim.url, "1001", Secret(PASSWORD)) as agent:
            assert agent.connected
        nursery.cancel_scope.cancel()


def test_a_secret_hides_itself() -> None:
    s = Secret(PASSWORD)
    for shown in (repr(s), str(s), f"{s}", f"{s:>30}", repr([s]), repr({"p": s})):
        assert PASSWORD not in shown
    assert s.reveal() == PASSWORD
    assert s == Secret(PASSWORD) and s != Secret(WRONG)
    assert s != PASSWORD  # a plain string cannot probe it
    assert not hasattr(s, "__dict__")
    with pytest.raises(TypeError):
        hash(s)
    with pytest.raises(TypeError):
        pickle.dumps(s)
    with pytest.raises(TypeError) as wrapped:
        Secret(12345)  # type: ignore[arg-type]
    assert "12345" not in str(wrapped.value)


def test_only_the_wire_sees_the_value() -> None:
    args = {"user": "1001", "password": Secret(PASSWORD)}
    assert revealed(args) == {"user": "1001", "password": PASSWORD}
    assert PASSWORD not in repr(stand_ins(args))
    plain = {"user": "1001"}
    assert revealed(plain) is plain and stand_ins(plain) is plain


def test_a_session_holds_the_charts_secret_arguments_wrapped() -> None:
    """A secret argument given as a plain string is wrapped when the command is sent: the
    ticket holds a Secret, the machine judges a stand-in, only the wire has the value."""
    session = Session(
        Machine(default_chart()), TinyProtocol(frozenset()), user="1001", password="unused"
    )
    args = {"user": "1001", "password": PASSWORD, "url": "mem://"}
    ticket = session.send_command("connect", args, 0.0)
    assert isinstance(ticket.args["password"], Secret)
    assert ticket.args["user"] == "1001"
    [frame] = session.data_to_send()
    assert PASSWORD in frame  # written on the wire, and nowhere else
    assert PASSWORD not in repr(ticket) + repr(ticket.args)
    # a chart-checked mistake still names the argument, never its value
    with pytest.raises(InvalidArguments) as wrong:
        Session(
            Machine(default_chart()), TinyProtocol(frozenset()), user="1", password="x"
        ).send_command("connect", {"user": "1001", "password": PASSWORD, "url": 5}, 0.0)
    assert "'url'" in str(wrong.value) and PASSWORD not in str(wrong.value)


def test_an_agent_refuses_a_password_of_the_wrong_type() -> None:
    with pytest.raises(TypeError):
        Agent("csta-ws", "ws://127.0.0.1:1", "1001", 1234)  # type: ignore[arg-type]


@settings(max_examples=30, deadline=None)
@given(flows(min_steps=1, max_steps=1, stimuli=()))
def test_a_flow_hides_secret_arguments(flow: Any) -> None:
    # offline, with no signal arriving on its own, the one move is to connect
    (step,) = flow.commands
    assert step.name == "connect"
    secret = step.args["password"]
    assert step.shown_args["password"] == "***" and step.shown_args["user"] == step.args["user"]
    for shown in (repr(step), str(step), repr(flow), str(flow)):
        assert f"password={secret!r}" not in shown and f"'password': {secret!r}" not in shown
        assert "password='***'" in shown or "'password': '***'" in shown
