"""How fast chart_state_machine reaches every transition of the default chart, and its speed.

Two runs of the same generated state machine, in one process:

- seeded: the shortest-path walks first (one example each), then hypothesis explores;
- plain: hypothesis alone (no walks), the baseline.

For each: the example at which the last transition of the chart was first taken, and the
examples (flows) run per second over the whole run. Also measured, for reference: the
walks alone on the machine, and ``flows()`` drawing flows without the state machine.

    python benchmarks/flows.py [--examples N] [--baseline-examples N]

The last line is ``examples_to_full_coverage=E transitions=N/M flows_per_s=F`` for the
seeded run.
"""

from __future__ import annotations

import argparse
import time

from hypothesis import HealthCheck, given, settings

from cti_fsm import default_chart
from cti_fsm.testing import chart_state_machine, chart_transitions, flows

STEPS = 50  # hypothesis's default stateful_step_count, and the walks' length


def _settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        stateful_step_count=STEPS,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )


def run(examples: int, *, walks: bool, name: str) -> tuple[int | None, int, int, float, float]:
    """One run: (full coverage at, covered, total, flows per second, seconds)."""
    cls = chart_state_machine(default_chart(), plan_steps=STEPS, name=name)
    started = time.perf_counter()
    cls.run(settings=_settings(examples), walks=walks)
    elapsed = time.perf_counter() - started
    return (
        cls.full_coverage_at,
        len(cls.coverage.covered),
        len(cls.coverage.transitions),
        cls.examples / elapsed,
        elapsed,
    )


def walks_alone(repeat: int = 20) -> float:
    """Walks per second: the seeded examples on the machine, without hypothesis."""
    cls = chart_state_machine(default_chart(), plan_steps=STEPS, name="WalksOnly")
    cls.plans()
    started = time.perf_counter()
    for _ in range(repeat):
        cls.run_walks()
    return repeat * len(cls.plans()) / (time.perf_counter() - started)


def flows_strategy(examples: int = 500) -> float:
    """flows() per second (up to 20 steps each), drawn by @given."""
    count = 0

    @_settings(examples)
    @given(flows(default_chart(), max_steps=20))
    def draw(flow: object) -> None:
        nonlocal count
        count += 1

    started = time.perf_counter()
    draw()
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=100, help="hypothesis examples (seeded)")
    parser.add_argument(
        "--baseline-examples", type=int, default=1000, help="hypothesis examples (plain)"
    )
    args = parser.parse_args()
    total = len(chart_transitions(default_chart()))

    seeded = run(args.examples, walks=True, name="Seeded")
    plain = run(args.baseline_examples, walks=False, name="Plain")
    per_walk = walks_alone()
    per_flow = flows_strategy()

    for label, (at, covered, _, fps, secs) in (("seeded", seeded), ("plain", plain)):
        reached = f"full coverage at example {at}" if at else "full coverage not reached"
        print(
            f"{label:>7}: {reached}; {covered}/{total} transitions;"
            f" {fps:.0f} flows/s ({secs:.1f}s, {STEPS} steps per flow)"
        )
    if seeded[0] and plain[0]:
        print(f"  ratio: plain needs {plain[0] / seeded[0]:.1f}x the examples")
    elif seeded[0]:
        print(f"  ratio: plain did not reach full coverage in {args.baseline_examples} examples")
    print(f"  walks alone on the machine: {per_walk:.0f} flows/s ({STEPS} steps)")
    print(f"  flows() strategy under @given: {per_flow:.0f} flows/s (up to 20 steps)")
    at = seeded[0] if seeded[0] is not None else "none"
    figures = f"transitions={seeded[1]}/{total} flows_per_s={seeded[3]:.0f}"
    print(f"examples_to_full_coverage={at} {figures}")


if __name__ == "__main__":
    main()
