"""A chart of your own on a shipped vendor: checked before anything connects.

``open_agent(..., chart=mine)`` checks the vendor map against ``mine`` exactly as
``cti-fsm check --chart`` does and refuses a mismatch with the same problems; a chart that
extends the default chart and only adds what needs no vendor (settings, local commands,
states and notifications) runs on the shipped maps unchanged.
"""

from __future__ import annotations

import pathlib

import pytest

import cti_fsm
from cti_fsm.adapter import load_adapter
from cti_fsm.cli import main

ROOT = pathlib.Path(__file__).resolve().parents[2]


def write(tmp_path: pathlib.Path, name: str, text: str) -> pathlib.Path:
    path = tmp_path / name
    path.write_text(text, "utf-8")
    return path


@pytest.mark.parametrize("vendor", ["csta-ws", "asterisk-ami"])
async def test_a_chart_the_map_does_not_fit_is_refused_before_connecting(
    vendor: str, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mine = write(
        tmp_path,
        "mine.yaml",
        "chart: mine\nextends: agent\ncommands:\n"
        "  park:\n    description: Park the call.\n    from: talking\n    confirm: held\n",
    )
    chart = cti_fsm.load_chart(mine)
    # nothing listens at this address: refused before any attempt to reach it
    with pytest.raises(cti_fsm.SpecError) as info:
        async with cti_fsm.open_agent(vendor, "ws://127.0.0.1:9/", "1001", "pw", chart=chart):
            pass
    shown = [str(p) for p in info.value.problems]
    assert any(
        p.endswith("command 'park' is neither mapped nor listed as unsupported") for p in shown
    )
    # the same problems as the command line reports for the pairing
    map_file = ROOT / "specs" / "vendors" / f"{vendor}.yaml"
    assert main(["check", "--chart", str(mine), str(map_file)]) == 1
    assert shown == capsys.readouterr().err.strip().splitlines()[: len(shown)]


def test_a_chart_of_another_name_says_how_to_fit_it(tmp_path: pathlib.Path) -> None:
    text = pathlib.Path(cti_fsm.default_chart_path()).read_text("utf-8")
    other = cti_fsm.load_chart_text(text.replace("chart: agent", "chart: desk", 1), "desk.yaml")
    with pytest.raises(cti_fsm.SpecError, match="a chart of your own fits it by 'extends: agent'"):
        load_adapter("csta-ws").for_chart(other)


@pytest.mark.parametrize("vendor", ["csta-ws", "asterisk-ami"])
def test_a_chart_that_extends_the_default_chart_fits_every_shipped_map(vendor: str) -> None:
    mine = cti_fsm.load_chart_text(
        "chart: desk\nextends: agent\nsettings: {wrap_up_seconds: 20}\n"
        "commands:\n  note:\n    description: Take a note.\n    from: talking\n"
        "    local: true\n    args: {text: {}}\n    confirm: noted\n"
        "signals:\n  noted:\n    payload: [text]\n"
        "    transitions:\n      - {from: talking, emit: [onNote]}\n"
        "notifications:\n  onNote: {fields: [text], description: A note was taken.}\n",
        "desk.yaml",
    )
    adapter = load_adapter(vendor).for_chart(mine)
    assert adapter.chart is mine
    agent = cti_fsm.Agent(adapter, "ws://127.0.0.1:9/", "1001", "pw", chart=mine)
    assert agent.chart is mine and agent.machine.chart is mine
    # the shipped adapter object is untouched: it still runs the default chart
    assert load_adapter(vendor).chart is cti_fsm.default_chart()
