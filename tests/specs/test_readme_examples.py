"""specs/README.md stays true: its examples load, validate and behave as the text says."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from cti_fsm.chart import Chart
from cti_fsm.chart_loader import default_chart, load_chart, load_chart_text
from cti_fsm.cli import main
from cti_fsm.errors import IllegalCommand, InvalidArguments, SpecError
from cti_fsm.events import ChartCommand, Step, TimerChange
from cti_fsm.machine import Machine
from cti_fsm.vendor_map import load_vendor_map_text

#: A mistake made in the README's chart (old text -> new text, first occurrence), and the
#: line the README shows for it; the loader must report exactly that line.
CHART_MISTAKES = [
    ("    description: Not logged in.", "    descripton: Not logged in.",
     "desk.yaml:11:5: state 'offline': unknown key 'descripton' (did you mean 'description'?);"
     " expected one of: description, initial, history, states, regions, after"),
    ("    pending: reject\n", "    pending: reject\n    pending: queue\n",
     "desk.yaml:33:5: command 'connect': duplicate key 'pending' (first at line 32)"),
    ("  restore:\n    from: paused\n", "  restore:\n",
     "desk.yaml:41:3: command 'restore': missing required key 'from'"),
    ("    timeout: 3\n", "    timeout: 3s\n",
     "desk.yaml:47:14: command 'answer' timeout must be a number, not a string ('3s')"),
    ("    pending: reject\n", "    pending: drop\n",
     "desk.yaml:32:14: command 'connect' pending must be one of queue, reject, parallel,"
     " not 'drop'"),
    ("    timeout: 3\n", "    timeout: 0\n",
     "desk.yaml:47:14: command 'answer' timeout must be greater than 0, not 0"),
    ("      ringing:\n", "      ringing.alert:\n",
     "desk.yaml:21:7: state name 'ringing.alert' must be non-empty and have no dot"),
    ("    initial: available\n", "",
     "desk.yaml:12:3: state 'online' has children but no 'initial'"),
    ("  offline:\n", "  offline:\n    history: shallow\n",
     "desk.yaml:11:14: state 'offline' has history but no children"),
    ("emit: [onRestore]", "emit: onRestore",
     "desk.yaml:68:40: transition of signal 'restored' emit must be a list,"
     " not a string ('onRestore')"),
    ("[{onConnect: {result: fail}}]", "[{onConnect: {result: fail}, onIdle: {}}]",
     "desk.yaml:57:32: emit of signal 'login_failed': write a notification name or"
     " {name: {field: value}}"),
    ("  restore:\n    from: paused\n", "  restore:\n    from: []\n",
     "desk.yaml:42:11: command 'restore' is allowed from no state"),
    ("to: talking,", "to: talkin,",
     "desk.yaml:76:29: unknown state 'talkin' (did you mean 'talking'?)"),
    ("      talking:\n",
     "      talking:\n        initial: idle\n        states:\n          idle:\n",
     "desk.yaml:56:29: ambiguous state 'idle': could be online.available.idle,"
     " online.talking.idle"),
    ("initial: offline\n", "initial: idle\n",
     "desk.yaml:5:10: initial state 'idle' must be a top-level state"),
    ("        initial: idle\n", "        initial: ringing\n",
     "desk.yaml:16:18: initial state 'ringing' of 'online.available' must be one of its"
     " children"),
    ("    confirm: restored\n", "    confirm: restore\n",
     "desk.yaml:43:14: command 'restore' confirm: unknown signal 'restore'"
     " (did you mean 'restored'?)"),
    ("rights: [supervisor], confirm", "rights: [supervisr], confirm",
     "desk.yaml:39:45: unknown right 'supervisr' (did you mean 'supervisor'?)"),
    ("emit: [onRestore]", "emit: [onRestored]",
     "desk.yaml:68:41: unknown notification 'onRestored' (did you mean 'onRestore'?)"),
    ("{onConnect: {result: fail}}", "{onConnect: {status: fail}}",
     "desk.yaml:57:32: notification 'onConnect' has no field 'status'"),
    ("      - {from: [ringing, talking], to: available, emit: [onIdle]}\n",
     "      - {from: [ringing, talking], to: available, emit: [onIdle]}\n"
     "      - {from: talking, to: offline}\n",
     "desk.yaml:81:16: transition for signal 'hung_up' in state 'online.talking' is never"
     " taken: the one at line 80 comes first and has no guard"),
    ("  onRestore: {}\n", "  onRestore: {}\n  onHold: {}\n",
     "desk.yaml:93:3: notification 'onHold' is never emitted by any transition"),
    ("  answer:\n    from: ringing\n", "  answer:\n    from: [ringing, talking]\n",
     "desk.yaml:46:14: command 'answer' is allowed in 'online.talking', but its confirm"
     " signal 'answered' has no transition there"),
    ("      talking:\n", "      talking:\n      held:\n",
     "desk.yaml:23:7: state 'online.held' cannot be reached from the initial state"),
    ("  restore:\n    from: paused\n", "  restore:\n    from: [paused\n",
     "desk.yaml:43:12: invalid YAML: did not find expected ',' or ']'"),
]  # fmt: skip
VENDOR_MISTAKES = [
    ("chart: desk", "chart: desk2", "acme.yaml:3:8: map is written for chart 'desk2', not 'desk'"
     " (a chart of your own fits it by 'extends: desk2')"),
    ("signal: logged_in", "signal: loged_in",
     "acme.yaml:9:13: unknown signal 'loged_in' (did you mean 'logged_in'?)"),
    ("unsupported: [restore]\n", "",
     "acme.yaml:27:1: command 'restore' is neither mapped nor listed as unsupported"),
]  # fmt: skip


@pytest.fixture(scope="module")
def desk(readme_chart: str) -> Chart:
    return load_chart_text(readme_chart, "desk.yaml")


def test_chart_example_loads_and_validates(
    readme_chart: str, desk: Chart, chart_schema: dict[str, Any]
) -> None:
    assert desk.name == "desk"
    jsonschema.Draft202012Validator(chart_schema).validate(yaml.safe_load(readme_chart))


def test_vendor_map_example_loads_and_validates(
    readme_vendor_map: str, desk: Chart, vendor_schema: dict[str, Any]
) -> None:
    vmap = load_vendor_map_text(readme_vendor_map, desk, "acme.yaml")
    jsonschema.Draft202012Validator(vendor_schema).validate(yaml.safe_load(readme_vendor_map))
    context = {"user": "7001", "device": "7001"}
    messages: list[dict[str, Any]] = [
        {"type": "agentState", "state": "NOT_READY", "agent": "7001", "reasonCode": 3},
        {"type": "agentState", "state": "NOT_READY", "agent": "7002"},
        {"type": "call", "event": "alerting", "device": "7001", "direction": "outbound"},
        {"type": "call", "event": "failed", "device": "7001", "call": {"id": "c9"}},
    ]
    said = [vmap.signal(message, context) for message in messages]
    assert [(s.name, dict(s.payload)) if s else None for s in said] == [
        ("paused", {"reason": 3}),
        ("agent_paused", {"agent_id": "7002"}),
        None,
        ("hung_up", {"reason": "normal", "call_id": "c9"}),
    ]
    assert vmap.encode("pause", {"agent_id": None, "reason": None, "request_id": 4}) == [
        {"type": "setState", "state": "NOT_READY", "id": 4}
    ]


def test_walkthrough_table(desk: Chart, readme: str) -> None:
    m = Machine(desk, rights=["supervisor"])
    rows = []
    for signal, payload in [
        ("logged_in", {}),
        ("paused", {"reason": "lunch"}),
        ("ringing", {"call_id": "c1", "phone_number": "100"}),
        ("answered", {"call_id": "c1"}),
        ("hung_up", {"call_id": "c1"}),
        ("answered", {}),
    ]:
        step = m.apply(signal, **payload)
        rows.append((step.source, step.target, step.ignored, step.names))
    assert rows[4][1] == "online.available.paused"  # history: back to paused after the call
    assert rows[5][2]  # the last one is ignored
    for source, target, _ignored, names in rows:
        assert f"| `{source}` | `{target}`" in readme or f"| `{source}` | unchanged" in readme
        for name in names:
            assert f"`{name} {{" in readme


@pytest.mark.parametrize(("old", "new", "line"), CHART_MISTAKES, ids=[m[2] for m in CHART_MISTAKES])
def test_chart_error_examples_are_real(
    readme_chart: str, readme: str, old: str, new: str, line: str
) -> None:
    assert old in readme_chart
    with pytest.raises(SpecError) as caught:
        load_chart_text(readme_chart.replace(old, new, 1), "desk.yaml")
    assert line in [str(p) for p in caught.value.problems]
    assert f"`{line}`" in readme


@pytest.mark.parametrize(
    ("old", "new", "line"), VENDOR_MISTAKES, ids=[m[2] for m in VENDOR_MISTAKES]
)
def test_vendor_map_error_examples_are_real(
    readme_vendor_map: str, readme: str, desk: Chart, old: str, new: str, line: str
) -> None:
    assert old in readme_vendor_map
    with pytest.raises(SpecError) as caught:
        load_vendor_map_text(readme_vendor_map.replace(old, new, 1), desk, "acme.yaml")
    assert line in [str(p) for p in caught.value.problems]
    assert line in readme.splitlines()


def test_every_error_line_shown_is_one_checked_here(readme: str) -> None:
    shown = set(re.findall(r"^\| [^|]+ \| `([\w-]+\.yaml:\d+:\d+: [^`]+)` \|$", readme, re.M))
    shown |= set(re.findall(r"^([\w-]+\.yaml:\d+:\d+: .+)$", readme, re.M))
    # the `cti-fsm check` output example reuses two of the chart mistakes
    checked = {line for *_, line in CHART_MISTAKES + VENDOR_MISTAKES + LOCAL_MAP_MISTAKES}
    checked |= {line for *_, line in LANGUAGE_MISTAKES} | {CYCLE_LINE}
    assert shown == checked


def test_check_output_shown_is_real(
    readme_chart: str,
    readme_vendor_map: str,
    readme: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("desk.yaml").write_text(readme_chart, "utf-8")
    Path("acme.yaml").write_text(readme_vendor_map, "utf-8")
    assert main(["check", "--chart", "desk.yaml", "desk.yaml", "acme.yaml"]) == 0
    out, _ = capsys.readouterr()
    lines = readme.splitlines()
    for printed in out.splitlines():
        assert printed in lines

    bad = readme_chart.replace("timeout: 3\n", "timeout: 3s\n").replace(
        "to: talking,", "to: talkin,"
    )
    Path("desk.yaml").write_text(bad, "utf-8")
    assert main(["check", "desk.yaml"]) == 1
    _, err = capsys.readouterr()
    assert "\n".join(err.splitlines()) in readme


# --- the chart language: one small example per feature ------------------------------------------
#: each feature's example, by its marker; a test saves it as ``<marker>.yaml``
LANGUAGE_EXAMPLES = ["regions", "guards", "timers", "settings", "sends", "kept", "local",
                     "choices", "extends", "my_agent"]  # fmt: skip
#: (example, old text -> new text, the line the README shows): as CHART_MISTAKES, for the
#: language's examples, each loaded as ``<example>.yaml`` (``extends`` as ``desk_plus.yaml``
#: beside the worked example's ``desk.yaml``)
LANGUAGE_MISTAKES = [
    ("regions", "        initial: unchanged\n", "",
     "regions.yaml:12:7: region 'online.next' has children but no 'initial'"),
    ("guards", "{not_in: talking}", "{not_in: talkng}",
     "guards.yaml:35:44: unknown state 'talkng' (did you mean 'talking'?)"),
    ("guards", "{field: queue, is:", "{field: queues, is:",
     "guards.yaml:21:49: guard on field 'queues': signal 'ringing' carries no such field (queue)"),
    ("timers", "to: missed, emit", "emit",
     "timers.yaml:9:9: timer 1 of state 'ringing' has no target: give 'to' (or 'signal' to"
     " deliver)"),
    ("settings", "{setting: busy_reason}", "{setting: busy_reasons}",
     "settings.yaml:29:67: unknown setting 'busy_reasons' (did you mean 'busy_reason'?)"),
    ("sends", "send: [hangup]", "send: [hangp]",
     "sends.yaml:25:32: send: unknown command 'hangp' (did you mean 'hangup'?)"),
    ("kept", "{kept: next_reason}", "{kept: next_reasons}",
     "kept.yaml:20:67: nothing keeps a value named 'next_reasons' (no transition's 'keep')"),
    ("local", "    confirm: noted\n", "",
     "local.yaml:10:5: command 'note' is local: it needs a 'confirm' signal (the move it makes)"),
    ("choices", "choices: [ready, not_ready, logout]", "choices: []",
     "choices.yaml:10:23: argument 'next' of command 'set_next_state' has no choices"),
    ("extends", "extends: desk.yaml", "extends: desk.yml",
     "desk_plus.yaml:2:10: extends: no chart 'desk.yml' (a shipped chart's name, such as"
     " 'agent', or a path to a chart file relative to this one)"),
]  # fmt: skip
#: mistakes in the vendor map of the local-commands section (``acme-local.yaml``)
LOCAL_MAP_MISTAKES = [
    ("commands: {}\n", "commands:\n  note: {type: note, text: \"{text}\"}\n",
     "acme-local.yaml:10:3: command 'note' is local in the chart: it sends nothing to map"),
    ("local: [end_wrap_up]\n", "",
     "acme-local.yaml:8:1: command 'end_wrap_up' is neither mapped nor listed as unsupported"),
]  # fmt: skip
#: the extends cycle the README shows: two files that extend each other
CYCLE = {"a.yaml": "chart: a\nextends: b.yaml\n", "b.yaml": "chart: b\nextends: a.yaml\n"}
CYCLE_LINE = "b.yaml:2:10: extends cycle: a.yaml -> b.yaml -> a.yaml"


def example(readme: str, marker: str) -> str:
    found = re.search(rf"<!-- example: {re.escape(marker)} -->\n```yaml\n(.*?)```", readme, re.S)
    assert found, f"README has no example marked {marker!r}"
    return found.group(1)


def load_example(readme: str, marker: str, folder: Path, text: str | None = None) -> Chart:
    """Save the example (or ``text``) under its file name in ``folder`` and load it there, as
    a reader would (``extends`` finds ``desk.yaml`` beside it)."""
    (folder / "desk.yaml").write_text(example(readme, "chart"), "utf-8")
    name = "desk_plus.yaml" if marker == "extends" else f"{marker}.yaml"
    (folder / name).write_text(example(readme, marker) if text is None else text, "utf-8")
    cwd = Path.cwd()
    os.chdir(folder)
    try:
        return load_chart(name)
    finally:
        os.chdir(cwd)


def cells(*values: str) -> str:
    return "| " + " | ".join(values) + " |"


def codes(names: Iterable[str]) -> str:
    return ", ".join(f"`{n}`" for n in names) or "none"


def timer_cell(step: Step) -> str:
    return (
        ", ".join(
            f"`{t.timer}` " + ("cancelled" if t.seconds is None else f"{t.seconds:g} s")
            for t in step.timers
        )
        or "none"
    )


def command_cell(step: Step) -> str:
    return (
        ", ".join(
            f"`{c.command}({', '.join(f'{k}={v!r}' for k, v in c.args.items())})`"
            for c in step.commands
        )
        or "none"
    )


def payload_text(payload: dict[str, Any]) -> str:
    return "".join(f" {k}={v}" for k, v in payload.items())


def language_rows(readme: str, folder: Path) -> dict[str, list[str]]:
    """The tables the language sections show, computed from their examples."""
    out: dict[str, list[str]] = {}

    m = Machine(load_example(readme, "regions", folder))
    out["regions"] = [cells("(new machine)", f"`{m.state}`", codes(m.states), "none")]
    for signal in ["logged_in", "answered", "pause_chosen", "hung_up", "link_lost", "logged_in"]:
        step = m.apply(signal)
        out["regions"].append(
            cells(f"`{signal}`", f"`{m.state}`", codes(m.states), codes(step.names))
        )

    guards = load_example(readme, "guards", folder)
    out["guards"] = []
    for start, signal, payload in [
        ("idle", "ringing", {"queue": "vip"}),
        ("idle", "ringing", {"queue": "sales"}),
        ("talking", "hung_up", {}),
        ("talking", "link_lost", {}),
        ("idle", "link_lost", {}),
    ]:
        m = Machine(guards, state=start)
        step = m.apply(signal, **payload)
        out["guards"].append(
            cells(
                f"`{m.chart.resolve(start)}`",
                f"`{signal}{payload_text(payload)}`",
                f"`{step.target}`",
                codes(step.names),
            )
        )

    m = Machine(load_example(readme, "timers", folder))
    out["timers"] = []
    for label, act in [
        ("`ringing`", lambda: m.apply("ringing")),
        ("`answered`", lambda: m.apply("answered")),
        ("`hung_up wrap_seconds=45`", lambda: m.apply("hung_up", wrap_seconds=45)),
        ('`fire("wrap_up.after.0")`', lambda: m.fire("wrap_up.after.0")),
        ('`fire("wrap_up.after.0")` again', lambda: m.fire("wrap_up.after.0")),
        ("`ringing`", lambda: m.apply("ringing")),
        ('`fire("ringing.after.0")`', lambda: m.fire("ringing.after.0")),
    ]:
        step = act()
        target = "ignored" if step.ignored else f"`{step.target}`"
        out["timers"].append(cells(label, target, codes(step.names), timer_cell(step)))

    m = Machine(load_example(readme, "my_agent", folder), state="checked_in.talking")
    out["my_agent"] = []
    script: list[tuple[str, Callable[[], Step]]] = [
        ("`set_next_state(next=\"not_ready\", reason=\"lunch\")`: `next_state_set` at once",
         lambda: m.apply("next_state_set", next="not_ready", reason="lunch")),
        ("`hung_up call_id=c1`", lambda: m.apply("hung_up", call_id="c1")),
        ("30 s later: `fire(\"checked_in.wrap_up.after.0\")`",
         lambda: m.fire("checked_in.wrap_up.after.0")),
        ("`paused reason=lunch`", lambda: m.apply("paused", reason="lunch")),
        ("`restored`", lambda: m.apply("restored")),
        ("`ringing call_id=c2`", lambda: m.apply("ringing", call_id="c2")),
        ("20 s later: `fire(\"checked_in.ringing.after.0\")`",
         lambda: m.fire("checked_in.ringing.after.0")),
        ("`hung_up call_id=c2`", lambda: m.apply("hung_up", call_id="c2")),
    ]  # fmt: skip
    for label, act in script:
        step = act()
        out["my_agent"].append(
            cells(label, codes(m.states), codes(step.names), timer_cell(step), command_cell(step))
        )
    return out


@pytest.mark.parametrize("marker", LANGUAGE_EXAMPLES)
def test_language_examples_load_and_validate(
    readme: str, chart_schema: dict[str, Any], tmp_path: Path, marker: str
) -> None:
    chart = load_example(readme, marker, tmp_path)
    assert chart.name == ("desk_plus" if marker == "extends" else marker)
    for validator in (jsonschema.Draft202012Validator, jsonschema.Draft7Validator):
        errors = [e.message for e in validator(chart_schema).iter_errors(
            yaml.safe_load(example(readme, marker)))]  # fmt: skip
        assert errors == []


def test_language_tables_are_real(readme: str, tmp_path: Path) -> None:
    lines = readme.splitlines()
    for table, rows in language_rows(readme, tmp_path).items():
        for row in rows:
            assert row in lines, f"{table}: {row}"


def test_regions_run_beside_the_main_state(readme: str, tmp_path: Path) -> None:
    chart = load_example(readme, "regions", tmp_path)
    # Machine.state is the main leaf; leaves() lists those only
    assert chart.leaves() == ("offline", "online.idle", "online.talking")
    assert chart.all_leaves()[-2:] == ("online.next.unchanged", "online.next.pause_next")
    m = Machine(chart, state="online.talking")
    assert m.in_state("next") and m.in_state("unchanged") and not m.in_state("pause_next")


def test_guards_and_settings_examples_behave_as_told(readme: str, tmp_path: Path) -> None:
    guards = load_example(readme, "guards", tmp_path)
    text = example(readme, "guards").replace("after_call: pause", "after_call: idle")
    other = load_example(readme, "guards", tmp_path, text)
    # a setting decides once, when the chart is compiled: with another value the second
    # transition applies
    assert Machine(guards, state="talking").apply("hung_up").target == "online.paused"
    assert Machine(other, state="talking").apply("hung_up").target == "online.idle"

    settings = load_example(readme, "settings", tmp_path)
    m = Machine(settings, state="talking")
    step = m.apply("hung_up")
    assert (step.target, step.timers) == ("idle", ())  # wrap_up_seconds 0: no wrap-up
    assert m.apply("too_busy").commands == (ChartCommand("pause", {"reason": "busy"}),)
    longer = example(readme, "settings").replace("wrap_up_seconds: 0 ", "wrap_up_seconds: 20")
    m = Machine(load_example(readme, "settings", tmp_path, longer), state="talking")
    assert m.apply("hung_up").timers == (TimerChange("wrap_up.after.0", 20.0),)


def test_sends_and_kept_values_examples_behave_as_told(readme: str, tmp_path: Path) -> None:
    sends = load_example(readme, "sends", tmp_path)
    m = Machine(sends, state="ringing")
    assert m.apply("ring_timeout").commands == (ChartCommand("hangup"),)
    step = m.apply("ring_no_answer")
    assert (step.target, step.commands) == (
        "idle",
        (ChartCommand("pause", {"reason": "no_answer"}),),
    )
    m = Machine(sends, state="ringing")
    assert m.apply("ring_no_answer", reason="cancelled").commands == ()  # the send's guard
    # the command is checked like any other, in the state reached: allowed in idle
    m.check("pause", reason="no_answer")

    kept = load_example(readme, "kept", tmp_path)
    m = Machine(kept)
    m.apply("next_chosen", reason="lunch")
    assert m.kept == {"next_reason": "lunch"}
    assert m.apply("hung_up").commands == (ChartCommand("pause", {"reason": "lunch"}),)
    assert Machine(kept).apply("hung_up").commands == (
        ChartCommand("pause", {"reason": "after_call"}),
    )


def test_local_and_choices_examples_behave_as_told(readme: str, tmp_path: Path) -> None:
    local = load_example(readme, "local", tmp_path)
    assert local.commands["note"].local and not local.commands["end_wrap_up"].local
    vmap = load_vendor_map_text(example(readme, "local vendor map"), local, "acme-local.yaml")
    assert vmap.local == {"end_wrap_up"} and dict(vmap.commands) == {}
    m = Machine(local)
    m.check("note", text="call back")
    # what the session applies for it, at once: its confirm, the arguments as payload
    step = m.apply("noted", text="call back")
    assert [(n.name, dict(n.payload)) for n in step.notifications] == [
        ("onNote", {"text": "call back"})
    ]

    choices = load_example(readme, "choices", tmp_path)
    m = Machine(choices)
    with pytest.raises(InvalidArguments) as caught:
        m.check("set_next_state", next="later")
    assert f"`{caught.value}`" in readme
    assert m.state == "talking"
    m.check("set_next_state", next="not_ready")


def test_extends_example_merges_as_told(readme: str, tmp_path: Path, desk: Chart) -> None:
    plus = load_example(readme, "extends", tmp_path)
    assert (plus.extends, plus.is_a("desk"), plus.rights) == (
        ("desk",), True, {"supervisor", "trainer"})  # fmt: skip
    assert plus.states["online.talking"].description == "On a call."
    assert plus.states["online.held"].parent == "online"
    assert set(plus.states) == {*desk.states, "online.held"}
    assert [t.source for t in plus.signals["hung_up"].transitions] == [
        "online.ringing", "online.talking", "online.held"]  # fmt: skip
    assert plus.signals["link_lost"] == desk.signals["link_lost"]
    # a map written for the base chart serves the extension
    load_vendor_map_text(example(readme, "vendor map"), plus, "acme.yaml")

    mine = load_example(readme, "my_agent", tmp_path)
    base = default_chart()
    assert (mine.extends, dict(mine.settings)) == (
        ("agent",), {"wrap_up_seconds": 30, "ring_timeout_seconds": 20})  # fmt: skip
    assert set(mine.states) == set(base.states) and set(mine.commands) == set(base.commands)


@pytest.mark.parametrize(
    ("marker", "old", "new", "line"), LANGUAGE_MISTAKES, ids=[m[3] for m in LANGUAGE_MISTAKES]
)
def test_language_error_examples_are_real(
    readme: str, tmp_path: Path, marker: str, old: str, new: str, line: str
) -> None:
    text = example(readme, marker)
    assert old in text
    with pytest.raises(SpecError) as caught:
        load_example(readme, marker, tmp_path, text.replace(old, new, 1))
    assert line in [str(p) for p in caught.value.problems]
    assert f"`{line}`" in readme


@pytest.mark.parametrize(
    ("old", "new", "line"), LOCAL_MAP_MISTAKES, ids=[m[2] for m in LOCAL_MAP_MISTAKES]
)
def test_local_vendor_map_error_examples_are_real(
    readme: str, tmp_path: Path, old: str, new: str, line: str
) -> None:
    local = load_example(readme, "local", tmp_path)
    text = example(readme, "local vendor map")
    assert old in text
    with pytest.raises(SpecError) as caught:
        load_vendor_map_text(text.replace(old, new, 1), local, "acme-local.yaml")
    assert line in [str(p) for p in caught.value.problems]
    assert f"`{line}`" in readme


def test_extends_cycle_shown_is_real(
    readme: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for name, text in CYCLE.items():
        Path(name).write_text(text, "utf-8")
        assert text.replace("\n", " ").strip() in readme.replace("\n", " ")
    with pytest.raises(SpecError) as caught:
        load_chart("a.yaml")
    assert [str(p) for p in caught.value.problems] == [CYCLE_LINE]
    assert f"`{CYCLE_LINE}`" in readme


def test_default_chart_claims(readme: str) -> None:
    chart = default_chart()
    m = Machine(chart, state="checked_in.talking")
    assert m.states == ("checked_in.talking", "checked_in.next.unchanged")
    assert chart.settings == {"wrap_up_seconds": 0, "ring_timeout_seconds": 0}
    # settings of 0: the ring timer is never armed, a call ends straight in available
    assert m.apply("hung_up").target == "checked_in.available.idle"
    ringing = Machine(chart, state="checked_in.available.idle").apply("ringing")
    assert ringing.timers == ()
    # the vendor's wrap-up, with its own time
    m = Machine(chart, state="checked_in.available.idle")
    step = m.apply("wrap_up_started", wrap_up_seconds=60)
    assert (step.target, step.timers) == (
        "checked_in.wrap_up", (TimerChange("checked_in.wrap_up.after.0", 60.0),))  # fmt: skip
    assert Machine(chart, state="checked_in.available.idle").apply("wrap_up_started").timers == ()
    # again during wrap-up: the state is left and entered, its timer starts again
    assert m.apply("wrap_up_started", wrap_up_seconds=90).timers == (
        TimerChange("checked_in.wrap_up.after.0"),
        TimerChange("checked_in.wrap_up.after.0", 90.0),
    )
    # the vendor's ring-no-answer report
    m = Machine(chart, state="checked_in.ringing")
    step = m.apply("ring_no_answer", call_id="c1")
    assert (step.target, step.names, step.commands) == (
        "checked_in.available.idle", ("onRingNoAnswer",),
        (ChartCommand("pause", {"reason": "ring_no_answer"}),))  # fmt: skip
    # conference only once the consulted party answered
    m = Machine(chart, state="checked_in.talking")
    m.apply("consult_started", target="2002")
    assert m.state == "checked_in.consulting.consult_ringing"
    with pytest.raises(IllegalCommand) as caught:
        m.check("conference")
    assert f"`{caught.value}`" in readme
    m.apply("consult_answered")
    assert m.state == "checked_in.consulting.consult_talking"
    m.check("conference")
    assert chart.commands["set_next_state"].local
    assert chart.commands["set_next_state"].args[0].choices == ("ready", "not_ready", "logout")
