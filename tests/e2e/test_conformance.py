"""The adapter conformance suite (``cti_fsm.testing.check_adapter``): both in-tree adapters
pass it (asterisk-ami with the gaps its README documents), and it catches what it exists
to catch: a broken adapter, an undeclared gap, a simulator that ignores a request."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
import trio
from cti_fsm_asterisk_ami import adapter as ami
from cti_fsm_csta_ws import CstaProtocol, CstaWsAdapter
from cti_fsm_csta_ws import adapter as csta
from e2etools import AMI_GAPS, ami_login, fast_chart

from cti_fsm.adapter import Inbound, RawMessage, Signal
from cti_fsm.switch import Switch
from cti_fsm.testing import check_adapter
from cti_fsm.testing.conformance import (
    AGENT,
    SCENARIOS,
    ConformanceError,
    Gap,
    LoopbackRelay,
    Scenario,
    check_adapter_sync,
    do,
    world,
)

#: Loopback is fast: a quiet period of 10 ms is plenty and keeps the suite quick; commands
#: time out after 2 s instead of 10, so a command never answered fails the test sooner.
FAST: dict[str, Any] = {"settle": 0.01, "step_timeout": 2.0, "chart": fast_chart(2.0)}


def scenario(name: str) -> Scenario:
    return next(s for s in SCENARIOS if s.name == name)


async def test_csta_ws_conforms() -> None:
    report = await check_adapter(csta, walk_examples=5, walk_steps=20, walk_seed=1, **FAST)
    assert report.scenarios == tuple(s.name for s in SCENARIOS)
    assert report.walks >= 5 and report.walk_steps >= 25
    assert report.steps_checked > 200
    assert report.refusals_checked > 1000
    # csta-ws does every command itself and hides nothing from the agent
    assert report.skipped == report.phone == ()
    assert report.gaps_hit == ()
    assert "adapter 'csta-ws'" in str(report)


async def test_asterisk_ami_conforms_with_its_documented_gaps() -> None:
    report = await check_adapter(
        ami, login=ami_login, gaps=AMI_GAPS, walk_examples=5, walk_seed=1, **FAST
    )
    assert report.scenarios == tuple(s.name for s in SCENARIOS)
    assert {g.gap for g in report.gaps_hit} == {AMI_GAPS[0].name}
    # answering, holding and conferencing (once the consulted party answered) are the
    # phone's on Asterisk
    assert {s.reason for s in report.phone} >= {
        "asterisk-ami cannot answer: done on the phone",
        "asterisk-ami cannot hold: done on the phone",
        "asterisk-ami cannot conference: done on the phone",
    }
    # AMI has no rights query: those steps are skipped, and named
    assert sorted(s.reason for s in report.skipped) == ["asterisk-ami cannot get_rights"] * 2


async def test_an_undeclared_gap_fails_naming_the_step_and_both_states() -> None:
    barge_in = scenario("supervisor listens, barges in and takes over")
    with pytest.raises(ConformanceError) as info:
        await check_adapter(ami, login=ami_login, scenarios=[barge_in], walk_examples=0, **FAST)
    error = info.value
    assert error.scenario == barge_in.name
    assert "join_talk" in error.step
    assert (error.role, error.agent_state, error.switch_state) == (
        AGENT,
        "checked_in.talking",
        "checked_in.three_party",
    )
    assert "agent is in checked_in.talking, the switch says checked_in.three_party" in str(error)

    report = await check_adapter(
        ami,
        login=ami_login,
        gaps=AMI_GAPS,
        scenarios=[barge_in],
        walk_examples=0,
        **FAST,
    )
    assert [(g.gap, g.role) for g in report.gaps_hit] == [(AMI_GAPS[0].name, AGENT)]
    assert "join_talk" in report.gaps_hit[0].step


class _Deaf(CstaWsAdapter):
    """A broken adapter: its protocol never reports an inbound call ringing."""

    def protocol(self, *, user: str, options: Mapping[str, Any]) -> CstaProtocol:
        class Deaf(CstaProtocol):
            def receive(self, message: RawMessage) -> Sequence[Inbound]:
                found = super().receive(message)
                return [i for i in found if not (isinstance(i, Signal) and i.name == "ringing")]

        return Deaf(self.vendor_map, self.chart, user=user, options=options)


async def test_a_broken_adapter_fails_at_the_first_step_it_gets_wrong() -> None:
    with pytest.raises(ConformanceError) as info:
        await check_adapter(_Deaf(), walk_examples=0, **FAST)
    error = info.value
    assert error.scenario == "inbound call answered"
    assert error.step.startswith("2 (world: inbound_call")
    assert (error.agent_state, error.switch_state) == (
        "checked_in.available.idle",
        "checked_in.ringing",
    )
    assert "agent's last steps" in str(error)


async def test_the_random_walk_finds_a_broken_adapter() -> None:
    with pytest.raises(ConformanceError) as info:
        await check_adapter(
            _Deaf(), scenarios=(), walk_examples=30, walk_steps=20, walk_seed=1, **FAST
        )
    assert info.value.scenario.startswith("random walk: ")
    assert info.value.switch_state == "checked_in.ringing"


def _with_switch_change(change: Any) -> Any:
    """A csta-ws simulator factory whose switch is changed by ``change(switch)`` first."""

    def factory(switch: Switch) -> Any:
        change(switch)
        return csta.simulator(switch)

    return factory


async def test_a_command_the_server_never_confirms_fails_the_step() -> None:
    def no_hold(switch: Switch) -> None:
        switch.hold = lambda agent_id, call_id=None: []  # type: ignore[method-assign]

    with pytest.raises(ConformanceError) as info:
        await check_adapter(
            csta,
            _with_switch_change(no_hold),
            scenarios=[scenario("hold and retrieve")],
            walk_examples=0,
            **{**FAST, "chart": fast_chart(0.3)},
        )
    assert "hold" in info.value.step
    assert "was never answered" in str(info.value)


async def test_a_step_without_its_effect_fails_the_expectation() -> None:
    def deaf_customer(switch: Switch) -> None:
        switch.customer_hangs_up = lambda call_id: []  # type: ignore[method-assign]

    with pytest.raises(ConformanceError) as info:
        await check_adapter(
            csta,
            _with_switch_change(deaf_customer),
            scenarios=[scenario("customer hangs up while talking")],
            walk_examples=0,
            **FAST,
        )
    assert "customer_hangs_up" in info.value.step
    assert "should be in idle but is in checked_in.talking" in str(info.value)


async def test_report_lists_declared_gaps_never_needed() -> None:
    spare = Gap("spare", "never happens", "checked_in.held", "checked_in.talking")
    report = await check_adapter(
        csta, gaps=[spare], scenarios=[scenario("queries")], walk_examples=0, **FAST
    )
    assert report.unused_gaps == ("spare",)
    assert "declared gaps never hit: spare" in str(report)


async def test_a_gap_naming_no_state_is_refused_at_once() -> None:
    with pytest.raises(KeyError):
        await check_adapter(csta, gaps=[Gap("typo", "x", "talkin", "held")], scenarios=())


class _NoUrl:
    """A simulator that cannot say where it listens (only the port it bound)."""

    def __init__(self, switch: Switch) -> None:
        self.inner = csta.simulator(switch)

    async def serve(self, *args: Any, **kwargs: Any) -> None:
        await self.inner.serve(*args, **kwargs)


async def test_a_simulator_without_url_needs_a_url_function() -> None:
    queries = [scenario("queries")]
    with pytest.raises(TypeError, match="url="):
        await check_adapter(csta, _NoUrl, scenarios=queries, walk_examples=0)  # type: ignore[arg-type]
    report = await check_adapter(
        csta,
        _NoUrl,  # type: ignore[arg-type]
        url=lambda simulator, port: f"ws://127.0.0.1:{port}/",
        scenarios=queries,
        walk_examples=0,
        **FAST,
    )
    assert report.commands == 5


async def test_scenarios_are_data_users_can_write() -> None:
    mine = Scenario(
        "my flow",
        (
            do(AGENT, "check_in", group_ids=["sales"], then="idle"),
            world("inbound_call", then="ringing"),
            do(AGENT, "hangup", then="idle"),
        ),
    )
    report = await check_adapter(csta, scenarios=[mine], walk_examples=0, **FAST)
    assert report.scenarios == ("my flow",)
    assert report.steps_checked == 4  # after login, then each step
    assert report.commands == 2


async def test_a_step_may_name_a_compound_state_or_the_leaf_inside_it() -> None:
    mine = Scenario(
        "consult, loosely and exactly",
        (
            do(AGENT, "check_in", group_ids=["sales"], then="idle"),
            world("inbound_call", then="ringing"),
            do(AGENT, "answer", then="talking"),
            do(AGENT, "consult", target="5550199", then="consulting"),
            world("third_party_answers", then="consulting.consult_talking"),
            do(AGENT, "hangup", then="available"),
        ),
    )
    report = await check_adapter(csta, scenarios=[mine], walk_examples=0, **FAST)
    assert report.commands == 4
    wrong = Scenario(
        mine.name, (*mine.steps[:3], do(AGENT, "consult", target="5550199", then="consult_talking"))
    )
    with pytest.raises(ConformanceError, match="should be in consult_talking but is in"):
        await check_adapter(csta, scenarios=[wrong], walk_examples=0, **FAST)


def test_check_adapter_sync_runs_outside_trio() -> None:
    report = check_adapter_sync(csta, scenarios=[scenario("queries")], walk_examples=0, **FAST)
    assert report.commands == 5


async def test_the_relay_counts_cuts_and_stalls() -> None:
    async def echo(stream: trio.SocketStream) -> None:
        async for data in stream:
            await stream.send_all(data)

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(
            functools.partial(trio.serve_tcp, echo, 0, host="127.0.0.1")
        )
        port = listeners[0].socket.getsockname()[1]
        relay = LoopbackRelay(f"tcp://127.0.0.1:{port}/x")
        await nursery.start(relay.serve)
        assert relay.url == f"tcp://127.0.0.1:{relay.port}/x"
        assert relay.port is not None
        client = await trio.open_tcp_stream("127.0.0.1", relay.port)
        await client.send_all(b"hello")
        with trio.fail_after(2):
            assert await client.receive_some(5) == b"hello"
        assert (relay.upstream, relay.downstream, relay.links) == (5, 5, 1)

        relay.stall()
        await client.send_all(b"later")
        with trio.move_on_after(0.05):
            await client.receive_some(5)
            raise AssertionError("a stalled relay passed data")
        relay.resume()
        with trio.fail_after(2):
            assert await client.receive_some(5) == b"later"

        assert relay.drop() == 1
        with trio.fail_after(2):
            assert await client.receive_some(5) == b""  # closed
        await client.aclose()
        nursery.cancel_scope.cancel()
