"""State diagrams drawn from a chart: mermaid text, Graphviz dot, and svg/png through ``dot``.

Both texts are generated from the ``Chart`` itself rather than through transitions'
diagram extension, because the extension cannot draw what a chart says: it has no
history pseudo-state, labels edges with trigger names only (not the notifications a
transition emits), has no place for commands, and writes dotted state paths as mermaid
ids. The drawing follows UML state-machine notation:

- nested states are nested boxes (mermaid ``state X { ... }``, dot clusters), each with
  its initial marker (a dot and an arrow to the initial child);
- a state with history holds an ``H`` marker; an edge that resumes history points at it
  in dot, and at the state's box with a ``(history)`` line in mermaid, whose layout
  pulls a node entered from outside its box out of it;
- an edge is labelled ``signal / notification, ...`` (with the constants the transition
  sets, ``onConnect(result=success)``); edges between the same two states share a label;
- a transition that does not change state (``to`` omitted) is written inside its source
  state, as UML internal transitions are, and so are the commands the state allows
  (``▸ hold, transfer``; ``(supervisor)`` marks a right, ``pause(agent_id)`` the rule an
  argument selects). Mermaid cannot write text inside a box that has children: there the
  lines go in a note beside it.

``highlight`` fills the given state and outlines its ancestors, to draw a running agent
as it is: ``diagram(chart, highlight=machine.state)``.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from typing import Literal, overload

import attrs

from .chart import Chart, CommandRule, Emit

__all__ = ["FORMATS", "diagram", "dot_text", "mermaid_text"]

#: Every format ``diagram`` can produce.
FORMATS = ("mermaid", "dot", "svg", "png")

_COMMAND_MARK = "▸"
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
    """What both renderers draw, computed once from the chart."""

    chart: Chart
    #: per state: internal transitions then commands, as text lines
    inside: dict[str, list[str]]
    edges: tuple[_Edge, ...]
    highlight: str | None
    active: frozenset[str]


def _emit_text(emit: Emit) -> str:
    if not emit.constants:
        return emit.notification
    consts = ", ".join(f"{k}={v}" for k, v in emit.constants.items())
    return f"{emit.notification}({consts})"


def _transition_text(signal: str, emits: tuple[Emit, ...]) -> str:
    if not emits:
        return signal
    return f"{signal} / {', '.join(_emit_text(e) for e in emits)}"


def _command_text(name: str, arg: str | None, rule: CommandRule) -> str:
    text = name if arg is None else f"{name}({arg})"
    if rule.rights:
        text += f" ({', '.join(sorted(rule.rights))})"
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


def _drawing(chart: Chart, highlight: str | None) -> _Drawing:
    inside: dict[str, list[str]] = {path: [] for path in chart.states}
    grouped: dict[tuple[str, str, bool], list[str]] = {}
    for t in chart.transitions():
        text = _transition_text(t.signal, t.emits)
        if t.target is None:
            inside[t.source].append(text)
            continue
        history = chart.states[t.target].history
        grouped.setdefault((t.source, t.target, history), []).append(text)

    commands: dict[str, list[str]] = {path: [] for path in chart.states}
    for spec in chart.commands.values():
        rules: list[tuple[str | None, CommandRule]] = [(None, spec.rule)]
        rules += [(a.name, a.when_given) for a in spec.args if a.when_given is not None]
        for arg, rule in rules:
            for source in rule.allowed_from:
                commands[source].append(_command_text(spec.name, arg, rule))
    for path, names in commands.items():
        inside[path].extend(_wrap(names, f"{_COMMAND_MARK} "))

    active: frozenset[str] = frozenset()
    if highlight is not None:
        try:
            highlight = chart.resolve(highlight)
        except KeyError:
            raise ValueError(
                f"cannot highlight {highlight!r}: chart {chart.name!r} has no such state"
                f" (states: {', '.join(chart.states)})"
            ) from None
        active = frozenset(chart.ancestors(highlight)[1:])
    edges = tuple(_Edge(s, t, h, tuple(lines)) for (s, t, h), lines in grouped.items())
    return _Drawing(chart, inside, edges, highlight, active)


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


def mermaid_text(chart: Chart, highlight: str | None = None) -> str:
    """The chart as a mermaid ``stateDiagram-v2``.

    Raises:
        ValueError: ``highlight`` names no state of the chart.
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
        assert spec.initial is not None  # the loader requires it of every parent
        yield f"{inner}[*] --> {ids[spec.initial]}"
        if spec.history:
            hid = ids[path + "..history"]
            yield f'{inner}state "H" as {hid}'
            yield f"{inner}{hid} --> {ids[spec.initial]}"
        for child in spec.children:
            yield from state_block(child, inner)
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
    if d.highlight is not None:
        for path in sorted(d.active):
            out.append(f"  class {ids[path]} active")
        out.append(f"  class {ids[d.highlight]} current")
    return "\n".join(out) + "\n"


# --- Graphviz dot ------------------------------------------------------------------------------
def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _html_label(name: str, lines: list[str]) -> str:
    rows = [f'<TR><TD ALIGN="CENTER"><B>{html.escape(name)}</B></TD></TR>']
    rows += [f'<TR><TD ALIGN="LEFT">{html.escape(line)}</TD></TR>' for line in lines]
    return f'<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="1">{"".join(rows)}</TABLE>>'


def dot_text(chart: Chart, highlight: str | None = None) -> str:
    """The chart as a Graphviz ``digraph``, nested states as clusters.

    Raises:
        ValueError: ``highlight`` names no state of the chart.
    """
    d = _drawing(chart, highlight)
    states = chart.states

    # pseudo-node ids: ".." never occurs in a state path (names are non-empty, without dots)
    def initial_node(path: str) -> str:
        return _dot_quote(f"{path}..initial")

    def history_node(path: str) -> str:
        return _dot_quote(f"{path}..history")

    def cluster(path: str) -> str:
        return _dot_quote(f"cluster_{path}")

    out = [
        f"digraph {_dot_quote(chart.name)} {{",
        "  graph [compound=true, rankdir=TB, fontname=Helvetica, fontsize=12,"
        f" label={_dot_quote(chart.name)}, labelloc=t];",
        '  node [shape=box, style="rounded,filled", fillcolor=white, fontname=Helvetica,'
        " fontsize=10];",
        "  edge [fontname=Helvetica, fontsize=9];",
        '  "..start" [shape=point, width=0.15, label=""];',
        f'  "..start" -> {_dot_quote(chart.initial)};',
    ]

    def state_block(path: str, indent: str) -> Iterator[str]:
        spec = states[path]
        current = path == d.highlight
        if spec.is_leaf:
            style = ""
            if current:
                style = f', fillcolor="{_HIGHLIGHT_FILL}", color="{_HIGHLIGHT_LINE}", penwidth=2.5'
            label = _html_label(spec.name, d.inside[path])
            yield f"{indent}{_dot_quote(path)} [label={label}{style}];"
            return
        yield f"{indent}subgraph {cluster(path)} {{"
        inner = indent + "  "
        yield f"{inner}label={_html_label(spec.name, d.inside[path])};"
        yield f'{inner}labeljust=l; fontsize=10; style="rounded"; color="#555555";'
        if current:
            yield f'{inner}style="rounded,filled"; fillcolor="{_HIGHLIGHT_FILL}";'
        if current or path in d.active:
            yield f'{inner}color="{_HIGHLIGHT_LINE}"; penwidth=2;'
        assert spec.initial is not None  # the loader requires it of every parent
        yield f'{inner}{initial_node(path)} [shape=point, width=0.1, label=""];'
        yield f"{inner}{initial_node(path)} -> {_entry(spec.initial)};"
        if spec.history:
            yield (
                f'{inner}{history_node(path)} [shape=circle, label="H", width=0.3,'
                " fixedsize=true, fontsize=10];"
            )
            yield f"{inner}{history_node(path)} -> {_entry(spec.initial)} [style=dashed];"
        for child in spec.children:
            yield from state_block(child, inner)
        yield f"{indent}}}"

    def _entry(path: str) -> str:
        # an edge into a composite state ends at the box, drawn from its initial marker
        if states[path].is_leaf:
            return _dot_quote(path)
        return f"{initial_node(path)} [lhead={cluster(path)}]"

    for path, spec in states.items():
        if spec.parent is None:
            out.extend(state_block(path, "  "))

    for edge in d.edges:
        attrs_ = [f"label={_dot_quote(chr(10).join(edge.lines))}"]
        source_leaf = states[edge.source].is_leaf
        tail = _dot_quote(edge.source) if source_leaf else initial_node(edge.source)
        if not source_leaf and not chart.contains(edge.source, edge.target):
            attrs_.append(f"ltail={cluster(edge.source)}")
        if edge.history:
            head = history_node(edge.target)
        elif states[edge.target].is_leaf:
            head = _dot_quote(edge.target)
        else:
            head = initial_node(edge.target)
            if not chart.contains(edge.target, edge.source):
                attrs_.append(f"lhead={cluster(edge.target)}")
        out.append(f"  {tail} -> {head} [{', '.join(attrs_)}];")
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
def diagram(chart: Chart, format: Literal["png"], highlight: str | None = None) -> bytes: ...
@overload
def diagram(
    chart: Chart,
    format: Literal["mermaid", "dot", "svg"] = "mermaid",
    highlight: str | None = None,
) -> str: ...
@overload
def diagram(chart: Chart, format: str, highlight: str | None = None) -> str | bytes: ...


def diagram(chart: Chart, format: str = "mermaid", highlight: str | None = None) -> str | bytes:
    """Draw a chart: ``mermaid`` or ``dot`` text, ``svg`` text, or ``png`` bytes.

    Args:
        chart: the chart to draw.
        format: one of ``FORMATS``; ``svg`` and ``png`` run Graphviz's ``dot``.
        highlight: a state (full path or unambiguous suffix) to mark as the current one.

    Raises:
        ValueError: unknown format, or ``highlight`` names no state of the chart.
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
