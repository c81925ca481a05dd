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
import signal
import statistics
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from types import FrameType

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
    ("cti_fsm_asterisk_ami/codec", "ami codec"),
    ("cti_fsm_asterisk_ami/tracker", "ami tracker"),
    ("cti_fsm_asterisk_ami/protocol", "ami protocol"),
    ("cti_fsm_asterisk_ami/transport", "ami transport"),
    ("cti_fsm_asterisk_ami", "ami adapter other"),
    ("cti_fsm/switch", "switch model"),
    ("cti_fsm/agent", "agent"),
    ("cti_fsm/session", "session"),
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
    ("panoramisk", "panoramisk"),
    ("/asyncio/", "asyncio"),
    ("/selectors.py", "asyncio"),
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


#: Areas always on the stack (the event loop, the benchmark's own loop): left out of the
#: sampler's "on the stack" view, where they would be 100%.
_FRAMEWORK = ("trio", "asyncio", "benchmark loop", "stdlib (abc, codecs, ...)", "other")


class CpuSampler:
    """A sampling profile weighted by this process's CPU time (user + system): SIGPROF
    every ``interval`` seconds of it (``ITIMER_PROF``; the kernel's tick, 4 ms at 250 Hz,
    bounds how often), each sample charged to the Python function running then. Time in
    a C function or a system call (``str.split``, ``socket.send``) goes to its Python
    caller; waiting (``epoll`` asleep) costs no CPU and so takes no samples. Unlike
    cProfile it adds nothing per call, so the shares are those of the unprofiled run;
    the report scales them to the CPU time measured meanwhile. Use ``with``.
    """

    def __init__(self, interval: float = 0.001) -> None:
        self.interval = interval
        self.own: dict[tuple[str, int, str], int] = defaultdict(int)
        self.stacked: dict[str, int] = defaultdict(int)
        self.samples = 0
        self.cpu_seconds = 0.0
        self._previous: object = None
        self._started = 0.0

    def __enter__(self) -> CpuSampler:
        self._previous = signal.signal(signal.SIGPROF, self._sample)
        self._started = time.process_time()
        signal.setitimer(signal.ITIMER_PROF, self.interval, self.interval)
        return self

    def __exit__(self, *exc: object) -> None:
        signal.setitimer(signal.ITIMER_PROF, 0, 0)
        self.cpu_seconds += time.process_time() - self._started
        signal.signal(signal.SIGPROF, self._previous)  # type: ignore[arg-type]

    def _sample(self, _signum: int, frame: FrameType | None) -> None:
        if frame is None:
            return
        code = frame.f_code
        self.own[(code.co_filename, code.co_firstlineno, code.co_name)] += 1
        self.samples += 1
        seen = set()
        f: FrameType | None = frame
        while f is not None:
            seen.add(_area(f.f_code.co_filename))
            f = f.f_back
        for area in seen:
            self.stacked[area] += 1

    def report(self, rounds: int, top: int = 20, unit: str = "round trip") -> str:
        """CPU microseconds per ``unit`` by area (own, and with callees: "on the stack")
        and by function, from ``rounds`` units."""
        if not self.samples:
            return "cpu sampler: no samples (too little CPU time)"
        us = 1e6 * self.cpu_seconds / rounds / self.samples  # one sample, per unit
        areas: dict[str, int] = defaultdict(int)
        for (filename, _line, _name), n in self.own.items():
            areas[_area(filename)] += n
        lines = [
            f"cpu sampler: {self.samples} samples over {self.cpu_seconds:.2f} s of CPU,"
            f" {rounds} x {unit}: {1e6 * self.cpu_seconds / rounds:.1f} us per {unit}",
            f"own CPU by area (us per {unit}, share; a C call counts to its caller)",
        ]
        for area, n in sorted(areas.items(), key=lambda kv: -kv[1]):
            lines.append(f"  {area:40} {n * us:8.1f} {n / self.samples:7.1%}")
        lines.append(f"CPU with callees, on the stack (us per {unit}, share)")
        for area, n in sorted(self.stacked.items(), key=lambda kv: -kv[1]):
            if area not in _FRAMEWORK:
                lines.append(f"  {area:40} {n * us:8.1f} {n / self.samples:7.1%}")
        lines.append(f"top {top} functions by own CPU (us per {unit}, share)")
        ranked = sorted(self.own.items(), key=lambda kv: -kv[1])[:top]
        for (filename, line, name), n in ranked:
            where = f"{_short(filename)}:{line}({name})"
            lines.append(f"  {n * us:7.2f} {n / self.samples:6.1%}  {where}")
        return "\n".join(lines)


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
