"""The agent business code holds: a thin trio driver around a sans-IO ``Session``.

``async with open_agent("my-vendor", url, user, password) as agent:`` connects, logs in,
synchronises with the server's view of the agent and yields. Every chart command is an
awaitable method (``await agent.hold()``; typed for the default chart, see
``cti_fsm.default_commands``) that is validated against the chart before anything is sent
and returns when the confirming signal has moved the machine. Every notification goes to
listeners registered by the seed's names (``agent.on("onCallIn", fn)``) and to
``async for note in agent.notifications()``.

The rules (login, resync, correlation, the pending policy, keepalive, reconciliation) are
the session's (``cti_fsm.session``); this module only moves frames between the transport
and the session, arms the session's deadline on the run's one watchdog
(``cti_fsm.deadlines``), calls listeners and reconnects with capped exponential backoff
and full jitter. When the link drops the session fails pending commands with
``Disconnected`` and emits the chart's link-lost notification; the agent reconnects, and
the next session logs in, walks the machine to the server's state and then announces the
login.
"""

from __future__ import annotations

import collections
import contextlib
import inspect
import itertools
import logging
import math
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import Any, Literal

import attrs
import trio

from .adapter import Adapter, FitsCharts, Transport, VendorProtocol, load_adapter
from .chart import Chart
from .command_lookup import AsyncCommandLookup
from .deadlines import watchdog
from .default_commands import DefaultCommands
from .errors import CommandTimeout, CtiError, Disconnected
from .events import Notification, RawMessage, Step
from .machine import Machine
from .ratelimit import RateLimitedLog
from .secrets import Secret, secret
from .session import (
    RECHECK_AFTER,
    Lifecycle,
    LinkDead,
    Received,
    Session,
    Ticket,
)
from .tls import TRANSPORT_OPTIONS, client_context

__all__ = ["RECHECK_AFTER", "Agent", "AgentStatistics", "Backoff", "Lifecycle", "open_agent"]

log = logging.getLogger("cti_fsm.agent")
#: backoff jitter for agents not given their own: one shared generator, not one per agent
_JITTER = random.Random()

Listener = Callable[[Notification], Any]
RawListener = Callable[[RawMessage], Any]
StepListener = Callable[[Step], Any]


@attrs.frozen
class Backoff:
    """Reconnect delays: capped exponential with full jitter (AWS's recommendation).

    Attempt ``n`` (0-based) waits a uniformly random time in ``[0, min(cap, base * 2**n)]``.

    Attributes:
        base: seconds for the first attempt's upper bound.
        cap: the longest wait.
        max_attempts: give up after this many failed attempts in a row (None: never).
    """

    base: float = 0.5
    cap: float = 30.0
    max_attempts: int | None = None

    def delay(self, attempt: int, rng: random.Random) -> float:
        """The wait before reconnect attempt ``attempt``."""
        upper = min(self.cap, self.base * math.pow(2, min(attempt, 62)))
        return rng.uniform(0, upper)


@attrs.frozen
class AgentStatistics:
    """A snapshot of an agent's counters (``Agent.statistics()``)."""

    state: str
    connected: bool
    pending: tuple[str, ...]
    reconnects: int
    malformed_frames: int
    ignored_signals: int
    dropped_during_resync: int
    drift_corrections: int
    notifications: int
    listener_errors: int
    dropped_notifications: int


@attrs.define(eq=False)
class _Link:
    """One connection: its transport, its session, and how it is going."""

    transport: Transport
    session: Session
    scope: trio.CancelScope
    ready: trio.Event = attrs.field(factory=trio.Event)
    #: why the link ended (the first reason wins)
    lost: list[str] = attrs.field(factory=list)


class _Alarm:
    """One arming of an agent's session deadline on the run's watchdog."""

    __slots__ = ("agent",)

    def __init__(self, agent: Agent) -> None:
        self.agent = agent

    @property
    def settled(self) -> bool:
        # re-armed earlier since, or the agent has no session: this arming is void
        return self.agent._alarm is not self

    def expire(self) -> None:
        self.agent._on_alarm()


class _Subscription:
    """A bounded queue of notifications for one ``async for`` consumer."""

    def __init__(self, names: frozenset[str] | None, maxlen: int) -> None:
        self.names = names
        self.queue: collections.deque[Notification] = collections.deque()
        self.maxlen = maxlen
        self.ready = trio.Event()
        self.dropped = 0
        self.closed = False

    def put(self, note: Notification) -> bool:
        if self.names is not None and note.name not in self.names:
            return True
        if len(self.queue) >= self.maxlen:
            # a consumer that stopped reading must not grow memory without bound
            self.queue.popleft()
            self.dropped += 1
            fitted = False
        else:
            fitted = True
        self.queue.append(note)
        self.ready.set()
        return fitted


class Agent(DefaultCommands, AsyncCommandLookup):
    """One agent's session with a CTI server. Create it with ``open_agent`` (or construct
    it and run ``await nursery.start(agent.run)`` in a nursery of your own).

    The default chart's commands are typed methods (``DefaultCommands``); a chart of your
    own gets its commands as attributes too (``agent.finish_wrap_up()``), typed if you
    generate its interface with ``cti-fsm stubs``, and ``agent.command(name, **args)``
    sends any of them.

    Args:
        adapter: the vendor adapter (or its registered name).
        url: the CTI server's address.
        user: the agent's login (for some vendors, a device or interface).
        password: the login secret (a string or a ``cti_fsm.Secret``), held as a
            ``Secret`` from here on: never in a log, repr, ``vars()`` or message.
        rights: rights the agent has (supervisor commands need them), or ``"server"``:
            after each login, ask the server with the chart's ``session: rights`` query
            and take the rights it grants (those the chart knows); until the answer, and
            if the query fails or the vendor cannot make it (a warning is logged), none.
        chart: the chart to run (default: the adapter's chart).
        options: vendor-specific options passed to the adapter's protocol, but for
            ``ssl_context`` (an ``ssl.SSLContext``), passed to the transport: for a TLS
            URL (the adapter says which), the context to verify the server with (a
            private CA: ``ssl.create_default_context(cafile=...)``); default the
            system's CAs. Verification is off only in a context you build so.
        reconnect: the backoff policy, or None to stay down after a drop.
        lifecycle: the chart names for login, logout and link loss (default: the
            chart's ``session:`` section).
        rng: randomness for the backoff jitter (a seeded one makes tests repeatable).
        notification_buffer: how many notifications each ``notifications()`` consumer
            may fall behind before the oldest are dropped.
        reconcile_every: seconds between reconciliations (None: none). While connected and
            no command awaits its answer, the agent asks the server for a snapshot; if the
            server names another state than the machine's twice in a row (the second look
            follows after ``RECHECK_AFTER`` seconds, or ``reconcile_every`` if shorter, so
            an event still on its way is not mistaken for drift), the machine walks there
            as a resync does, listeners hear what changed, a warning is logged and
            ``statistics().drift_corrections`` counts it. This heals events a server lost
            or sent out of order.
        resume_from: the state the agent was last seen in, elsewhere (a gateway taking
            over an agent another process held): the first login's resync walks from
            there to the server's state, so listeners hear only what changed since.

    Raises:
        ValueError: ``reconcile_every`` is not a positive number of seconds, or
            ``rights="server"`` with a chart that names no rights query.
        TypeError: ``password`` is not a string or ``Secret``, or
            ``options["ssl_context"]`` is not an ``ssl.SSLContext``.
        AdapterNotFound: no adapter is registered under ``adapter``.
    """

    def __init__(
        self,
        adapter: Adapter | str,
        url: str,
        user: str,
        password: str | Secret,
        *,
        rights: Iterable[str] | Literal["server"] = (),
        chart: Chart | None = None,
        options: Mapping[str, Any] | None = None,
        reconnect: Backoff | None = Backoff(),
        lifecycle: Lifecycle | None = None,
        rng: random.Random | None = None,
        notification_buffer: int = 10_000,
        reconcile_every: float | None = None,
        resume_from: str | None = None,
    ) -> None:
        self.adapter: Adapter = load_adapter(adapter) if isinstance(adapter, str) else adapter
        if chart is not None and chart is not self.adapter.chart:
            # a chart of your own runs only where the vendor map fits it: checked here,
            # before anything connects, exactly as `cti-fsm check --chart` checks it
            if not isinstance(self.adapter, FitsCharts):
                raise ValueError(
                    f"adapter {self.adapter.name!r} runs only its own chart"
                    f" {self.adapter.chart.name!r}, not {chart.name!r}"
                )
            self.adapter = self.adapter.for_chart(chart)
        self.url = url
        self.user = user
        self.__password = secret(password)
        self.chart = self.adapter.chart
        self.options: Mapping[str, Any] = dict(options or {})
        # the transport's options (TLS) go to adapter.connect, the rest to the protocol
        self._connect_options = {k: v for k, v in self.options.items() if k in TRANSPORT_OPTIONS}
        self._protocol_options = {
            k: v for k, v in self.options.items() if k not in TRANSPORT_OPTIONS
        }
        if "ssl_context" in self._connect_options:
            client_context(self._connect_options["ssl_context"])  # refuses a non-context
        self.reconnect = reconnect
        self.lifecycle = lifecycle or Lifecycle.of(self.chart)
        self._rights_from_server = rights == "server"
        if self._rights_from_server and self.lifecycle.rights is None:
            raise ValueError(
                f"rights='server' needs the chart {self.chart.name!r} to name its rights"
                " query (session: rights)"
            )
        self.machine = Machine(self.chart, rights=() if rights == "server" else rights)
        self._rng = rng or _JITTER
        self._buffer = notification_buffer
        if reconcile_every is not None and not reconcile_every > 0:
            raise ValueError(f"reconcile_every must be positive seconds, got {reconcile_every}")
        self.reconcile_every = reconcile_every
        # request ids never repeat across the agent's connections
        self._requests = itertools.count(1)
        self._link: _Link | None = None
        # where the next connection's resync walks from (the state before the drop)
        self._resume_from: str | None = resume_from
        self._resume_beside: tuple[str, ...] = ()
        # each listener with whether it is async, judged once when added: inspecting it
        # on every notification would cost more than the notification itself
        self._listeners: dict[str, list[tuple[Listener, bool]]] = {}
        self._raw_listeners: list[tuple[RawListener, bool]] = []
        self._step_listeners: list[tuple[StepListener, bool]] = []
        self._subscriptions: set[_Subscription] = set()
        self._nursery: trio.Nursery | None = None
        self._closing = False
        self._flushing = False
        self._alarm: _Alarm | None = None
        self._armed_at = math.inf
        self._stats = collections.Counter[str]()
        # one warning per kind and interval, however many notifications a consumer loses
        self._warn = RateLimitedLog(log)

    # --- reading ------------------------------------------------------------------------------
    @property
    def state(self) -> str:
        """The machine's full state path."""
        return self.machine.state

    @property
    def connected(self) -> bool:
        """True while a transport is open and logged in."""
        link = self._link
        return link is not None and link.session.ready and not link.session.lost

    def allowed(self) -> tuple[str, ...]:
        """The commands that may be sent now: allowed by the chart and done by the vendor."""
        unsupported = self.adapter.unsupported
        return tuple(c for c in self.machine.allowed() if c not in unsupported)

    def statistics(self) -> AgentStatistics:
        """Counters and the current state, for monitoring."""
        return AgentStatistics(
            state=self.state,
            connected=self.connected,
            pending=self._link.session.pending_commands() if self._link is not None else (),
            reconnects=self._stats["reconnects"],
            malformed_frames=self._stats["malformed"],
            ignored_signals=self._stats["ignored"],
            dropped_during_resync=self._stats["dropped_resync"],
            drift_corrections=self._stats["drift_corrections"],
            notifications=self._stats["notifications"],
            listener_errors=self._stats["listener_errors"],
            dropped_notifications=sum(s.dropped for s in self._subscriptions),
        )

    def __repr__(self) -> str:
        return f"<Agent {self.user!r} via {self.adapter.name!r} state={self.state!r}>"

    # --- listeners ------------------------------------------------------------------------------
    def on(self, name: str, listener: Listener) -> None:
        """Call ``listener(notification)`` for every notification named ``name`` ("*": all).

        A plain function runs at once, in order; an async function runs as a task in the
        agent's nursery. A listener that raises is logged and does not break the agent.

        Raises:
            KeyError: the chart has no notification of that name.
        """
        if name != "*" and name not in self.chart.notifications:
            raise KeyError(f"chart {self.chart.name!r} has no notification {name!r}")
        self._listeners.setdefault(name, []).append(_registered(listener))

    def off(self, name: str, listener: Listener) -> None:
        """Remove a listener added with ``on`` (no error if it was not there)."""
        _unregister(self._listeners.get(name, []), listener)

    def on_raw(self, listener: RawListener) -> None:
        """Call ``listener(message)`` for every raw message received, before it is mapped:
        the passthrough for vendor features the chart does not cover."""
        self._raw_listeners.append(_registered(listener))
        if self._link is not None:
            self._link.session.passthrough = True

    def off_raw(self, listener: RawListener) -> None:
        """Remove a raw listener."""
        _unregister(self._raw_listeners, listener)

    def on_step(self, listener: StepListener) -> None:
        """Call ``listener(step)`` for every signal that moved the machine or emitted
        something (source, target, signal, notifications): for timelines and audit logs.
        Called before the step's notifications reach their listeners."""
        self._step_listeners.append(_registered(listener))

    def off_step(self, listener: StepListener) -> None:
        """Remove a step listener."""
        _unregister(self._step_listeners, listener)

    @asynccontextmanager
    async def subscribe(
        self, names: Iterable[str] | None = None
    ) -> AsyncIterator[AsyncIterator[Notification]]:
        """``async with agent.subscribe() as notes: async for note in notes:`` with a
        scope that unsubscribes. Only notifications named in ``names`` if given.
        A consumer that falls more than ``notification_buffer`` behind loses the oldest."""
        sub = _Subscription(frozenset(names) if names is not None else None, self._buffer)
        self._subscriptions.add(sub)
        try:
            yield self._drain(sub)
        finally:
            self._subscriptions.discard(sub)

    async def notifications(
        self, names: Iterable[str] | None = None
    ) -> AsyncIterator[Notification]:
        """``async for note in agent.notifications():`` every notification from now on."""
        async with self.subscribe(names) as notes:
            async for note in notes:
                yield note

    async def _drain(self, sub: _Subscription) -> AsyncIterator[Notification]:
        while True:
            while sub.queue:
                yield sub.queue.popleft()
            sub.ready = trio.Event()
            await sub.ready.wait()

    # --- commands -------------------------------------------------------------------------------
    async def command(self, name: str, /, **args: Any) -> Step | None:
        """Send a chart command and wait for its answer.

        Returns:
            The step the confirming signal took (None if the chart gives the command no
            confirming signal: it is done once sent).

        Raises:
            IllegalCommand, PermissionDenied, InvalidArguments: refused by the chart.
            Unsupported: the vendor cannot do it.
            MissingContext: the vendor needs something not known now (no current call).
            Busy: the chart says ``pending: reject`` and another command is waiting.
            Disconnected: not connected, or the link dropped before the answer.
            CommandFailed: the vendor refused it (its reason attached).
            CommandTimeout: no answer within the chart's timeout for the command.
        """
        link = self._link
        if link is None or link.session.lost:
            why = "closed" if self._closing else "not connected (reconnecting)"
            raise Disconnected(why, command=name)
        session = link.session
        ticket = session.send_command(name, args, trio.current_time())
        if ticket.done:
            # settled at once (a local command moved the chart already): its listeners
            # hear it now, and the timers it armed are watched
            self._dispatch(link)
        step = await self._outcome(link, ticket)
        if name == self.lifecycle.disconnect:
            # the user logged out: the server closing the link now is no drop to recover
            # from, so the session ends instead of reconnecting and logging back in
            self._closing = True
            await link.transport.aclose()
        return step

    async def _outcome(self, link: _Link, ticket: Ticket) -> Step | None:
        """Send what the session has for ``ticket`` and wait until it is settled."""
        session = link.session
        if not ticket.done:
            if ticket.deadline < self._armed_at:
                self._arm(ticket.deadline)
            try:
                await self._flush(link)
            except Disconnected as exc:
                session.abandon(ticket)
                raise Disconnected(exc.reason, command=ticket.command) from None
            except BaseException:
                # cancelled: nothing may answer it from now on
                session.abandon(ticket)
                raise
            if not ticket.done:
                # parked until _dispatch hands out the settled ticket: cheaper than an
                # Event per command, and the abort keeps cancellation exact
                ticket.waiter = trio.lowlevel.current_task()

                def abort(_: Any) -> trio.lowlevel.Abort:
                    ticket.waiter = None
                    session.abandon(ticket)
                    return trio.lowlevel.Abort.SUCCEEDED

                await trio.lowlevel.wait_task_rescheduled(abort)
        elif session.wants_to_send:
            try:
                await self._flush(link)
            except Disconnected as exc:
                raise Disconnected(exc.reason, command=ticket.command) from None
        error = ticket.error
        if error is not None:
            raise error
        return ticket.step

    async def send_raw(self, message: RawMessage) -> None:
        """Send a raw vendor message as is (no chart check): the passthrough for features
        the chart does not cover. Its answer arrives at ``on_raw`` listeners.

        Raises:
            Disconnected: not connected.
        """
        link = self._link
        if link is None:
            raise Disconnected("not connected")
        link.session.send_raw(message)
        await self._flush(link)

    async def _flush(self, link: _Link) -> None:
        """Send whatever the session has to send, in order.

        Raises:
            Disconnected: the link is gone.
        """
        if self._flushing:
            return  # the task sending now sends these too, after its own, in order
        self._flushing = True
        try:
            session, send = link.session, link.transport.send
            frames = session.data_to_send()
            while frames:
                for frame in frames:
                    await send(frame)
                frames = session.data_to_send()
        finally:
            self._flushing = False

    # --- what the session says -------------------------------------------------------------------
    def _dispatch(self, link: _Link) -> None:
        """Hand out what the session produced: notifications, outcomes, its own events."""
        session = link.session
        for event in session.events():
            if isinstance(event, Step):
                if self._step_listeners:
                    for step_listener, is_async in tuple(self._step_listeners):
                        self._call_listener(step_listener, is_async, event)
                if event.notifications:
                    self._emit(event.notifications)
            elif isinstance(event, Ticket):
                waiter = event.waiter
                if waiter is not None:
                    event.waiter = None  # woken exactly once
                    trio.lowlevel.reschedule(waiter)
            elif isinstance(event, Received):
                for raw_listener, is_async in tuple(self._raw_listeners):
                    self._call_listener(raw_listener, is_async, event.message)
            elif isinstance(event, LinkDead):
                link.lost.append(event.reason)
                # ending the connection's tasks closes the transport
                link.scope.cancel()
            else:  # Ready or LoginFailed: the login is over, one way or the other
                link.ready.set()
        if session.wake_at < self._armed_at:
            self._arm(session.wake_at)

    def _arm(self, at: float) -> None:
        self._armed_at = at
        alarm = self._alarm = _Alarm(self)
        watchdog().watch(at, alarm)

    def _on_alarm(self) -> None:
        """The session's deadline came (from the watchdog: must not raise or block)."""
        self._alarm = None
        self._armed_at = math.inf
        link = self._link
        if link is None:
            return
        link.session.tick(trio.current_time())
        self._dispatch(link)
        if link.session.wants_to_send and self._nursery is not None:
            self._nursery.start_soon(self._flush_quietly, link)

    async def _flush_quietly(self, link: _Link) -> None:
        # a send failing means the link is going down: the receive loop reports it
        with contextlib.suppress(Disconnected):
            await self._flush(link)

    def _emit(self, notes: Iterable[Notification]) -> None:
        listeners = self._listeners
        for note in notes:
            self._stats["notifications"] += 1
            named = listeners.get(note.name)
            if named:
                for listener, is_async in tuple(named):
                    self._call_listener(listener, is_async, note)
            anything = listeners.get("*")
            if anything:
                for listener, is_async in tuple(anything):
                    self._call_listener(listener, is_async, note)
            for sub in self._subscriptions:
                if not sub.put(note):
                    self._warn.warning(
                        time.monotonic(),
                        "lost",
                        "%s: a slow notification consumer lost %s",
                        self.user,
                        note.name,
                    )

    def _call_listener(self, listener: Callable[[Any], Any], is_async: bool, value: Any) -> None:
        try:
            if is_async:
                if self._nursery is not None:
                    self._nursery.start_soon(self._run_async_listener, listener, value)
                return
            listener(value)
        except Exception:
            self._stats["listener_errors"] += 1
            log.exception("%s: listener %r raised; the agent goes on", self.user, listener)

    async def _run_async_listener(
        self, listener: Callable[[Any], Awaitable[Any]], value: Any
    ) -> None:
        try:
            await listener(value)
        except Exception:
            self._stats["listener_errors"] += 1
            log.exception("%s: listener %r raised; the agent goes on", self.user, listener)

    # --- the connection --------------------------------------------------------------------------
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Connect, log in, synchronise, then keep the session up until ``aclose``.

        ``task_status.started()`` is called once the first login and synchronisation are
        done, so ``await nursery.start(agent.run)`` returns a ready agent.

        Raises:
            Disconnected: the first connection could not be made, or reconnecting gave up.
            CommandFailed: the first login was refused (wrong password, say).
            CommandTimeout: the first login was not answered in time.
        """
        error: CtiError | None = None
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            try:
                await self._reconnecting(task_status)
            except CtiError as exc:
                error = exc
            finally:
                nursery.cancel_scope.cancel()
                self._nursery = None
        if error is not None:
            raise error

    async def _reconnecting(self, task_status: trio.TaskStatus[None]) -> None:
        started = False
        attempt = 0
        while not self._closing:
            error: CtiError | None = None
            reason: str | None = None
            try:
                async with self.adapter.connect(self.url, **self._connect_options) as transport:
                    protocol = self.adapter.protocol(user=self.user, options=self._protocol_options)
                    # errors of the session itself are kept apart from failing to connect
                    try:
                        reason = await self._serve(transport, protocol, started, task_status)
                    except CtiError as exc:
                        error = exc
            except Disconnected as exc:
                if not started or self.reconnect is None:
                    raise
                attempt += 1
                limit = self.reconnect.max_attempts
                if limit is not None and attempt >= limit:
                    raise Disconnected(f"gave up after {attempt} attempts: {exc.reason}") from exc
                await trio.sleep(self.reconnect.delay(attempt, self._rng))
                continue
            if error is not None:
                raise error
            started = True
            attempt = 0
            if self._closing or self.reconnect is None:
                if reason is not None and not self._closing:
                    raise Disconnected(reason)
                return
            self._stats["reconnects"] += 1
            await trio.sleep(self.reconnect.delay(0, self._rng))

    async def _serve(
        self,
        transport: Transport,
        protocol: VendorProtocol,
        started: bool,
        task_status: trio.TaskStatus[None],
    ) -> str | None:
        """Run one connection until it drops (returns the reason) or the agent closes.

        Raises:
            CtiError: the login failed on the first connection, or was refused.
        """
        session = Session(
            self.machine,
            protocol,
            user=self.user,
            password=self.__password,
            url=self.url,
            lifecycle=self.lifecycle,
            vendor=self.adapter.name,
            resume_from=self._resume_from,
            resume_beside=self._resume_beside,
            rights_from_server=self._rights_from_server,
            reconcile_every=self.reconcile_every,
            stats=self._stats,
            requests=self._requests,
        )
        session.passthrough = bool(self._raw_listeners)
        error: CtiError | None = None
        async with trio.open_nursery() as nursery:
            link = self._link = _Link(transport, session, nursery.cancel_scope)
            nursery.start_soon(self._receive_loop, link)
            try:
                session.start(trio.current_time())
                self._dispatch(link)
                await self._flush(link)
            except Disconnected as exc:
                link.lost.append(exc.reason)
                nursery.cancel_scope.cancel()
            except CtiError as exc:
                error = exc
                nursery.cancel_scope.cancel()
            await link.ready.wait()
            if session.ready:
                if not started:
                    task_status.started()
            else:
                nursery.cancel_scope.cancel()
        self._link = None
        self._alarm = None
        self._armed_at = math.inf
        await transport.aclose()
        reason = link.lost[0] if link.lost else "closed"
        if not session.lost:
            session.connection_lost(reason, expected=self._closing)
            self._dispatch(link)
        self._resume_from = session.resume_from
        self._resume_beside = session.resume_beside
        if error is None and not session.was_ready:
            error = session.login_error or Disconnected(reason)
        if error is not None:
            if started and isinstance(error, (Disconnected, CommandTimeout)):
                # a reconnect that could not log in yet: drop this link, try again
                return f"login did not complete: {error}"
            raise error
        return reason

    async def _receive_loop(self, link: _Link) -> None:
        session, transport = link.session, link.transport
        try:
            while True:
                frame = await transport.receive()
                session.receive_data(frame, trio.current_time())
                self._dispatch(link)
                if session.wants_to_send:
                    await self._flush(link)
        except Disconnected as exc:
            link.lost.append(exc.reason)
            session.connection_lost(link.lost[0], expected=self._closing)
            self._dispatch(link)
            link.ready.set()  # a login still waiting learns it will not complete
        link.scope.cancel()

    async def aclose(self) -> None:
        """Log out (best effort, briefly) and close the connection; idempotent."""
        if self._closing:
            return
        self._closing = True
        with trio.move_on_after(5):
            await self._close()

    async def _close(self) -> None:
        link = self._link
        if link is None:
            return
        logout = self.lifecycle.disconnect
        if (
            link.session.ready
            and logout in self.machine.allowed()
            and logout not in self.adapter.unsupported
        ):
            with trio.move_on_after(2):
                try:
                    await self.command(logout)
                except CtiError as exc:
                    log.info("%s: logout on close failed: %s", self.user, exc)
        await link.transport.aclose()


def _registered(listener: Callable[[Any], Any]) -> tuple[Callable[[Any], Any], bool]:
    return listener, inspect.iscoroutinefunction(listener)


def _unregister(where: list[tuple[Any, bool]], listener: Callable[[Any], Any]) -> None:
    for i, (each, _) in enumerate(where):
        if each == listener:
            del where[i]
            return


@asynccontextmanager
async def open_agent(
    vendor: Adapter | str,
    url: str,
    user: str,
    password: str | Secret,
    **kwargs: Any,
) -> AsyncIterator[Agent]:
    """Connect, log in and synchronise an agent; close it on exit.

    ``kwargs`` are ``Agent``'s keyword arguments (rights, chart, options, reconnect, ...).
    The agent's tasks run in a nursery inside this context, so they cannot outlive it.

    Raises:
        AdapterNotFound: no adapter is registered under ``vendor``.
        Disconnected: the server cannot be reached.
        CommandFailed: the login was refused.
    """
    agent = Agent(vendor, url, user, password, **kwargs)
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(agent.run)
            try:
                yield agent
            finally:
                with trio.CancelScope(shield=True):
                    await agent.aclose()
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        # the nursery wraps what the agent raised; callers are promised the error itself
        raise _sole_error(group) from None


def _sole_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The one exception inside nested single-exception groups, else the group."""
    found: BaseException = group
    while isinstance(found, BaseExceptionGroup) and len(found.exceptions) == 1:
        found = found.exceptions[0]
    return found
