"""pytest plugin: ``pytest --chart-coverage`` reports which chart transitions the tests took.

Registered through the ``pytest11`` entry point, so it is there whenever cti-fsm is
installed; it imports nothing from cti-fsm unless ``--chart-coverage`` is given. With
the option, every ``Machine`` is observed for the whole session and each chart the tests
ran is measured (a ``ChartsCoverage``: charts loaded from the same file count as one);
the terminal summary shows, per chart loaded from a file, ``chart transitions covered:
N/M`` with the missed transitions. ``--chart-coverage-chart PATH`` measures that chart
alone (reported even if no machine ran it). ``--chart-coverage-fail-under PERCENT``
fails the run when a reported chart is below that share.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .coverage import ChartsCoverage, Coverage

_KEY = pytest.StashKey["Coverage | ChartsCoverage"]()


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
        help="measure this chart alone (default: every chart the tests' machines run)",
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
    from ..chart_loader import load_chart
    from .coverage import ChartsCoverage, Coverage

    path = config.getoption("chart_coverage_chart")
    coverage = Coverage(load_chart(path)) if path else ChartsCoverage()
    coverage.start()
    config.stash[_KEY] = coverage


def pytest_unconfigure(config: pytest.Config) -> None:
    """Stop observing (``Machine`` is restored)."""
    coverage = config.stash.get(_KEY, None)
    if coverage is not None:
        coverage.stop()


def _reported(coverage: Coverage | ChartsCoverage) -> tuple[Coverage, ...]:
    from .coverage import Coverage

    return (coverage,) if isinstance(coverage, Coverage) else coverage.from_files()


def _below(config: pytest.Config, coverage: Coverage | ChartsCoverage) -> list[Coverage]:
    """The reported charts under ``--chart-coverage-fail-under``."""
    floor: float | None = config.getoption("chart_coverage_fail_under")
    if floor is None:
        return []
    return [c for c in _reported(coverage) if c.share < floor]


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run when coverage is under ``--chart-coverage-fail-under``."""
    coverage = session.config.stash.get(_KEY, None)
    if coverage is not None and exitstatus == 0 and _below(session.config, coverage):
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
    floor = config.getoption("chart_coverage_fail_under")
    for below in _below(config, coverage):
        terminalreporter.write_line(
            f"FAIL: chart transition coverage of {below.chart.name!r} ({below.chart.source})"
            f" {below.share:.1f}% is under {floor}%",
            red=True,
        )
