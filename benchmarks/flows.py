"""How fast chart_state_machine reaches every transition of the default chart, and its speed.

Two runs of the same generated state machine, in one process:

- seeded: the shortest-path walks first (one example each), then hypothesis explores;
- plain: hypothesis alone (no walks), the baseline.

For each: the example at which the last transition of the chart was first taken, and the
examples (flows) run per second over the whole run, with the steps a flow took on
average (``stateful_step_count`` is 50; a flow stops early only when hypothesis says so).
Also measured, for reference: the walks alone on the machine, ``flows()`` drawing flows
without the state machine, and the same class under hypothesis's own state-machine runner
(``run_state_machine_as_test``, one hypothesis choice per rule and argument).

    python benchmarks/flows.py [--examples N] [--baseline-examples N] [--stock-examples N]

Runs of 1000 examples by default: a run's fixed costs (hypothesis's start, the walks) are
then a small part of it. The last line is
``examples_to_full_coverage=E transitions=N/M flows_per_s=F`` for the seeded run.
"""

from __future__ import annotations

import argparse
import time

import attrs
from hypothesis import HealthCheck, given, settings
from hypothesis.stateful import invariant, run_state_machine_as_test

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


@attrs.frozen
class Run:
    """What one run of a generated state machine measured."""

    full_coverage_at: int | None
    covered: int
    examples: int
    steps: int
    seconds: float

    @property
    def flows_per_s(self) -> float:
        return self.examples / self.seconds

    @property
    def steps_per_flow(self) -> float:
        return self.steps / self.examples


def run(examples: int, *, walks: bool, name: str, stock: bool = False) -> Run:
    """One run of a fresh class; ``stock`` runs it under hypothesis's own runner."""
    cls = chart_state_machine(default_chart(), plan_steps=STEPS, name=name)
    started = time.perf_counter()
    if stock:
        checks = 0

        class Counted(cls):  # type: ignore[misc,valid-type]
            # hypothesis's runner checks invariants once at the start and after each step
            @invariant()
            def count(self) -> None:
                nonlocal checks
                checks += 1

        run_state_machine_as_test(Counted, settings=_settings(examples))
        cls, steps = Counted, checks - Counted.examples
    else:
        cls.run(settings=_settings(examples), walks=walks)
        steps = cls.steps
    elapsed = time.perf_counter() - started
    return Run(cls.full_coverage_at, len(cls.coverage.covered), cls.examples, steps, elapsed)


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
    parser.add_argument("--examples", type=int, default=1000, help="hypothesis examples (seeded)")
    parser.add_argument(
        "--baseline-examples", type=int, default=1000, help="hypothesis examples (plain)"
    )
    parser.add_argument(
        "--stock-examples", type=int, default=100, help="examples under hypothesis's runner"
    )
    args = parser.parse_args()
    total = len(chart_transitions(default_chart()))

    seeded = run(args.examples, walks=True, name="Seeded")
    plain = run(args.baseline_examples, walks=False, name="Plain")
    stock = run(args.stock_examples, walks=False, name="Stock", stock=True)
    per_walk = walks_alone()
    per_flow = flows_strategy()

    for label, r in (("seeded", seeded), ("plain", plain), ("stock", stock)):
        at = r.full_coverage_at
        reached = f"full coverage at example {at}" if at else "full coverage not reached"
        print(
            f"{label:>7}: {reached}; {r.covered}/{total} transitions;"
            f" {r.flows_per_s:.0f} flows/s ({r.examples} in {r.seconds:.1f}s,"
            f" {r.steps_per_flow:.1f} steps per flow)"
        )
    if seeded.full_coverage_at and plain.full_coverage_at:
        ratio = plain.full_coverage_at / seeded.full_coverage_at
        print(f"  ratio: plain needs {ratio:.1f}x the examples")
    elif seeded.full_coverage_at:
        print(f"  ratio: plain did not reach full coverage in {args.baseline_examples} examples")
    print(f"  speed: {seeded.flows_per_s / stock.flows_per_s:.1f}x hypothesis's own runner")
    print(f"  walks alone on the machine: {per_walk:.0f} flows/s ({STEPS} steps)")
    print(f"  flows() strategy under @given: {per_flow:.0f} flows/s (up to 20 steps)")
    at_text = seeded.full_coverage_at if seeded.full_coverage_at is not None else "none"
    figures = f"transitions={seeded.covered}/{total} flows_per_s={seeded.flows_per_s:.0f}"
    print(f"examples_to_full_coverage={at_text} {figures}")


if __name__ == "__main__":
    main()
