"""The gateway: many trio agents, their events on JetStream, their commands by request/reply,
shared with the other gateways by leases.

``Gateway(config, name).run()`` connects to the broker (``Broker``, on the asyncio thread),
then every lease round (a third of the lease's life):

1. says it is alive to the broker side, which renews its announcement on the asyncio loop
   (keeping the leases of all its agents, ``leases``) as long as this side keeps saying so;
   an agent whose key another gateway has taken is dropped at once (no more events);
2. claims free agents (no lease, deleted, expired) up to its fair share, and for each one
   it wins reads the agent's newest event (state entry or stream), starts a trio agent
   whose machine begins where that event left it, and numbers its events on from there;
   the resync walks from that state to the vendor's, so a subscriber hears exactly what
   changed while no gateway held the agent, and nothing twice.

Every notification of a held agent becomes an event (``wire.Event``: the notification,
the snapshot after it, the next sequence number) queued for the broker; they cross to the
asyncio loop in batches. Commands arrive on the agent's command subject, cross to trio,
run as the local agent's ``command`` and go back as its step or its error. A health
message goes out every second.

``stop()`` (or cancelling ``run``) stops cleanly: no more events, the queued ones
published, the leases deleted, the vendor links dropped without logging the agents out:
the other gateways carry on with the agents as they are.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

import attrs
import trio
from nats.aio.msg import Msg

from .._asyncio_thread import AsyncioThread, asyncio_thread
from .._trio_thread import Batch
from ..adapter import Adapter, load_adapter
from ..agent import Agent, Backoff
from ..errors import CtiError, Disconnected
from ..events import Notification
from .broker import Broker, Outgoing
from .config import AgentConfig, GatewayConfig
from .leases import LeaseTable
from .wire import (
    Event,
    Snapshot,
    WireError,
    command_subject,
    decode_command,
    encode_error,
    encode_event,
    encode_step_reply,
    event_subject,
    health_subject,
    message_id,
)

__all__ = ["Gateway", "GatewayHealth"]

log = logging.getLogger("cti_fsm.gateway")


#: how many agents one lease round claims at most: a gateway starting beside thousands of
#: free agents takes them in steps instead of sending the broker thousands of claims and
#: the vendor thousands of logins at once
MAX_CLAIMS_PER_ROUND = 1000
#: the agents' reconnect policy: quick, since a takeover waits on it
_RECONNECT = Backoff(base=0.1, cap=2.0)


@attrs.frozen
class GatewayHealth:
    """What a gateway says of itself every second, on its health subject.

    Attributes:
        gateway: its name.
        agents: the agents it holds.
        connected: how many of them are logged in at the vendor now.
        lagging: events queued or sent and not yet acknowledged by the stream.
        lag_seconds: how long the oldest of those has waited (0: none waits).
        published: events published since it started.
        batches: the batches they crossed in.
    """

    gateway: str
    agents: int
    connected: int
    lagging: int
    lag_seconds: float
    published: int
    batches: int


@attrs.define(eq=False)
class _Held:
    """One agent this gateway holds."""

    config: AgentConfig
    agent: Agent
    revision: int
    seq: int
    scope: trio.CancelScope = attrs.field(factory=trio.CancelScope)
    live: bool = True
    started: trio.Event = attrs.field(factory=trio.Event)


class Gateway:
    """Hosts the agents of ``config`` that its leases give it.

    Args:
        config: the configuration (see ``cti_fsm.gateway.config``).
        name: this gateway's name, unique among the tenant's gateways.
        adapter: the adapter (default: the configuration's vendor, loaded).
        reconnect: the agents' reconnect backoff.
        thread: the asyncio thread the broker runs on (default: the process's one).
    """

    def __init__(
        self,
        config: GatewayConfig,
        name: str,
        *,
        adapter: Adapter | None = None,
        reconnect: Backoff = _RECONNECT,
        thread: AsyncioThread | None = None,
    ) -> None:
        self.config = config
        self.name = name
        self.adapter = adapter or load_adapter(config.vendor)
        self.reconnect = reconnect
        self.thread = thread or asyncio_thread()
        self.table = LeaseTable(name, config.agents, config.lease_seconds)
        self.broker = Broker(config.nats, config.tenant, name, self.table, config.lease_seconds)
        self.held: dict[str, _Held] = {}
        self._stopping = trio.Event()
        self._nursery: trio.Nursery | None = None
        self._to_trio: Batch | None = None
        self._claiming: set[str] = set()
        #: the leases held, by agent: their revisions (kept apart from ``held``, whose
        #: entries go when an agent's task ends, so a stop hands back every lease)
        self._leases: dict[str, int] = {}

    def __repr__(self) -> str:
        return f"<Gateway {self.name!r} tenant={self.config.tenant!r} holds={len(self.held)}>"

    @property
    def lease_seconds(self) -> float:
        """How long a lease lasts unrenewed."""
        return self.config.lease_seconds

    def health(self) -> GatewayHealth:
        """The gateway's health now."""
        oldest = self.broker.oldest_unacked
        return GatewayHealth(
            self.name,
            len(self.held),
            sum(1 for h in self.held.values() if h.agent.connected),
            self.broker.unacked,
            0.0 if oldest is None else round(time.monotonic() - oldest, 3),
            self.broker.published,
            self.broker.batches,
        )

    def stop(self) -> None:
        """Stop cleanly (from the gateway's trio run): ``run`` returns once done."""
        self._stopping.set()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Connect to the broker and serve until ``stop`` or cancellation; a clean stop
        either way. ``task_status.started()`` once connected and announced (it claims agents
        from its next lease round on).

        Raises:
            nats.errors.Error: the broker cannot be reached.
        """
        self.thread.acquire()
        try:
            token = trio.lowlevel.current_trio_token()
            self._to_trio = Batch(token.run_sync_soon)
            await self.thread.run(self.broker.connect())
            try:
                async with trio.open_nursery() as nursery:
                    self._nursery = nursery
                    # announce first, claim from the next round on: gateways started
                    # together see each other before they count their fair shares
                    await self._round(claim=False)
                    nursery.start_soon(self._rounds)
                    nursery.start_soon(self._health)
                    task_status.started()
                    await self._stopping.wait()
                    nursery.cancel_scope.cancel()
            finally:
                with trio.CancelScope(shield=True):
                    await self._shutdown()
        finally:
            self.thread.release()

    async def _shutdown(self) -> None:
        # every lease this gateway holds, though its agent's task has ended already
        revisions = dict(self._leases)
        for agent_id in list(self.held):
            self._drop(agent_id)
        with trio.move_on_after(10):
            await self.thread.run(self.broker.release(revisions))
            await self.thread.run(self.broker.close())

    # --- leases -------------------------------------------------------------------------------
    async def _rounds(self) -> None:
        while True:
            await trio.sleep(self.lease_seconds / 3)
            await self._round()

    async def _round(self, *, claim: bool = True) -> None:
        # the announcement itself is renewed on the loop (``Broker``); this says the agents'
        # side is alive, which the renewals wait on
        self.broker.trio_alive_at = time.monotonic()
        taken = [a for a in self.held if self.table.owner(a) not in (self.name, "")]
        if taken:
            # this gateway was too late to renew (stalled, cut off): the others took them
            log.warning(
                "gateway %s: %d agents taken by other gateways (%s...); dropping them",
                self.name,
                len(taken),
                ", ".join(taken[:3]),
            )
        for agent_id in taken:
            self._leases.pop(agent_id, None)
            self._drop(agent_id)
        if not claim:
            return
        busy = {*self.held, *self._claiming}
        won = await self.thread.run(self._claim_all(busy))
        assert self._nursery is not None
        for agent_id, (revision, last) in won.items():
            self._leases[agent_id] = revision
            self._claiming.add(agent_id)
            self._nursery.start_soon(self._host, agent_id, revision, last)

    async def _claim_all(self, busy: set[str]) -> dict[str, tuple[int, Event | None]]:
        # on the loop, where the watchers fill the lease table: the free agents up to the
        # fair share, every claim at once, then the newest event of each agent won
        broker = self.broker
        claims = self.table.to_claim(time.time(), busy)[:MAX_CLAIMS_PER_ROUND]
        if not claims:
            return {}
        unanswered = broker.claims_unanswered
        revisions = await asyncio.gather(*(broker.claim(a, r) for a, r in claims))
        if broker.claims_unanswered > unanswered:
            log.warning(
                "gateway %s: %d of %d claims unanswered in time; retried next round",
                self.name,
                broker.claims_unanswered - unanswered,
                len(claims),
            )
        won = [(a, rev) for (a, _), rev in zip(claims, revisions, strict=True) if rev is not None]
        lasts = await asyncio.gather(
            *(broker.last_event(a) for a, _ in won), return_exceptions=True
        )
        unread = {
            a: rev
            for (a, rev), last in zip(won, lasts, strict=True)
            if isinstance(last, BaseException)
        }
        if unread:
            # numbering on without knowing the last number would reuse message ids, which
            # the stream drops as duplicates: hand these back and claim them again later
            log.warning(
                "gateway %s: the last events of %d agents unread; handed back",
                self.name,
                len(unread),
            )
            await broker.release(unread, announcement=False)
        return {
            a: (rev, last)
            for (a, rev), last in zip(won, lasts, strict=True)
            if not isinstance(last, BaseException)
        }

    # --- one agent ------------------------------------------------------------------------------
    async def _host(self, agent_id: str, revision: int, last: Event | None) -> None:
        config = self.config.agents[agent_id]
        chart = self.adapter.chart
        known = last is not None and last.snapshot.state in chart.states
        # an agent the last holder left connected: its link to the vendor dropped with
        # that holder, so subscribers hear the drop, then (after the resync, which walks
        # from the state they last saw) the link back, as a local agent's listeners hear a
        # reconnect
        dropped = known and last is not None and last.snapshot.connected
        agent = Agent(
            self.adapter,
            self.config.url,
            config.user,
            config.password,
            rights=config.rights,
            options=self.config.options,
            reconnect=self.reconnect,
            resume_from=last.snapshot.state if dropped and last is not None else None,
        )
        holder = _Held(config, agent, revision, last.seq if last is not None else 0)
        self.held[agent_id] = holder
        self._claiming.discard(agent_id)
        if known and last is not None:
            agent.machine.jump(last.snapshot.state)
            link_lost = agent.lifecycle.link_lost
            if dropped and agent.machine.handles(link_lost):
                why = f"{last.gateway or 'its gateway'} stopped holding the agent"
                for note in agent.machine.apply(link_lost, reason=why).notifications:
                    self._published(holder, note)
        agent.on("*", lambda note: self._published(holder, note))
        subject = command_subject(self.config.tenant, agent_id)
        await self.thread.run(self.broker.serve_commands(agent_id, subject, self._command_arrived))
        log.info("gateway %s: holds %s from seq %d", self.name, agent_id, holder.seq)
        try:
            with holder.scope:
                async with trio.open_nursery() as nursery:
                    await nursery.start(agent.run)
                    holder.started.set()
                    await trio.sleep_forever()
        except* CtiError as group:
            # the vendor refused the login, or reconnecting gave up: the lease lapses
            # unrenewed and a gateway (maybe this one) tries again at a later round
            for exc in group.exceptions:
                log.warning("gateway %s: agent %s stopped: %s", self.name, agent_id, exc)
        finally:
            holder.live = False
            if self.held.get(agent_id) is holder:
                del self.held[agent_id]
            with trio.CancelScope(shield=True):
                await self.thread.run(self.broker.stop_commands(agent_id))

    def _drop(self, agent_id: str) -> None:
        """Stop holding an agent: no event from it from now on, its link dropped (no
        logout: the next holder carries on)."""
        holder = self.held.pop(agent_id, None)
        if holder is not None:
            holder.live = False
            holder.scope.cancel()

    def _snapshot(self, holder: _Held) -> Snapshot:
        agent = holder.agent
        return Snapshot(agent.state, agent.machine.states, agent.allowed(), agent.connected)

    def _published(self, holder: _Held, note: Notification) -> None:
        # a listener: runs in the agent's dispatch, so the snapshot is the one after it
        if not holder.live:
            return
        holder.seq += 1
        agent_id = holder.config.id
        event = Event(agent_id, holder.seq, self._snapshot(holder), note, self.name)
        item = Outgoing(
            event_subject(self.config.tenant, agent_id),
            encode_event(event),
            message_id(agent_id, holder.seq),
            event,
        )
        broker = self.broker
        self.thread.call_soon(lambda: broker.publish(item))

    # --- commands -------------------------------------------------------------------------------
    def _command_arrived(self, agent_id: str, msg: Msg) -> None:
        # on the loop: to trio, in a batch with the others that came meanwhile
        to_trio = self._to_trio
        if to_trio is not None:
            to_trio.call_soon(lambda: self._start_command(agent_id, msg))

    def _start_command(self, agent_id: str, msg: Msg) -> None:
        nursery = self._nursery
        if nursery is not None:
            nursery.start_soon(self._run_command, agent_id, msg)

    async def _run_command(self, agent_id: str, msg: Msg) -> None:
        holder = self.held.get(agent_id)
        reply: bytes
        if holder is None:
            reply = encode_error(Disconnected(f"gateway {self.name} no longer holds {agent_id}"))
        else:
            try:
                name, args = decode_command(msg.data)
            except WireError as exc:
                reply = encode_error(CtiError(f"malformed command request: {exc}"), holder.seq)
            else:
                await holder.started.wait()
                try:
                    step = await holder.agent.command(name, **args)
                except CtiError as exc:
                    reply = encode_error(exc, holder.seq)
                except TypeError as exc:
                    reply = encode_error(CtiError(f"command {name!r}: {exc}"), holder.seq)
                else:
                    reply = encode_step_reply(step, holder.seq, self._snapshot(holder))
        broker = self.broker
        self.thread.call_soon(lambda: broker.respond(msg, reply))

    # --- health ---------------------------------------------------------------------------------
    async def _health(self) -> None:
        subject = health_subject(self.config.tenant, self.name)
        while True:
            data = json.dumps(attrs.asdict(self.health())).encode()
            await self.thread.run(self.broker.health(subject, data))
            await trio.sleep(1.0)
