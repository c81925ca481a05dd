"""``cti-fsm check FILE...``: validate charts (and vendor maps) and report every problem."""

from __future__ import annotations

import argparse
import sys

from ..chart import Chart
from ..chart_loader import default_chart, load_chart
from ..errors import SpecError
from ..vendor_map import load_vendor_map
from ..yaml_nodes import compose_file

HELP = "check chart or vendor-map files; print every problem as FILE:LINE:COL: message"


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the subcommand's arguments."""
    parser.add_argument("files", nargs="+", metavar="FILE", help="chart or vendor map (YAML)")
    parser.add_argument(
        "--chart",
        metavar="CHART",
        help="chart that vendor maps are checked against (default: the default chart)",
    )


def _is_vendor_map(path: str) -> bool:
    root = compose_file(path)
    return root is not None and any(
        getattr(k, "value", None) == "vendor" for k, _ in getattr(root, "value", ())
    )


def run(args: argparse.Namespace) -> int:
    """Check every file; 0 with a one-line summary each if all are clean, else 1."""
    failed = False
    chart: Chart | None = None
    for path in args.files:
        try:
            if _is_vendor_map(path):
                if chart is None:
                    chart = load_chart(args.chart) if args.chart else default_chart()
                vmap = load_vendor_map(path, chart)
                print(
                    f"{path}: ok: vendor map {vmap.vendor!r} for chart {vmap.chart!r},"
                    f" {len(vmap.rules)} signal rules, {len(vmap.commands)} commands,"
                    f" {len(vmap.unsupported)} unsupported"
                )
            else:
                c = load_chart(path)
                transitions = sum(1 for _ in c.transitions())
                print(
                    f"{path}: ok: chart {c.name!r}, {len(c.states)} states"
                    f" ({len(c.leaves())} leaves), {len(c.commands)} commands,"
                    f" {len(c.signals)} signals, {transitions} transitions,"
                    f" {len(c.notifications)} notifications"
                )
        except SpecError as exc:
            failed = True
            print(str(exc), file=sys.stderr)
            print(f"{path}: {len(exc.problems)} problem(s)", file=sys.stderr)
    return 1 if failed else 0
