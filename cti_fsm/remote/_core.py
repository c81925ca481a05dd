"""What both flavours of remote agent share: the view of the agent from its stream
(sans-IO), the reading API, listeners, and the NATS client on an asyncio loop.

A remote agent starts from the agent's state entry in the key-value bucket (the truth, as
of the entry's sequence number), follows the agent's events from the stream position the
entry names, and skips any event whose sequence number it has seen (a gateway's retry or
a takeover can deliver one twice; the stream's deduplication makes that rare, this makes
it harmless). A command goes to the gateway holding the agent by request/reply; its reply
names the sequence number its notifications reached, and the command returns once the
stream has brought them, so, as with a local agent, listeners have heard a command's
notifications and ``state`` is its target when it returns.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy

from ..chart import Chart
from ..errors import Disconnected
from ..events import Notification
from ..gateway.wire import (
    Event,
    Reply,
    Snapshot,
    WireError,
    bucket_name,
    command_subject,
    decode_event,
    decode_reply,
    encode_command,
    event_subject,
)
from ..secrets import revealed

__all__ = ["RemoteCore", "RemoteReading", "RemoteView"]

log = logging.getLogger("cti_fsm.remote")

Listener = Callable[[Notification], Any]
#: how long a command waits for the gateway's reply when the chart gives no timeout
DEFAULT_REPLY_SECONDS = 15.0


class RemoteView:
    """The agent as its events show it (sans-IO).

    Attributes:
        seq: the newest sequence number applied (0: none yet).
        snapshot: the snapshot it carried.
        duplicates: events skipped because their number was seen already.
        gaps: sequence numbers that never arrived (events skipped over).
    """

    def __init__(self) -> None:
        self.seq = 0
        self.snapshot: Snapshot | None = None
        self.duplicates = 0
        self.gaps = 0

    def start(self, entry: Event | None) -> None:
        """Begin at the state entry (None: the agent has published nothing yet)."""
        if entry is not None:
            self.seq = entry.seq
            self.snapshot = entry.snapshot

    def apply(self, event: Event) -> Notification | None:
        """Apply an event; its notification, or None for one already seen."""
        if event.seq <= self.seq:
            self.duplicates += 1
            return None
        if self.seq and event.seq > self.seq + 1:
            self.gaps += event.seq - self.seq - 1
            log.warning(
                "remote %s: events %d..%d never arrived", event.agent, self.seq + 1, event.seq - 1
            )
        self.seq = event.seq
        self.snapshot = event.snapshot
        return event.notification

    def settle(self, reply: Reply) -> None:
        """A reply's snapshot, when the stream has not brought its events in time."""
        if reply.snapshot is not None and reply.seq >= self.seq:
            self.snapshot = reply.snapshot


class RemoteReading:
    """The reading half of a remote agent: state, allowed commands, listeners."""

    chart: Chart
    agent_id: str
    _view: RemoteView
    _listeners: dict[str, list[tuple[Listener, bool]]]
    _listener_errors: int

    @property
    def state(self) -> str:
        """The agent's main leaf state's full path ("" before anything is known)."""
        snap = self._view.snapshot
        return snap.state if snap is not None else ""

    @property
    def states(self) -> tuple[str, ...]:
        """Every active leaf: the main one, then each parallel region's."""
        snap = self._view.snapshot
        return snap.states if snap is not None else ()

    @property
    def connected(self) -> bool:
        """True while the gateway holding the agent has its vendor link up."""
        snap = self._view.snapshot
        return snap is not None and snap.connected

    @property
    def seq(self) -> int:
        """The sequence number of the newest event applied."""
        return self._view.seq

    def allowed(self) -> tuple[str, ...]:
        """The commands that may be sent now, as the gateway's agent said last."""
        snap = self._view.snapshot
        return snap.allowed if snap is not None else ()

    def on(self, name: str, listener: Listener) -> None:
        """Call ``listener(notification)`` for every notification named ``name`` ("*": all);
        an async listener runs as a task of its own."""
        self._listeners.setdefault(name, []).append(
            (listener, inspect.iscoroutinefunction(listener))
        )

    def off(self, name: str, listener: Listener) -> None:
        """Stop calling ``listener`` for ``name`` (no error if it was not registered)."""
        where = self._listeners.get(name, [])
        for i, (each, _) in enumerate(where):
            if each == listener:
                del where[i]
                return

    def _spawn(
        self, listener: Callable[[Notification], Awaitable[Any]], note: Notification
    ) -> None:
        raise NotImplementedError

    def _hear(self, note: Notification) -> None:
        for key in (note.name, "*"):
            for listener, is_async in tuple(self._listeners.get(key, ())):
                try:
                    if is_async:
                        self._spawn(listener, note)
                    else:
                        listener(note)
                except Exception:
                    self._listener_errors += 1
                    log.exception("remote %s: listener %r raised", self.agent_id, listener)


class RemoteCore:
    """The NATS side of one remote agent, on an asyncio loop.

    Args:
        tenant: the tenant.
        agent: the agent's id.
        on_event: called on the loop with every event from the stream, in order.
    """

    def __init__(self, tenant: str, agent: str, on_event: Callable[[Event], None]) -> None:
        self.tenant = tenant
        self.agent = agent
        self.on_event = on_event
        self.nc: Client | None = None
        self._own = False
        self._sub: Any = None

    async def open(self, nats_url: str | None, nc: Client | None) -> Event | None:
        """Connect (or use ``nc``), read the state entry, follow the stream from it; the
        entry (None: the agent has no events yet).

        Raises:
            Disconnected: the broker cannot be reached.
        """
        if nc is None:
            try:
                nc = await nats.connect(
                    nats_url or "nats://127.0.0.1:4222",
                    max_reconnect_attempts=-1,
                    allow_reconnect=True,
                    connect_timeout=5,
                )
            except (nats.errors.Error, OSError) as exc:
                raise Disconnected(f"cannot reach the broker: {exc!r}") from None
            self._own = True
        self.nc = nc
        js = nc.jetstream()
        entry: Event | None = None
        try:
            kv = await js.key_value(bucket_name(self.tenant))
            found = await kv.get(f"state.{self.agent}")
            if found.value:
                entry = decode_event(found.value)
        except (nats.js.errors.BucketNotFoundError, nats.js.errors.KeyNotFoundError):
            pass
        except WireError as exc:
            log.warning("remote %s: unreadable state entry: %s", self.agent, exc)
        if entry is not None and entry.stream_seq:
            config = ConsumerConfig(
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=entry.stream_seq + 1
            )
        else:
            config = ConsumerConfig(deliver_policy=DeliverPolicy.ALL)

        async def received(msg: Msg) -> None:
            try:
                event = decode_event(msg.data)
            except WireError as exc:
                log.warning("remote %s: unreadable event skipped: %s", self.agent, exc)
                return
            self.on_event(event)

        self._sub = await js.subscribe(
            event_subject(self.tenant, self.agent),
            cb=received,
            ordered_consumer=True,
            config=config,
        )
        return entry

    async def request(self, name: str, args: Mapping[str, Any], timeout: float) -> Reply:
        """Send command ``name`` to the gateway holding the agent; its reply.

        Raises:
            Disconnected: no gateway holds the agent now, or none answered in time.
        """
        nc = self.nc
        if nc is None or nc.is_closed:
            raise Disconnected("closed", command=name)
        try:
            msg = await nc.request(
                command_subject(self.tenant, self.agent),
                # a secret argument is written on this wire as on a vendor's: revealed here
                encode_command(name, revealed(args)),
                timeout=timeout,
            )
        except nats.errors.NoRespondersError:
            raise Disconnected(f"no gateway holds agent {self.agent!r} now", command=name) from None
        except nats.errors.TimeoutError:
            raise Disconnected(f"no gateway answered within {timeout:g} s", command=name) from None
        except nats.errors.Error as exc:
            raise Disconnected(f"the broker: {exc!r}", command=name) from None
        try:
            return decode_reply(msg.data)
        except WireError as exc:
            raise Disconnected(f"unreadable reply: {exc}", command=name) from None

    async def close(self) -> None:
        """Stop following and, if this core connected, close the connection."""
        if self._sub is not None:
            with contextlib.suppress(nats.errors.Error):
                await self._sub.unsubscribe()
        if self._own and self.nc is not None:
            with contextlib.suppress(TimeoutError, nats.errors.Error):
                await asyncio.wait_for(self.nc.close(), 5)


class Bounded:
    """A bounded queue of notifications for one ``async for`` consumer: one that falls
    ``maxlen`` behind loses the oldest (counted)."""

    __slots__ = ("dropped", "maxlen", "names", "queue")

    def __init__(self, names: frozenset[str] | None, maxlen: int) -> None:
        self.names = names
        self.maxlen = maxlen
        self.queue: collections.deque[Notification] = collections.deque()
        self.dropped = 0

    def put(self, note: Notification) -> bool:
        """Queue ``note`` if wanted; True if it was."""
        if self.names is not None and note.name not in self.names:
            return False
        if len(self.queue) >= self.maxlen:
            self.queue.popleft()
            self.dropped += 1
        self.queue.append(note)
        return True


def reply_timeout(chart: Chart, name: str) -> float:
    """How long to wait for a command's reply: the longest of the chart's timeouts for it,
    plus slack for the crossing through the gateway (``DEFAULT_REPLY_SECONDS`` for a
    command the chart does not know: the gateway's refusal comes at once anyway)."""
    spec = chart.commands.get(name)
    if spec is None:
        return DEFAULT_REPLY_SECONDS
    return max(rule.timeout for rule in spec.rules) + 5.0
