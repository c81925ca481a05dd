"""Fixtures for the tooling tests: the test charts under tests/charts."""

from __future__ import annotations

from pathlib import Path

import pytest

from cti_fsm import Chart, load_chart

CHARTS = Path(__file__).resolve().parents[1] / "charts"


@pytest.fixture(scope="session", params=["after_call_work", "every_feature", "wrap_up_agent"])
def test_chart(request: pytest.FixtureRequest) -> Chart:
    """Each test chart of tests/charts in turn."""
    return load_chart(CHARTS / f"{request.param}.yaml")


@pytest.fixture(scope="session")
def acw_chart() -> Chart:
    """tests/charts/after_call_work.yaml: no regions, guards or timers."""
    return load_chart(CHARTS / "after_call_work.yaml")


@pytest.fixture(scope="session")
def every_feature_chart() -> Chart:
    """tests/charts/every_feature.yaml: every feature of the chart language."""
    return load_chart(CHARTS / "every_feature.yaml")


@pytest.fixture(scope="session")
def wrap_up_chart() -> Chart:
    """tests/charts/wrap_up_agent.yaml: the default chart with after-call work."""
    return load_chart(CHARTS / "wrap_up_agent.yaml")
