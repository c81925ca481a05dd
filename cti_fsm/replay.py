"""Replay recorded vendor traffic through an adapter and a machine, without any network.

``replay(adapter, source, user=...)`` feeds a capture through the adapter's codec (or takes
messages already decoded), its protocol (as the agent ``user`` would see it) and a
``Machine``, and yields one ``Replayed`` per thing that happened, each with the raw message
that caused it. It is how a vendor map is checked against traffic recorded from real servers.

An adapter may offer ``read_capture(path) -> list of frames`` for its capture formats
(the frames then go through its codec); without it, a file is read as one frame of bytes.
It may also name ``replay_start``, the state a recorded agent is in when no ``start`` is
given (else the chart's initial state).

A replay that starts in the chart's initial state (a recording of a whole session) first
has the protocol encode the chart's login as request 1, as an agent's session does on
every connection, so the recorded answer to that login is understood as the login's (a
protocol learns the session, the device, from it). Nothing is sent anywhere.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import attrs

from .adapter import Adapter, ReadsCaptures, VendorProtocol, load_adapter
from .chart import Chart
from .errors import CtiError
from .events import Answer, Inbound, Malformed, RawMessage, Signal, Snapshot, Step
from .machine import Machine
from .session import Lifecycle

__all__ = ["Replayed", "read_frames", "replay"]


@attrs.frozen
class Replayed:
    """One thing a replay did.

    Attributes:
        index: the position of ``message`` in the decoded stream (0-based).
        message: the raw message, or the ``Malformed`` the codec (or the protocol, for a
            readable message with a field of the wrong type) made of bad input.
        inbound: what the protocol made of it (a ``Signal``, ``Answer`` or ``Snapshot``),
            or None for a malformed frame.
        step: the machine's step for a signal or a snapshot (a jump), else None.
    """

    index: int
    message: RawMessage | Malformed
    inbound: Inbound | None = None
    step: Step | None = None

    @property
    def moved(self) -> bool:
        """True if the machine changed state or emitted something."""
        return self.step is not None and (self.step.changed or bool(self.step.notifications))


def read_frames(adapter: Adapter, path: str | os.PathLike[str]) -> list[Any]:
    """The frames of a capture file, read by the adapter's ``read_capture`` if it has one.

    Raises:
        OSError: the file cannot be read.
    """
    if isinstance(adapter, ReadsCaptures):
        return list(adapter.read_capture(path))
    with open(path, "rb") as f:
        return [f.read()]


def replay(
    adapter: Adapter | str,
    source: str | os.PathLike[str] | Iterable[RawMessage | Malformed],
    *,
    user: str,
    chart: Chart | None = None,
    start: str | None = None,
    options: Mapping[str, Any] | None = None,
    rights: Iterable[str] = (),
) -> Iterator[Replayed]:
    """Replay a capture for the agent ``user``; yields what each message did, in order.

    Args:
        adapter: an adapter, or its registered name.
        source: a capture file's path, or messages already decoded (a codec's output:
            raw messages, and ``Malformed`` for what it could not read).
        user: the agent whose view is replayed (its login as the adapter understands it).
        chart: the chart to run (default: the adapter's).
        start: the state to start in (default: the adapter's ``replay_start``, else the
            chart's initial state).
        options: the adapter's protocol options.
        rights: the agent's rights.

    Raises:
        AdapterNotFound: no adapter has that name.
        OSError: the capture file cannot be read.
        KeyError: ``start`` is not a state of the chart.
    """
    if isinstance(adapter, str):
        adapter = load_adapter(adapter)
    chart = chart or adapter.chart
    first = start or (adapter.replay_start if isinstance(adapter, ReadsCaptures) else None)
    first = first or chart.initial
    machine = Machine(chart, rights=rights, state=first)
    protocol = adapter.protocol(user=user, options=dict(options or {}))
    if first == chart.initial:
        _log_in(protocol, chart, user)
    if isinstance(source, (str, os.PathLike)):
        items: Iterable[RawMessage | Malformed] = (
            item for frame in read_frames(adapter, source) for item in protocol.decode(frame)
        )
    else:
        items = source
    for index, item in enumerate(items):
        if isinstance(item, Malformed):
            yield Replayed(index, item)
            continue
        for inbound in protocol.receive(item):
            if isinstance(inbound, Malformed):
                # readable but wrong (a field of the wrong type): reported, and it moves nothing
                yield Replayed(index, inbound)
                continue
            yield Replayed(index, item, inbound, _apply(machine, inbound))


def _log_in(protocol: VendorProtocol, chart: Chart, user: str) -> None:
    """Have ``protocol`` expect the answer to a login sent as request 1 (see the module)."""
    login = chart.commands.get(Lifecycle.of(chart).connect)
    if login is None:
        return
    known = {"user": user, "password": "", "url": ""}
    # a protocol that cannot log in this way replays without it
    with contextlib.suppress(CtiError, ValueError):
        protocol.encode_command(
            login.name, {a.name: known[a.name] for a in login.args if a.name in known}, 1
        )


def _apply(machine: Machine, inbound: Inbound) -> Step | None:
    if isinstance(inbound, Signal):
        return machine.apply(inbound.name, **inbound.payload)
    if isinstance(inbound, Snapshot):
        return machine.jump(inbound.state)
    assert isinstance(inbound, Answer)
    return None
