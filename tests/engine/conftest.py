"""Fixtures for the engine tests: the default chart and the test charts under tests/charts."""

from __future__ import annotations

from pathlib import Path

import pytest

from cti_fsm import Chart, default_chart, load_chart

CHARTS = Path(__file__).resolve().parents[1] / "charts"


@pytest.fixture(scope="session")
def agent_chart() -> Chart:
    """The default agent chart (specs/agent.yaml)."""
    return default_chart()


@pytest.fixture(scope="session")
def acw_chart() -> Chart:
    """The after-call-work chart: a second call centre on the same engine."""
    return load_chart(CHARTS / "after_call_work.yaml")


@pytest.fixture(scope="session")
def nested_chart() -> Chart:
    """An abstract chart packed with nesting, history and parent-transition cases."""
    return load_chart(CHARTS / "nested_history.yaml")
