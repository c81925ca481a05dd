"""Spec loading benchmark: how long ``load_chart`` takes on a large valid chart, against
PyYAML composing the same text (the floor: every loader has to read the YAML).

Run: ``python benchmarks/spec_load.py [--groups G --leaves L]``. The chart is generated:
G compound states of L leaves each (G + G*L states; 100 x 99 is 10,000), and G*(L+1)
transitions (10,000): ``step_k`` moves each group's leaf k to leaf k+1 (the last back to
the first) and ``next_group`` moves each group's last leaf into the next group. Every
state is reachable, so the chart is valid. Transitions name leaves by their short names
(``g3l5`` for ``g3.g3l5``), as charts written by hand do, so every reference is resolved.
Each timing is the best of ``--repeats``.

Measured in the same run:

- **compose**: ``yaml.compose`` of the text with the C loader (the floor).
- **load_chart**: parse, validate and build the ``Chart`` (the YAML layer, the alias
  check and the chart loader).
- **compile** (with ``--compile``): ``compile_chart`` of the loaded chart (the engine's
  tables), for scale; not part of loading, and slow on charts this large.

Doubling the chart (``--groups`` x2) shows whether loading is linear: the last line's
``growth_x2`` is the time ratio of twice the chart to the chart (2 is linear, 4 quadratic).

The last line is machine-readable::

    states=N transitions=T spec_load_s=S compose_s=C load_per_compose=R growth_x2=G
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
from collections.abc import Callable

import yaml
from _bench import key_values

from cti_fsm.chart_loader import load_chart
from cti_fsm.machine import compile_chart

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def chart_text(groups: int, leaves: int) -> str:
    """A valid chart of ``groups`` compound states of ``leaves`` leaves each."""
    out = [
        "chart: big",
        "version: 1",
        "initial: g0",
        "states:",
    ]
    for g in range(groups):
        out.append(f"  g{g}:")
        out.append(f"    initial: g{g}l0")
        out.append("    states:")
        out.extend(f"      g{g}l{k}: {{}}" for k in range(leaves))
    out.append("signals:")
    for k in range(leaves):
        out.append(f"  step_{k}:")
        out.append("    transitions:")
        nxt = (k + 1) % leaves
        out.extend(f"      - {{from: g{g}l{k}, to: g{g}l{nxt}}}" for g in range(groups))
    out.append("  next_group:")
    out.append("    transitions:")
    last = leaves - 1
    out.extend(f"      - {{from: g{g}l{last}, to: g{(g + 1) % groups}}}" for g in range(groups))
    return "\n".join(out) + "\n"


def best(run: Callable[[], object], repeats: int) -> float:
    """The best wall time of ``repeats`` calls of ``run``."""
    times = []
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def measure(groups: int, leaves: int, repeats: int, compile: bool) -> dict[str, float | int]:
    """Times for one chart size (written to a temporary file, as a user's chart is)."""
    text = chart_text(groups, leaves)
    fd, path = tempfile.mkstemp(suffix=".yaml")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        chart = load_chart(path)
        transitions = sum(1 for _ in chart.transitions())
        compose_s = best(lambda: yaml.compose(text, Loader=_Loader), repeats)
        load_s = best(lambda: load_chart(path), repeats)
        compile_s = best(lambda: compile_chart(load_chart(path)), 1) - load_s if compile else 0
    finally:
        os.unlink(path)
    return {
        "states": len(chart.states),
        "transitions": transitions,
        "bytes": len(text.encode()),
        "spec_load_s": load_s,
        "compose_s": compose_s,
        "compile_s": max(compile_s, 0.0),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table and the last line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--groups", type=int, default=100, help="compound states (100)")
    parser.add_argument("--leaves", type=int, default=99, help="leaves in each (99)")
    parser.add_argument("--repeats", type=int, default=3, help="timings kept the best of (3)")
    parser.add_argument(
        "--compile", action="store_true", help="also time compile_chart of the first chart"
    )
    args = parser.parse_args(argv)
    one = measure(args.groups, args.leaves, args.repeats, args.compile)
    two = measure(args.groups * 2, args.leaves, args.repeats, False)
    for label, m in (("chart", one), ("chart x2", two)):
        compiled = f"  compile {m['compile_s']:7.3f} s" if m["compile_s"] else ""
        print(
            f"{label:<9} {m['states']:>7} states {m['transitions']:>7} transitions"
            f" {m['bytes'] / 1024:8.0f} KiB  compose {m['compose_s']:7.3f} s"
            f"  load_chart {m['spec_load_s']:7.3f} s{compiled}"
        )
    print(
        key_values(
            states=int(one["states"]),
            transitions=int(one["transitions"]),
            spec_load_s=float(one["spec_load_s"]),
            compose_s=float(one["compose_s"]),
            load_per_compose=float(one["spec_load_s"]) / float(one["compose_s"]),
            growth_x2=float(two["spec_load_s"]) / float(one["spec_load_s"]),
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
