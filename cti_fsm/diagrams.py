"""State diagrams drawn from a chart: mermaid text, Graphviz dot, and svg/png through ``dot``.

Both texts are generated from the ``Chart`` itself rather than through transitions'
diagram extension, because the extension cannot draw what a chart says: it has no
history pseudo-state, labels edges with trigger names only (not the notifications a
transition emits), has no place for commands, guards or timers, and writes dotted state
paths as mermaid ids. The drawing follows UML state-machine notation:

- nested states are nested boxes (mermaid ``state X { ... }``, dot clusters), each with
  its initial marker (a dot and an arrow to the initial child);
- a parallel region is a box of its own inside its state, split off from the state's
  main children by a dashed line (mermaid's ``--`` separator; in dot a dashed box below
  them);
- a state with history holds an ``H`` marker; an edge that resumes history points at it
  in dot, and at the state's box with a ``(history)`` line in mermaid, whose layout
  pulls a node entered from outside its box out of it;
- an edge is labelled ``trigger [guard] / effects``: the trigger is the signal, or
  ``after 30 s`` / ``after setting wrap_up_seconds`` for a delayed transition; the guard
  is ``in wrap_up``, ``not in talking, held``, ``wrap_up_seconds ≠ 0``, ``next = ready``
  (several joined by ``and``), or ``else`` for an unguarded transition that a guarded one
  for the same signal and state comes before; the effects are the notifications (with
  the constants they set, ``onConnect(result=success)``), the values kept (``keep
  next_reason=field reason``) and the commands the chart sends (``send
  pause(reason=kept next_reason) [in wrap_up]``). Edges between the same two states
  share a label; in dot, edges with the same label into the same state meet at a
  junction (a small dot) and go on as one;
- a transition that does not change state (``to`` omitted) is written inside its source
  state, as UML internal transitions are, and so is one from a state into its own
  substate (``next_state_set [next = ready] / onNextState → ready_next``), a timer that
  delivers a signal (``after setting ring_timeout_seconds: signal ring_timeout``) and
  the commands the state allows (``▸ hold, transfer``; ``(supervisor)`` marks a right,
  ``(local)`` a command that only moves the chart, ``pause(agent_id)`` the rule an
  argument selects). Mermaid cannot write text inside a box that has children: there the
  lines go in a note beside it; dot writes them as a header across the box.

``highlight`` fills the given states and outlines their ancestors, to draw a running
agent as it is: ``diagram(chart, highlight=machine.states)``.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Literal, overload

import attrs

from .chart import (
    Chart,
    CommandRule,
    CommandSpec,
    Emit,
    Guard,
    SendSpec,
    TransitionSpec,
    ValueRef,
)

__all__ = ["FORMATS", "diagram", "dot_text", "mermaid_text"]

#: What ``highlight`` takes: a state, several states (``machine.states``), or None.
Highlight = str | Iterable[str] | None

#: Every format ``diagram`` can produce.
FORMATS = ("mermaid", "dot", "svg", "png")

_COMMAND_MARK = "▸"
_TO_MARK = "→"
_HISTORY_LINE = "(history)"
# mermaid's lexer is case-insensitive for its keywords; an id must not be one of them
_MERMAID_KEYWORDS = frozenset(
    {"state", "end", "note", "direction", "class", "classdef", "style", "click", "as", "left"}
    | {"right", "of", "hide", "scale", "acctitle", "accdescr", "default", "stateDiagram"}
)
_HIGHLIGHT_FILL = "#ffe082"
_HIGHLIGHT_LINE = "#e65100"


@attrs.frozen
class _Edge:
    source: str
    target: str
    history: bool
    lines: tuple[str, ...]


@attrs.frozen
class _Drawing:
    """What every renderer draws, computed once from the chart."""

    chart: Chart
    #: per state: internal transitions, timers, then commands, as text lines
    inside: dict[str, list[str]]
    edges: tuple[_Edge, ...]
    #: the states marked current, and the states above them
    current: frozenset[str]
    active: frozenset[str]


def _short_names(chart: Chart) -> dict[str, str]:
    """Each state's name, or its full path where another state has the same name."""
    count: dict[str, int] = {}
    for spec in chart.states.values():
        count[spec.name] = count.get(spec.name, 0) + 1
    return {p: s.name if count[s.name] == 1 else p for p, s in chart.states.items()}


def _constant_text(value: Any) -> str:
    # YAML spellings, which is how the chart's author wrote them
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    return str(value)


def _value_text(ref: ValueRef) -> str:
    """A computed value as the diagrams write it: ``30``, ``setting wrap_up_seconds``,
    ``field reason``, ``kept next_reason``; fallbacks joined by ``or``."""
    return " or ".join(
        _constant_text(name) if kind == "value" else f"{kind} {name}" for kind, name in ref.sources
    )


def _seconds_text(ref: ValueRef) -> str:
    """A timer's seconds: ``30 s``, ``setting wrap_up_seconds``, ``field t or 10 s``."""
    return " or ".join(
        f"{_constant_text(name)} s" if kind == "value" else f"{kind} {name}"
        for kind, name in ref.sources
    )


def _guard_text(guard: Guard, names: Mapping[str, str]) -> str:
    """One guard as the diagrams write it: ``in wrap_up``, ``wrap_up_seconds ≠ 0``,
    ``next ∈ {ready, logout}``, ``not in talking, held``."""
    if guard.kind == "in":
        states = ", ".join(names.get(v, v) for v in guard.values)
        return f"{'not in' if guard.negate else 'in'} {states}"
    values = [_constant_text(v) for v in guard.values]
    if len(values) == 1:
        return f"{guard.name} {'≠' if guard.negate else '='} {values[0]}"
    return f"{guard.name} {'∉' if guard.negate else '∈'} {{{', '.join(values)}}}"


def _guards_text(guards: tuple[Guard, ...], names: Mapping[str, str]) -> str:
    return " and ".join(_guard_text(g, names) for g in guards)


def _emit_text(emit: Emit) -> str:
    if not emit.constants:
        return emit.notification
    consts = ", ".join(f"{k}={_constant_text(v)}" for k, v in emit.constants.items())
    return f"{emit.notification}({consts})"


def _send_text(send: SendSpec, names: Mapping[str, str]) -> str:
    text = f"send {send.command}"
    if send.args:
        text += f"({', '.join(f'{k}={_value_text(v)}' for k, v in send.args.items())})"
    if send.when:
        text += f" [{_guards_text(send.when, names)}]"
    return text


def _transition_text(
    chart: Chart, names: Mapping[str, str], t: TransitionSpec, otherwise: bool = False
) -> str:
    """A transition's label: ``trigger [guards] / effects``.

    The trigger is the signal, or ``after N s`` for a delayed transition; ``otherwise``
    writes ``[else]`` for an unguarded transition that an earlier, guarded one for the
    same signal and state comes before. Effects are the notifications, then the values
    kept (``keep next_reason=field reason``), then the commands the chart sends
    (``send pause(reason=kept next_reason) [in wrap_up]``).
    """
    timer = chart.timers.get(t.timer) if t.timer is not None else None
    trigger = t.signal if timer is None else f"after {_seconds_text(timer.seconds)}"
    if t.guards:
        trigger += f" [{_guards_text(t.guards, names)}]"
    elif otherwise:
        trigger += " [else]"
    effects = [_emit_text(e) for e in t.emits]
    effects += [f"keep {k}={_value_text(v)}" for k, v in t.keeps.items()]
    effects += [_send_text(s, names) for s in t.sends]
    return f"{trigger} / {', '.join(effects)}" if effects else trigger


def _command_text(spec: CommandSpec, arg: str | None, rule: CommandRule) -> str:
    text = spec.name if arg is None else f"{spec.name}({arg})"
    marks = sorted(rule.rights) + (["local"] if spec.local else [])
    if marks:
        text += f" ({', '.join(marks)})"
    return text


def _wrap(words: list[str], prefix: str, width: int = 64) -> list[str]:
    """``words`` comma-separated on lines of about ``width`` characters, each after ``prefix``."""
    lines: list[str] = []
    for word in words:
        if lines and len(lines[-1]) + len(word) + 2 <= width:
            lines[-1] += f", {word}"
        else:
            lines.append(prefix + word)
    return lines


def _labels(chart: Chart, names: Mapping[str, str]) -> Iterator[tuple[TransitionSpec, str]]:
    """Every transition with its label, ``[else]`` where an earlier guarded one comes first."""
    for signal in chart.signals.values():
        guarded: set[str] = set()
        for t in signal.transitions:
            yield t, _transition_text(chart, names, t, otherwise=t.source in guarded)
            if t.guards:
                guarded.add(t.source)


def _drawing(chart: Chart, highlight: Highlight) -> _Drawing:
    names = _short_names(chart)
    inside: dict[str, list[str]] = {path: [] for path in chart.states}
    grouped: dict[tuple[str, str, bool], list[str]] = {}
    for t, text in _labels(chart, names):
        if t.target is None:
            inside[t.source].append(text)
        elif t.target != t.source and chart.contains(t.source, t.target):
            # a local transition into the state's own descendant (``from: next, to:
            # ready_next``): written inside it, as no edge can start at a box and end in it
            inside[t.source].append(f"{text} {_TO_MARK} {names[t.target]}")
        else:
            history = chart.states[t.target].history
            grouped.setdefault((t.source, t.target, history), []).append(text)
    for timer in chart.timers.values():
        if timer.signal != timer.id:  # a timer that delivers a signal of the chart
            inside[timer.state].append(
                f"after {_seconds_text(timer.seconds)}: signal {timer.signal}"
            )

    commands: dict[str, list[str]] = {path: [] for path in chart.states}
    for spec in chart.commands.values():
        rules: list[tuple[str | None, CommandRule]] = [(None, spec.rule)]
        rules += [(a.name, a.when_given) for a in spec.args if a.when_given is not None]
        for arg, rule in rules:
            for source in rule.allowed_from:
                commands[source].append(_command_text(spec, arg, rule))
    for path, words in commands.items():
        inside[path].extend(_wrap(words, f"{_COMMAND_MARK} "))

    wanted = [highlight] if isinstance(highlight, str) else list(highlight or ())
    current: set[str] = set()
    for ref in wanted:
        try:
            current.add(chart.resolve(ref))
        except KeyError:
            raise ValueError(
                f"cannot highlight {ref!r}: chart {chart.name!r} has no such state"
                f" (states: {', '.join(chart.states)})"
            ) from None
    active = {a for path in current for a in chart.ancestors(path)[1:]} - current
    edges = tuple(_Edge(s, t, h, tuple(lines)) for (s, t, h), lines in grouped.items())
    return _Drawing(chart, inside, edges, frozenset(current), frozenset(active))


# --- mermaid -----------------------------------------------------------------------------------
def _mermaid_ids(chart: Chart) -> dict[str, str]:
    """Letters-and-digits ids (``checked_in.available`` -> ``sCheckedInAvailable``).

    Dots and underscores in mermaid state ids break its parser or its nesting, so ids
    are camel case with a prefix that keeps them clear of mermaid's keywords; labels
    keep the chart's own names.
    """
    ids: dict[str, str] = {}
    taken: set[str] = set()
    for number, path in enumerate(chart.states):
        words = re.findall(r"[A-Za-z0-9]+", path)
        base = "s" + "".join(w[:1].upper() + w[1:] for w in words) if words else f"s{number}"
        candidate = base
        while candidate.lower() in taken or candidate.lower() in _MERMAID_KEYWORDS:
            candidate = f"{base}{number}"
            number += 1
        taken.add(candidate.lower())
        ids[path] = candidate
    for path, spec in chart.states.items():
        if spec.history:
            candidate = ids[path] + "History"
            while candidate.lower() in taken:
                candidate += "H"
            taken.add(candidate.lower())
            ids[path + "..history"] = candidate
    return ids


# Measured in mermaid 12 (tests/mermaid): ';', '#', ':' and quotes pass through labels as
# they are, but '<' and '>' are read as HTML, '&' is shown escaped, '"' ends a state's
# label, and mermaid's '#name;' entities are not decoded in state diagrams: so those
# few characters are swapped for look-alikes.
MERMAID_LOOKALIKES = str.maketrans({"<": "\u2039", ">": "\u203a", "&": "\uff06", '"': "\u201d"})


def _mermaid_escape(text: str) -> str:
    return text.translate(MERMAID_LOOKALIKES)


def mermaid_text(chart: Chart, highlight: Highlight = None) -> str:
    """The chart as a mermaid ``stateDiagram-v2``.

    Raises:
        ValueError: ``highlight`` names a state the chart does not have.
    """
    d = _drawing(chart, highlight)
    ids = _mermaid_ids(chart)
    out = [
        "---",
        f"title: {json.dumps(chart.name, ensure_ascii=False)}",  # front matter is YAML
        "---",
        "stateDiagram-v2",
        f"  classDef current fill:{_HIGHLIGHT_FILL},stroke:{_HIGHLIGHT_LINE},stroke-width:3px",
        f"  classDef active stroke:{_HIGHLIGHT_LINE},stroke-width:2px",
        "  classDef history font-weight:bold",
    ]

    def state_block(path: str, indent: str) -> Iterator[str]:
        spec = chart.states[path]
        sid = ids[path]
        yield f'{indent}state "{_mermaid_escape(spec.name)}" as {sid}'
        if spec.is_leaf:
            for line in d.inside[path]:
                yield f"{indent}{sid} : {_mermaid_escape(line)}"
            return
        yield f"{indent}state {sid} {{"
        inner = indent + "  "
        if spec.initial is not None:  # the loader requires it of a state with children
            yield f"{inner}[*] --> {ids[spec.initial]}"
        if spec.history and spec.initial is not None:
            hid = ids[path + "..history"]
            yield f'{inner}state "H" as {hid}'
            yield f"{inner}{hid} --> {ids[spec.initial]}"
        for child in spec.children:
            yield from state_block(child, inner)
        # each parallel region is a box of its own in a part of the state split off by
        # mermaid's concurrency separator (a dashed line)
        for number, region in enumerate(spec.regions):
            if number or spec.children:
                yield f"{inner}--"
            yield from state_block(region, inner)
        yield f"{indent}}}"
        if d.inside[path]:
            yield f"{indent}note right of {sid}"
            for line in d.inside[path]:
                yield f"{indent}  {_mermaid_escape(line)}"
            yield f"{indent}end note"

    out.append(f"  [*] --> {ids[chart.initial]}")
    for path, spec in chart.states.items():
        if spec.parent is None:
            out.extend(state_block(path, "  "))
    for edge in d.edges:
        lines = [_mermaid_escape(x) for x in edge.lines]
        if edge.history:
            lines.append(_HISTORY_LINE)
        out.append(f"  {ids[edge.source]} --> {ids[edge.target]} : {'<br/>'.join(lines)}")
    for path, spec in chart.states.items():
        if spec.history:
            out.append(f"  class {ids[path + '..history']} history")
    for path in sorted(d.active):
        out.append(f"  class {ids[path]} active")
    for path in sorted(d.current):
        out.append(f"  class {ids[path]} current")
    return "\n".join(out) + "\n"


# --- Graphviz dot ------------------------------------------------------------------------------
# Measured on the default chart (specs/agent.yaml), png at dot's 96 dpi: with lines of
# about these many characters (longer ones wrapped at spaces, continuations indented) and
# a composite state's own lines in columns of about this many rows, it fits a screen's
# width (about 1600 px) at a readable size.
_NODE_WIDTH = 46
_EDGE_WIDTH = 34
_HEADER_ROWS = 8
_INDENT = "\u00a0" * 4  # no-break spaces: Graphviz keeps them at the start of a line
# words that read wrong at the end of a line: they stay with the word after them
_GLUED = frozenset({"send", "keep", "after", "in", "[in", "not", "[not", "or", "field", "setting"})
_GLUED |= {"kept", "→", "=", "≠", "∈", "∉"}
# and these stay with the word before them
_JOINED = frozenset({"/", "=", "≠", "∈", "∉"})
_START = '"..start"'
# a back edge longer than this many ranks gets a line from its label to it
_LONG_EDGE = 4


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _wrap_line(line: str, width: int) -> list[str]:
    """``line`` cut at spaces into pieces of about ``width`` characters at most; every
    piece after the first starts with ``_INDENT``."""
    words: list[str] = []
    for word in line.split(" "):
        last = words[-1].rpartition(" ")[2] if words else ""
        # a line breaks after a '/' (never before), never inside a command's parentheses
        # nor before its marks: (local), (supervisor)
        inside = words[-1].count("(") > words[-1].count(")") if words else False
        if words and (last in _GLUED or word in _JOINED or word.startswith("(") or inside):
            words[-1] += " " + word
        else:
            words.append(word)
    pieces: list[str] = []
    current = ""
    for word in words:
        if current and len(current) + 1 + len(word) > width:
            pieces.append(current)
            current = _INDENT + word
        else:
            current = f"{current} {word}" if current else word
    pieces.append(current)
    return pieces


def _html_label(name: str | None, lines: list[str], width: int = _NODE_WIDTH) -> str:
    """A leaf state's label (its name over its lines) or an edge's (``name`` None)."""
    rows = [] if name is None else [f'<TR><TD ALIGN="CENTER"><B>{html.escape(name)}</B></TD></TR>']
    rows += [
        f'<TR><TD ALIGN="LEFT">{html.escape(piece)}</TD></TR>'
        for line in lines
        for piece in _wrap_line(line, width)
    ]
    return f'<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0">{"".join(rows)}</TABLE>>'


def _header_label(name: str, lines: list[str]) -> str:
    """A composite state's label: its name over its own lines set in columns of about
    ``_HEADER_ROWS`` rows (a line and its continuations stay in one column): a short,
    wide header across the box, not a tall column that leaves a blank band beside it."""
    groups = [_wrap_line(line, _NODE_WIDTH) for line in lines]
    total = sum(len(g) for g in groups)
    count = max(1, -(-total // _HEADER_ROWS))
    per_column = -(-total // count)
    columns: list[list[str]] = [[]]
    for group in groups:
        if columns[-1] and len(columns[-1]) + len(group) > per_column and len(columns) < count:
            columns.append([])
        columns[-1].extend(group)
    span = 2 * len(columns) - 1  # the columns and the gutters between them
    head = f'<TR><TD ALIGN="LEFT" COLSPAN="{span}"><B>{html.escape(name)}</B></TD></TR>'
    if not lines:
        return f'<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0">{head}</TABLE>>'
    # a grid, row by row, so the rows line up across the columns
    grid = "".join(
        "<TR>"
        + '<TD WIDTH="14"></TD>'.join(  # a gutter between the columns
            f'<TD ALIGN="LEFT">{html.escape(column[row]) if row < len(column) else ""}</TD>'
            for column in columns
        )
        + "</TR>"
        for row in range(max(len(column) for column in columns))
    )
    return f'<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0">{head}{grid}</TABLE>>'


@attrs.define
class _DotEdge:
    tail: str
    head: str
    attrs: list[str]
    #: False for an edge to a state declared earlier than where it starts
    forward: bool = True
    #: an edge back up the drawing: laid out as the edge down from its target, its arrow
    #: drawn at the target, so its label sits between the two ranks it joins
    reversed: bool = False
    #: a long edge, among others running side by side: a line ties its label to it
    decorate: bool = False

    def text(self) -> str:
        tail, head, attrs_ = self.tail, self.head, list(self.attrs)
        if self.reversed:
            swap = {"ltail": "lhead", "lhead": "ltail"}
            tail, head = head, tail
            attrs_ = [f"{swap.get(k, k)}={v}" for k, _, v in (a.partition("=") for a in attrs_)]
            attrs_.append("dir=back")
        if self.decorate and any(a.startswith("label=") for a in attrs_):
            attrs_.append("decorate=true")
        return f"  {tail} -> {head}" + (f" [{', '.join(attrs_)}];" if attrs_ else ";")


def _reaches(graph: Mapping[str, set[str]], start: str, goal: str) -> bool:
    seen = {start}
    todo = [start]
    while todo:
        here = todo.pop()
        if here == goal:
            return True
        for there in graph.get(here, ()):
            if there not in seen:
                seen.add(there)
                todo.append(there)
    return False


def _depths(graph: Mapping[str, set[str]]) -> dict[str, int]:
    """Each node's longest distance from a node nothing leads to (``graph`` is acyclic)."""
    incoming: dict[str, int] = {}
    for here, theres in graph.items():
        incoming.setdefault(here, 0)
        for there in theres:
            incoming[there] = incoming.get(there, 0) + 1
    ready = [n for n, count in incoming.items() if count == 0]
    depth = dict.fromkeys(ready, 0)
    while ready:
        here = ready.pop()
        for there in graph.get(here, ()):
            depth[there] = max(depth.get(there, 0), depth[here] + 1)
            incoming[there] -= 1
            if incoming[there] == 0:
                ready.append(there)
    return depth


class _DotLayout:
    """What ``dot_text`` writes: node ids, edges, and which edges shape the ranks.

    Graphviz ranks a digraph along its edges and breaks cycles where it first finds
    them, which on a state chart (where many states lead back to a few, as every call
    ends where it began) puts the states they return to at the bottom. Here the ranks
    follow the order states are declared in, which is how a chart tells its story: an
    edge to a state declared earlier is laid out reversed (drawn as the edge down from
    its target, arrow at the target) wherever keeping it would close a cycle, and its
    label then sits between the two ranks it joins rather than far out to the side.
    """

    def __init__(self, chart: Chart, d: _Drawing) -> None:
        self.chart = chart
        self.d = d
        self.states = chart.states
        #: the state whose box holds each node (None: outside every state)
        self.home: dict[str, str | None] = {_START: None}
        for path in self.states:
            for make in (self.node, self.initial, self.history):
                self.home[make(path)] = path
        self.edges: list[_DotEdge] = []
        self.junctions: dict[str | None, list[str]] = {}
        self._structure()
        self._transitions()
        self._boxes_start_below_their_entries()
        self._orient()
        self._stack_regions()
        self._decorate_long_back_edges()

    # pseudo-node ids: ".." never occurs in a state path (names are non-empty, no dots)
    @staticmethod
    def node(path: str) -> str:
        return _dot_quote(path)

    @staticmethod
    def initial(path: str) -> str:
        return _dot_quote(f"{path}..initial")

    @staticmethod
    def history(path: str) -> str:
        return _dot_quote(f"{path}..history")

    @staticmethod
    def cluster(path: str) -> str:
        return _dot_quote(f"cluster_{path}")

    def top(self, path: str) -> str:
        """The node at the top of a state's box."""
        return self.node(path) if self.states[path].is_leaf else self.initial(path)

    def entry(self, path: str, source: str | None = None) -> tuple[str, list[str]]:
        """Where an edge into ``path`` ends: a composite state's box (its initial marker,
        when the edge comes from within)."""
        if self.states[path].is_leaf:
            return self.node(path), []
        if source is not None and self.chart.contains(path, source):
            return self.initial(path), []
        return self.initial(path), [f"lhead={self.cluster(path)}"]

    def exit(self, source: str, target: str) -> tuple[str, list[str]]:
        """Where an edge from ``source`` starts: a composite state's box."""
        if self.states[source].is_leaf:
            return self.node(source), []
        if self.chart.contains(source, target):
            return self.initial(source), []
        return self.initial(source), [f"ltail={self.cluster(source)}"]

    def inside(self, dot_node: str, path: str) -> bool:
        held = self.home[dot_node]
        return held is not None and self.chart.contains(path, held)

    def owner(self, paths: list[str]) -> str | None:
        """The innermost composite state holding all of ``paths``, if any."""
        common = set(self.chart.ancestors(paths[0])[1:])
        for path in paths[1:]:
            common &= set(self.chart.ancestors(path)[1:])
        return max(common, key=len) if common else None

    def leaves_below(self, path: str) -> Iterator[str]:
        spec = self.states[path]
        if spec.is_leaf:
            yield path
        for child in (*spec.children, *spec.regions):
            yield from self.leaves_below(child)

    def _structure(self) -> None:
        start, start_attrs = self.entry(self.chart.initial)
        self.edges.append(_DotEdge(_START, start, start_attrs))
        # a transition into a state's own substate is written inside the state, not
        # drawn; a substate no edge leads to is still ranked below the state's top
        entered = {e.target for e in self.d.edges}
        for t in self.chart.transitions():
            target = t.target
            if target is None or target == t.source or target in entered:
                continue
            if self.chart.contains(t.source, target):
                self.edges.append(
                    _DotEdge(self.initial(t.source), self.top(target), ["style=invis"])
                )
        for path, spec in self.states.items():
            if spec.initial is None:
                continue
            head, head_attrs = self.entry(spec.initial)
            self.edges.append(_DotEdge(self.initial(path), head, head_attrs))
            if spec.history:
                self.edges.append(_DotEdge(self.history(path), head, ["style=dashed", *head_attrs]))

    def _transitions(self) -> None:
        order = {path: number for number, path in enumerate(self.states)}
        # edges with the same label into the same state: one junction, one label
        shared: dict[tuple[str, bool, tuple[str, ...]], list[_Edge]] = {}
        for edge in self.d.edges:
            shared.setdefault((edge.target, edge.history, edge.lines), []).append(edge)
        for number, group in enumerate(shared.values()):
            label = f"label={_html_label(None, list(group[0].lines), _EDGE_WIDTH)}"
            target = group[0].target
            sources = [e.source for e in group]
            forward = order[target] > min(order[s] for s in sources)
            head_attrs: list[str] = []
            if group[0].history:
                head = self.history(target)
            else:
                head, head_attrs = self.entry(target, sources[0])
            if len(group) == 1:
                tail, tail_attrs = self.exit(sources[0], target)
                attrs_ = [label, *tail_attrs, *head_attrs]
                self.edges.append(_DotEdge(tail, head, attrs_, forward))
                continue
            junction = _dot_quote(f"..junction.{number}")
            # inside the innermost state that holds every end, so the layout keeps it there
            self.home[junction] = self.owner([*sources, target])
            self.junctions.setdefault(self.home[junction], []).append(
                f'{junction} [shape=point, width=0.07, fillcolor=black, label=""];'
            )
            for source in sources:
                tail, tail_attrs = self.exit(source, target)
                self.edges.append(_DotEdge(tail, junction, ["arrowhead=none", *tail_attrs]))
            self.edges.append(_DotEdge(junction, head, [label, *head_attrs], forward))

    def _boxes_start_below_their_entries(self) -> None:
        # a composite state's box starts below the states that lead into it (else its
        # initial marker, which nothing leads to, would sit at the very top)
        added: set[tuple[str, str]] = set()
        for e in list(self.edges):
            if not e.forward:
                continue
            for path, spec in self.states.items():
                if spec.is_leaf or not self.inside(e.head, path) or self.inside(e.tail, path):
                    continue
                if (e.tail, path) not in added:
                    added.add((e.tail, path))
                    self.edges.append(_DotEdge(e.tail, self.top(path), ["style=invis"]))

    def _orient(self) -> None:
        # what can follow what: the forward edges, and from inside a composite state the
        # edges drawn from its box (its transitions apply in every state below it)
        self.graph: dict[str, set[str]] = {}
        reach: dict[str, set[str]] = {}
        for e in self.edges:
            if e.forward:
                self.graph.setdefault(e.tail, set()).add(e.head)
                reach.setdefault(e.tail, set()).add(e.head)
        for path, spec in self.states.items():
            inner = [self.node(path)] if spec.is_leaf else [self.initial(path)]
            if spec.history:
                inner.append(self.history(path))
            for ancestor in self.chart.ancestors(path)[1:]:
                for n in inner:
                    reach.setdefault(n, set()).add(self.initial(ancestor))
        for e in self.edges:
            if e.forward or e.tail == e.head:
                continue
            if _reaches(reach, e.head, e.tail):
                e.reversed = True
                tail, head = e.head, e.tail
            else:
                tail, head = e.tail, e.head
            self.graph.setdefault(tail, set()).add(head)
            reach.setdefault(tail, set()).add(head)

    def _stack_regions(self) -> None:
        # parallel regions below the main region, as UML stacks them: the region's box
        # starts below the main region's deepest state (one invisible edge: each edge is
        # routed, and one from every state would cost a column all the way down)
        depth = _depths(self.graph)
        for spec in self.states.values():
            above = [leaf for child in spec.children for leaf in self.leaves_below(child)]
            for region in spec.regions:
                below = self.top(region)
                if above:
                    deepest = self.node(max(above, key=lambda p: depth.get(self.node(p), 0)))
                    if not _reaches(self.graph, below, deepest):
                        self.edges.append(_DotEdge(deepest, below, ["style=invis"]))
                        self.graph.setdefault(deepest, set()).add(below)
                above = list(self.leaves_below(region))

    def _decorate_long_back_edges(self) -> None:
        # back edges to a state far up the drawing run side by side, their labels
        # between them: a line ties each label to its own edge (not on short edges,
        # where the line would cross the label's text)
        depth = _depths(self.graph)
        for e in self.edges:
            if e.reversed:
                span = depth.get(e.tail, 0) - depth.get(e.head, 0)
                e.decorate = span > _LONG_EDGE

    def state_block(self, path: str, indent: str) -> Iterator[str]:
        """The state's node, or its cluster with everything inside it."""
        d = self.d
        spec = self.states[path]
        current = path in d.current
        if spec.is_leaf:
            style = ""
            if current:
                style = f', fillcolor="{_HIGHLIGHT_FILL}", color="{_HIGHLIGHT_LINE}", penwidth=2.5'
            label = _html_label(spec.name, d.inside[path])
            yield f"{indent}{self.node(path)} [label={label}{style}];"
            return
        yield f"{indent}subgraph {self.cluster(path)} {{"
        inner = indent + "  "
        yield f"{inner}label={_header_label(spec.name, d.inside[path])};"
        # a parallel region is a dashed box inside its state (UML draws a dashed line)
        line = "dashed" if spec.is_region else "solid"
        yield f'{inner}labeljust=l; fontsize=10; style="rounded,{line}"; color="#555555";'
        if current:
            yield f'{inner}style="rounded,filled,{line}"; fillcolor="{_HIGHLIGHT_FILL}";'
        if current or path in d.active:
            yield f'{inner}color="{_HIGHLIGHT_LINE}"; penwidth=2;'
        # UML's initial pseudo-state, a filled dot; a state with regions only has none,
        # but edges to and from its box still need the node
        shown = "fillcolor=black" if spec.initial is not None else "style=invis"
        yield f'{inner}{self.initial(path)} [shape=point, width=0.1, {shown}, label=""];'
        if spec.history:
            yield (
                f'{inner}{self.history(path)} [shape=circle, label="H", width=0.3,'
                " fixedsize=true, fontsize=10];"
            )
        for child in (*spec.children, *spec.regions):
            yield from self.state_block(child, inner)
        for junction in self.junctions.get(path, []):
            yield inner + junction
        yield f"{indent}}}"


def dot_text(chart: Chart, highlight: Highlight = None) -> str:
    """The chart as a Graphviz ``digraph``, nested states as clusters.

    A composite state's own lines (internal transitions, timers, commands) are a header
    across its box. A parallel region is a dashed box inside its state, below its main
    children. Edges that carry the same label into the same state from several states
    meet at a junction (a small dot, UML's junction pseudo-state) and go on as one
    labelled edge, so a label such as ``hung_up / onIdle`` is written once.

    Raises:
        ValueError: ``highlight`` names a state the chart does not have.
    """
    layout = _DotLayout(chart, _drawing(chart, highlight))
    out = [
        f"digraph {_dot_quote(chart.name)} {{",
        "  graph [compound=true, rankdir=TB, newrank=true, fontname=Helvetica, fontsize=12,"
        f" label={_dot_quote(chart.name)}, labelloc=t, nodesep=0.25, ranksep=0.35];",
        '  node [shape=box, style="rounded,filled", fillcolor=white, fontname=Helvetica,'
        ' fontsize=10, margin="0.08,0.03"];',
        '  edge [fontname=Helvetica, fontsize=9, color="#444444"];',
        f'  {_START} [shape=point, width=0.15, fillcolor=black, label=""];',
    ]
    for path, spec in chart.states.items():
        if spec.parent is None:
            out.extend(layout.state_block(path, "  "))
    out.extend(f"  {line}" for line in layout.junctions.get(None, []))
    out.extend(e.text() for e in layout.edges)
    out.append("}")
    return "\n".join(out) + "\n"


def _graphviz(dot: str, fmt: str) -> bytes:
    exe = shutil.which("dot")
    if exe is None:
        raise RuntimeError(
            f"drawing {fmt} needs Graphviz's 'dot' program, which is not on PATH"
            " (Debian: apt-get install graphviz); format='mermaid' and 'dot' need nothing"
        )
    done = subprocess.run(
        [exe, f"-T{fmt}"], input=dot.encode(), capture_output=True, check=False, timeout=60
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"Graphviz 'dot -T{fmt}' failed ({done.returncode}):"
            f" {done.stderr.decode(errors='replace').strip()}"
        )
    return done.stdout


@overload
def diagram(chart: Chart, format: Literal["png"], highlight: Highlight = None) -> bytes: ...
@overload
def diagram(
    chart: Chart,
    format: Literal["mermaid", "dot", "svg"] = "mermaid",
    highlight: Highlight = None,
) -> str: ...
@overload
def diagram(chart: Chart, format: str, highlight: Highlight = None) -> str | bytes: ...


def diagram(chart: Chart, format: str = "mermaid", highlight: Highlight = None) -> str | bytes:
    """Draw a chart: ``mermaid`` or ``dot`` text, ``svg`` text, or ``png`` bytes.

    Args:
        chart: the chart to draw.
        format: one of ``FORMATS``; ``svg`` and ``png`` run Graphviz's ``dot``.
        highlight: a state (full path or unambiguous suffix) to mark as current, or
            several: a machine's ``states``, one per active region.

    Raises:
        ValueError: unknown format, or ``highlight`` names a state the chart does not have.
        RuntimeError: ``svg``/``png`` and Graphviz's ``dot`` is missing or failed.
    """
    if format not in FORMATS:
        raise ValueError(f"unknown diagram format {format!r}; choose one of {', '.join(FORMATS)}")
    if format == "mermaid":
        return mermaid_text(chart, highlight)
    dot = dot_text(chart, highlight)
    if format == "dot":
        return dot
    drawn = _graphviz(dot, format)
    return drawn.decode() if format == "svg" else drawn
