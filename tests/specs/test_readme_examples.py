"""specs/README.md stays true: its examples load, validate and behave as the text says."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from cti_fsm.chart import Chart
from cti_fsm.chart_loader import load_chart_text
from cti_fsm.cli import main
from cti_fsm.errors import SpecError
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
    shown = set(
        re.findall(r"^\| [^|]+ \| `((?:desk|acme)\.yaml:\d+:\d+: [^`]+)` \|$", readme, re.M)
    )
    shown |= set(re.findall(r"^((?:desk|acme)\.yaml:\d+:\d+: .+)$", readme, re.M))
    # the `cti-fsm check` output example reuses two of the chart mistakes
    assert shown == {line for _, _, line in CHART_MISTAKES + VENDOR_MISTAKES}


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
