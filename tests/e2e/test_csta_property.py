"""The property, against csta-ws over loopback: random valid commands (of the agent and of
a supervisor) and switch stimuli (calls arriving, customers and third parties answering,
hanging up, rejecting); after every step each agent's state equals the switch's ground
truth, every awaited command has resolved, and every command refused in that state sends
nothing. Hypothesis draws the walks (``check_adapter``'s random walk)."""

from __future__ import annotations

from cti_fsm_csta_ws import adapter
from e2etools import fast_chart

from cti_fsm.testing import check_adapter


async def test_random_walks_keep_agents_and_switch_in_step() -> None:
    report = await check_adapter(
        adapter,
        scenarios=(),
        walk_examples=15,
        walk_steps=25,
        walk_seed=20261124,  # the same walks each run: a failure reproduces
        settle=0.01,
        step_timeout=2.0,
        chart=fast_chart(2.0),
    )
    assert report.walks == 15
    # walks stop early only in a state where nothing can happen, which this chart lacks
    assert report.walk_steps >= 15 * 12
    assert report.commands > report.walk_steps // 3
    assert report.gaps_hit == ()
