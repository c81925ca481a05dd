"""The NATS half of a gateway: everything it says to the broker, on the asyncio loop
thread (``cti_fsm._asyncio_thread``), since nats-py is asyncio.

The trio half (``cti_fsm.gateway.service``) hands it work with ``AsyncioThread.call_soon``
(batched: one wake-up of the loop per burst) or awaits one of its coroutines with
``AsyncioThread.run``; it hands commands back to trio through a ``Batch`` on the trio token.

- ``publish(item)`` queues an event; the publisher task sends every queued event with its
  ``Nats-Msg-Id`` without waiting between them, then waits for the batch's
  acknowledgements and writes each agent's newest state entry once per batch. A batch
  the stream did not acknowledge is sent again, whole, with the same ids: the stream
  keeps one copy of each.
- the lease watchers keep a ``LeaseTable`` up to date from the bucket.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

import attrs
import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import StreamConfig
from nats.js.kv import KeyValue

from .leases import Lease, LeaseTable, decode_lease, encode_lease, gateway_key, lease_key
from .wire import (
    Event,
    bucket_name,
    decode_state,
    encode_state,
    event_subject,
    message_id,
    stream_name,
)

__all__ = ["Broker", "Outgoing"]

log = logging.getLogger("cti_fsm.gateway")

#: how long the stream keeps events (a day): the stream never grows without bound
STREAM_MAX_AGE = 24 * 3600.0
#: how many leases the trio side may stall for before the announcements stop
STALLED_LEASES = 3
#: how many events one batch publishes before it waits for acknowledgements
MAX_BATCH = 4096


@attrs.frozen
class Outgoing:
    """One event to publish: its subject, bytes, message id, and the event for the state
    entry."""

    subject: str
    data: bytes
    msg_id: str
    event: Event


class Broker:
    """The gateway's NATS connection and what it does with it (on the asyncio loop).

    Args:
        url: the broker.
        tenant: the tenant.
        name: the gateway's name.
        table: the lease table the watchers fill.
    """

    def __init__(
        self, url: str, tenant: str, name: str, table: LeaseTable, lease_seconds: float = 6.0
    ) -> None:
        self.url = url
        self.lease_seconds = lease_seconds
        #: when the trio side last said it is alive (``time.monotonic()``): renewals stop
        #: when it has not said so for ``STALLED_LEASES`` leases
        self.trio_alive_at = time.monotonic()
        self.tenant = tenant
        self.name = name
        self.table = table
        self.stream = stream_name(tenant)
        self.nc: Client | None = None
        self.js: JetStreamContext | None = None
        self.kv: KeyValue | None = None
        self._queue: collections.deque[Outgoing] = collections.deque()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._tasks: list[asyncio.Task[Any]] = []
        self._subs: dict[str, Any] = {}
        #: each agent's newest acknowledged event whose state entry is still to write
        self._states: dict[str, Event] = {}
        self._states_due = asyncio.Event()
        #: events sent and not yet acknowledged, and the oldest one's time
        self.unacked = 0
        self.oldest_unacked: float | None = None
        self.published = 0
        self.batches = 0
        self.gw_revision = 0
        #: claims the broker did not answer in time (a loaded broker), for the log
        self.claims_unanswered = 0

    # --- connecting -----------------------------------------------------------------------------
    async def connect(self) -> None:
        """Connect, make sure the stream and the bucket exist, start the watchers and the
        publisher.

        Raises:
            nats.errors.Error: the broker cannot be reached or refused.
        """
        self.nc = await nats.connect(
            self.url, name=f"cti-fsm gateway {self.name}", max_reconnect_attempts=-1
        )
        self.js = self.nc.jetstream()
        await ensure_stream(self.js, self.tenant)
        self.kv = await ensure_bucket(self.js, self.tenant)
        loop = asyncio.get_running_loop()
        table = self.table
        watched: tuple[tuple[str, Callable[[str, Lease], None]], ...] = (
            ("lease.*", lambda key, lease: table.saw_lease(key, lease, time.time())),
            ("gw.*", table.saw_gateway),
        )
        for keys, saw in watched:
            watcher = await self.kv.watch(keys)
            self._tasks.append(loop.create_task(self._watch(watcher, saw)))
        self._tasks.append(loop.create_task(self._publisher()))
        await self.announce(time.time() + self.lease_seconds)
        self._tasks.append(loop.create_task(self._announcer()))
        self._tasks.append(loop.create_task(self._state_writer()))

    async def _watch(self, watcher: Any, saw: Callable[[str, Lease], None]) -> None:
        async for entry in watcher:
            if entry is None:
                continue  # the end of what was there at the start
            key = entry.key.split(".", 1)[1]
            value = b"" if entry.operation in ("DEL", "PURGE") else (entry.value or b"")
            saw(key, decode_lease(value, entry.revision))

    async def close(self) -> None:
        """Send what is queued, then stop the tasks and drain the connection."""
        await self.flush()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.nc is not None:
            try:
                await self.nc.drain()
            except (TimeoutError, nats.errors.Error):
                await self.nc.close()

    # --- publishing -----------------------------------------------------------------------------
    def publish(self, item: Outgoing) -> None:
        """Queue an event (a plain call on the loop, from ``AsyncioThread.call_soon``)."""
        self._queue.append(item)
        self._idle.clear()
        self._wake.set()

    async def flush(self) -> None:
        """Wait until everything queued has been acknowledged by the stream, and write the
        state entries still due."""
        await self._idle.wait()
        events, self._states = self._states, {}
        await self._put_states(events.values())

    async def _publisher(self) -> None:
        queue = self._queue
        while True:
            if not queue:
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
            batch = [queue.popleft() for _ in range(min(len(queue), MAX_BATCH))]
            if self.oldest_unacked is None:
                self.oldest_unacked = time.monotonic()
            self.unacked = len(batch) + len(queue)
            await self._publish_batch(batch)
            self.oldest_unacked = None if not queue else time.monotonic()
            self.unacked = len(queue)

    async def _publish_batch(self, batch: list[Outgoing]) -> None:
        js = self.js
        assert js is not None and self.kv is not None
        delay = 0.05
        while True:
            try:
                futures = [
                    await js.publish_async(o.subject, o.data, headers={"Nats-Msg-Id": o.msg_id})
                    for o in batch
                ]
                acks = await asyncio.wait_for(asyncio.gather(*futures), 10)
                break
            except (TimeoutError, nats.errors.Error, nats.js.errors.Error) as exc:
                # sent again whole, with the same ids: what the stream has already it drops
                log.warning(
                    "gateway %s: a batch of %d events was not stored (%r); again",
                    self.name,
                    len(batch),
                    exc,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
        self.published += len(batch)
        self.batches += 1
        states = self._states
        for item, ack in zip(batch, acks, strict=True):
            states[item.event.agent] = attrs.evolve(item.event, stream_seq=ack.seq)
        self._states_due.set()

    async def _state_writer(self) -> None:
        # apart from the publisher, so the next batch of events never waits on the state
        # entries of the last: each agent's newest state is written, the older ones skipped
        while True:
            await self._states_due.wait()
            self._states_due.clear()
            events, self._states = self._states, {}
            await self._put_states(events.values())

    async def _put_states(self, events: Iterable[Event]) -> None:
        kv = self.kv
        assert kv is not None
        results = await asyncio.gather(
            *(kv.put(f"state.{e.agent}", encode_state(e)) for e in events),
            return_exceptions=True,
        )
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            # the stream has the events; a subscriber starting now replays from an older
            # entry and skips what it has seen, so this costs time, not correctness
            log.warning(
                "gateway %s: %d state entries not written: %r", self.name, len(failed), failed[0]
            )

    # --- leases -------------------------------------------------------------------------------
    async def last_event(self, agent: str) -> Event | None:
        """The agent's newest event: the later of its state entry and the stream's last
        message on its subject (the stream may be one batch ahead of the entry)."""
        js, kv = self.js, self.kv
        assert js is not None and kv is not None
        found: list[Event] = []
        try:
            entry = await kv.get(f"state.{agent}")
            if entry.value:
                found.append(decode_state(entry.value))
        except nats.js.errors.KeyNotFoundError:
            pass
        try:
            msg = await js.get_last_msg(self.stream, event_subject(self.tenant, agent))
            if msg.data:
                found.append(decode_state(msg.data))
        except nats.js.errors.NotFoundError:
            pass
        return max(found, key=lambda e: e.seq) if found else None

    async def claim(self, agent: str, revision: int) -> int | None:
        """Take agent ``agent``'s lease (``revision`` 0: create its key); the key's new
        revision, or None if another gateway was quicker."""
        kv = self.kv
        assert kv is not None
        value = encode_lease(self.name)
        try:
            if revision == 0:
                new = await kv.create(lease_key(agent), value)
            else:
                new = await kv.update(lease_key(agent), value, last=revision)
        except (nats.js.errors.KeyWrongLastSequenceError, nats.js.errors.APIError):
            return None
        except (TimeoutError, nats.errors.Error) as exc:
            log.warning("gateway %s: claiming %s: %r", self.name, agent, exc)
            return None
        self.table.saw_lease(agent, Lease(self.name, 0.0, new), time.time())
        return new

    async def announce(self, expires: float) -> bool:
        """Renew this gateway's announcement (and so the leases of all its agents) until
        ``expires``; False if the broker did not take it."""
        kv = self.kv
        assert kv is not None
        try:
            self.gw_revision = await kv.put(
                gateway_key(self.name), encode_lease(self.name, expires)
            )
        except (TimeoutError, nats.errors.Error, nats.js.errors.Error) as exc:
            log.warning("gateway %s: announcement not renewed: %r", self.name, exc)
            return False
        self.table.saw_gateway(self.name, Lease(self.name, expires, self.gw_revision))
        return True

    async def _announcer(self) -> None:
        # here on the loop, not in trio: a trio side busy with thousands of logins must not
        # make the gateway look dead; a trio side that has stopped altogether must
        warned = False
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            if time.monotonic() - self.trio_alive_at <= STALLED_LEASES * self.lease_seconds:
                await self.announce(time.time() + self.lease_seconds)
                warned = False
            elif not warned:
                warned = True
                log.error(
                    "gateway %s: its agents have stalled; letting its leases lapse", self.name
                )

    async def release(self, held: dict[str, int], *, announcement: bool = True) -> None:
        """Delete the leases ``held`` and this gateway's announcement (a clean stop): the
        other gateways take the agents at their next round."""
        kv = self.kv
        assert kv is not None

        async def one(key: str, revision: int) -> None:
            try:
                await kv.delete(key, last=revision)
            except (TimeoutError, nats.errors.Error, nats.js.errors.Error) as exc:
                # renewed meanwhile by another, or the broker is gone: it lapses instead
                log.info("gateway %s: %s not handed back: %r", self.name, key, exc)

        keys = [(lease_key(a), r) for a, r in held.items()]
        if announcement:
            keys.append((gateway_key(self.name), self.gw_revision))
        await asyncio.gather(*(one(k, r) for k, r in keys))

    # --- commands -------------------------------------------------------------------------------
    async def serve_commands(
        self, agent: str, subject: str, handler: Callable[[str, Msg], None]
    ) -> None:
        """Answer requests on ``subject`` with ``handler(agent, msg)`` (which replies)."""
        nc = self.nc
        assert nc is not None

        async def received(msg: Msg) -> None:
            handler(agent, msg)

        self._subs[agent] = await nc.subscribe(subject, cb=received)

    async def stop_commands(self, agent: str) -> None:
        """Stop answering agent ``agent``'s requests."""
        sub = self._subs.pop(agent, None)
        if sub is not None:
            with contextlib.suppress(nats.errors.Error):
                await sub.unsubscribe()

    def respond(self, msg: Msg, data: bytes) -> None:
        """Reply to a request (a plain call on the loop)."""
        if msg.reply:
            asyncio.get_running_loop().create_task(self._respond(msg, data))

    async def _respond(self, msg: Msg, data: bytes) -> None:
        try:
            await msg.respond(data)
        except nats.errors.Error as exc:
            log.warning("gateway %s: a reply was not sent: %r", self.name, exc)

    async def health(self, subject: str, data: bytes) -> None:
        """Publish a health message (plain NATS: for monitoring, not kept)."""
        if self.nc is not None and self.nc.is_connected:
            await self.nc.publish(subject, data)


async def ensure_stream(js: JetStreamContext, tenant: str) -> None:
    """Create the tenant's event stream if it is not there."""
    await js.add_stream(
        StreamConfig(
            name=stream_name(tenant),
            subjects=[event_subject(tenant, "*")],
            max_age=STREAM_MAX_AGE,
            duplicate_window=120.0,
            allow_direct=True,
        )
    )


async def ensure_bucket(js: JetStreamContext, tenant: str) -> KeyValue:
    """The tenant's key-value bucket, created if it is not there."""
    try:
        return await js.key_value(bucket_name(tenant))
    except nats.js.errors.BucketNotFoundError:
        return await js.create_key_value(bucket=bucket_name(tenant), history=1)


def message_id_of(event: Event) -> str:
    """The ``Nats-Msg-Id`` of ``event``."""
    return message_id(event.agent, event.seq)
