"""Helpers shared by the network benchmarks (``wire.py``, ``scale.py``): timing summaries,
profiles grouped by module, resident memory, and the machine-readable last line.

Not a benchmark itself; the scripts import it from their own directory.
"""

from __future__ import annotations

import cProfile
import gc
import io
import os
import pstats
import statistics
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence

import attrs


@attrs.frozen
class Rates:
    """Round trips per second of one contender over several timed runs."""

    name: str
    runs: tuple[float, ...]
    #: the same runs' rates by this process's CPU time (user + system): what the work
    #: costs, undisturbed by other processes taking the CPU meanwhile
    cpu_runs: tuple[float, ...] = ()

    @property
    def best(self) -> float:
        """The fastest run: the least disturbed by other processes."""
        return max(self.runs)

    @property
    def median(self) -> float:
        """The middle run."""
        return statistics.median(self.runs)

    @property
    def cpu_best(self) -> float:
        """The best run by CPU time (0 if not measured)."""
        return max(self.cpu_runs, default=0.0)

    @property
    def best_us(self) -> float:
        """Microseconds per round trip in the fastest run."""
        return 1e6 / self.best


def rates_table(rows: Sequence[Rates], reference: Rates) -> str:
    """A readable table: best and median wall-clock rates, microseconds per round trip,
    the ratio to ``reference``, and the same by CPU time."""
    width = max(len(r.name) for r in rows)
    lines = [
        f"{'':{width}} {'best rt/s':>10} {'median':>8} {'us/rt':>7} {'/ base':>7}"
        f" {'cpu rt/s':>9} {'/ base':>7}",
    ]
    for r in rows:
        cpu = reference.cpu_best and r.cpu_best / reference.cpu_best
        lines.append(
            f"{r.name:{width}} {r.best:10,.0f} {r.median:8,.0f} {r.best_us:7.1f}"
            f" {r.best / reference.best:7.2f} {r.cpu_best:9,.0f} {cpu:7.2f}"
        )
    return "\n".join(lines)


def key_values(**figures: float | int) -> str:
    """The last line: ``key=value`` pairs in the given order. Integers as they are; a
    float under 1 to three significant figures, under 100 to two decimals, else whole."""
    out = []
    for key, value in figures.items():
        if isinstance(value, int):
            out.append(f"{key}={value}")
        elif abs(value) >= 100:
            out.append(f"{key}={value:.0f}")
        else:
            out.append(f"{key}={value:.3g}" if abs(value) < 1 else f"{key}={value:.2f}")
    return " ".join(out)


def percentile(values: Sequence[float], fraction: float) -> float:
    """The ``fraction`` (0..1) percentile by nearest rank.

    Raises:
        ValueError: no values.
    """
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[rank]


def rss_bytes() -> int:
    """This process's resident set size, from ``/proc/self/statm`` (Linux)."""
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


#: Where a profiled function's file belongs, by the first path fragment it contains.
_AREAS: tuple[tuple[str, str], ...] = (
    ("cti_fsm_csta_ws/simulator", "csta-ws simulator"),
    ("cti_fsm_asterisk_ami/simulator", "ami simulator"),
    ("cti_fsm_csta_ws/transport", "csta-ws client transport (wsproto)"),
    ("cti_fsm_csta_ws", "csta-ws codec + protocol"),
    ("cti_fsm_asterisk_ami", "ami codec + protocol + transport"),
    ("cti_fsm/switch", "switch model"),
    ("cti_fsm/agent", "agent"),
    ("cti_fsm/machine", "machine"),
    ("cti_fsm/vendor_map", "vendor map"),
    ("cti_fsm", "cti_fsm other"),
    ("trio_websocket", "trio-websocket"),
    ("wsproto", "wsproto"),
    ("h11", "h11"),
    ("/trio/", "trio"),
    ("methods trio.", "trio"),
    ("/outcome/", "trio"),
    ("methods outcome.", "trio"),
    ("sortedcontainers", "trio"),
    ("/json/", "json"),
    ("/logging/", "logging"),
    ("attr", "attrs"),
    ("benchmarks/", "benchmark loop"),
    ("<frozen", "stdlib (abc, codecs, ...)"),
    ("/lib/python3", "stdlib (abc, codecs, ...)"),
)


def _area(filename: str) -> str:
    for fragment, area in _AREAS:
        if fragment in filename:
            return area
    if filename.startswith("~") or filename == "":
        return "builtins (C)"
    return "other"


def profile_report(
    profile: cProfile.Profile, rounds: int, top: int = 18, unit: str = "round trip"
) -> str:
    """Own time per area (module group) and the costliest functions, in microseconds per
    ``unit``, from a profile of ``rounds`` units (round trips, agents)."""
    stats = pstats.Stats(profile, stream=io.StringIO())
    raw: Mapping[tuple[str, int, str], tuple[int, int, float, float, object]]
    raw = stats.stats  # type: ignore[attr-defined]
    areas: dict[str, float] = defaultdict(float)
    functions: list[tuple[float, int, str]] = []
    for (filename, line, name), (_cc, ncalls, tottime, _cum, _callers) in raw.items():
        area = _area(filename)
        if area == "builtins (C)":
            area = _builtin_area(name)
        areas[area] += tottime
        functions.append((tottime, ncalls, f"{_short(filename)}:{line}({name})"))
    total = sum(areas.values())
    lines = [f"profile: {rounds} x {unit}, own time by area (us per {unit}, share)"]
    for area, seconds in sorted(areas.items(), key=lambda kv: -kv[1]):
        lines.append(f"  {area:40} {1e6 * seconds / rounds:8.1f} {seconds / total:7.1%}")
    lines.append(f"  {'total (profiled, inflated by cProfile)':40} {1e6 * total / rounds:8.1f}")
    counts = {name: n for (_f, _l, name), (_c, n, *_rest) in raw.items()}
    lines.append(
        f"  per {unit}: "
        + "{} scheduler batches (epoll polls), {} trio reschedules,"
        " {} socket sends, {} socket receives".format(
            *(
                f"{counts.get(name, 0) / rounds:.1f}"
                for name in (
                    "<method 'poll' of 'select.epoll' objects>",
                    "reschedule",
                    "<method 'send' of '_socket.socket' objects>",
                    "<method 'recv' of '_socket.socket' objects>",
                )
            )
        )
    )
    if top <= 0:
        return "\n".join(lines)
    lines.append(f"top {top} functions by own time (us per {unit}, calls per {unit})")
    for seconds, calls, where in sorted(functions, reverse=True)[:top]:
        lines.append(f"  {1e6 * seconds / rounds:7.2f} {calls / rounds:6.1f}  {where}")
    return "\n".join(lines)


def _builtin_area(name: str) -> str:
    # C functions show up as {method 'x' of 'y' objects} or {built-in method ...}
    if "socket" in name or "send" in name or "recv" in name or "epoll" in name:
        return "socket + epoll (C)"
    if "json" in name or "scanner" in name or "encode" in name:
        return "json (C)"
    return "builtins (C)"


def _short(filename: str) -> str:
    for marker in ("site-packages/", "/work/main/", "lib/python3"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


@attrs.define
class GcPauses:
    """Garbage-collector pauses, timed while installed in ``gc.callbacks`` (use ``with``)."""

    pauses: list[tuple[int, float]] = attrs.field(factory=list)
    _started: float = 0.0

    def __enter__(self) -> GcPauses:
        self.pauses.clear()
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self)

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses.append((info["generation"], time.perf_counter() - self._started))

    @property
    def longest_ms(self) -> float:
        """The longest pause, in milliseconds (0 if none)."""
        return 1e3 * max((p for _, p in self.pauses), default=0.0)

    @property
    def full(self) -> int:
        """How many were full (generation 2) collections."""
        return sum(1 for g, _ in self.pauses if g == 2)

    def summary(self) -> str:
        """``N collections (F full), longest X ms, T s in all``."""
        if not self.pauses:
            return "no collections"
        total = sum(p for _, p in self.pauses)
        return (
            f"{len(self.pauses)} collections ({self.full} full), longest {self.longest_ms:.1f}"
            f" ms, {total:.2f} s in all"
        )
