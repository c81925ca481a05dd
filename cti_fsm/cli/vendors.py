"""``cti-fsm vendors``: which chart commands each installed adapter supports.

The matrix is generated from every adapter registered in the ``cti_fsm.adapters``
entry-point group (its vendor map's ``unsupported`` list against its chart's commands).
An adapter that fails to load is reported under the table, not fatal.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from ..adapter import adapter_names, load_adapter

HELP = "print the capability matrix: chart command x installed vendor, supported or not"
YES, NO = "yes", "-"


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the subcommand's arguments."""
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")


def matrix() -> tuple[list[str], list[list[str]], list[str]]:
    """The header, one row per command (chart order), and the adapters that failed to load."""
    vendors: list[str] = []
    supported: dict[str, frozenset[str]] = {}
    # done by the library, not sent: the chart's local commands, a map's `local`
    by_library: dict[str, frozenset[str]] = {}
    commands: list[str] = []
    failed: list[str] = []
    for name in adapter_names():
        try:
            adapter = load_adapter(name)
            chart_commands = list(adapter.chart.commands)
            unsupported = adapter.unsupported
        except Exception as exc:  # a broken plug-in must not hide the others
            failed.append(f"{name}: cannot load: {type(exc).__name__}: {exc}")
            continue
        vendors.append(name)
        supported[name] = frozenset(c for c in chart_commands if c not in unsupported)
        vendor_map = getattr(adapter, "vendor_map", None)
        local = frozenset(getattr(vendor_map, "local", ()))
        by_library[name] = local | {c for c, s in adapter.chart.commands.items() if s.local}
        commands.extend(c for c in chart_commands if c not in commands)
    rows = [[c, *(_cell(c in supported[v], c in by_library[v]) for v in vendors)] for c in commands]
    return ["command", *vendors], rows, failed


def _cell(supported: bool, by_library: bool) -> str:
    if not supported:
        return NO
    return f"{YES} (by the library)" if by_library else YES


def _text(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*header), fmt.format(*("-" * w for w in widths))]
    return [line.rstrip() for line in lines + [fmt.format(*r) for r in rows]]


def _markdown(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        lines.append("| " + " | ".join([f"`{r[0]}`", *r[1:]]) + " |")
    return lines


def markdown_table() -> str:
    """The capability matrix as a Markdown table (what README.md shows)."""
    header, rows, _failed = matrix()
    return "\n".join(_markdown(header, rows))


def run(args: argparse.Namespace) -> int:
    """Print the matrix; 1 if no adapter could be loaded at all."""
    header, rows, failed = matrix()
    lines = _markdown(header, rows) if args.markdown else _text(header, rows)
    print("\n".join(lines))
    if failed:
        print("\n" + "\n".join(failed))
    return 0 if len(header) > 1 else 1
