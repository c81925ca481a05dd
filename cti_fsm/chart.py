"""The chart as immutable values: what ``load_chart`` returns and ``Machine`` compiles.

A ``Chart`` is plain data with every state reference already resolved to a full dotted
path, so nothing downstream (engine, diagrams, reference machine, testing strategies)
has to know how names were written in the YAML file.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any

import attrs

__all__ = [
    "ArgSpec",
    "Chart",
    "CommandRule",
    "CommandSpec",
    "Emit",
    "Guard",
    "NotificationSpec",
    "Position",
    "SendSpec",
    "SignalSpec",
    "StateSpec",
    "TimerSpec",
    "TransitionSpec",
    "ValueRef",
]

#: How a command behaves when another command is still waiting for its answer.
PENDING_MODES = ("queue", "reject", "parallel")
#: The argument types a chart may declare, with the Python types they accept.
ARG_TYPES: Mapping[str, tuple[type, ...]] = MappingProxyType(
    {
        "string": (str,),
        "list": (list, tuple, str),
        "number": (int, float),
        "bool": (bool,),
        "any": (object,),
    }
)


def _frozen_map(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return value if isinstance(value, MappingProxyType) else MappingProxyType(dict(value))


@attrs.frozen
class Position:
    """Where a node was written: ``file:line:col``, 1-based."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@attrs.frozen
class ValueRef:
    """A value a chart computes from a step: a constant, a payload field, a kept value or a
    setting, with fallbacks tried in order until one is not None.

    Written in YAML as a plain scalar (a constant), ``{field: name}``, ``{kept: name}``,
    ``{setting: name}``, or a list of those (the first that is not None wins).

    Attributes:
        sources: ``(kind, name_or_value)`` pairs, kind one of ``value``, ``field``,
            ``kept`` and ``setting``, in the order they are tried.
    """

    sources: tuple[tuple[str, Any], ...]

    def resolve(
        self,
        payload: Mapping[str, Any],
        kept: Mapping[str, Any] | None,
        settings: Mapping[str, Any],
    ) -> Any:
        """The first source that gives a value (None if none does)."""
        for kind, name in self.sources:
            if kind == "value":
                value = name
            elif kind == "field":
                value = payload.get(name)
            elif kind == "kept":
                value = kept.get(name) if kept else None
            else:
                value = settings.get(name)
            if value is not None:
                return value
        return None

    @property
    def constant(self) -> bool:
        """True if the value never depends on the step (settings are fixed per chart)."""
        return all(kind in ("value", "setting") for kind, _ in self.sources)


@attrs.frozen
class Guard:
    """One condition of a transition's ``when``.

    Attributes:
        kind: ``in`` (some state is active; ``values`` holds full state paths),
            ``field`` (a payload field) or ``setting`` (a chart setting).
        name: the field or setting's name (empty for ``in``).
        values: the values (or states) that pass.
        negate: True for ``not`` / ``not_in``: the guard passes when none of them holds.
    """

    kind: str
    name: str
    values: tuple[Any, ...]
    negate: bool = False
    position: Position | None = attrs.field(default=None, eq=False)

    def passes_value(self, value: Any) -> bool:
        """Whether a field or setting value passes (``is`` / ``not``)."""
        return (value in self.values) != self.negate

    def passes_states(self, active: frozenset[str]) -> bool:
        """Whether an ``in`` guard passes with these states active."""
        return any(v in active for v in self.values) != self.negate

    def __str__(self) -> str:
        values = ", ".join(str(v) for v in self.values)
        if self.kind == "in":
            return f"{'not in' if self.negate else 'in'} {values}"
        return f"{self.name} {'not' if self.negate else 'is'} {values}"


@attrs.frozen
class SendSpec:
    """A command the chart sends when a transition is taken (``send:``).

    It goes through the same check and encode path as a command from business code, in
    the state the transition reached; a refusal is reported by the command's ``fail``
    signal.

    Attributes:
        command: the chart command's name.
        args: its arguments, each computed from the step.
        when: guards checked in the state reached; all must pass for it to be sent.
    """

    command: str
    args: Mapping[str, ValueRef] = attrs.field(factory=dict, converter=_frozen_map)
    when: tuple[Guard, ...] = ()
    position: Position | None = attrs.field(default=None, eq=False)


@attrs.frozen
class TimerSpec:
    """A delayed transition: taken after ``seconds`` in ``state`` (``after:``).

    The machine stays clockless: entering the state lists the timer as started in the
    step, leaving it lists it as cancelled; whoever drives the machine arms it and, when
    it is due, applies the timer's ``signal`` (its name is the timer's id unless the chart
    names a signal of its own, so a vendor's report and the timer can share transitions).

    Attributes:
        id: unique, ``"<state path>.after.<index>"``.
        state: the state it belongs to.
        seconds: how long; a value of None, 0 or less means the timer is not armed.
        signal: the signal applied when it fires.
    """

    id: str
    state: str
    seconds: ValueRef
    signal: str
    position: Position | None = attrs.field(default=None, eq=False)


@attrs.frozen
class StateSpec:
    """One state of the chart.

    Attributes:
        path: full dotted path, e.g. ``"checked_in.available.idle"``; unique.
        name: the last component of the path.
        parent: the parent's path, or None for a top-level state.
        children: the children's paths, in declaration order (the state's main region).
        initial: the path of the child entered by default (None for a leaf).
        history: True if entering this state resumes the child that was last active.
        regions: the paths of the state's parallel regions, in declaration order: each
            is a state of its own (``is_region``) that is active exactly when this state
            is, side by side with the main children.
        is_region: True for a parallel region of its parent.
        timers: the state's delayed transitions.
    """

    path: str
    parent: str | None
    children: tuple[str, ...] = ()
    initial: str | None = None
    history: bool = False
    description: str = ""
    position: Position | None = attrs.field(default=None, eq=False)
    regions: tuple[str, ...] = ()
    is_region: bool = False
    timers: tuple[TimerSpec, ...] = ()

    @property
    def name(self) -> str:
        return self.path.rpartition(".")[2]

    @property
    def is_leaf(self) -> bool:
        return not self.children and not self.regions


# its hash is cached: every command looks its rule up in tables keyed by it
@attrs.frozen(cache_hash=True)
class CommandRule:
    """When a command may be sent and how it is answered.

    Attributes:
        allowed_from: the states (full paths, any level) the command may be sent from.
        rights: the rights the sender needs.
        confirm: the signal that confirms it (None: done as soon as it is sent).
        fail: the signal that reports its failure, if any.
        timeout: seconds to wait for ``confirm`` or ``fail``.
    """

    allowed_from: tuple[str, ...]
    rights: frozenset[str]
    confirm: str | None
    fail: str | None
    timeout: float


@attrs.frozen
class ArgSpec:
    """One argument of a command.

    Attributes:
        type: one of ``string``, ``list``, ``number``, ``bool``, ``any``.
        required: whether it must be given (not None).
        secret: never shown in logs, reprs or errors (passwords, tokens).
        when_given: the rule that replaces the command's own when this argument is given
            (``pause(agent_id=...)`` acts on another agent, so other states and rights apply).
        choices: the values it may take (empty: any value of its type).
    """

    name: str
    type: str = "string"
    required: bool = True
    secret: bool = False
    when_given: CommandRule | None = None
    description: str = ""
    choices: tuple[Any, ...] = ()


@attrs.frozen
class CommandSpec:
    """A command business code can send (a method of the agent).

    Attributes:
        rule: when it may be sent and how it is answered.
        args: its arguments, in declaration order.
        pending: what happens if it is sent while another command awaits its answer:
            ``queue`` (wait for it), ``reject`` (raise) or ``parallel`` (send at once).
    """

    name: str
    rule: CommandRule
    args: tuple[ArgSpec, ...] = ()
    pending: str = "queue"
    description: str = ""
    position: Position | None = attrs.field(default=None, eq=False)
    #: a local command moves the chart and sends nothing: its confirm signal is applied
    #: at once, with the command's arguments as its payload
    local: bool = False

    def rule_for(self, args: Mapping[str, Any]) -> CommandRule:
        """The rule that applies to these arguments (an argument's ``when_given`` wins)."""
        for arg in self.args:
            if arg.when_given is not None and args.get(arg.name) is not None:
                return arg.when_given
        return self.rule

    @property
    def rules(self) -> tuple[CommandRule, ...]:
        """The command's own rule followed by every argument's ``when_given`` rule."""
        return (self.rule, *(a.when_given for a in self.args if a.when_given))


@attrs.frozen
class Emit:
    """A notification a transition emits, with constant payload fields (``result: fail``)."""

    notification: str
    constants: Mapping[str, Any] = attrs.field(factory=dict, converter=_frozen_map)


@attrs.frozen
class TransitionSpec:
    """What a signal does in one state.

    Attributes:
        source: the state it is declared on; it applies to every state below it too,
            unless a state below declares its own transition for the same signal.
        target: the state entered, or None for an internal transition (state unchanged).
        emits: the notifications it emits, in order.
        guards: all must pass for the transition to be taken (``when:``); a transition
            whose guards fail lets the next one for the signal be tried, in document
            order, then the enclosing state's.
        sends: chart commands sent once it is taken.
        keeps: values remembered under a name (``keep:``), for later sends (``kept``).
        timer: the timer's id, for a delayed transition.
    """

    signal: str
    source: str
    target: str | None
    emits: tuple[Emit, ...] = ()
    position: Position | None = attrs.field(default=None, eq=False)
    guards: tuple[Guard, ...] = ()
    sends: tuple[SendSpec, ...] = ()
    keeps: Mapping[str, ValueRef] = attrs.field(factory=dict, converter=_frozen_map)
    timer: str | None = None


@attrs.frozen
class SignalSpec:
    """A vendor-neutral input, with the payload fields it carries and its transitions."""

    name: str
    payload: tuple[str, ...] = ()
    transitions: tuple[TransitionSpec, ...] = ()
    description: str = ""
    position: Position | None = attrs.field(default=None, eq=False)


@attrs.frozen
class NotificationSpec:
    """An event business code listens to, by the seed's name, with its payload fields."""

    name: str
    fields: tuple[str, ...] = ()
    description: str = ""
    position: Position | None = attrs.field(default=None, eq=False)


@attrs.frozen(eq=False)
class Chart:
    """A loaded, validated chart. Immutable; compile it once with ``Machine(chart)``.

    Attributes:
        name: the chart's name.
        initial: full path of the top-level state a new machine starts in.
        states: every state by full path, parents before children.
        commands, signals, notifications: by name, in declaration order.
        rights: the rights commands may require.
        source: the file it was loaded from.
    """

    name: str
    initial: str
    states: Mapping[str, StateSpec] = attrs.field(converter=_frozen_map)
    commands: Mapping[str, CommandSpec] = attrs.field(converter=_frozen_map)
    signals: Mapping[str, SignalSpec] = attrs.field(converter=_frozen_map)
    notifications: Mapping[str, NotificationSpec] = attrs.field(converter=_frozen_map)
    rights: frozenset[str] = frozenset()
    version: int = 1
    description: str = ""
    source: str = "<chart>"
    #: the names the agent itself uses for the session's life: ``connect`` (the login
    #: command), ``disconnect`` (the logout command), ``link_lost`` (the signal applied
    #: when the transport drops); absent roles take those names. ``rights``, if named, is
    #: the query whose answer's ``rights`` field lists what the server lets the agent do
    session: Mapping[str, str] = attrs.field(factory=dict, converter=_frozen_map)
    #: named constants the chart's guards, timers and sends read (``settings:``)
    settings: Mapping[str, Any] = attrs.field(factory=dict, converter=_frozen_map)
    #: the charts this one extends, nearest first (``extends:``), by chart name
    extends: tuple[str, ...] = ()
    #: every delayed transition's timer, by id
    timers: Mapping[str, TimerSpec] = attrs.field(factory=dict, converter=_frozen_map)
    #: the engine's compiled tables, set once by ``machine.compile_chart``; kept here so
    #: they live exactly as long as the chart (a cache keyed by the chart would keep it
    #: alive forever, since the tables refer back to the chart)
    _compiled: Any = attrs.field(default=None, init=False, repr=False)

    def leaves(self) -> tuple[str, ...]:
        """Full paths of the leaf states a machine's ``state`` can be, in declaration order.

        These are the leaves of the main regions: a leaf inside a parallel region is
        active beside one of them (``all_leaves`` lists those too).
        """
        return tuple(p for p, s in self.states.items() if s.is_leaf and not self.in_region(p))

    def all_leaves(self) -> tuple[str, ...]:
        """Full paths of every leaf state, parallel regions' included."""
        return tuple(p for p, s in self.states.items() if s.is_leaf)

    def in_region(self, path: str) -> bool:
        """True if ``path`` is a parallel region or lies inside one."""
        return any(self.states[p].is_region for p in self.ancestors(path))

    def is_a(self, name: str) -> bool:
        """True if this chart is ``name`` or extends it (so a vendor map for it fits)."""
        return name == self.name or name in self.extends

    @property
    def has_regions(self) -> bool:
        """True if some state has parallel regions."""
        return any(s.regions for s in self.states.values())

    def ancestors(self, path: str) -> tuple[str, ...]:
        """``path`` and every state above it, innermost first."""
        out = []
        current: str | None = path
        while current is not None:
            out.append(current)
            current = self.states[current].parent
        return tuple(out)

    def contains(self, outer: str, inner: str) -> bool:
        """True if ``inner`` is ``outer`` or lies below it."""
        return inner == outer or inner.startswith(outer + ".")

    def default_leaf(self, path: str) -> str:
        """The leaf entered by default when ``path`` is entered (following ``initial``)."""
        state = self.states[path]
        while state.initial is not None:
            state = self.states[state.initial]
        return state.path

    def transitions(self) -> Iterator[TransitionSpec]:
        """Every declared transition, signal by signal."""
        for signal in self.signals.values():
            yield from signal.transitions

    def resolve(self, ref: str) -> str:
        """The full path of a state written as a full path or an unambiguous suffix.

        Raises:
            KeyError: no state, or more than one, matches ``ref``.
        """
        if ref in self.states:
            return ref
        found = [p for p in self.states if p.endswith("." + ref)]
        if len(found) != 1:
            raise KeyError(ref)
        return found[0]
