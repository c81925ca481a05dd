"""Diagrams: every state, transition and command of the chart is drawn, in every format.

Guards, delayed transitions, timers, chart-sent commands and local commands are written
where UML writes them; parallel regions are drawn as regions of their state.
"""

from __future__ import annotations

import html
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from cti_fsm import Chart, Machine, TransitionSpec, default_chart, load_chart, load_chart_text
from cti_fsm.chart import Guard, ValueRef
from cti_fsm.cli import main
from cti_fsm.cli.diagram import END, START, markdown_block
from cti_fsm.diagrams import MERMAID_LOOKALIKES, diagram, dot_text, mermaid_text

ROOT = Path(__file__).resolve().parents[2]
CHART = default_chart()

AWKWARD = load_chart_text(
    """
chart: awkward
initial: end
states:
  end: {}
  note:
    initial: state_1
    history: shallow
    states:
      state_1: {}
      'say "hi" <now>': {}
      state: {}
commands:
  go: {from: [end], confirm: went}
signals:
  went:
    transitions:
      - {from: end, to: note, emit: [{onGo: {result: "a;b <c>"}}]}
  hop:
    transitions:
      - {from: state_1, to: 'say "hi" <now>'}
      - {from: 'say "hi" <now>', to: state}
      - {from: note, to: end}
notifications:
  onGo: {fields: [result]}
""",
    "awkward.yaml",
)

# every feature of the language, small: a region, guards of every kind (and an [else]),
# delayed transitions (seconds constant, or a field with a fallback), a timer delivering
# a signal, a chart-sent command with a guard, a kept value, a local command, and a
# transition from a region into its own state
FEATURES = load_chart_text(
    """
chart: features
initial: idle
settings: {grace: 5, mode: strict}
states:
  idle: {}
  busy:
    initial: working
    states:
      working:
        after:
          - {seconds: 30, to: idle, emit: [onTimeout], send: [stop]}
          - {seconds: {setting: grace}, signal: nudge}
      resting:
        after:
          - {seconds: [{field: pause_for}, 10], to: working}
    regions:
      mood:
        initial: calm
        states:
          calm: {}
          cross: {}
commands:
  start: {from: [idle], confirm: started}
  stop: {from: [busy], confirm: stopped}
  rest:
    from: [working]
    local: true
    args: {pause_for: {type: number, required: false}}
    confirm: rested
signals:
  started:
    transitions:
      - {from: idle, to: busy, emit: [onStart]}
  stopped:
    transitions:
      - {from: busy, to: idle, when: {setting: mode, is: strict}, emit: [onStop]}
      - {from: busy, to: idle}
  rested:
    payload: [pause_for]
    transitions:
      - {from: working, to: resting, when: {field: pause_for, not: [0, 1]},
         keep: {last: {field: pause_for}}}
      - {from: working, to: resting, when: {in: cross}, send: [{stop: {}, when: {not_in: calm}}]}
  nudge:
    transitions:
      - {from: calm, to: cross, when: {in: working}}
      - {from: mood, to: calm}
notifications:
  onStart: {fields: []}
  onStop: {fields: []}
  onTimeout: {fields: []}
""",
    "features.yaml",
)
# and the other charts of the tree
CHARTS = (
    CHART,
    AWKWARD,
    FEATURES,
    *(load_chart(p) for p in sorted(ROOT.glob("tests/charts/*.yaml"))),
)

#: what FEATURES' edges must say, written out by hand: (source, target, label)
FEATURE_EDGES = [
    ("idle", "busy", "started / onStart"),
    ("busy", "idle", "stopped [mode = strict] / onStop"),
    ("busy", "idle", "stopped [else]"),
    ("busy.working", "busy.resting", "rested [pause_for ∉ {0, 1}] / keep last=field pause_for"),
    ("busy.working", "busy.resting", "rested [in cross] / send stop [not in calm]"),
    ("busy.mood.calm", "busy.mood.cross", "nudge [in working]"),
    ("busy.working", "idle", "after 30 s / onTimeout, send stop"),
    ("busy.resting", "busy.working", "after field pause_for or 10 s"),
]
#: and the lines inside its states
FEATURE_INSIDE = {
    "busy.working": ["after setting grace: signal nudge", "▸ rest (local)"],
    "busy.mood": ["nudge → calm"],
    "busy": ["▸ stop"],
}


def _value(ref: ValueRef, unit: str = "") -> str:
    return " or ".join(
        f"{v}{unit}" if kind == "value" else f"{kind} {v}" for kind, v in ref.sources
    )


def _guard(g: Guard, chart: Chart) -> str:
    if g.kind == "in":
        return ("not in " if g.negate else "in ") + ", ".join(
            chart.states[v].name for v in g.values
        )
    if len(g.values) == 1:
        return f"{g.name} {'≠' if g.negate else '='} {g.values[0]}"
    return f"{g.name} {'∉' if g.negate else '∈'} {{{', '.join(map(str, g.values))}}}"


def _label(t: TransitionSpec, chart: Chart = CHART) -> str:
    """The label the diagram gives a transition, written out independently."""
    timer = chart.timers.get(t.timer or "")
    text = t.signal if timer is None else "after " + _value(timer.seconds, " s")
    if t.guards:
        text += " [" + " and ".join(_guard(g, chart) for g in t.guards) + "]"
    else:
        # an earlier transition for the same signal and state had a guard
        listed = list(chart.signals[t.signal].transitions)
        earlier = [u for u in listed[: listed.index(t)] if u.source == t.source and u.guards]
        text += " [else]" if earlier else ""
    parts = [
        e.notification
        + (f"({', '.join(f'{k}={v}' for k, v in e.constants.items())})" if e.constants else "")
        for e in t.emits
    ]
    parts += [f"keep {k}={_value(v)}" for k, v in t.keeps.items()]
    for s in t.sends:
        args = ", ".join(f"{k}={_value(v)}" for k, v in s.args.items())
        when = " and ".join(_guard(g, chart) for g in s.when)
        parts.append(
            f"send {s.command}" + (f"({args})" if args else "") + (f" [{when}]" if when else "")
        )
    return f"{text} / {', '.join(parts)}" if parts else text


def _local(t: TransitionSpec, chart: Chart) -> bool:
    """A transition into its own state's descendant: written inside that state."""
    return t.target is not None and t.target != t.source and chart.contains(t.source, t.target)


def _timer_lines(chart: Chart) -> dict[str, list[str]]:
    lines: dict[str, list[str]] = {}
    for timer in chart.timers.values():
        if timer.signal != timer.id:
            text = f"after {_value(timer.seconds, ' s')}: signal {timer.signal}"
            lines.setdefault(timer.state, []).append(text)
    return lines


def test_labels_say_guards_timers_sends_and_else_as_written_by_hand() -> None:
    drawn = [(t.source, t.target, _label(t, FEATURES)) for t in FEATURES.transitions()]
    for expected in FEATURE_EDGES:
        assert expected in drawn
    assert _timer_lines(FEATURES) == {"busy.working": ["after setting grace: signal nudge"]}


# --- mermaid -----------------------------------------------------------------------------------
def _mermaid_model(
    text: str,
) -> tuple[dict[str, str], dict[str, list[str]], list[tuple[str, str, str]], dict[str, str]]:
    """Read back ids -> path, lines inside each id, edges and classes from mermaid text."""
    ids: dict[str, str] = {}
    inside: dict[str, list[str]] = {}
    edges: list[tuple[str, str, str]] = []
    classes: dict[str, str] = {}
    stack: list[str] = []
    note_of: str | None = None
    names: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if note_of is not None:
            if line == "end note":
                note_of = None
            else:
                inside.setdefault(note_of, []).append(line)
            continue
        if m := re.fullmatch(r'state "(.*)" as (\w+)', line):
            names[m.group(2)] = m.group(1)
            ids[m.group(2)] = ".".join([*(names[s] for s in stack), m.group(1)])
        elif m := re.fullmatch(r"state (\w+) \{", line):
            stack.append(m.group(1))
        elif line == "}":
            stack.pop()
        elif m := re.fullmatch(r"note right of (\w+)", line):
            note_of = m.group(1)
        elif m := re.fullmatch(r"(\w+|\[\*\]) --> (\w+)(?: : (.*))?", line):
            edges.append((m.group(1), m.group(2), m.group(3) or ""))
        elif m := re.fullmatch(r"(\w+) : (.*)", line):
            inside.setdefault(m.group(1), []).append(m.group(2))
        elif m := re.fullmatch(r"class (\w+) (\w+)", line):
            classes[m.group(1)] = m.group(2)
    return ids, inside, edges, classes


def test_mermaid_ids_are_letters_and_digits_and_unique() -> None:
    for chart in CHARTS:
        text = mermaid_text(chart)
        ids, _, _, _ = _mermaid_model(text)
        assert all(re.fullmatch(r"s[A-Za-z0-9]+", i) for i in ids), ids
        assert len({i.lower() for i in ids}) == len(ids)
        declared = re.findall(r'^\s*state ".*" as (\w+)$', text, re.M)
        assert len(declared) == len(set(declared))  # each state declared once
        # every state, nested where the chart nests it (H markers aside), regions too
        assert {p for i, p in ids.items() if p.rpartition(".")[2] != "H"} == {
            p.translate(MERMAID_LOOKALIKES) for p in chart.states
        }


@pytest.mark.parametrize("chart", CHARTS, ids=lambda c: c.name)
def test_mermaid_draws_every_transition_timer_and_command(chart: Chart) -> None:
    text = mermaid_text(chart)
    ids, inside, edges, _ = _mermaid_model(text)
    esc = MERMAID_LOOKALIKES
    by_path = {p: i for i, p in ids.items()}
    path_id = {p: by_path[p.translate(esc)] for p in chart.states}
    for t in chart.transitions():
        label = _label(t, chart).translate(esc)
        if t.target is None:
            assert label in inside[path_id[t.source]], (t.source, label)
            continue
        if _local(t, chart):
            line = f"{label} → {chart.states[t.target].name}".translate(esc)
            assert line in inside[path_id[t.source]], (t.source, line)
            continue
        drawn = [e for e in edges if e[0] == path_id[t.source] and e[1] == path_id[t.target]]
        assert len(drawn) == 1 and label in drawn[0][2].split("<br/>"), (t.source, label)
        assert ("(history)" in drawn[0][2]) == chart.states[t.target].history
    for state, lines in _timer_lines(chart).items():
        for line in lines:
            assert line in inside[path_id[state]]
    for spec in chart.commands.values():
        for source in spec.rule.allowed_from:
            marked = [x for x in inside[path_id[source]] if x.startswith("▸") and spec.name in x]
            assert marked, (source, spec.name)
            assert any(f"{spec.name} (local)" in x for x in marked) == spec.local
    assert ("[*]", path_id[chart.initial], "") in edges


def test_mermaid_shows_the_features_chart_as_written_by_hand() -> None:
    ids, inside, edges, _ = _mermaid_model(mermaid_text(FEATURES))
    path_id = {p: i for i, p in ids.items()}
    for source, target, label in FEATURE_EDGES:
        drawn = [e[2] for e in edges if e[:2] == (path_id[source], path_id[target])]
        assert label in drawn[0].split("<br/>")
    for state, lines in FEATURE_INSIDE.items():
        assert set(lines) <= set(inside[path_id[state]])


def test_mermaid_history_marker_points_at_the_initial_child() -> None:
    ids, _, edges, classes = _mermaid_model(mermaid_text(CHART))
    path_id = {p: i for i, p in ids.items()}
    available = CHART.resolve("available")
    hid = next(i for i, p in ids.items() if p == available + ".H")
    assert (hid, path_id[CHART.states[available].initial or ""], "") in edges
    assert classes[hid] == "history"


def _block(text: str, opening: str) -> list[str]:
    """The lines of the ``state X {`` block opened by ``opening`` (nested blocks included)."""
    lines = text.splitlines()
    start = next(n for n, line in enumerate(lines) if line.strip() == opening)
    depth = 0
    for n in range(start, len(lines)):
        depth += lines[n].count("{") - lines[n].count("}")
        if depth == 0:
            return [x.strip() for x in lines[start + 1 : n]]
    raise AssertionError(f"{opening} not closed")


@pytest.mark.parametrize("chart", [CHART, FEATURES], ids=lambda c: c.name)
def test_mermaid_draws_regions_as_parts_of_their_state(chart: Chart) -> None:
    text = mermaid_text(chart)
    ids, _, _, _ = _mermaid_model(text)
    path_id = {p: i for i, p in ids.items()}
    regions = [p for p, s in chart.states.items() if s.is_region]
    assert regions
    for region in regions:
        parent = chart.states[region].parent or ""
        body = _block(text, f"state {path_id[parent]} {{")
        # the region is a box of its own, in a part split off by the '--' separator,
        # after every main child
        declared = body.index(f'state "{chart.states[region].name}" as {path_id[region]}')
        assert body[declared - 1] == "--" or body[declared - 2 :].count("--") >= 1
        separator = max(n for n in range(declared) if body[n] == "--")
        for child in chart.states[parent].children:
            child_line = f'state "{chart.states[child].name}" as {path_id[child]}'
            assert body.index(child_line) < separator
        for leaf in chart.states[region].children:
            assert f'state "{chart.states[leaf].name}" as {path_id[leaf]}' in _block(
                text, f"state {path_id[region]} {{"
            )


def test_mermaid_highlight_marks_the_state_and_its_ancestors() -> None:
    ids, _, _, classes = _mermaid_model(mermaid_text(CHART, highlight="paused"))
    path_id = {p: i for i, p in ids.items()}
    assert classes[path_id["checked_in.available.paused"]] == "current"
    assert classes[path_id["checked_in.available"]] == "active"
    assert classes[path_id["checked_in"]] == "active"
    assert "current" not in {classes.get(path_id[p]) for p in CHART.states if p.endswith("idle")}
    _, _, _, plain = _mermaid_model(mermaid_text(CHART))
    assert "current" not in plain.values()


def test_highlight_marks_every_state_of_a_running_machine() -> None:
    machine = Machine(CHART)
    machine.apply("logged_in")
    machine.apply("checked_in")
    machine.apply("ringing")
    machine.apply("answered")
    machine.apply("next_state_set", next="not_ready", reason="lunch")
    assert set(machine.states) == {"checked_in.talking", "checked_in.next.not_ready_next"}
    ids, _, _, classes = _mermaid_model(mermaid_text(CHART, highlight=machine.states))
    path_id = {p: i for i, p in ids.items()}
    assert {p for p, i in path_id.items() if classes.get(i) == "current"} == set(machine.states)
    assert {p for p, i in path_id.items() if classes.get(i) == "active"} == {
        "checked_in",
        "checked_in.next",
    }
    text = dot_text(CHART, highlight=machine.states)
    assert text.count('fillcolor="#ffe082"') == 2
    for path in machine.states:
        line = next(x for x in text.splitlines() if x.strip().startswith(f'"{path}" ['))
        assert 'fillcolor="#ffe082"' in line
    with pytest.raises(ValueError, match="cannot highlight 'nowhere'"):
        dot_text(CHART, highlight=["talking", "nowhere"])


def test_mermaid_keeps_awkward_names_out_of_its_syntax() -> None:
    text = mermaid_text(AWKWARD)
    assert 'state "say \u201dhi\u201d \u2039now\u203a" as' in text  # look-alike quotes, brackets
    assert "went / onGo(result=a;b \u2039c\u203a)" in text
    assert text.startswith('---\ntitle: "awkward"\n---\n')


# --- dot, svg, png -----------------------------------------------------------------------------
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' not installed")

_INDENT = "\u00a0" * 4
_ID = r'"((?:[^"\\]|\\.)*)"'  # a quoted dot id


def _unquote(quoted: str) -> str:
    return re.sub(r"\\(.)", r"\1", quoted)


def _html_lines(label: str) -> list[str]:
    """The text lines of one of our HTML labels (a grid: column after column), wrapped
    lines joined again."""
    columns: dict[int, list[str]] = {}
    for row in re.findall(r"<TR>(.*?)</TR>", label):
        for number, cell in enumerate(re.findall(r"<TD[^>]*>(.*?)</TD>", row)):
            if cell:
                columns.setdefault(number, []).append(html.unescape(re.sub(r"</?B>", "", cell)))
    lines: list[str] = []
    for number in sorted(columns):
        for piece in columns[number]:
            if piece.startswith(_INDENT) and lines:
                lines[-1] += " " + piece[len(_INDENT) :]
            else:
                lines.append(piece)
    return lines


def _dot_model(
    text: str,
) -> tuple[dict[str, list[str]], list[tuple[str, str, list[str]]], list[str]]:
    """Read back dot text: each node's or cluster's lines, the edges as drawn (tail,
    head, label lines: a reversed edge put back, a junction's edges joined into one
    per source), and every declared node or cluster id in order."""
    lines_of: dict[str, list[str]] = {}
    declared: list[str] = []
    raw_edges: list[tuple[str, str, list[str], str]] = []
    clusters: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if m := re.fullmatch(rf"subgraph {_ID} \{{", line):
            clusters.append(_unquote(m.group(1)).removeprefix("cluster_"))
            declared.append(_unquote(m.group(1)))
        elif line == "}" and clusters:
            clusters.pop()
        elif m := re.fullmatch(r"label=(<.*>);", line):
            lines_of[clusters[-1]] = _html_lines(m.group(1))[1:]  # after the name
        elif m := re.fullmatch(rf"{_ID} -> {_ID}(?: \[(.*)\])?;", line):
            attrs = m.group(3) or ""
            label = re.search(r"label=(<<TABLE.*?</TABLE>>)", attrs)
            tail, head = _unquote(m.group(1)), _unquote(m.group(2))
            raw_edges.append((tail, head, _html_lines(label.group(1)) if label else [], attrs))
        elif m := re.fullmatch(rf"{_ID} \[(.*)\];", line):
            declared.append(_unquote(m.group(1)))
            label = re.search(r"label=(<<TABLE.*?</TABLE>>)", m.group(2))
            if label:
                lines_of[_unquote(m.group(1))] = _html_lines(label.group(1))[1:]
    edges: list[tuple[str, str, list[str]]] = []
    for tail, head, label, attrs in raw_edges:
        if "style=invis" in attrs:
            continue
        if "dir=back" in attrs:
            tail, head = head, tail
        edges.append((tail, head, label))
    joined = [e for e in edges if ".junction." not in e[0] + e[1]]
    for tail, junction, _ in edges:
        if ".junction." in junction:
            for _, head, label in (e for e in edges if e[0] == junction):
                joined.append((tail, head, label))
    return lines_of, joined, declared


def _dot_ends(chart: Chart, t: TransitionSpec) -> tuple[str, str]:
    tail = t.source if chart.states[t.source].is_leaf else t.source + "..initial"
    assert t.target is not None
    target = chart.states[t.target]
    if target.history:
        return tail, t.target + "..history"
    return tail, t.target if target.is_leaf else t.target + "..initial"


@pytest.mark.parametrize("chart", CHARTS, ids=lambda c: c.name)
def test_dot_draws_every_transition_timer_and_command(chart: Chart) -> None:
    text = dot_text(chart)
    lines_of, edges, declared = _dot_model(text)
    assert len(declared) == len(set(declared)), "a node or cluster declared twice"
    for t in chart.transitions():
        label = _label(t, chart)
        if t.target is None:
            assert label in lines_of[t.source], (t.source, label)
            continue
        if _local(t, chart):
            assert f"{label} → {chart.states[t.target].name}" in lines_of[t.source]
            continue
        tail, head = _dot_ends(chart, t)
        drawn = [e for e in edges if e[:2] == (tail, head)]
        assert len(drawn) == 1 and label in drawn[0][2], (tail, head, label)
    for state, lines in _timer_lines(chart).items():
        assert set(lines) <= set(lines_of[state])
    for spec in chart.commands.values():
        for source in spec.rule.allowed_from:
            marked = [x for x in lines_of[source] if x.startswith("▸") and spec.name in x]
            assert marked and any(f"{spec.name} (local)" in x for x in marked) == spec.local
    for path, spec in chart.states.items():
        if not spec.is_leaf:
            assert f'subgraph "cluster_{path}" {{' in text
        if spec.history:
            assert f'"{path}..history" [shape=circle, label="H"' in text


def test_dot_shows_the_features_chart_as_written_by_hand() -> None:
    lines_of, edges, _ = _dot_model(dot_text(FEATURES))
    for source, target, label in FEATURE_EDGES:
        tail = source if FEATURES.states[source].is_leaf else source + "..initial"
        head = target if FEATURES.states[target].is_leaf else target + "..initial"
        assert any(e[:2] == (tail, head) and label in e[2] for e in edges), label
    for state, lines in FEATURE_INSIDE.items():
        assert set(lines) <= set(lines_of[state])


@pytest.mark.parametrize("chart", [CHART, FEATURES], ids=lambda c: c.name)
def test_dot_draws_a_region_as_a_dashed_box_inside_its_state(chart: Chart) -> None:
    text = dot_text(chart)
    assert chart.has_regions
    for path, spec in chart.states.items():
        if spec.is_leaf:
            continue
        body = _block(text, f'subgraph "cluster_{path}" {{')
        style = next(x for x in body if x.startswith("labeljust"))
        assert ('style="rounded,dashed"' if spec.is_region else 'style="rounded,solid"') in style
        for region in spec.regions:
            assert f'subgraph "cluster_{region}" {{' in body  # inside its state's box


def test_dot_writes_a_label_shared_by_several_edges_once() -> None:
    # talking, held and consulting go back to available on the same two transitions
    shared = ["hung_up [else] / onIdle", "transferred [else] / onTransfer(result=success), onIdle"]
    sources = [
        t.source
        for t in CHART.transitions()
        if _label(t) == shared[1] and t.target == CHART.resolve("available")
    ]
    assert len(sources) == 3
    text = dot_text(CHART)
    _, edges, _ = _dot_model(text)
    for source in sources:
        tail = source if CHART.states[source].is_leaf else source + "..initial"
        assert [e[2] for e in edges if e[0] == tail and e[1].endswith("..history")] == [shared]
    # once: at the junction the three edges meet (drawn either way round)
    assert text.count("transferred [else] /") == 1
    line = next(x for x in text.splitlines() if "transferred [else] /" in x)
    junction = re.search(r'"(\.\.junction\.\d+)"', line)
    assert junction is not None and "..history" in line
    assert text.count(f'-> "{junction.group(1)}" [arrowhead=none') == 3


@needs_dot
@pytest.mark.parametrize("highlight", [None, "talking", "available", "ready_next", "next"])
def test_dot_renders_without_graphviz_warnings(highlight: str | None) -> None:
    for text in (dot_text(CHART, highlight), *(dot_text(chart) for chart in CHARTS[1:])):
        done = subprocess.run(["dot", "-Tsvg"], input=text.encode(), capture_output=True)
        assert done.returncode == 0 and done.stderr == b"", done.stderr.decode()
        assert done.stdout.startswith(b"<?xml")


def test_dot_highlight_fills_the_state() -> None:
    text = dot_text(CHART, highlight="checked_in.held")
    line = next(x for x in text.splitlines() if x.strip().startswith('"checked_in.held" ['))
    assert 'fillcolor="#ffe082"' in line
    assert text.count('fillcolor="#ffe082"') == 1
    assert 'fillcolor="#ffe082"' not in dot_text(CHART)


@needs_dot
@pytest.mark.parametrize("chart", [CHART, FEATURES], ids=lambda c: c.name)
def test_svg_shows_every_state_signal_and_command(chart: Chart) -> None:
    svg = diagram(chart, "svg", highlight="idle")
    assert isinstance(svg, str)
    texts = html.unescape(" ".join(re.findall(r"<text[^>]*>([^<]*)</text>", svg)))
    for spec in chart.states.values():
        assert spec.name in texts
    for t in chart.transitions():
        assert (t.signal if t.timer is None else "after") in texts
    for name in chart.commands:
        assert name in texts


@needs_dot
def test_png_of_the_default_chart_fits_a_screen() -> None:
    png = diagram(CHART, "png")
    assert isinstance(png, bytes) and png.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = struct.unpack(">II", png[16:24])
    # at dot's 96 dpi, with text at its own size: about a screen's width (it was 2300 px
    # before the layout was worked on, and 3300 px with the chart's new states)
    assert 1000 < width <= 1700, (width, height)


def test_bad_format_and_highlight_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown diagram format 'jpeg'"):
        diagram(CHART, "jpeg")
    with pytest.raises(ValueError, match="cannot highlight 'nowhere'"):
        diagram(CHART, highlight="nowhere")


def test_svg_without_graphviz_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    with pytest.raises(RuntimeError, match="apt-get install graphviz"):
        diagram(CHART, "svg")
    assert diagram(CHART, "mermaid").startswith("---")  # needs nothing


# --- command line and the generated README/docs block ------------------------------------------
@needs_dot
def test_cli_writes_each_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = str(ROOT / "specs" / "agent.yaml")
    for fmt in ("mermaid", "dot", "svg", "png"):
        out = tmp_path / f"agent.{fmt}"
        assert (
            main(["diagram", spec, "--format", fmt, "-o", str(out), "--highlight", "ringing"]) == 0
        )
        expected = diagram(CHART, fmt, highlight="ringing")
        data = out.read_bytes()
        if isinstance(expected, str) and fmt != "svg":
            assert data.decode() == expected
        else:
            assert data[:4] == (expected[:4] if isinstance(expected, bytes) else b"<?xm")
    assert main(["diagram"]) == 0
    assert capsys.readouterr().out == mermaid_text(CHART)
    # a state of each parallel region
    assert main(["diagram", "--highlight", "talking", "--highlight", "ready_next"]) == 0
    assert capsys.readouterr().out == mermaid_text(CHART, highlight=["talking", "ready_next"])


def test_cli_reports_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # a bad argument: exit 2, one line naming it
    assert main(["diagram", "--highlight", "nowhere"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cti-fsm diagram: argument --highlight: chart 'agent' has no state")
    assert err.count("\n") == 1
    bad = tmp_path / "bad.yaml"
    bad.write_text("chart: x\nstates: {a: {}}\n")
    assert main(["diagram", str(bad)]) == 1
    assert "missing required key 'initial'" in capsys.readouterr().err


def test_cli_update_and_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text(f"# title\n\n{START}\nold\n{END}\n\ntail\n")
    assert main(["diagram", "--update", str(doc), "--check"]) == 1
    assert "stale" in capsys.readouterr().err
    assert main(["diagram", "--update", str(doc)]) == 0
    assert doc.read_text() == f"# title\n\n{markdown_block(CHART)}\n\ntail\n"
    assert main(["diagram", "--update", str(doc), "--check"]) == 0
    doc.write_text("no markers\n")
    assert main(["diagram", "--update", str(doc)]) == 1
    assert "no <!-- diagram:start -->" in capsys.readouterr().err


def test_readme_diagram_is_current() -> None:
    """README.md shows the default chart, generated between the diagram markers.

    Regenerate with: cti-fsm diagram specs/agent.yaml --update README.md
    """
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert START in text and END in text, "README.md has no diagram markers"
    found = text[text.index(START) : text.index(END) + len(END)]
    assert found == markdown_block(CHART), (
        "README.md: the diagram is stale; run cti-fsm diagram specs/agent.yaml --update README.md"
    )
