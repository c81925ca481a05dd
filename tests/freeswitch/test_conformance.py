"""freeswitch-esl passes the adapter conformance suite, with the one gap its README declares."""

from __future__ import annotations

from typing import Any

from cti_fsm_freeswitch_esl import adapter
from esltools import ESL_GAPS, esl_login

from cti_fsm.chart_loader import default_chart_path, load_chart_text
from cti_fsm.testing import check_adapter
from cti_fsm.testing.conformance import SCENARIOS


def _fast_chart() -> Any:
    # every command's timeout cut to 2 s: a command never answered fails sooner
    from pathlib import Path

    path = default_chart_path()
    text = Path(path).read_text(encoding="utf-8")
    return load_chart_text(text.replace("  timeout: 10\n", "  timeout: 2\n"), path)


async def test_freeswitch_esl_conforms_with_its_documented_gap() -> None:
    report = await check_adapter(
        adapter,
        login=esl_login,
        gaps=ESL_GAPS,
        walk_examples=8,
        walk_seed=1,
        settle=0.01,
        step_timeout=2.0,
        chart=_fast_chart(),
    )
    assert report.scenarios == tuple(s.name for s in SCENARIOS)
    assert report.walks >= 8
    assert report.refusals_checked > 1000
    assert {g.gap for g in report.gaps_hit} == {ESL_GAPS[0].name}
    # FreeSWITCH cannot take the agent's phone off-hook: answering is the phone's
    assert {s.reason for s in report.phone} == {"freeswitch-esl cannot answer: done on the phone"}
    # and it has no rights to report: both queries are skipped, by name
    assert sorted(s.reason for s in report.skipped) == ["freeswitch-esl cannot get_rights"] * 2
