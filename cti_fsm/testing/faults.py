"""The fault matrix: every conformance scenario with the link dropped at every step, in every
way, on the sans-IO session and the switch model, in virtual time.

``check_adapter`` (``cti_fsm.testing.conformance``) plays the scenarios over real sockets;
this module plays the same scenarios with no socket and no trio: each role's ``Session``
(the one the trio agent runs) talks to the adapter's simulator through its frame interface
(``_client_opened``, ``_client_sent``, each client's outbox), and the clock is a number the
harness moves when nothing else can happen. So thousands of runs take seconds, and a run
that fails is exact to reproduce.

For every scenario and every step of it, each fault in ``FAULTS``:

- ``between``: the step runs, then the link drops; the agent reconnects;
- ``request_lost``: the step's command is written into a link that dies: the switch never
  sees it; the command must raise ``Disconnected`` saying it had been sent, and after the
  resync the user (here, the harness) sends it again if the chart still allows it;
- ``response_lost``: the switch carries the step out (a command, or a stimulus) but what it
  answers is lost with the link; the command raises ``Disconnected`` (sent, outcome
  unknown) and the resync must report what changed;
- ``during_resync``: the link drops after the step, and again while the new session waits
  for its login's answer and resynchronisation;
- ``twice``: the link drops after the step, and again at once when the new link opens.

After each step (and each reconnect), when every link is quiet: each role's agent is in
the state the switch says (``Switch.chart_state``, or a declared ``Gap``), no command is
left pending, every command sent has settled (none hangs), no notification is doubled
(the same notification with the same payload twice in a row, links going down and up
aside), and a command whose answer was lost raised ``Disconnected`` marked as sent.

A new adapter runs the whole matrix with one call::

    report = check_fault_matrix("my-adapter", login=my_login, gaps=MY_GAPS)
    assert report.ok, report
"""

from __future__ import annotations

import itertools
import math
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import attrs

from ..adapter import Adapter, load_adapter
from ..chart import Chart
from ..errors import CommandFailed, CtiError, Disconnected, InvalidArguments
from ..events import Notification, Step
from ..machine import Machine
from ..session import LinkDead, LoginFailed, Session, Ticket
from ..switch import DEFAULT_CHART_STATES, Switch, SwitchError, demo_switch
from .conformance import (
    PHONE_ACTIONS,
    ROLE_IDS,
    SCENARIOS,
    STIMULI,
    Account,
    Command,
    Gap,
    LinkDrop,
    Login,
    Ref,
    Refused,
    Scenario,
    Stimulus,
    default_login,
)
from .conformance._scenario_language import gap_for

__all__ = [
    "FAULTS",
    "FaultCase",
    "FaultReport",
    "VirtualWorld",
    "check_fault_matrix",
    "fault_cases",
    "run_fault_case",
]

#: The ways a link drops, in the order the matrix tries them.
FAULTS = ("between", "request_lost", "response_lost", "during_resync", "twice")
#: Notifications a link's coming and going makes (not a doubling when repeated).
_LINK_NOTES = frozenset(("onDisconnect", "onConnect"))
#: Virtual seconds a run may wait for the session's next deadline before it counts as hung.
_PATIENCE = 120.0
#: Rounds of frame exchange before a run counts as looping.
_MAX_ROUNDS = 10_000


class _NoLink:
    """The simulator's client link in a virtual world: frames are taken from the outbox."""

    async def receive(self) -> None:  # pragma: no cover - never awaited
        return None

    async def send(self, frame: Any) -> None:  # pragma: no cover - never awaited
        return None

    async def close(self, *, dropped: bool) -> None:  # pragma: no cover - never awaited
        return None

    async def abort(self) -> None:  # pragma: no cover - never awaited
        return None


@attrs.define(eq=False)
class _Link:
    role: str
    session: Session
    client: Any
    #: frames from the session are lost (the request never reaches the switch)
    lose_up: bool = False
    #: frames from the simulator are lost (the answer never reaches the agent)
    lose_down: bool = False
    alive: bool = True
    #: the server ended it (a logoff): no reconnect
    closed_by_server: bool = False
    frames_in: int = 0


@attrs.define
class _Problem:
    kind: str  # mismatch, hung, doubled, pending, unmarked
    where: str
    detail: str

    def __str__(self) -> str:
        return f"{self.kind} at {self.where}: {self.detail}"


class VirtualWorld:
    """A switch, the adapter's simulator and one session per role, in virtual time.

    Args:
        adapter: the adapter under test.
        login: how the adapter logs each switch agent in.
        chart: the chart the agents run.
        chart_states: the switch situation -> chart state table.

    Attributes:
        switch: the switch model.
        simulator: the adapter's simulator (never serving: frames go through its methods).
        now: the virtual clock, in seconds.
        machines: each role's machine (it outlives the role's sessions).
        notes: each role's notifications, in order.
        settled: every user ticket settled, in order.
        recorded: None, or (once set to a dict) every frame the simulator sent, by role.
    """

    def __init__(
        self,
        adapter: Adapter,
        *,
        login: Callable[[Account], Login] = default_login,
        chart: Chart | None = None,
        chart_states: Mapping[str, str] = DEFAULT_CHART_STATES,
    ) -> None:
        self.adapter = adapter
        self.chart = chart or adapter.chart
        self.chart_states = chart_states
        self.switch: Switch = demo_switch()
        # a SimulatorServer: its frame interface is what a virtual world drives
        simulator: Any = adapter.simulator(self.switch)
        self.simulator = simulator
        self.switch.subscribe(simulator._on_switch_events)
        self.now = 0.0
        self.logins: dict[str, Login] = {}
        self.machines: dict[str, Machine] = {}
        self.notes: dict[str, list[Notification]] = {}
        self.stats: dict[str, Counter[str]] = {}
        self._requests: dict[str, Iterable[int]] = {}
        self._resume: dict[str, str | None] = {}
        self._beside: dict[str, tuple[str, ...]] = {}
        self.links: dict[str, _Link] = {}
        self.settled: list[Ticket] = []
        self.login_errors: list[CtiError] = []
        #: set to a dict to keep every frame the simulator sent each role, in order
        self.recorded: dict[str, list[Any]] | None = None
        #: per role dropped and not checked since: (its notifications then, its state then)
        self.marks: dict[str, tuple[int, str | None]] = {}
        for role, agent in ROLE_IDS.items():
            info = self.switch.agent_info(agent)
            self.logins[role] = login(Account(agent, info.device, f"pw{agent}"))
            rights = frozenset(self.switch.rights(agent))
            self.machines[role] = Machine(self.chart, rights=rights)
            self.notes[role] = []
            self.stats[role] = Counter()
            self._requests[role] = itertools.count(1)
            self._resume[role] = None
            self._beside[role] = ()

    # --- links ------------------------------------------------------------------------------
    def connect(self, role: str) -> _Link:
        """Open a new link for ``role`` and start its session (its login)."""
        login = self.logins[role]
        protocol = self.adapter.protocol(user=login.user, options=login.options)
        session = Session(
            self.machines[role],
            protocol,
            user=login.user,
            password=login.password,
            url="virtual://",
            vendor=self.adapter.name,
            resume_from=self._resume[role],
            resume_beside=self._beside[role],
            stats=self.stats[role],
            requests=self._requests[role],
        )
        sim = self.simulator
        client = sim._new_client(next(sim._client_ids), _NoLink(), None)
        sim._clients[client.id] = client
        link = self.links[role] = _Link(role, session, client)
        sim._client_opened(client)
        session.start(self.now)
        return link

    def drop(self, role: str, reason: str = "link dropped (fault)") -> None:
        """Cut ``role``'s link: the simulator forgets the client, the session is lost."""
        link = self.links.get(role)
        if link is None or not link.alive:
            return
        link.alive = False
        sim = self.simulator
        client = link.client
        client.closed = True
        client.outbox.clear()
        sim._log_out(client)
        sim._clients.pop(client.id, None)
        link.session.connection_lost(reason)
        self._take_events(link)
        self._resume[role] = link.session.resume_from
        self._beside[role] = link.session.resume_beside
        # what the user saw before the drop, and where its notifications stood: the resync
        # must report a change (dropped again before that: the first drop's view stays)
        self.marks.setdefault(role, (len(self.notes[role]), link.session.resume_from))

    def reconnect(self, role: str) -> _Link:
        """Drop ``role``'s link if it is up, then open a new one."""
        self.drop(role)
        return self.connect(role)

    # --- moving frames ----------------------------------------------------------------------
    def _take_events(self, link: _Link) -> None:
        for event in link.session.events():
            if isinstance(event, Step):
                self.notes[link.role].extend(event.notifications)
            elif isinstance(event, Ticket):
                self.settled.append(event)
            elif isinstance(event, LoginFailed):
                self.login_errors.append(event.error)
            elif isinstance(event, LinkDead):
                self.drop(link.role, event.reason)

    def round(self) -> bool:
        """Move every frame waiting either way once; True if any moved."""
        moved = False
        sim = self.simulator
        for link in list(self.links.values()):
            if not link.alive:
                continue
            session, client = link.session, link.client
            up = session.data_to_send()
            if up:
                moved = True
                if not link.lose_up:
                    for frame in up:
                        if not sim._client_sent(client, frame):
                            # a logoff: what answers it goes out, then the server closes
                            link.closed_by_server = True
                            break
            if client.outbox:
                moved = True
                down = [o.frame for o in client.outbox]
                client.outbox.clear()
                if self.recorded is not None:
                    self.recorded.setdefault(link.role, []).extend(down)
                if not link.lose_down:
                    for frame in down:
                        link.frames_in += 1
                        session.receive_data(frame, self.now)
            self._take_events(link)
            if link.closed_by_server or (client.closed and link.alive):
                # the server ended it (a logoff, or a client it dropped as not reading)
                self.drop(link.role, "closed by the server")
        return moved

    def pump(self, *, until: Callable[[], bool] | None = None) -> None:
        """Exchange frames until every link is quiet (or ``until`` holds)."""
        for _ in range(_MAX_ROUNDS):
            if until is not None and until():
                return
            if not self.round():
                return
        raise RuntimeError("frames kept moving: a loop between the session and the simulator")

    def _waiting(self) -> list[_Link]:
        return [
            link
            for link in self.links.values()
            if link.alive and (link.session.pending_commands() or not link.session.ready)
        ]

    def settle(self) -> None:
        """Pump; while a command or a login waits, move the clock to the next deadline."""
        self.pump()
        for _ in range(_MAX_ROUNDS):
            waiting = self._waiting()
            if not waiting:
                return
            wake = min(link.session.wake_at for link in waiting)
            if math.isinf(wake) or wake > self.now + _PATIENCE:
                return  # nothing will ever answer: the caller sees it as hung
            self.now = max(self.now, wake)
            for link in list(self.links.values()):
                if link.alive:
                    link.session.tick(self.now)
                    self._take_events(link)
            self.pump()

    # --- the world's truth ------------------------------------------------------------------
    def truth(self, role: str) -> str:
        """The chart state the switch says ``role``'s agent is in."""
        return self.switch.chart_state(ROLE_IDS[role], self.chart_states)

    def resolve(self, args: Mapping[str, Any]) -> dict[str, Any]:
        """``args`` with each ``Ref`` replaced by the named role's login name."""
        return {k: self.logins[v.role].name if isinstance(v, Ref) else v for k, v in args.items()}


# --- the matrix ------------------------------------------------------------------------------
@attrs.frozen
class FaultCase:
    """One run of the matrix: a scenario, the step after (or during) which the link drops,
    and how (one of ``FAULTS``; ``None`` for the run with no fault)."""

    scenario: str
    step: int
    fault: str | None

    def __str__(self) -> str:
        if self.fault is None:
            return f"{self.scenario!r} with no fault"
        return f"{self.scenario!r}, step {self.step + 1}, {self.fault}"


@attrs.define
class FaultReport:
    """What a matrix run found.

    Attributes:
        adapter: the adapter's name.
        cases: how many runs.
        steps: how many steps were checked, over all runs.
        drops: how many links were dropped.
        unknown_outcomes: commands that raised ``Disconnected`` marked as sent.
        problems: every problem, by case (``kind at step: detail``).
        seconds: wall time of the run.
    """

    adapter: str
    cases: int = 0
    steps: int = 0
    drops: int = 0
    unknown_outcomes: int = 0
    problems: list[tuple[FaultCase, _Problem]] = attrs.field(factory=list)
    seconds: float = 0.0

    def count(self, kind: str) -> int:
        """How many problems of ``kind`` (mismatch, hung, doubled, pending, unmarked,
        unreported)."""
        return sum(1 for _, p in self.problems if p.kind == kind)

    @property
    def ok(self) -> bool:
        """True if no run found a problem."""
        return not self.problems

    def __str__(self) -> str:
        head = (
            f"fault matrix for {self.adapter!r}: {self.cases} runs, {self.steps} steps,"
            f" {self.drops} drops, {self.unknown_outcomes} unknown outcomes, in"
            f" {self.seconds:.1f}s: mismatches={self.count('mismatch')}"
            f" hung={self.count('hung')} doubled={self.count('doubled')}"
            f" pending={self.count('pending')} unmarked={self.count('unmarked')}"
            f" unreported={self.count('unreported')}"
        )
        shown = [f"  {case}: {problem}" for case, problem in self.problems[:20]]
        more = len(self.problems) - len(shown)
        return "\n".join([head, *shown, *([f"  ... and {more} more"] if more > 0 else [])])


def fault_cases(
    scenarios: Iterable[Scenario] = SCENARIOS, faults: Sequence[str] = FAULTS
) -> list[FaultCase]:
    """Every (scenario, step, fault) the matrix runs, plus each scenario with no fault.

    Raises:
        ValueError: a fault not in ``FAULTS``.
    """
    unknown = sorted(set(faults) - set(FAULTS))
    if unknown:
        raise ValueError(f"unknown fault(s) {unknown}; known: {', '.join(FAULTS)}")
    out = []
    for scenario in scenarios:
        out.append(FaultCase(scenario.name, -1, None))
        for index, step in enumerate(scenario.steps):
            for fault in faults:
                if fault == "request_lost" and not isinstance(step, Command):
                    continue  # only a command sends a request
                if fault == "response_lost" and not isinstance(step, Command | Stimulus):
                    continue
                out.append(FaultCase(scenario.name, index, fault))
    return out


class _Runner:
    def __init__(
        self,
        adapter: Adapter,
        case: FaultCase,
        *,
        login: Callable[[Account], Login],
        gaps: Sequence[Gap],
        chart: Chart | None,
        chart_states: Mapping[str, str],
    ) -> None:
        self.world = VirtualWorld(adapter, login=login, chart=chart, chart_states=chart_states)
        self.chart = self.world.chart
        self.case = case
        self.gaps = gaps
        self.problems: list[_Problem] = []
        self.steps = 0
        self.drops = 0
        self.unknown = 0
        #: notifications already checked for doubling, per role
        self._seen = {role: 0 for role in ROLE_IDS}

    # --- checks ----------------------------------------------------------------------------
    def problem(self, kind: str, where: str, detail: str) -> None:
        self.problems.append(_Problem(kind, where, detail))

    def _gap(self, role: str, state: str, truth: str) -> bool:
        return gap_for(self.chart, self.gaps, role, state, truth) is not None

    def check(self, where: str) -> None:
        w = self.world
        w.settle()
        self.steps += 1
        for role, machine in w.machines.items():
            link = w.links.get(role)
            truth = w.truth(role)
            if link is not None and link.alive and not link.session.ready:
                self.problem("hung", where, f"{role}'s login or resync never completed")
            elif machine.state != truth and not self._gap(role, machine.state, truth):
                self.problem(
                    "mismatch", where, f"{role} is in {machine.state}, the switch says {truth}"
                )
            if link is not None and link.alive and link.session.pending_commands():
                self.problem(
                    "pending", where, f"{role}: still pending {link.session.pending_commands()}"
                )
            self._check_doubled(role, where)
            self._check_reported(role, where)

    def _check_reported(self, role: str, where: str) -> None:
        """A state that changed while the link was down is reported by the resync's
        notifications, not reached by a silent jump."""
        w = self.world
        link = w.links.get(role)
        mark = w.marks.get(role)
        if mark is None or link is None or not link.alive or not link.session.ready:
            return
        del w.marks[role]
        index, before = mark
        after = w.machines[role].state
        if before is None or after == before:
            return
        told = [n.name for n in w.notes[role][index:] if n.name not in _LINK_NOTES]
        if not told:
            self.problem(
                "unreported", where, f"{role} went from {before} to {after} with no notification"
            )

    def _check_doubled(self, role: str, where: str) -> None:
        notes = [n for n in self.world.notes[role] if n.name not in _LINK_NOTES]
        start = max(self._seen[role] - 1, 0)
        for before, after in itertools.pairwise(notes[start:]):
            if before == after:
                self.problem("doubled", where, f"{role}: {after.name} {dict(after.payload)}")
        self._seen[role] = len(notes)

    def settled_ticket(self, ticket: Ticket, where: str) -> None:
        if not ticket.done:
            self.problem("hung", where, f"{ticket.command} never settled")

    # --- steps -----------------------------------------------------------------------------
    def run(self, scenario: Scenario) -> None:
        w = self.world
        for role in ROLE_IDS:
            w.connect(role)
        self.check("after login")
        for index, spec in enumerate(scenario.steps):
            where = f"step {index + 1} ({spec})"
            fault = self.case.fault if index == self.case.step else None
            if not self.step(spec, where, fault):
                return
            if self.problems:
                return  # the first problem is the one to read; the rest follow from it

    def step(self, spec: Any, where: str, fault: str | None) -> bool:
        w = self.world
        role = getattr(spec, "role", None) or "agent"
        if fault in ("request_lost", "response_lost") and self._local(spec):
            # a command done in the library sends nothing to lose: the link just drops
            fault = "between"
        if fault in ("request_lost", "response_lost"):
            link = w.links[role]
            if fault == "request_lost":
                link.lose_up = True
            else:
                link.lose_down = True
        go_on = self._do(spec, where, lost=fault in ("request_lost", "response_lost"))
        if fault is None:
            if go_on:
                self.check(where)
            return go_on
        # the fault: the link drops now (a command cut in flight has dropped it already)
        # and, for some, again
        if w.links[role].alive:
            self.drops += 1
            w.drop(role)
        self._reconnect(role, where, fault)
        self.check(f"{where}, after the {fault} drop")
        if fault == "request_lost" and isinstance(spec, Command) and go_on:
            self._retry(spec, where)
        return go_on

    def _local(self, spec: Any) -> bool:
        """True for a command the chart or the vendor map does locally (nothing is sent)."""
        if not isinstance(spec, Command):
            return False
        command = self.world.chart.commands.get(spec.name)
        vendor_map = getattr(self.world.adapter, "vendor_map", None)
        return (command is not None and command.local) or spec.name in getattr(
            vendor_map, "local", ()
        )

    def _reconnect(self, role: str, where: str, fault: str) -> None:
        w = self.world
        link = w.connect(role)
        if fault == "twice":
            self.drops += 1
            w.drop(role)
            w.connect(role)
        elif fault == "during_resync":
            # drop once the login was answered and the session asks for its snapshot
            w.pump(until=lambda: link.frames_in > 0 and link.session.wants_to_send)
            if link.alive and not link.session.ready:
                self.drops += 1
                w.drop(role)
                w.connect(role)

    def _retry(self, spec: Command, where: str) -> None:
        """The user, told the outcome is unknown and shown the resync, sends it again
        if the chart still allows it (the switch never saw the first one)."""
        w = self.world
        args = w.resolve(spec.args)
        if spec.name in w.adapter.unsupported:
            return
        try:
            w.machines[spec.role].check(spec.name, **args)
        except CtiError:
            return
        self._send(spec, args, f"{where}, sent again", lost=False)
        self.check(f"{where}, sent again")

    def _do(self, spec: Any, where: str, *, lost: bool) -> bool:
        w = self.world
        if isinstance(spec, Stimulus):
            try:
                STIMULI[spec.name](w.switch, ROLE_IDS[spec.role])
            except SwitchError as exc:
                self.problem("mismatch", where, f"the switch cannot do {spec.name}: {exc}")
                return False
            w.pump()
            return True
        if isinstance(spec, LinkDrop):
            self.drops += 1
            w.reconnect(spec.role)
            return True
        if isinstance(spec, Refused):
            link = w.links[spec.role]
            try:
                link.session.send_command(spec.name, w.resolve(spec.args), w.now)
            except spec.error:
                pass
            except CtiError as exc:
                self.problem("mismatch", where, f"refused with {exc!r}, not {spec.error}")
            else:
                self.problem("mismatch", where, f"{spec.name} was not refused")
            if link.session.wants_to_send:
                self.problem("mismatch", where, f"refused {spec.name} sent something")
                link.session.data_to_send()
            return True
        assert isinstance(spec, Command)
        args = w.resolve(spec.args)
        if spec.name in self.world.adapter.unsupported:
            phone = PHONE_ACTIONS.get(spec.name)
            if phone is not None and spec.outcome == "ok":
                try:
                    phone(w.switch, ROLE_IDS[spec.role], args)
                except SwitchError as exc:
                    self.problem("mismatch", where, f"the phone cannot {spec.name}: {exc}")
                    return False
                w.pump()
                return True
            confirm = self.chart.commands[spec.name].rule_for(args).confirm
            shadow = Machine(self.chart, state=w.machines[spec.role].state)
            return spec.outcome == "fail" or confirm is None or not shadow.apply(confirm).changed
        return self._send(spec, args, where, lost=lost)

    def _send(self, spec: Command, args: Mapping[str, Any], where: str, *, lost: bool) -> bool:
        w = self.world
        link = w.links[spec.role]
        try:
            ticket = link.session.send_command(spec.name, args, w.now)
        except InvalidArguments:
            return spec.outcome != "ok"
        except CtiError as exc:
            if spec.outcome == "ok":
                self.problem("mismatch", where, f"{spec.name} refused: {exc!r}")
                return False
            return True
        w.pump()
        if lost:
            # the link dies with the command in flight: the caller sees it at the drop
            self.drops += 1
            w.drop(spec.role)
            self.settled_ticket(ticket, where)
            error = ticket.error
            if not ticket.done or ticket.step is not None or error is None:
                return True  # answered before the drop (a command settled on sending)
            if not isinstance(error, Disconnected):
                self.problem("mismatch", where, f"{spec.name} raised {error!r} at the drop")
            elif not error.sent:
                self.problem("unmarked", where, f"{spec.name}: {error} does not say it was sent")
            else:
                self.unknown += 1
            return True
        w.settle()
        self.settled_ticket(ticket, where)
        if ticket.done and ticket.error is not None:
            if not isinstance(ticket.error, CommandFailed) or spec.outcome == "ok":
                self.problem("mismatch", where, f"{spec.name} failed: {ticket.error!r}")
                return False
        elif ticket.done and spec.outcome == "fail":
            self.problem("mismatch", where, f"{spec.name} should have failed")
            return False
        return True


def run_fault_case(
    adapter: Adapter | str,
    case: FaultCase,
    *,
    login: Callable[[Account], Login] = default_login,
    gaps: Iterable[Gap] = (),
    scenarios: Iterable[Scenario] = SCENARIOS,
    chart: Chart | None = None,
    chart_states: Mapping[str, str] = DEFAULT_CHART_STATES,
) -> list[str]:
    """Run one case of the matrix; the problems found, as lines (empty: it passed).

    Raises:
        KeyError: no scenario of that name.
    """
    report = _run(adapter, [case], login, tuple(gaps), scenarios, chart, chart_states)
    return [str(p) for _, p in report.problems]


def check_fault_matrix(
    adapter: Adapter | str,
    *,
    login: Callable[[Account], Login] = default_login,
    gaps: Iterable[Gap] = (),
    scenarios: Iterable[Scenario] = SCENARIOS,
    faults: Sequence[str] = FAULTS,
    chart: Chart | None = None,
    chart_states: Mapping[str, str] = DEFAULT_CHART_STATES,
) -> FaultReport:
    """Run the whole fault matrix (``fault_cases``) against ``adapter`` in virtual time.

    Returns:
        The report; ``report.ok`` when no case found a problem.

    Raises:
        ValueError: a fault not in ``FAULTS``.
        AdapterNotFound: ``adapter`` names no registered adapter.
    """
    scenarios = tuple(scenarios)
    cases = fault_cases(scenarios, faults)
    return _run(adapter, cases, login, tuple(gaps), scenarios, chart, chart_states)


def _run(
    adapter: Adapter | str,
    cases: Sequence[FaultCase],
    login: Callable[[Account], Login],
    gaps: Sequence[Gap],
    scenarios: Iterable[Scenario],
    chart: Chart | None,
    chart_states: Mapping[str, str],
) -> FaultReport:
    resolved = load_adapter(adapter) if isinstance(adapter, str) else adapter
    by_name = {s.name: s for s in scenarios}
    report = FaultReport(resolved.name)
    started = time.perf_counter()
    for case in cases:
        runner = _Runner(
            resolved, case, login=login, gaps=gaps, chart=chart, chart_states=chart_states
        )
        runner.run(by_name[case.scenario])
        report.cases += 1
        report.steps += runner.steps
        report.drops += runner.drops
        report.unknown_outcomes += runner.unknown
        report.problems.extend((case, p) for p in runner.problems)
    report.seconds = time.perf_counter() - started
    return report
