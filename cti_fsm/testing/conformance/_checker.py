"""The conformance checker: ``check_adapter`` plays the scenarios and random walks against
an adapter's simulator and compares every agent with the switch after every step.
"""

from __future__ import annotations

import collections
import contextlib
import functools
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from types import MappingProxyType
from typing import Any

import attrs
import trio

from ...adapter import Adapter, Simulator, load_adapter
from ...agent import Agent, Backoff, Lifecycle, open_agent
from ...chart import ArgSpec, Chart
from ...errors import (
    CommandFailed,
    CommandTimeout,
    CtiError,
    Disconnected,
    IllegalCommand,
    InvalidArguments,
    PermissionDenied,
    Unsupported,
)
from ...machine import Machine, Notification, Step
from ...switch import DEFAULT_CHART_STATES, Switch, SwitchError, demo_switch
from ._loopback_relay import LoopbackRelay
from ._report import ConformanceError, ConformanceReport, GapHit, Skip
from ._scenario_language import (
    _EMPTY,
    AGENT,
    ROLE_IDS,
    SUPERVISOR,
    Account,
    Command,
    Gap,
    Login,
    Outcome,
    Ref,
    Refused,
    Scenario,
    StepSpec,
    Stimulus,
    default_login,
    gap_for,
)
from ._shipped_scenarios import INBOUND_GROUP, PHONE_ACTIONS, SCENARIOS, STIMULI, _stimuli_now

#: What a chart refusal may raise (rights and state are checked in an order the chart owns).
_REFUSALS = (IllegalCommand, PermissionDenied)


# --- running ------------------------------------------------------------------------------------
SimulatorFactory = Callable[[Switch], Simulator]
UrlOf = Callable[[Simulator, int], str]


def _simulator_url(simulator: Simulator, port: int) -> str:
    try:
        return simulator.url
    except AttributeError:
        raise TypeError(
            f"{type(simulator).__name__} has no url property (cti_fsm.adapter.Simulator"
            " requires one); pass url=lambda simulator, port: ... to check_adapter"
        ) from None


@attrs.define
class _Tally:
    scenarios: list[str] = attrs.field(factory=list)
    steps: int = 0
    commands: int = 0
    refusals: int = 0
    skipped: list[Skip] = attrs.field(factory=list)
    phone: list[Skip] = attrs.field(factory=list)
    gaps: list[GapHit] = attrs.field(factory=list)
    walks: int = 0
    walk_steps: int = 0


@attrs.define(eq=False)
class _Run:
    """One scenario's (or one walk's) world: switch, simulator, relays, agents."""

    name: str
    switch: Switch
    agents: dict[str, Agent]
    relays: dict[str, LoopbackRelay]
    logins: dict[str, Login]
    rights: dict[str, frozenset[str]]
    changed: trio.Event = attrs.field(factory=trio.Event)
    steps_seen: int = 0
    traces: dict[str, collections.deque[str]] = attrs.field(factory=dict)

    def poke(self) -> None:
        self.steps_seen += 1
        self.changed.set()
        self.changed = trio.Event()

    def watch(self, role: str, agent: Agent) -> None:
        trace = self.traces[role] = collections.deque(maxlen=12)

        def on_step(step: Step) -> None:
            names = ", ".join(step.names)
            trace.append(f"{step.source} --{step.signal}--> {step.target} [{names}]")
            self.poke()

        def on_note(_: Notification) -> None:
            self.changed.set()
            self.changed = trio.Event()

        agent.on_step(on_step)
        agent.on("*", on_note)


class _Checker:
    """Runs scenarios and walks for one ``check_adapter`` call."""

    def __init__(
        self,
        adapter: Adapter,
        simulator_factory: SimulatorFactory,
        *,
        login: Callable[[Account], Login],
        gaps: Sequence[Gap],
        url: UrlOf,
        chart: Chart,
        chart_states: Mapping[str, str],
        settle: float,
        step_timeout: float,
    ) -> None:
        self.adapter = adapter
        self.simulator_factory = simulator_factory
        self.login = login
        self.gaps = tuple(gaps)
        self.url_of = url
        self.chart = chart
        self.chart_states = chart_states
        self.settle = settle
        self.step_timeout = step_timeout
        self.tally = _Tally()
        self.unsupported = adapter.unsupported
        for gap in self.gaps:
            for state in (gap.agent_state, gap.switch_state):
                chart.resolve(state)  # a typo in a gap is the caller's error, said at once

    # --- errors -------------------------------------------------------------------------------
    def fail(
        self, run: _Run, step: str, message: str, *, role: str | None = None
    ) -> ConformanceError:
        agent_state = switch_state = None
        if role is not None:
            agent_state = run.agents[role].state
            switch_state = self.truth(run, role)
            trace = "\n    ".join(run.traces.get(role, ())) or "(no steps)"
            message += f"\n  {role}'s last steps:\n    {trace}"
        return ConformanceError(
            message,
            adapter=self.adapter.name,
            scenario=run.name,
            step=step,
            role=role,
            agent_state=agent_state,
            switch_state=switch_state,
        )

    # --- the world of one run -------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def world(self, name: str) -> AsyncIterator[_Run]:
        switch = demo_switch()
        async with trio.open_nursery() as nursery:
            simulator = self.simulator_factory(switch)
            port = await nursery.start(simulator.serve, "127.0.0.1", 0)
            target = self.url_of(simulator, port)
            relays = {}
            for role in ROLE_IDS:
                relays[role] = LoopbackRelay(target)
                await nursery.start(relays[role].serve)
            logins = {role: self._login_of(switch, agent) for role, agent in ROLE_IDS.items()}
            rights = {role: frozenset(switch.rights(agent)) for role, agent in ROLE_IDS.items()}
            run = _Run(name, switch, {}, relays, logins, rights)
            async with contextlib.AsyncExitStack() as stack:
                for role in ROLE_IDS:
                    login = logins[role]
                    try:
                        agent = await stack.enter_async_context(
                            open_agent(
                                self.adapter,
                                relays[role].url,
                                login.user,
                                login.password,
                                rights=rights[role],
                                chart=self.chart,
                                options=login.options,
                                reconnect=Backoff(base=0.01, cap=0.1),
                            )
                        )
                    except CtiError as exc:
                        raise self.fail(run, "open", f"{role} could not log in: {exc!r}") from exc
                    run.agents[role] = agent
                    run.watch(role, agent)
                await self.check_states(run, "after login")
                yield run
            nursery.cancel_scope.cancel()

    def _login_of(self, switch: Switch, agent_id: str) -> Login:
        info = switch.agent_info(agent_id)
        # the demo population's passwords follow a published scheme (see demo_switch)
        return self.login(Account(agent_id, info.device, f"pw{agent_id}"))

    def truth(self, run: _Run, role: str) -> str:
        return run.switch.chart_state(ROLE_IDS[role], self.chart_states)

    def _resolve(self, run: _Run, args: Mapping[str, Any]) -> dict[str, Any]:
        return {k: run.logins[v.role].name if isinstance(v, Ref) else v for k, v in args.items()}

    # --- checking -------------------------------------------------------------------------------
    def _gap_for(self, role: str, state: str, truth: str) -> Gap | None:
        return gap_for(self.chart, self.gaps, role, state, truth)

    def _mismatch(self, run: _Run) -> tuple[str, str] | None:
        """The first role whose agent differs from the switch (no gap explains it)."""
        for role, agent in run.agents.items():
            truth = self.truth(run, role)
            if not agent.connected and agent.state != truth:
                # logged out on purpose, the agent stays down where the switch has it
                return role, "not connected"
            if agent.state != truth and self._gap_for(role, agent.state, truth) is None:
                return role, f"agent is in {agent.state}, the switch says {truth}"
        return None

    async def check_states(self, run: _Run, step: str) -> None:
        """Wait until every agent matches the switch and is quiet, then count the step.

        Raises:
            ConformanceError: an agent did not match within ``step_timeout``.
        """
        deadline = trio.current_time() + self.step_timeout
        while True:
            found = self._mismatch(run)
            if found is None:
                seen = run.steps_seen
                await trio.sleep(self.settle)
                if run.steps_seen == seen and self._mismatch(run) is None:
                    break
                continue
            if trio.current_time() >= deadline:
                role, why = found
                raise self.fail(run, step, why, role=role)
            # a resync may jump without a step: look again now and then
            with trio.move_on_at(min(deadline, trio.current_time() + 0.05)):
                await run.changed.wait()
        for role, agent in run.agents.items():
            pending = agent.statistics().pending
            if pending:
                raise self.fail(run, step, f"commands still pending: {pending}", role=role)
            truth = self.truth(run, role)
            gap = self._gap_for(role, agent.state, truth) if agent.state != truth else None
            if gap is not None:
                self.tally.gaps.append(GapHit(gap.name, run.name, step, role))
        self.tally.steps += 1

    def check_expect(self, run: _Run, step: str, expect: Mapping[str, str]) -> None:
        for role, wanted in expect.items():
            truth = self.truth(run, role)
            path = self.chart.resolve(wanted)
            if (
                truth != path
                and not truth.startswith(path + ".")
                and not truth.endswith("." + wanted)
            ):
                raise self.fail(
                    run,
                    step,
                    f"the switch should be in {wanted} but is in {truth}: the step did not"
                    " have the effect the scenario needs",
                    role=role,
                )

    def _sample_args(self, shadow: Machine, name: str) -> dict[str, Any] | None:
        """Arguments the chart accepts for ``name`` in ``shadow``'s state (None: refused)."""
        spec = self.chart.commands[name]
        base = {a.name: _sample(a) for a in spec.args if a.required and a.when_given is None}
        candidates = [base] + [
            {**base, a.name: _sample(a)} for a in spec.args if a.when_given is not None
        ]
        for args in candidates:
            try:
                shadow.check(name, **args)
            except CtiError:
                continue
            return args
        return None

    async def probe_refusals(self, run: _Run, step: str) -> None:
        """Every command refused now (by the chart or the vendor) sends nothing.

        Raises:
            ConformanceError: one was accepted, raised something else, changed the
                state, or bytes reached the simulator.
        """
        before = {role: (run.relays[role].upstream, a.state) for role, a in run.agents.items()}
        for role, agent in run.agents.items():
            state = agent.state
            shadow = Machine(self.chart, rights=run.rights[role], state=state)
            allowed = set(shadow.allowed())
            for name, spec in self.chart.commands.items():
                usable = self._sample_args(shadow, name) if name in allowed else None
                if usable is not None and name not in self.unsupported:
                    continue
                expected: tuple[type[CtiError], ...]
                if usable is not None:
                    args, expected = usable, (Unsupported,)
                else:
                    required = [a for a in spec.args if a.required and a.when_given is None]
                    args, expected = {a.name: _sample(a) for a in required}, _REFUSALS
                if not agent.connected:
                    # logged out: every command says so before the chart is asked
                    expected = (Disconnected,)
                await self._expect_refusal(run, role, step, name, args, expected)
        await self._nothing_sent(run, step, before, "refused commands")

    async def _expect_refusal(
        self,
        run: _Run,
        role: str,
        step: str,
        name: str,
        args: Mapping[str, Any],
        expected: tuple[type[CtiError], ...],
    ) -> None:
        agent = run.agents[role]
        what = f"{name}({', '.join(f'{k}={v!r}' for k, v in args.items())}) in {agent.state}"
        try:
            with trio.fail_after(self.step_timeout):
                await agent.command(name, **args)
        except expected:
            self.tally.refusals += 1
            return
        except trio.TooSlowError:
            raise self.fail(run, step, f"refused command {what} hung", role=role) from None
        except Exception as exc:
            wanted = " or ".join(e.__name__ for e in expected)
            raise self.fail(
                run, step, f"{what} should raise {wanted}, raised {exc!r}", role=role
            ) from exc
        raise self.fail(run, step, f"{what} should have been refused", role=role)

    async def _nothing_sent(
        self, run: _Run, step: str, before: Mapping[str, tuple[int, str]], what: str
    ) -> None:
        """No bytes went up and no state moved since ``before`` (per role: bytes, state)."""
        # give bytes written by mistake time to cross the loopback to the relay
        await trio.sleep(self.settle / 2)
        for role, (sent, state) in before.items():
            relay, agent = run.relays[role], run.agents[role]
            if relay.upstream != sent:
                raise self.fail(
                    run,
                    step,
                    f"{what}: {relay.upstream - sent} bytes reached the simulator",
                    role=role,
                )
            if agent.state != state:
                raise self.fail(run, step, f"{what} moved the agent from {state}", role=role)

    # --- steps ----------------------------------------------------------------------------------
    async def run_step(self, run: _Run, spec: StepSpec, label: str) -> bool:
        """Run one step and check everything after it; False: the rest cannot run."""
        if isinstance(spec, Command):
            go_on = await self._command(run, spec, label)
        elif isinstance(spec, Stimulus):
            self._stimulus(run, spec.name, spec.role, label)
            go_on = True
        elif isinstance(spec, Refused):
            before = {spec.role: (run.relays[spec.role].upstream, run.agents[spec.role].state)}
            args = self._resolve(run, spec.args)
            await self._expect_refusal(run, spec.role, label, spec.name, args, (spec.error,))
            await self._nothing_sent(run, label, before, f"refused {spec.name}")
            go_on = True
        else:
            await self._drop(run, spec.role, label)
            go_on = True
        if not go_on:
            return False
        await self.check_states(run, label)
        self.check_expect(run, label, spec.expect)
        await self.probe_refusals(run, label)
        return True

    def _stimulus(self, run: _Run, name: str, role: str, label: str) -> None:
        try:
            STIMULI[name](run.switch, ROLE_IDS[role])
        except SwitchError as exc:
            raise self.fail(run, label, f"the switch cannot do {name} now: {exc}") from exc

    async def _command(self, run: _Run, spec: Command, label: str) -> bool:
        agent = run.agents[spec.role]
        args = self._resolve(run, spec.args)
        if spec.name in self.unsupported:
            before = {spec.role: (run.relays[spec.role].upstream, agent.state)}
            await self._expect_refusal(run, spec.role, label, spec.name, args, (Unsupported,))
            await self._nothing_sent(run, label, before, "an unsupported command")
            phone = PHONE_ACTIONS.get(spec.name)
            vendor = self.adapter.name
            if phone is not None and spec.outcome == "ok":
                self.tally.phone.append(
                    Skip(run.name, label, f"{vendor} cannot {spec.name}: done on the phone")
                )
                try:
                    phone(run.switch, ROLE_IDS[spec.role], args)
                except SwitchError as exc:
                    raise self.fail(run, label, f"the phone cannot {spec.name}: {exc}") from exc
                return True
            if spec.outcome == "fail" or not self._moves(run, spec.role, spec.name, args):
                self.tally.skipped.append(Skip(run.name, label, f"{vendor} cannot {spec.name}"))
                return True
            self.tally.skipped.append(
                Skip(run.name, label, f"{vendor} cannot {spec.name}: the rest of the scenario")
            )
            return False
        await self._send(run, spec.role, spec.name, args, label, spec.outcome)
        return True

    def _moves(self, run: _Run, role: str, name: str, args: Mapping[str, Any]) -> bool:
        """Would the command, confirmed, move the role's agent? (Else skipping it is harmless.)"""
        shadow = Machine(self.chart, rights=run.rights[role], state=run.agents[role].state)
        confirm = self.chart.commands[name].rule_for(args).confirm
        return confirm is not None and shadow.apply(confirm).changed

    async def _send(
        self, run: _Run, role: str, name: str, args: Mapping[str, Any], label: str, outcome: Outcome
    ) -> None:
        """Send a command; ``outcome`` ``ok``/``fail`` must happen (``any``: either).
        A failure is ``CommandFailed`` (the switch refused), or ``InvalidArguments`` from
        the adapter having sent nothing (it knows the vendor would refuse them)."""
        agent = run.agents[role]
        timeout = self.chart.commands[name].rule_for(args).timeout + self.step_timeout
        before = {role: (run.relays[role].upstream, agent.state)}
        error: CommandFailed | None = None
        try:
            with trio.fail_after(timeout):
                await agent.command(name, **args)
        except CommandFailed as exc:
            error = exc
        except InvalidArguments as exc:
            # the adapter may know the vendor refuses these arguments: then nothing is sent
            if outcome == "ok":
                raise self.fail(run, label, f"{name} raised {exc!r}", role=role) from exc
            await self._nothing_sent(run, label, before, f"{name} with invalid arguments")
            self.tally.refusals += 1
            return
        except CommandTimeout as exc:
            raise self.fail(run, label, f"{name} was never answered: {exc}", role=role) from exc
        except trio.TooSlowError:
            raise self.fail(run, label, f"{name} hung past its timeout", role=role) from None
        except CtiError as exc:
            raise self.fail(run, label, f"{name} raised {exc!r}", role=role) from exc
        except Exception as exc:
            raise self.fail(
                run, label, f"{name} raised an undocumented {exc!r}", role=role
            ) from exc
        self.tally.commands += 1
        if outcome == "ok" and error is not None:
            raise self.fail(run, label, f"{name} failed: {error.reason}", role=role)
        if outcome == "fail" and error is None:
            raise self.fail(run, label, f"{name} succeeded; the switch refuses it", role=role)

    async def _drop(self, run: _Run, role: str, label: str) -> None:
        agent = run.agents[role]
        before = agent.statistics().reconnects
        if run.relays[role].drop() == 0:
            raise self.fail(run, label, "no open link to drop", role=role)
        deadline = trio.current_time() + self.step_timeout
        while agent.statistics().reconnects == before:
            if trio.current_time() >= deadline:
                raise self.fail(run, label, "the agent did not notice the drop", role=role)
            with trio.move_on_at(min(deadline, trio.current_time() + 0.05)):
                await run.changed.wait()

    # --- scenarios ------------------------------------------------------------------------------
    async def scenario(self, scenario: Scenario) -> None:
        self.tally.scenarios.append(scenario.name)
        with _sole_error():
            async with self.world(scenario.name) as run:
                for i, spec in enumerate(scenario.steps, 1):
                    label = f"{i} ({spec})"
                    if not await self.run_step(run, spec, label):
                        break

    # --- the random walk ------------------------------------------------------------------------
    def _walk_options(self, run: _Run) -> list[tuple[str, str, str, Mapping[str, Any]]]:
        """``(kind, role, name, args)`` for everything that may happen now."""
        out: list[tuple[str, str, str, Mapping[str, Any]]] = []
        # the session's own commands are the agent's business, not the walk's
        session = Lifecycle.of(self.chart)
        lifecycle = {session.connect, session.disconnect}
        for role, agent in run.agents.items():
            shadow = Machine(self.chart, rights=run.rights[role], state=agent.state)
            for name in shadow.allowed():
                if name in lifecycle:
                    continue
                for args in _walk_args(name, role, run):
                    try:
                        shadow.check(name, **args)
                    except CtiError:
                        continue
                    if name not in self.unsupported:
                        out.append(("command", role, name, args))
                    elif name in PHONE_ACTIONS:
                        out.append(("phone", role, name, args))
            for stimulus in _stimuli_now(run.switch, ROLE_IDS[role]):
                if role == AGENT or stimulus != "inbound_call":
                    out.append(("world", role, stimulus, _EMPTY))
        return out

    async def walk(self, plan: Sequence[int]) -> None:
        """One random walk: ``plan`` picks among what may happen at each step."""
        self.tally.walks += 1
        done: list[str] = []
        with _sole_error():
            await self._walk(plan, done)

    async def _walk(self, plan: Sequence[int], done: list[str]) -> None:
        async with self.world("random walk") as run:
            for choice in plan:
                options = self._walk_options(run)
                if not options:
                    break
                kind, role, name, args = options[choice % len(options)]
                shown = ", ".join(f"{k}={v!r}" for k, v in args.items())
                done.append(f"{kind} {role} {name}({shown})")
                run.name = "random walk: " + " -> ".join(done)
                label = f"{len(done)} ({done[-1]})"
                if kind == "command":
                    await self._send(run, role, name, args, label, "any")
                elif kind == "phone":
                    try:
                        PHONE_ACTIONS[name](run.switch, ROLE_IDS[role], args)
                    except SwitchError:
                        continue  # the phone's key does nothing now: nothing happened
                else:
                    self._stimulus(run, name, role, label)
                await self.check_states(run, label)
                await self.probe_refusals(run, label)
                self.tally.walk_steps += 1
                if any(a.state != self.truth(run, r) for r, a in run.agents.items()):
                    break  # inside a declared gap: what follows is not defined

    async def random_walks(
        self, examples: int, steps: int, settings: Any, walk_seed: int | None
    ) -> None:
        if examples <= 0:
            return
        from hypothesis import HealthCheck, Phase, given, seed
        from hypothesis import settings as Settings
        from hypothesis import strategies as st

        # no shrinking by default: a failing walk is reported whole, with every step it
        # took, and each failing example costs up to step_timeout (it waits to be sure)
        chosen: Settings = settings or Settings(
            max_examples=examples,
            deadline=None,
            database=None,
            phases=(Phase.explicit, Phase.reuse, Phase.generate),
            suppress_health_check=list(HealthCheck),
            report_multiple_bugs=False,
        )
        plans = st.lists(
            st.integers(min_value=0, max_value=1 << 16), min_size=max(1, steps // 2), max_size=steps
        )

        def explore() -> None:
            @chosen
            @given(plans)
            def walk(plan: list[int]) -> None:
                trio.from_thread.run(self.walk, plan)

            (walk if walk_seed is None else seed(walk_seed)(walk))()

        # hypothesis drives the examples from a worker thread; each runs back in trio
        await trio.to_thread.run_sync(explore)

    def report(self) -> ConformanceReport:
        hit = {g.gap for g in self.tally.gaps}
        t = self.tally
        return ConformanceReport(
            adapter=self.adapter.name,
            scenarios=tuple(t.scenarios),
            steps_checked=t.steps,
            commands=t.commands,
            refusals_checked=t.refusals,
            skipped=tuple(t.skipped),
            phone=tuple(t.phone),
            gaps_hit=tuple(t.gaps),
            unused_gaps=tuple(g.name for g in self.gaps if g.name not in hit),
            walks=t.walks,
            walk_steps=t.walk_steps,
        )


@contextlib.contextmanager
def _sole_error() -> Iterator[None]:
    """Raise the one exception a nursery wrapped (a ``ConformanceError``) as itself."""
    try:
        yield
    except BaseExceptionGroup as group:
        found: BaseException = group
        while isinstance(found, BaseExceptionGroup) and len(found.exceptions) == 1:
            found = found.exceptions[0]
        if found is group:
            raise
        raise found from None


_SAMPLES: Mapping[str, Any] = MappingProxyType(
    {"string": "1", "list": ["1"], "number": 1, "bool": True, "any": "1"}
)


def _sample(arg: ArgSpec) -> Any:
    """A value of ``arg``'s type the chart accepts (its first choice, if it has choices)."""
    if arg.choices:
        return arg.choices[0]
    return _SAMPLES.get(arg.type, "1")


def _walk_args(name: str, role: str, run: _Run) -> list[Mapping[str, Any]]:
    """Argument sets the random walk tries for a command (the chart picks which apply)."""
    other = run.logins[AGENT if role == SUPERVISOR else SUPERVISOR].name
    group = INBOUND_GROUP if role == AGENT else "support"
    table: dict[str, list[Mapping[str, Any]]] = {
        "check_in": [{"group_ids": [group]}],
        "pause": [{"reason": "lunch"}, {"agent_id": other, "reason": "coaching"}],
        "restore": [{}, {"agent_id": other}],
        "dial_out": [{"number": "5550100"}],
        "send_dtmf": [{"digits": "12#"}],
        "transfer": [{"target": "5550111"}, {"target": "1002"}],
        "consult": [{"target": "5550199"}],
        "listen": [{"agent_id": other}],
        "join_talk": [{"agent_id": other}],
        "disconnect_call": [{"agent_id": other}],
        "logout_agent": [{"agent_id": other}],
        "set_next_state": [
            {"next": "not_ready", "reason": "after-call"},
            {"next": "ready"},
            {"next": "logout"},
        ],
    }
    return table.get(name, [{}])


async def check_adapter(
    adapter: Adapter | str,
    simulator_factory: SimulatorFactory | None = None,
    *,
    login: Callable[[Account], Login] = default_login,
    gaps: Iterable[Gap] = (),
    scenarios: Iterable[Scenario] | None = None,
    walk_examples: int = 10,
    walk_steps: int = 20,
    walk_settings: Any = None,
    walk_seed: int | None = None,
    url: UrlOf = _simulator_url,
    chart: Chart | None = None,
    chart_states: Mapping[str, str] = DEFAULT_CHART_STATES,
    settle: float = 0.02,
    step_timeout: float = 5.0,
) -> ConformanceReport:
    """Run the conformance suite against ``adapter`` and its simulator (see the package).

    Args:
        adapter: the adapter (or its registered name).
        simulator_factory: ``f(switch) -> Simulator`` (default: ``adapter.simulator``).
        login: how the adapter logs each switch agent in (default: agent id, password).
        gaps: differences between agent and switch the adapter cannot avoid; each must
            be named, and the report says where each was needed.
        scenarios: the scripted scenarios (default: ``SCENARIOS``).
        walk_examples: hypothesis examples of the random walk (0: none).
        walk_steps: the most steps one walk takes.
        walk_settings: hypothesis settings for the walk, replacing the defaults
            (``max_examples=walk_examples``, no deadline, no database, no shrinking:
            add ``Phase.shrink`` to the phases for a shorter failing walk, slowly).
        walk_seed: the same walks on every run (reproducible coverage and failures);
            None: new walks each run.
        url: ``f(simulator, port) -> url`` when the simulator has no ``url`` property.
        chart: the chart the agents run (default: the adapter's).
        chart_states: the switch situation -> chart state table (``Switch.chart_state``).
        settle: seconds without a step after which an agent is taken to be quiet.
        step_timeout: seconds an agent may take to match the switch after a step.

    Returns:
        What was run, skipped and tolerated.

    Raises:
        ConformanceError: the first check that failed (an ``AssertionError``), naming the
            scenario, the step, the agent's state and the switch's truth.
        TypeError: the simulator has no ``url`` and no ``url`` function was given.
        KeyError: a gap names a state the chart does not have.
    """
    resolved = load_adapter(adapter) if isinstance(adapter, str) else adapter
    checker = _Checker(
        resolved,
        simulator_factory or resolved.simulator,
        login=login,
        gaps=tuple(gaps),
        url=url,
        chart=chart or resolved.chart,
        chart_states=chart_states,
        settle=settle,
        step_timeout=step_timeout,
    )
    for scenario in SCENARIOS if scenarios is None else scenarios:
        await checker.scenario(scenario)
    await checker.random_walks(walk_examples, walk_steps, walk_settings, walk_seed)
    return checker.report()


def check_adapter_sync(
    adapter: Adapter | str,
    simulator_factory: SimulatorFactory | None = None,
    **options: Any,
) -> ConformanceReport:
    """``check_adapter`` for code outside trio: runs it in ``trio.run``.

    Raises:
        ConformanceError: see ``check_adapter``.
    """
    run: Callable[[], Awaitable[ConformanceReport]] = functools.partial(
        check_adapter, adapter, simulator_factory, **options
    )
    return trio.run(run)
