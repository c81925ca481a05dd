"""Diagrams: every state, transition and command of the chart is drawn, in every format."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from cti_fsm import TransitionSpec, default_chart, load_chart_text
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


def _label(t: TransitionSpec) -> str:
    """The label the diagram gives a transition, written out independently."""
    parts = [
        e.notification
        + (f"({', '.join(f'{k}={v}' for k, v in e.constants.items())})" if e.constants else "")
        for e in t.emits
    ]
    return f"{t.signal} / {', '.join(parts)}" if parts else t.signal


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
    for chart in (CHART, AWKWARD):
        ids, _, _, _ = _mermaid_model(mermaid_text(chart))
        assert all(re.fullmatch(r"s[A-Za-z0-9]+", i) for i in ids), ids
        assert len({i.lower() for i in ids}) == len(ids)
        # every state, nested where the chart nests it (H markers aside)
        assert {p for i, p in ids.items() if p.rpartition(".")[2] != "H"} == {
            p.translate(MERMAID_LOOKALIKES) for p in chart.states
        }


def test_mermaid_draws_every_transition_and_command() -> None:
    text = mermaid_text(CHART)
    ids, inside, edges, classes = _mermaid_model(text)
    path_id = {p: i for i, p in ids.items()}
    for t in CHART.transitions():
        label = _label(t)
        if t.target is None:
            assert label in inside[path_id[t.source]], (t.source, label)
            continue
        drawn = [e for e in edges if e[0] == path_id[t.source] and e[1] == path_id[t.target]]
        assert drawn and label in drawn[0][2].split("<br/>"), (t.source, t.target, label)
        assert ("(history)" in drawn[0][2]) == CHART.states[t.target].history
    for spec in CHART.commands.values():
        for source in spec.rule.allowed_from:
            assert any(
                spec.name in line for line in inside[path_id[source]] if line.startswith("▸")
            ), (source, spec.name)
    # history marker inside the history state, pointing at its initial child
    available = CHART.resolve("available")
    hid = next(i for i, p in ids.items() if p == available + ".H")
    assert (hid, path_id[CHART.states[available].initial or ""], "") in edges
    assert classes[hid] == "history"
    assert ("[*]", path_id[CHART.initial], "") in edges


def test_mermaid_highlight_marks_the_state_and_its_ancestors() -> None:
    ids, _, _, classes = _mermaid_model(mermaid_text(CHART, highlight="paused"))
    path_id = {p: i for i, p in ids.items()}
    assert classes[path_id["checked_in.available.paused"]] == "current"
    assert classes[path_id["checked_in.available"]] == "active"
    assert classes[path_id["checked_in"]] == "active"
    assert "current" not in {classes.get(path_id[p]) for p in CHART.states if p.endswith("idle")}
    _, _, _, plain = _mermaid_model(mermaid_text(CHART))
    assert "current" not in plain.values()


def test_mermaid_keeps_awkward_names_out_of_its_syntax() -> None:
    text = mermaid_text(AWKWARD)
    assert 'state "say \u201dhi\u201d \u2039now\u203a" as' in text  # look-alike quotes, brackets
    assert "went / onGo(result=a;b \u2039c\u203a)" in text
    assert text.startswith('---\ntitle: "awkward"\n---\n')


# --- dot, svg, png -----------------------------------------------------------------------------
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' not installed")


def _dot_edges(text: str) -> list[tuple[str, str, str]]:
    return [
        (m.group(1), m.group(2), m.group(3))
        for m in re.finditer(r'^\s*"([^"]*)" -> "([^"]*)" \[label="((?:[^"\\]|\\.)*)"', text, re.M)
    ]


def test_dot_draws_every_transition_with_clusters_and_history() -> None:
    text = dot_text(CHART)
    edges = _dot_edges(text)
    for t in CHART.transitions():
        label = _label(t)
        if t.target is None:
            assert label in text  # inside the source state's label
            continue
        tail = t.source if CHART.states[t.source].is_leaf else t.source + "..initial"
        target = CHART.states[t.target]
        head = (
            t.target + "..history"
            if target.history
            else t.target
            if target.is_leaf
            else t.target + "..initial"
        )
        drawn = [e for e in edges if e[0] == tail and e[1] == head]
        assert drawn and label in drawn[0][2].split("\\n"), (tail, head, label)
    for path, spec in CHART.states.items():
        if not spec.is_leaf:
            assert f'subgraph "cluster_{path}" {{' in text
    assert '"checked_in.available..history" [shape=circle, label="H"' in text


@needs_dot
@pytest.mark.parametrize("highlight", [None, "talking", "available"])
def test_dot_renders_without_graphviz_warnings(highlight: str | None) -> None:
    done = subprocess.run(
        ["dot", "-Tsvg"], input=dot_text(CHART, highlight).encode(), capture_output=True
    )
    assert done.returncode == 0 and done.stderr == b"", done.stderr.decode()
    assert done.stdout.startswith(b"<?xml")


def test_dot_highlight_fills_the_state() -> None:
    text = dot_text(CHART, highlight="checked_in.held")
    line = next(x for x in text.splitlines() if x.strip().startswith('"checked_in.held" ['))
    assert 'fillcolor="#ffe082"' in line
    assert text.count('fillcolor="#ffe082"') == 1
    assert 'fillcolor="#ffe082"' not in dot_text(CHART)


@needs_dot
def test_svg_shows_every_state_and_signal() -> None:
    svg = diagram(CHART, "svg", highlight="idle")
    assert isinstance(svg, str)
    texts = " ".join(re.findall(r"<text[^>]*>([^<]*)</text>", svg))
    for spec in CHART.states.values():
        assert spec.name in texts
    for t in CHART.transitions():
        assert t.signal in texts
    for name in CHART.commands:
        assert name in texts


@needs_dot
def test_png_is_an_image() -> None:
    png = diagram(CHART, "png")
    assert isinstance(png, bytes) and png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000


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
