"""A fuzz harness for every adapter's codec and protocol, through the sans-IO session.

Seeds are real frames: what the adapter's simulator sends an agent through every
conformance scenario (``cti_fsm.testing.faults.VirtualWorld`` records them), and the
adapter's recorded captures where it has some. Each seed stream is replayed into a fresh
``Session`` and, after every real frame, one mutated frame goes in: bytes flipped, cut,
doubled, spliced or stretched past the size limit; or a decoded message with one field
given the wrong type (a list, an object, a number out of range, a lone surrogate, nesting,
nothing) and encoded again. For every mutated frame:

- **crash**: the codec or the protocol raised (the session counts ``protocol_errors``);
- **undocumented**: a public call raised something that is not a ``CtiError``: the frame
  itself, a tick, or a command the chart allows afterwards (an exception "later");
- **split mismatch** (stream codecs): the frame with the one after it decodes differently
  cut at random places than whole;
- **moved by malformed**: the protocol said a message was ``Malformed`` and yet made a
  signal or snapshot of it, or made a signal whose payload carries a non-finite number, a
  lone surrogate, or a list or object in a field that is not structured.

A ``FuzzTarget`` says what the harness needs to know of an adapter (its login, and how
its frames are split: a byte stream or one message per frame); ``benchmarks/fuzz.py``
keeps the table of the adapters in this repository, where a new one is one entry::

    report = fuzz("my-adapter", FuzzTarget(login=my_login), inputs=10_000, seed=1)
    assert report.clean, report
"""

from __future__ import annotations

import glob
import json
import math
import random
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs

from ..adapter import Adapter, load_adapter
from ..errors import CtiError
from ..events import Malformed, Signal, Snapshot
from ..machine import Machine
from ..session import Session
from ..switch import DEFAULT_CHART_STATES
from .conformance import ROLE_IDS, SCENARIOS, Account, Login, default_login
from .faults import FaultCase, _Runner

__all__ = ["FuzzReport", "FuzzTarget", "fuzz", "seed_streams"]


@attrs.frozen
class FuzzTarget:
    """What the harness needs to know of one adapter.

    Attributes:
        login: how its agents log in (as for ``check_adapter``).
        stream: True if frames are pieces of a byte stream (TCP): splits are compared.
        captures: glob patterns (from the repository root) of recorded captures the
            adapter reads with ``read_capture``.
        structured: payload fields the adapter itself fills with lists or objects (beyond
            its vendor map's ``structured``).
    """

    login: Callable[[Account], Login] = default_login
    stream: bool = False
    captures: tuple[str, ...] = ()
    structured: frozenset[str] = frozenset()


@attrs.define
class FuzzReport:
    """What a run found, per adapter (``str`` ends with the summary line)."""

    adapter: str
    inputs: int = 0
    crashes: int = 0
    undocumented: int = 0
    split_mismatches: int = 0
    moved_by_malformed: int = 0
    malformed: int = 0
    examples: list[str] = attrs.field(factory=list)

    @property
    def clean(self) -> bool:
        """True if nothing was found."""
        return not (
            self.crashes or self.undocumented or self.split_mismatches or self.moved_by_malformed
        )

    def note(self, kind: str, detail: str) -> None:
        setattr(self, kind, getattr(self, kind) + 1)
        if len(self.examples) < 10:
            self.examples.append(f"{kind}: {detail[:300]}")

    def line(self) -> str:
        """``inputs=N crashes=0 undocumented=0 split_mismatches=0 moved_by_malformed=0``."""
        return (
            f"inputs={self.inputs} crashes={self.crashes} undocumented={self.undocumented}"
            f" split_mismatches={self.split_mismatches}"
            f" moved_by_malformed={self.moved_by_malformed}"
        )

    def __str__(self) -> str:
        return "\n".join(
            [f"{self.adapter}: {self.malformed} malformed seen", *self.examples, self.line()]
        )


# --- seeds ---------------------------------------------------------------------------------------
def seed_streams(adapter: Adapter, target: FuzzTarget, root: Path | None = None) -> list[list[Any]]:
    """The frames the simulator sends the agent in each conformance scenario (one stream
    each, in virtual time), and the adapter's captures (found from ``root``, default: the
    current directory)."""
    streams = []
    for scenario in SCENARIOS:
        runner = _Runner(
            adapter,
            FaultCase(scenario.name, -1, None),
            login=target.login,
            gaps=(),
            chart=None,
            chart_states=DEFAULT_CHART_STATES,
        )
        runner.world.recorded = {}
        runner.run(scenario)
        recorded = runner.world.recorded or {}
        streams.append(list(recorded.get("agent", ())))
    reader: Callable[[str], Sequence[Any]] | None = getattr(adapter, "read_capture", None)
    base = root or Path.cwd()
    for pattern in target.captures:
        for path in sorted(glob.glob(str(base / pattern))):
            if reader is not None:
                streams.append(list(reader(path)))
    return [s for s in streams if s]


# --- mutations -----------------------------------------------------------------------------------
_INF = "\x00inf\x00"
_WRONG: tuple[Callable[[Any], Any], ...] = (
    lambda v: [v, v],
    lambda v: {"x": v},
    lambda v: None,
    lambda v: _INF,
    lambda v: "\ud800",
    lambda v: [[[[[v]]]]],
    lambda v: 10**30,
    lambda v: True,
    lambda v: "",
    lambda v: "x" * 5000,
    lambda v: -1.5,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*prefix, key)
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value[:4]):
            yield (*prefix, index)
            yield from _paths(item, (*prefix, index))


def _set(value: Any, path: tuple[Any, ...], new: Any) -> None:
    for part in path[:-1]:
        value = value[part]
    if new is _DELETE:
        del value[path[-1]]
    else:
        value[path[-1]] = new


_DELETE = object()


def _encode_wrong(message: Any, stream: bool) -> Any:
    """A mutated message as a frame, as a peer would have written it."""
    if stream:
        lines = []
        for key, value in message.items():
            for item in value if isinstance(value, list) else [value]:
                text = "1e999" if item == _INF else str(item)
                lines.append(f"{key}: {text}\r\n".replace("\r\n", " ", text.count("\n")))
        return ("".join(lines) + "\r\n").encode("utf-8", "surrogatepass")
    text = json.dumps(message, ensure_ascii=True)
    return text.replace(json.dumps(_INF), "1e999")


def _bytes_of(frame: Any) -> bytes:
    return frame if isinstance(frame, bytes) else str(frame).encode("utf-8", "surrogatepass")


def _mutate_bytes(rng: random.Random, data: bytes, other: bytes) -> bytes:
    b = bytearray(data)
    kind = rng.randrange(9)
    at = rng.randrange(len(b) + 1)
    if kind == 0 and b:
        b[min(at, len(b) - 1)] ^= 1 << rng.randrange(8)
    elif kind == 1:
        b[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
    elif kind == 2:
        del b[at : at + rng.randint(1, 16)]
    elif kind == 3:
        b[at:at] = b[at : at + rng.randint(1, 64)]
    elif kind == 4:
        b[at:at] = rng.choice([b"\r\n", b"\n", b"\r\n\r\n", b"\r", b":", b"\x00", b"{", b'"'])
    elif kind == 5:
        b = b[:at]
    elif kind == 6:
        b = b[:at] + bytearray(other[rng.randrange(len(other) + 1) :])
    elif kind == 7:
        b[at:at] = rng.choice([b"x", b"\xff", b" ", b"9"]) * rng.choice([100, 5000, 70_000])
    else:
        b = bytearray(rng.randbytes(rng.randint(1, 64)))
    return bytes(b)


def _mutate(
    rng: random.Random, adapter: Adapter, target: FuzzTarget, frame: Any, other: Any
) -> Any:
    """One mutated frame from ``frame`` (``other``: another frame to splice from)."""
    if rng.random() < 0.5:
        login = target.login(Account("1001", "8001", "pw"))
        codec: Any = adapter.protocol(user=login.user, options=login.options)
        messages = [m for m in codec.decode(frame) if not isinstance(m, Malformed)]
        if messages:
            message = json.loads(json.dumps(rng.choice(messages), default=str))
            paths = list(_paths(message))
            if paths:
                path = rng.choice(paths)
                wrong = _DELETE if rng.random() < 0.1 else rng.choice(_WRONG)(None)
                _set(message, path, wrong)
                return _encode_wrong(message, target.stream)
    data = _mutate_bytes(rng, _bytes_of(frame), _bytes_of(other))
    if target.stream or isinstance(frame, bytes):
        return data
    return data.decode("utf-8", "surrogateescape")


# --- the run -------------------------------------------------------------------------------------
def _bad_value(value: Any) -> bool:
    """A value no signal payload may carry: not finite, or text with a lone surrogate."""
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
    return False


class _Fuzzer:
    def __init__(self, name: str, adapter: Adapter, target: FuzzTarget, report: FuzzReport) -> None:
        self.name = name
        self.adapter = adapter
        self.target = target
        self.report = report
        self.login = target.login(Account(ROLE_IDS["agent"], "8001", "pw1001"))
        self.last_error = ""
        vendor_map = getattr(adapter, "vendor_map", None)
        self.structured = target.structured | getattr(vendor_map, "structured", frozenset())

    def session(self) -> tuple[Session, list[tuple[Any, Sequence[Any]]]]:
        protocol: Any = self.adapter.protocol(user=self.login.user, options=self.login.options)
        seen: list[tuple[Any, Sequence[Any]]] = []
        receive = protocol.receive

        def recording(message: Any) -> Sequence[Any]:
            try:
                out: Sequence[Any] = receive(message)
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc} at {_where(exc)}"
                raise
            seen.append((message, out))
            return out

        protocol.receive = recording
        session = Session(
            Machine(self.adapter.chart),
            protocol,
            user=self.login.user,
            password=self.login.password,
            vendor=self.adapter.name,
        )
        session.start(0.0)
        session.data_to_send()
        return session, seen

    def check_outputs(self, seen: list[tuple[Any, Sequence[Any]]]) -> None:
        for message, out in seen:
            malformed = any(isinstance(o, Malformed) for o in out)
            moved = [o for o in out if isinstance(o, (Signal, Snapshot))]
            self.report.malformed += malformed
            if malformed and moved:
                self.report.note("moved_by_malformed", f"{moved} from {message!r}")
                continue
            for signal in moved:
                if not isinstance(signal, Signal):
                    continue
                for field, value in signal.payload.items():
                    wrong = _bad_value(value) or (
                        isinstance(value, (list, dict)) and field not in self.structured
                    )
                    if wrong:
                        self.report.note(
                            "moved_by_malformed", f"{signal.name}.{field}={value!r:.80}"
                        )
        seen.clear()

    def feed(self, session: Session, frame: Any, now: float, what: str) -> None:
        errors = session.stats["protocol_errors"]
        try:
            session.receive_data(frame, now)
            session.tick(now)
        except Exception as exc:  # the harness's job: nothing may escape
            self.report.note("crashes", f"{what}: {type(exc).__name__}: {exc} on {frame!r:.120}")
        if session.stats["protocol_errors"] != errors:
            self.report.note("crashes", f"{what}: {self.last_error} on {frame!r:.120}")
        session.events()
        session.data_to_send()

    def command(self, session: Session, rng: random.Random, now: float) -> None:
        """A command the chart allows now: only documented errors may come of it."""
        allowed = sorted(session.machine.allowed())
        if not allowed or not session.ready:
            return
        name = rng.choice(allowed)
        spec = self.adapter.chart.commands[name]
        args = {a.name: _sample(a.type) for a in spec.args if a.required}
        try:
            session.send_command(name, args, now)
        except CtiError:
            pass
        except Exception as exc:
            self.report.note("undocumented", f"{name}({args}) raised {type(exc).__name__}: {exc}")
        session.data_to_send()
        session.events()

    def split(self, rng: random.Random, frames: Sequence[Any]) -> None:
        data = b"".join(_bytes_of(f) for f in frames)
        whole = self._decode([data])
        cuts = sorted(rng.randrange(len(data) + 1) for _ in range(rng.randint(1, 6)))
        pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
        if self._decode(pieces) != whole:
            self.report.note("split_mismatches", f"cuts {cuts} of {data!r:.200}")

    def _decode(self, pieces: Sequence[bytes]) -> list[Any]:
        protocol: Any = self.adapter.protocol(user=self.login.user, options=self.login.options)
        out: list[Any] = []
        for piece in pieces:
            out.extend(protocol.decode(piece))
        return out


def _where(exc: BaseException) -> str:
    """The innermost frame of a traceback, as ``file:line``."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}" if tb is not None else "?"


def _sample(kind: Any) -> Any:
    return {"list": ["sales"], "int": 1, "bool": True}.get(str(kind), "1001")


def fuzz(
    adapter: Adapter | str,
    target: FuzzTarget,
    *,
    inputs: int,
    seed: int = 0,
    root: Path | None = None,
) -> FuzzReport:
    """Feed ``inputs`` mutated frames to ``adapter`` (see the module).

    Args:
        adapter: the adapter or its registered name.
        target: what the harness knows of the adapter.
        inputs: how many mutated frames.
        seed: the random seed (a run is reproducible from it).
        root: where the captures are looked for (default: the current directory).

    Raises:
        AdapterNotFound: no adapter is registered under that name.
    """
    resolved = load_adapter(adapter) if isinstance(adapter, str) else adapter
    spec = target
    report = FuzzReport(resolved.name)
    fuzzer = _Fuzzer(resolved.name, resolved, spec, report)
    streams = seed_streams(resolved, spec, root)
    rng = random.Random(seed)
    while report.inputs < inputs:
        stream = rng.choice(streams)
        session, seen = fuzzer.session()
        now = 0.0
        for index, frame in enumerate(stream):
            now += 0.01
            fuzzer.feed(session, frame, now, "a real frame")
            seen.clear()
            if report.inputs >= inputs:
                continue
            other = rng.choice(rng.choice(streams))
            mutated = _mutate(rng, resolved, spec, frame, other)
            report.inputs += 1
            fuzzer.feed(session, mutated, now, "a mutated frame")
            fuzzer.check_outputs(seen)
            if rng.random() < 0.2:
                fuzzer.command(session, rng, now)
            if spec.stream:
                fuzzer.split(rng, [mutated, *stream[index + 1 : index + 2]])
    return report
