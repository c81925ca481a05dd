"""The agent business code holds: a Machine driven by a vendor connection, under trio.

``async with open_agent("my-vendor", url, user, password) as agent:`` connects, logs in,
synchronises with the server's view of the agent and yields. Every chart command is an
awaitable method (``await agent.hold()``) that is validated against the chart before
anything is sent and returns when the confirming signal has moved the machine. Every
notification goes to listeners registered by the seed's names (``agent.on("onCallIn",
fn)``) and to ``async for note in agent.notifications()``.

When the link drops the agent emits the chart's link-lost notification, fails pending
commands with ``Disconnected``, reconnects with capped exponential backoff and full
jitter, logs in again, asks for a snapshot, walks the machine to the state the server
reports (emitting the notifications that walk emits), and only then emits the login
notification. Signals received while the snapshot is outstanding are already part of it
and are dropped; everything after it is applied once, in order.
"""

from __future__ import annotations

import collections
import inspect
import itertools
import logging
import math
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, Literal

import attrs
import trio

from .adapter import (
    Adapter,
    Answer,
    Inbound,
    Malformed,
    RawMessage,
    Signal,
    Snapshot,
    Transport,
    VendorProtocol,
    load_adapter,
)
from .chart import Chart, CommandRule
from .deadlines import watchdog
from .errors import (
    Busy,
    CommandError,
    CommandFailed,
    CommandTimeout,
    CtiError,
    Disconnected,
    Unsupported,
)
from .machine import Machine, Notification, Step
from .paths import shortest_signal_path

__all__ = ["Agent", "AgentStatistics", "Backoff", "Lifecycle", "open_agent"]

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
class Lifecycle:
    """The chart names the agent itself uses for the session's life (the chart's
    ``session:`` section; ``Lifecycle.of(chart)``).

    Attributes:
        connect: the command that logs in (sent on open and after every reconnect).
        disconnect: the command that logs out (sent on close).
        link_lost: the signal applied when the transport drops.
        rights: the query whose answer lists the rights the server grants (None: the
            chart names none).
    """

    connect: str = "connect"
    disconnect: str = "disconnect"
    link_lost: str = "link_lost"
    rights: str | None = None

    @classmethod
    def of(cls, chart: Chart) -> Lifecycle:
        """The roles the chart names in its ``session:`` section (others by default)."""
        return cls(**chart.session)


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
class _Pending:
    command: str
    rule: CommandRule
    request_id: int
    done: trio.Event = attrs.field(factory=trio.Event)
    step: Step | None = None
    error: BaseException | None = None

    @property
    def settled(self) -> bool:
        """Answered, failed, or abandoned: its deadline no longer matters."""
        return self.done.is_set()

    def expire(self) -> None:
        """Its deadline passed with no answer."""
        self.fail(CommandTimeout(self.command, self.rule.timeout))

    def resolve(self, step: Step | None) -> None:
        if not self.done.is_set():
            self.step = step
            self.done.set()

    def fail(self, error: BaseException) -> None:
        if not self.done.is_set():
            self.error = error
            self.done.set()


@attrs.define(eq=False)
class _Connection:
    transport: Transport
    protocol: VendorProtocol
    resync_request: int | None = None
    #: where the resync walks from: the state before the drop, or None (just logged in)
    resync_origin: str | None = None
    snapshot_arrived: trio.Event = attrs.field(factory=trio.Event)
    #: the reconciliation snapshot asked for and not answered yet
    reconcile_request: int | None = None
    #: the state the last reconciliation snapshot named, when it disagreed with the machine
    suspect: str | None = None
    #: set to ask the reconciliation loop for a second look soon
    recheck: trio.Event = attrs.field(factory=trio.Event)


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


class Agent:
    """One agent's session with a CTI server. Create it with ``open_agent`` (or construct
    it and run ``await nursery.start(agent.run)`` in a nursery of your own).

    Args:
        adapter: the vendor adapter (or its registered name).
        url: the CTI server's address.
        user: the agent's login (for some vendors, a device or interface).
        password: the login secret; never logged or shown.
        rights: rights the agent has (supervisor commands need them), or ``"server"``:
            after each login, ask the server with the chart's ``session: rights`` query
            and take the rights it grants (those the chart knows); until the answer, and
            if the query fails or the vendor cannot make it (a warning is logged), none.
        chart: the chart to run (default: the adapter's chart).
        options: vendor-specific options passed to the adapter's protocol.
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

    Raises:
        ValueError: ``reconcile_every`` is not a positive number of seconds, or
            ``rights="server"`` with a chart that names no rights query.
    """

    def __init__(
        self,
        adapter: Adapter | str,
        url: str,
        user: str,
        password: str,
        *,
        rights: Iterable[str] | Literal["server"] = (),
        chart: Chart | None = None,
        options: Mapping[str, Any] | None = None,
        reconnect: Backoff | None = Backoff(),
        lifecycle: Lifecycle | None = None,
        rng: random.Random | None = None,
        notification_buffer: int = 10_000,
        reconcile_every: float | None = None,
    ) -> None:
        self.adapter: Adapter = load_adapter(adapter) if isinstance(adapter, str) else adapter
        self.url = url
        self.user = user
        self.__password = password
        self.chart = chart or self.adapter.chart
        self.options: Mapping[str, Any] = dict(options or {})
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
        self._requests = itertools.count(1)
        self._conn: _Connection | None = None
        # commands awaiting their answer, by request id (insertion order = sending order),
        # and per confirm or fail signal the ones it would answer, oldest first
        self._pending: dict[int, _Pending] = {}
        self._awaiting: dict[str, collections.deque[_Pending]] = {}
        self._serial = trio.Lock()
        self._send_lock = trio.Lock()
        self._listeners: dict[str, list[Listener]] = collections.defaultdict(list)
        self._raw_listeners: list[RawListener] = []
        self._step_listeners: list[StepListener] = []
        self._subscriptions: set[_Subscription] = set()
        self._nursery: trio.Nursery | None = None
        self._closing = False
        self._held: list[Notification] | None = None
        # the state before the link last dropped: where a resync walks from
        self._last_online: str | None = None
        self._link_up = trio.Event()
        self._stats = collections.Counter[str]()
        self._pings: dict[int, trio.Event] = {}

    # --- reading ------------------------------------------------------------------------------
    @property
    def state(self) -> str:
        """The machine's full state path."""
        return self.machine.state

    @property
    def connected(self) -> bool:
        """True while a transport is open and logged in."""
        return self._conn is not None and self._link_up.is_set()

    def allowed(self) -> tuple[str, ...]:
        """The commands that may be sent now: allowed by the chart and done by the vendor."""
        unsupported = self.adapter.unsupported
        return tuple(c for c in self.machine.allowed() if c not in unsupported)

    def statistics(self) -> AgentStatistics:
        """Counters and the current state, for monitoring."""
        return AgentStatistics(
            state=self.state,
            connected=self.connected,
            pending=tuple(p.command for p in self._pending.values()),
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
        self._listeners[name].append(listener)

    def off(self, name: str, listener: Listener) -> None:
        """Remove a listener added with ``on`` (no error if it was not there)."""
        with_name = self._listeners.get(name, [])
        if listener in with_name:
            with_name.remove(listener)

    def on_raw(self, listener: RawListener) -> None:
        """Call ``listener(message)`` for every raw message received, before it is mapped:
        the passthrough for vendor features the chart does not cover."""
        self._raw_listeners.append(listener)

    def off_raw(self, listener: RawListener) -> None:
        """Remove a raw listener."""
        if listener in self._raw_listeners:
            self._raw_listeners.remove(listener)

    def on_step(self, listener: StepListener) -> None:
        """Call ``listener(step)`` for every signal that moved the machine or emitted
        something (source, target, signal, notifications): for timelines and audit logs.
        Called before the step's notifications reach their listeners."""
        self._step_listeners.append(listener)

    def off_step(self, listener: StepListener) -> None:
        """Remove a step listener."""
        if listener in self._step_listeners:
            self._step_listeners.remove(listener)

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
    def __getattr__(self, name: str) -> Callable[..., Awaitable[Step | None]]:
        # one awaitable method per chart command: agent.hold(), agent.dial_out("123")
        chart = self.__dict__.get("chart")
        if chart is None or name not in chart.commands:
            raise AttributeError(f"{type(self).__name__!r} has no attribute or command {name!r}")
        spec = chart.commands[name]

        async def command(*args: Any, **kwargs: Any) -> Step | None:
            if len(args) > len(spec.args):
                raise TypeError(f"{name}() takes at most {len(spec.args)} positional arguments")
            for arg, value in zip(spec.args, args, strict=False):
                if arg.name in kwargs:
                    raise TypeError(f"{name}() got argument {arg.name!r} twice")
                kwargs[arg.name] = value
            return await self.command(name, **kwargs)

        command.__name__ = name
        command.__doc__ = spec.description
        # found in the instance from now on: `agent.hold` is not built again on every call
        self.__dict__[name] = command
        return command

    async def command(self, name: str, /, **args: Any) -> Step | None:
        """Send a chart command and wait for its answer.

        Returns:
            The step the confirming signal took (None if the chart gives the command no
            confirming signal: it is done once sent).

        Raises:
            IllegalCommand, PermissionDenied, InvalidArguments: refused by the chart.
            Unsupported: the vendor cannot do it.
            Busy: the chart says ``pending: reject`` and another command is waiting.
            Disconnected: not connected, or the link dropped before the answer.
            CommandFailed: the vendor refused it (its reason attached).
            CommandTimeout: no answer within the chart's timeout for the command.
        """
        step = await self._command(name, args)
        if name == self.lifecycle.disconnect:
            # the user logged out: the server closing the link now is no drop to recover
            # from, so the session ends instead of reconnecting and logging back in
            self._closing = True
            conn = self._conn
            if conn is not None:
                await conn.transport.aclose()
        return step

    async def _command(self, name: str, args: Mapping[str, Any]) -> Step | None:
        spec = self.chart.commands.get(name)
        mode = spec.pending if spec is not None else "reject"
        if mode == "parallel":
            return await self._send_and_wait(name, args, self._check(name, args))
        if mode == "reject" and self._serial.locked():
            self._check(name, args)
            waiting = next((p.command for p in self._pending.values()), "another command")
            raise Busy(command=name, state=self.state, waiting=waiting)
        await _acquire(self._serial)
        try:
            # a queued command is checked when its turn comes: `hold()` then `retrieve()`
            # sent together is a sequence, and retrieve is legal once hold has landed
            return await self._send_and_wait(name, args, self._check(name, args))
        finally:
            self._serial.release()

    def _check(
        self, name: str, args: Mapping[str, Any], *, logging_in: bool = False
    ) -> CommandRule:
        if not logging_in and name != self.lifecycle.connect and not self.connected:
            why = "closed" if self._closing else "not connected (reconnecting)"
            raise Disconnected(why, command=name)
        rule = self.machine.check(name, **args)
        if name in self.adapter.unsupported:
            raise Unsupported(command=name, state=self.state, vendor=self.adapter.name)
        return rule

    async def _send_and_wait(
        self, name: str, args: Mapping[str, Any], rule: CommandRule
    ) -> Step | None:
        conn = self._conn
        if conn is None:
            raise Disconnected("not connected", command=name)
        pending = _Pending(name, rule, next(self._requests))
        try:
            messages = conn.protocol.encode_command(name, args, pending.request_id)
        except CommandError as exc:
            # a protocol refusing a command does not know the machine's state: say it here
            if not exc.state:
                exc.state = self.state
                exc.args = (f"{exc} (state {self.state!r})",)
            raise
        except CtiError as exc:
            exc.add_note(f"command {name!r} in state {self.state!r}")
            raise
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s: sending %s (request %d)", self.user, name, pending.request_id)
        answered_by = _answered_by(rule)
        if not answered_by:
            await self._send_all(conn, messages, name)
            return None
        self._pending[pending.request_id] = pending
        for signal in answered_by:
            queue = self._awaiting.get(signal)
            if queue is None:
                queue = self._awaiting[signal] = collections.deque()
            queue.append(pending)
        # the run's watchdog fails it at its deadline (deadlines.py)
        watchdog().watch(trio.current_time() + rule.timeout, pending)
        try:
            await self._send_all(conn, messages, name)
            await pending.done.wait()
        finally:
            # answered, or abandoned (cancelled): nothing may answer it from now on
            pending.done.set()
            del self._pending[pending.request_id]
            for signal in answered_by:
                queue = self._awaiting[signal]
                # usually it was answered from the front; an unanswered one is removed here
                if pending in queue:
                    queue.remove(pending)
                if not queue:
                    del self._awaiting[signal]
        if pending.error is not None:
            raise pending.error
        return pending.step

    async def _send_all(self, conn: _Connection, messages: Sequence[RawMessage], name: str) -> None:
        await _acquire(self._send_lock)
        try:
            for message in messages:
                await conn.transport.send(conn.protocol.codec.encode(message))
        finally:
            self._send_lock.release()

    async def send_raw(self, message: RawMessage) -> None:
        """Send a raw vendor message as is (no chart check): the passthrough for features
        the chart does not cover. Its answer arrives at ``on_raw`` listeners.

        Raises:
            Disconnected: not connected.
        """
        conn = self._conn
        if conn is None:
            raise Disconnected("not connected")
        await self._send_all(conn, [message], "raw")

    # --- inbound ----------------------------------------------------------------------------------
    def _receive_frame(self, conn: _Connection, frame: bytes | str) -> None:
        for item in conn.protocol.codec.feed(frame):
            if isinstance(item, Malformed):
                self._stats["malformed"] += 1
                log.warning("%s: malformed frame dropped: %s", self.user, item.reason)
                continue
            if self._raw_listeners:
                for raw_listener in tuple(self._raw_listeners):
                    self._call_listener(raw_listener, item)
            try:
                inbound = conn.protocol.receive(item)
            except Exception:
                # an adapter bug on one message must not end the session
                self._stats["protocol_errors"] += 1
                log.exception("%s: the protocol failed on a message; dropped", self.user)
                continue
            for each in inbound:
                self._receive(conn, each)

    def _receive(self, conn: _Connection, inbound: Inbound) -> None:
        if isinstance(inbound, Signal):
            if conn.resync_request is not None:
                # the snapshot we asked for already includes this
                self._stats["dropped_resync"] += 1
                return
            self._apply(inbound.name, inbound.payload)
        elif isinstance(inbound, Answer):
            self._answer(inbound)
        elif (
            isinstance(inbound, Snapshot)
            and conn.resync_request is not None
            and inbound.request_id in (None, conn.resync_request)
        ):
            # applied here, in arrival order, so what the server sends after the
            # snapshot lands on top of it
            conn.resync_request = None
            self._apply_snapshot(conn.resync_origin, inbound)
            conn.snapshot_arrived.set()
        elif (
            isinstance(inbound, Snapshot)
            and conn.reconcile_request is not None
            and inbound.request_id in (None, conn.reconcile_request)
        ):
            conn.reconcile_request = None
            self._reconcile(conn, inbound)

    def _apply(self, signal: str, payload: Mapping[str, Any]) -> Step:
        step = self.machine.apply(signal, **payload)
        if step.ignored:
            self._stats["ignored"] += 1
            log.debug("%s: signal %s ignored in %s", self.user, signal, step.source)
            return step
        if step.changed and log.isEnabledFor(logging.INFO):
            log.info("%s: %s --%s--> %s", self.user, step.source, signal, step.target)
        if self._step_listeners:
            for step_listener in tuple(self._step_listeners):
                self._call_listener(step_listener, step)
        if step.notifications:
            self._emit(step.notifications)
        queue = self._awaiting.get(signal)
        while queue:
            pending = queue.popleft()
            if pending.done.is_set():
                continue  # answered already (by its request id, say)
            if signal == pending.rule.confirm:
                pending.resolve(step)
            else:
                reason = payload.get("message") or payload.get("reason") or signal
                pending.fail(CommandFailed(pending.command, str(reason), signal))
            break
        return step

    def _answer(self, answer: Answer) -> None:
        ping = self._pings.pop(answer.request_id, None)
        if ping is not None:
            ping.set()
            return
        pending = self._pending.get(answer.request_id)
        if pending is None or pending.done.is_set():
            return
        if answer.ok:
            if pending.rule.confirm is None:
                pending.resolve(None)
            return
        # the vendor refused it: report through the chart's failure signal if it has one
        fail = pending.rule.fail
        if fail is not None and self.machine.handles(fail):
            self._apply(fail, {"message": answer.reason})
        pending.fail(CommandFailed(pending.command, answer.reason, fail))

    def _emit(self, notes: Iterable[Notification]) -> None:
        if self._held is not None:
            self._held.extend(notes)
            return
        for note in notes:
            self._stats["notifications"] += 1
            for listener in (*self._listeners.get(note.name, ()), *self._listeners.get("*", ())):
                self._call_listener(listener, note)
            for sub in self._subscriptions:
                if not sub.put(note):
                    log.warning("%s: a slow notification consumer lost %s", self.user, note.name)

    def _call_listener(self, listener: Callable[[Any], Any], value: Any) -> None:
        try:
            if inspect.iscoroutinefunction(listener):
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

    # --- the session ------------------------------------------------------------------------------
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Connect, log in, synchronise, then keep the session up until ``aclose``.

        ``task_status.started()`` is called once the first login and synchronisation are
        done, so ``await nursery.start(agent.run)`` returns a ready agent.

        Raises:
            Disconnected: the first connection could not be made, or reconnecting gave up.
            CommandFailed: the first login was refused (wrong password, say).
        """
        error: CtiError | None = None
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            try:
                await self._session(task_status)
            except CtiError as exc:
                error = exc
            finally:
                nursery.cancel_scope.cancel()
                self._nursery = None
        if error is not None:
            raise error

    async def _session(self, task_status: trio.TaskStatus[None]) -> None:
        started = False
        attempt = 0
        while not self._closing:
            error: CtiError | None = None
            reason: str | None = None
            try:
                async with self.adapter.connect(self.url) as transport:
                    protocol = self.adapter.protocol(user=self.user, options=self.options)
                    # errors of the session itself are kept apart from failing to connect
                    try:
                        reason = await self._serve(
                            _Connection(transport, protocol), started, task_status
                        )
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
        self, conn: _Connection, started: bool, task_status: trio.TaskStatus[None]
    ) -> str | None:
        """Run one connection until it drops (returns the reason) or the agent closes.

        Raises:
            CtiError: the login failed on the first connection, or was refused.
        """
        lost: list[str] = []
        error: CtiError | None = None
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._receive_loop, conn, lost, nursery.cancel_scope)
            self._conn = conn
            try:
                await self._login(conn)
            except (Disconnected, CommandTimeout) as exc:
                nursery.cancel_scope.cancel()
                if started:
                    # a reconnect that could not log in yet: drop this link, try again
                    lost.append(f"login did not complete: {exc}")
                else:
                    error = exc
            except CtiError as exc:
                # refused (a changed password, say): retrying cannot help
                nursery.cancel_scope.cancel()
                error = exc
            else:
                self._link_up.set()
                if not started:
                    task_status.started()
                nursery.start_soon(self._keepalive_loop, conn, lost)
                if self.reconcile_every is not None:
                    nursery.start_soon(self._reconcile_loop, conn, self.reconcile_every)
        # raised out here, not inside the nursery, so callers get the error itself
        self._conn = None
        self._link_up = trio.Event()
        await conn.transport.aclose()
        if error is not None:
            raise error
        if lost:
            self._link_lost(lost[0])
            return lost[0]
        return None

    async def _receive_loop(
        self, conn: _Connection, lost: list[str], scope: trio.CancelScope
    ) -> None:
        try:
            while True:
                frame = await conn.transport.receive()
                self._receive_frame(conn, frame)
        except Disconnected as exc:
            lost.append(exc.reason)
        except trio.Cancelled:
            raise
        scope.cancel()

    async def _keepalive_loop(self, conn: _Connection, lost: list[str]) -> None:
        """Ping every ``keepalive_interval`` seconds if the protocol can; a ping not
        answered within one interval means the link is dead even if TCP has not noticed."""
        interval = getattr(conn.protocol, "keepalive_interval", None)
        keepalive = getattr(conn.protocol, "keepalive", None)
        if not interval or not callable(keepalive):
            return
        while True:
            await trio.sleep(interval)
            request = next(self._requests)
            answered = self._pings[request] = trio.Event()
            try:
                await self._send_all(conn, keepalive(request), "keepalive")
            except Disconnected:
                self._pings.pop(request, None)
                return  # the link is going down: the receive loop reports it
            with trio.move_on_after(interval):
                await answered.wait()
            if not answered.is_set():
                self._pings.pop(request, None)
                lost.append(f"no keepalive answer within {interval:g}s")
                # closing the transport ends the receive loop, which ends the connection
                await conn.transport.aclose()
                return

    async def _login(self, conn: _Connection) -> None:
        """Log in, ask for a snapshot, walk the machine to it, then release notifications."""
        # kept until a resync succeeds: a link that drops again mid-resync must still
        # walk from where the user last saw the agent
        before = self._last_online
        # connect's notification (onConnect) must come after the resync's notifications
        self._held = []
        try:
            await self.command(
                self.lifecycle.connect, user=self.user, password=self.__password, url=self.url
            )
            held, self._held = self._held, None
            await self._resync(conn, before)
            self._last_online = None
            if self._rights_from_server:
                await self._adopt_rights()
            self._emit(held)
        finally:
            if self._held is not None:
                held, self._held = self._held, None
                self._emit(held)

    async def _adopt_rights(self) -> None:
        """Ask the server what this agent may do and take it (``rights="server"``)."""
        query = self.lifecycle.rights
        assert query is not None  # checked when the agent was made
        try:
            # part of logging in: the link is not announced as up before it is done
            step = await self._send_and_wait(query, {}, self._check(query, {}, logging_in=True))
        except CommandError as exc:
            log.warning("%s: cannot ask the server for rights: %s", self.user, exc)
            return
        except (CommandFailed, CommandTimeout) as exc:
            log.warning("%s: the server did not say the rights: %s", self.user, exc)
            return
        granted = step.payload.get("rights") if step is not None else None
        if isinstance(granted, str):
            granted = [granted]
        if not isinstance(granted, Iterable):
            log.warning("%s: the server's rights are unreadable: %r", self.user, granted)
            return
        named = {str(r) for r in granted}
        unknown = named - self.chart.rights
        if unknown:
            log.debug("%s: rights the chart does not know, ignored: %s", self.user, unknown)
        self.machine.rights = frozenset(named & self.chart.rights)
        log.info("%s: rights from the server: %s", self.user, sorted(self.machine.rights) or "none")

    async def _resync(self, conn: _Connection, before: str | None) -> None:
        """Ask for a snapshot and wait until the receive path has applied it."""
        request = next(self._requests)
        messages = conn.protocol.snapshot_request(request)
        if not messages:
            return
        conn.resync_request, conn.resync_origin = request, before
        await self._send_all(conn, messages, "snapshot")
        timeout = self.chart.commands[self.lifecycle.connect].rule.timeout
        with trio.move_on_after(timeout):
            await conn.snapshot_arrived.wait()
        if conn.resync_request is not None:
            conn.resync_request = None
            log.warning("%s: no snapshot within %gs; state may be stale", self.user, timeout)

    def _apply_snapshot(self, before: str | None, snapshot: Snapshot) -> None:
        try:
            target = self.chart.resolve(snapshot.state)
        except KeyError:
            log.warning("%s: snapshot names unknown state %r", self.user, snapshot.state)
            return
        # walk from where the agent was before the drop (or from just logged in) to where
        # the server says it is, so listeners hear what changed meanwhile
        origin = before or self.state
        if self.chart.contains(target, origin):
            if origin != self.state:
                self.machine.jump(origin)
            return
        path = shortest_signal_path(self.machine, origin, target)
        if path is None:
            self.machine.jump(target)
            log.info("%s: resynchronised by jump to %s", self.user, self.state)
            return
        self.machine.jump(origin)
        for signal in path:
            self._apply(signal, snapshot.payload)
        log.info("%s: resynchronised to %s via %s", self.user, self.state, ", ".join(path))

    async def _reconcile_loop(self, conn: _Connection, interval: float) -> None:
        """Ask for a snapshot every ``interval`` seconds (sooner for a second look)."""
        while True:
            with trio.move_on_after(interval):
                await conn.recheck.wait()
            if conn.recheck.is_set():
                conn.recheck = trio.Event()
                await trio.sleep(min(RECHECK_AFTER, interval))
            if conn.reconcile_request is not None:
                # unanswered for a whole interval: forget it, ask again
                log.debug("%s: reconciliation snapshot not answered", self.user)
                conn.reconcile_request = None
            if self._pending or conn.resync_request is not None:
                # an answer on its way would race the snapshot: look again next time
                continue
            request = next(self._requests)
            messages = conn.protocol.snapshot_request(request)
            if not messages:
                return  # the vendor has no snapshot to reconcile with
            conn.reconcile_request = request
            try:
                await self._send_all(conn, messages, "snapshot")
            except Disconnected:
                return  # the link is going down: the receive loop reports it

    def _reconcile(self, conn: _Connection, snapshot: Snapshot) -> None:
        """Compare a reconciliation snapshot with the machine; correct a confirmed drift."""
        try:
            target = self.chart.resolve(snapshot.state)
        except KeyError:
            log.warning("%s: snapshot names unknown state %r", self.user, snapshot.state)
            return
        if self.chart.contains(target, self.state):
            conn.suspect = None
            return
        if conn.suspect != target:
            # the first look: an event may still be on its way; look again soon
            conn.suspect = target
            conn.recheck.set()
            return
        conn.suspect = None
        drifted = self.state
        self._stats["drift_corrections"] += 1
        self._apply_snapshot(None, snapshot)
        log.warning(
            "%s: out of step with the server (%s, server says %s); now %s",
            self.user,
            drifted,
            target,
            self.state,
        )

    def _link_lost(self, reason: str) -> None:
        # closing on purpose is not news; a drop is
        log.log(
            logging.DEBUG if self._closing else logging.WARNING,
            "%s: link lost: %s",
            self.user,
            reason,
        )
        for pending in tuple(self._pending.values()):
            pending.fail(Disconnected(reason, command=pending.command))
        if not self.machine.handles(self.lifecycle.link_lost):
            return
        if self._last_online is None:
            self._last_online = self.state
            self._apply(self.lifecycle.link_lost, {"reason": reason})
        else:
            # dropped again before the user heard it was back: they already know it is
            # down, so the machine goes down without a second announcement
            self.machine.apply(self.lifecycle.link_lost, reason=reason)

    async def aclose(self) -> None:
        """Log out (best effort, briefly) and close the connection; idempotent."""
        if self._closing:
            return
        self._closing = True
        with trio.move_on_after(5):
            await self._close()

    async def _close(self) -> None:
        conn = self._conn
        if conn is not None:
            logout = self.lifecycle.disconnect
            if logout in self.machine.allowed() and logout not in self.adapter.unsupported:
                with trio.move_on_after(2):
                    try:
                        await self.command(logout)
                    except CtiError as exc:
                        log.info("%s: logout on close failed: %s", self.user, exc)
            await conn.transport.aclose()
        for pending in tuple(self._pending.values()):
            pending.fail(Disconnected("closed", command=pending.command))


#: Seconds before a reconciliation takes a second look at a state that disagreed.
RECHECK_AFTER = 1.0


def _answered_by(rule: CommandRule) -> tuple[str, ...]:
    """The signals that answer a command of ``rule`` (its confirm and fail signals)."""
    if rule.fail is None or rule.fail == rule.confirm:
        return () if rule.confirm is None else (rule.confirm,)
    return (rule.fail,) if rule.confirm is None else (rule.confirm, rule.fail)


async def _acquire(lock: trio.Lock) -> None:
    """Take ``lock``, without a trip through the scheduler when it is free: a command
    reaches a checkpoint anyway when it sends and when it waits for its answer."""
    try:
        lock.acquire_nowait()
    except trio.WouldBlock:
        await lock.acquire()


@asynccontextmanager
async def open_agent(
    vendor: Adapter | str,
    url: str,
    user: str,
    password: str,
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
