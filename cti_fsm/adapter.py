"""What an adapter is: the contract between the vendor-neutral agent and one vendor.

An adapter bundles four things, from the wire inwards:

- a **transport** (trio): opens a connection and moves frames (bytes or text);
- a **codec** (sans-IO): frames in, raw messages out; raw message in, frame out;
- a **protocol** (sans-IO, one per agent connection): raw messages in, chart signals and
  answers to requests out; commands in, raw messages out. It holds the correlation state
  the vendor needs (invoke ids, call and channel ids) and uses a ``VendorMap``;
- a **simulator** (trio, optional but every in-tree adapter has one).

Adapters are found through the entry-point group ``cti_fsm.adapters``: the entry point
names an object satisfying ``Adapter``. A third-party package plugs in exactly as ours do.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from functools import cached_property
from importlib.metadata import entry_points
from typing import Any, Protocol, Self, runtime_checkable

from .chart import Chart
from .errors import AdapterNotFound
from .events import (
    EXCERPT_CHARS,
    Answer,
    Frame,
    Inbound,
    Malformed,
    RawMessage,
    Signal,
    Snapshot,
)
from .vendor_map import VendorMap, load_vendor_map, vendor_map_path

__all__ = [
    "EXCERPT_CHARS",
    "Adapter",
    "AdapterNotFound",
    "Answer",
    "Codec",
    "DescribesMessages",
    "DoesLocally",
    "FitsCharts",
    "Frame",
    "Inbound",
    "KeepsAlive",
    "Malformed",
    "MapBackedAdapter",
    "RawMessage",
    "ReadsCaptures",
    "Signal",
    "Simulator",
    "Snapshot",
    "Transport",
    "VendorProtocol",
    "adapter_names",
    "load_adapter",
]


@runtime_checkable
class Codec(Protocol):
    """Sans-IO framing of one wire protocol. One instance per connection (it may buffer)."""

    def feed(self, data: Frame) -> list[RawMessage | Malformed]:
        """Decode what arrived; a stream codec keeps an incomplete tail for the next call."""
        ...

    def encode(self, message: RawMessage) -> Frame:
        """Encode one message for the wire."""
        ...


@runtime_checkable
class VendorProtocol(Protocol):
    """Sans-IO translation between one agent's wire and the chart (one per connection).

    The protocol owns its codec: the session hands it frames and gets raw messages back,
    hands it raw messages and gets frames back, and never sees the codec itself.

    Attributes:
        unsupported: commands the vendor cannot do; the session refuses them before
            sending, the one place that decides it.
    """

    @property
    def unsupported(self) -> frozenset[str]:
        """Commands the vendor cannot do."""
        ...

    def decode(self, frame: Frame) -> Sequence[RawMessage | Malformed]:
        """The raw messages in one frame (a stream protocol keeps an incomplete tail)."""
        ...

    def encode(self, message: RawMessage) -> Frame:
        """One raw message as a frame for the wire."""
        ...

    def encode_command(
        self, command: str, args: Mapping[str, Any], request_id: int
    ) -> Sequence[RawMessage]:
        """The raw messages that carry out ``command`` (``connect`` logs in); its answer
        is correlated by ``request_id``.

        Raises:
            MissingContext: the command needs something not known now (a call id).
            InvalidArguments: the vendor cannot write these arguments.
        """
        ...

    def snapshot_request(self, request_id: int) -> Sequence[RawMessage]:
        """The raw messages that ask the server for this agent's current state (none: the
        vendor has no snapshot; the session then trusts the login)."""
        ...

    def receive(self, message: RawMessage) -> Sequence[Inbound]:
        """What one raw message means for this agent (often nothing). A message that is
        readable but wrong (a field of the wrong type, another agent's connection) is a
        ``Malformed`` and nothing else: the session counts it and moves nothing; a
        snapshot that cannot be read is answered at once as ``Answer(id, ok=False)``,
        so the session does not wait for it. Must not raise."""
        ...


@runtime_checkable
class KeepsAlive(Protocol):
    """A ``VendorProtocol`` that can prove the link alive (optional): the session pings
    every ``keepalive_interval`` seconds and a ping unanswered within one interval means
    the link is dead even if TCP has not noticed."""

    @property
    def keepalive_interval(self) -> float:
        """Seconds between pings (0: none)."""
        ...

    def keepalive(self, request_id: int) -> Sequence[RawMessage]:
        """A ping, answered by ``Answer(request_id, ok=True)``."""
        ...


@runtime_checkable
class DoesLocally(Protocol):
    """A ``VendorProtocol`` with chart commands it has no service for (optional): the
    session does them itself, applying each one's confirm signal at once (its vendor map's
    ``local``), so the chart behaves the same on every vendor."""

    @property
    def local_commands(self) -> frozenset[str]:
        """The commands done by the library, not sent."""
        ...


@runtime_checkable
class Transport(Protocol):
    """One open connection (trio). ``receive`` raises ``Disconnected`` when it ends."""

    async def send(self, frame: Frame) -> None:
        """Send one frame.

        Raises:
            Disconnected: the connection is gone.
        """
        ...

    async def receive(self) -> Frame:
        """The next frame (a websocket message, or a chunk of a TCP stream).

        Raises:
            Disconnected: the connection ended.
        """
        ...

    async def aclose(self) -> None:
        """Close the connection; idempotent."""
        ...


@runtime_checkable
class Adapter(Protocol):
    """What the ``cti_fsm.adapters`` entry point names.

    Attributes:
        name: the vendor name used to select it (``open_agent("my-vendor", ...)``).
        chart: the chart its vendor map is written for (usually the default chart).
        unsupported: commands the vendor cannot do.
    """

    name: str

    @property
    def chart(self) -> Chart: ...

    @property
    def unsupported(self) -> frozenset[str]: ...

    def protocol(self, *, user: str, options: Mapping[str, Any]) -> VendorProtocol:
        """A fresh protocol for one agent connection (``user`` is the agent's login)."""
        ...

    def connect(self, url: str) -> AbstractAsyncContextManager[Transport]:
        """``async with adapter.connect(url) as transport:`` a connection for the block.

        A context manager, not a coroutine, so that a transport with background tasks
        (a reader task) keeps them inside the caller's scope. An adapter with TLS
        also takes ``ssl_context=`` (``cti_fsm.tls.TRANSPORT_OPTIONS``: the agent passes
        it from its options when given, so an adapter without TLS need not take it):
        the context to verify the server with, the system's CAs by default. A TLS
        failure is ``Disconnected`` at once, naming TLS and the reason.

        Raises:
            Disconnected: (on entering) the server cannot be reached, or TLS failed.
        """
        ...

    def simulator(self, switch: Any) -> Simulator:
        """A simulator speaking this vendor's protocol, backed by ``switch``
        (a ``cti_fsm.switch.Switch``)."""
        ...


@runtime_checkable
class FitsCharts(Protocol):
    """An ``Adapter`` that can run a chart other than its own (optional): one that extends
    the chart its vendor map is written for, if the map fits it."""

    def for_chart(self, chart: Chart) -> Adapter:
        """The same adapter, its vendor map checked against ``chart``.

        Raises:
            SpecError: the vendor map does not fit ``chart`` (every problem at
                ``file:line:col``, as ``cti-fsm check --chart`` reports them).
        """
        ...


@runtime_checkable
class DescribesMessages(Protocol):
    """An ``Adapter`` that names raw messages for timelines (optional; ``cti-fsm replay``)."""

    def describe_message(self, message: RawMessage) -> str:
        """A short name for one raw message (its event or action)."""
        ...


@runtime_checkable
class ReadsCaptures(Protocol):
    """An ``Adapter`` that reads captured traffic for replay (optional; ``cti_fsm.replay``).

    Attributes:
        replay_start: the state a replayed agent starts in.
    """

    @property
    def replay_start(self) -> str:
        """The chart state a replayed agent starts in."""
        ...

    def read_capture(self, path: str | os.PathLike[str]) -> list[Frame]:
        """The frames of a captured stream, in order, for the protocol to decode."""
        ...


@runtime_checkable
class Simulator(Protocol):
    """A vendor's server, simulated over a real socket (trio)."""

    @property
    def url(self) -> str:
        """The URL an agent connects to (``adapter.connect(url)``), once serving.

        Raises:
            RuntimeError: not serving yet.
        """
        ...

    async def serve(
        self, host: str = "127.0.0.1", port: int = 0, *, task_status: Any = ...
    ) -> None:
        """Listen on ``host:port`` (0: the OS picks) until cancelled. ``task_status.started``
        is called with the bound port once listening, so
        ``port = await nursery.start(sim.serve)`` works."""
        ...


class MapBackedAdapter:
    """Base for adapters driven by a vendor map (``specs/vendors/<name>.yaml``): the chart,
    the map (loaded and checked on first use) and the unsupported commands come from it.
    A subclass sets ``name`` and adds ``protocol``, ``connect`` and ``simulator``.

    Args:
        vendor_map_file: another map to use (default: the shipped one for ``name``).
        chart: the chart that map is written for (default: the default chart).
    """

    name: str = ""

    def __init__(
        self, vendor_map_file: str | os.PathLike[str] | None = None, chart: Chart | None = None
    ) -> None:
        self._map_file = vendor_map_file
        self._chart = chart

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"

    @cached_property
    def chart(self) -> Chart:
        """The chart the vendor map is written for."""
        from .chart_loader import default_chart

        return self._chart or default_chart()

    @cached_property
    def vendor_map(self) -> VendorMap:
        """The vendor map, loaded and checked against the chart on first use.

        Raises:
            SpecError: the map has mistakes.
        """
        return load_vendor_map(self._map_file or vendor_map_path(self.name), self.chart)

    @property
    def unsupported(self) -> frozenset[str]:
        """Commands this vendor cannot do (from the vendor map)."""
        return self.vendor_map.unsupported

    def for_chart(self, chart: Chart) -> Self:
        """This adapter for another chart, its vendor map loaded and checked now.

        Raises:
            SpecError: the vendor map does not fit ``chart``.
        """
        other = copy.copy(self)
        other._chart = chart
        # the cached values belong to the chart they were made for
        other.__dict__.pop("chart", None)
        other.__dict__.pop("vendor_map", None)
        other.vendor_map  # noqa: B018 - checked before anything connects
        return other


def adapter_names() -> tuple[str, ...]:
    """Names of every installed adapter (entry-point group ``cti_fsm.adapters``), sorted."""
    return tuple(sorted({ep.name for ep in entry_points(group="cti_fsm.adapters")}))


def load_adapter(name: str) -> Adapter:
    """The adapter registered as ``name`` in the ``cti_fsm.adapters`` entry-point group.

    Raises:
        AdapterNotFound: nothing is registered under that name.
    """
    for ep in entry_points(group="cti_fsm.adapters", name=name):
        adapter = ep.load()
        if not isinstance(adapter, Adapter):
            raise AdapterNotFound(f"entry point {name!r} ({ep.value}) is not an adapter")
        return adapter
    known = ", ".join(adapter_names()) or "none installed"
    raise AdapterNotFound(f"no adapter named {name!r}; installed: {known}")
