"""pytest plugin: ``pytest --chart-coverage`` reports which chart transitions the tests took.

Registered through the ``pytest11`` entry point, so it is there whenever cti-fsm is
installed; it imports nothing from cti-fsm unless ``--chart-coverage`` is given. With
the option, a ``Coverage`` of the chart (``--chart-coverage-chart PATH``, default: the
default chart) observes every ``Machine`` of it for the whole session, and the terminal
summary shows ``chart transitions covered: N/M`` with the missed transitions.
``--chart-coverage-fail-under PERCENT`` fails the run below that share.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .coverage import Coverage

_KEY = pytest.StashKey["Coverage"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--chart-coverage`` and its options."""
    group = parser.getgroup("chart-coverage", "cti-fsm chart transition coverage")
    group.addoption(
        "--chart-coverage",
        action="store_true",
        default=False,
        help="report which chart transitions (state x signal, state x command) the tests took",
    )
    group.addoption(
        "--chart-coverage-chart",
        metavar="PATH",
        default=None,
        help="chart to measure (default: cti-fsm's default chart)",
    )
    group.addoption(
        "--chart-coverage-fail-under",
        metavar="PERCENT",
        type=float,
        default=None,
        help="fail the run if less than PERCENT of the chart's transitions were taken",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Start observing machines when ``--chart-coverage`` is given."""
    if not config.getoption("chart_coverage"):
        return
    from ..chart_loader import default_chart, load_chart
    from .coverage import Coverage

    path = config.getoption("chart_coverage_chart")
    coverage = Coverage(load_chart(path) if path else default_chart())
    coverage.start()
    config.stash[_KEY] = coverage


def pytest_unconfigure(config: pytest.Config) -> None:
    """Stop observing (``Machine`` is restored)."""
    coverage = config.stash.get(_KEY, None)
    if coverage is not None:
        coverage.stop()


def _below(config: pytest.Config, coverage: Coverage) -> float | None:
    floor: float | None = config.getoption("chart_coverage_fail_under")
    if floor is None:
        return None
    share = 100.0 * len(coverage.covered) / max(1, len(coverage.transitions))
    return share if share < floor else None


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run when coverage is under ``--chart-coverage-fail-under``."""
    coverage = session.config.stash.get(_KEY, None)
    if coverage is not None and exitstatus == 0 and _below(session.config, coverage) is not None:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    """Print the coverage report."""
    coverage = config.stash.get(_KEY, None)
    if coverage is None:
        return
    terminalreporter.section("chart transition coverage")
    for line in coverage.report().splitlines():
        terminalreporter.write_line(line)
    share = _below(config, coverage)
    if share is not None:
        floor = config.getoption("chart_coverage_fail_under")
        terminalreporter.write_line(
            f"FAIL: chart transition coverage {share:.1f}% is under {floor}%", red=True
        )
