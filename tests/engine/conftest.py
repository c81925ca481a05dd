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


@pytest.fixture(scope="session")
def every_feature_chart() -> Chart:
    """tests/charts/every_feature.yaml: every feature of the chart language at least once
    (regions, guards of each kind, timers of both forms, local and chart-sent commands,
    kept values, conflicts between regions)."""
    return load_chart(CHARTS / "every_feature.yaml")


@pytest.fixture(scope="session")
def wrap_up_chart() -> Chart:
    """tests/charts/wrap_up_agent.yaml: the default chart extended with after-call work
    and a ring timeout (settings only, so every vendor map of the default chart fits)."""
    return load_chart(CHARTS / "wrap_up_agent.yaml")
