"""One agent connection's rules, sans-IO: frames in; steps, command outcomes, frames to send
and a deadline out.

``Session`` is to an agent what h11's ``Connection`` is to HTTP: it does no I/O, starts no
task and reads no clock. The trio agent (``cti_fsm.agent``) hands it what arrived
(``receive_data(frame, now)``), what the user asked (``send_command``), the time when the
deadline it asked for comes (``tick(now)``) and the end of the link
(``connection_lost``); it takes back ``events()``, ``data_to_send()`` and ``wake_at``.
Every rule of a session is here, so each is driven from a test frame by frame with a
fake clock:

- **login**: ``start(now)`` sends the chart's login command; while it is outstanding the
  steps it causes are held, so its notification (``onConnect``) comes after the resync's;
- **resync**: after the login a snapshot is asked for; signals that arrive before it are
  already part of it and are dropped; the snapshot walks the machine along the chart's
  shortest signal path from where the user last saw the agent (``resume_from``: the state
  before the drop) to the server's state, so listeners hear what changed; what arrives
  after it is applied once, in order;
- **rights**: with ``rights_from_server`` the chart's rights query is asked next and its
  answer becomes the machine's rights;
- **correlation, one answer path**: a command resolves exactly once, by its confirming
  signal, its failure (a failure signal or a refused answer), its timeout, or the link;
- **the pending policy**: the chart's ``pending`` for each command: ``queue`` (sent when
  the one before is answered, checked then), ``reject`` (``Busy``) or ``parallel``;
- **keepalive**: a protocol that ``KeepsAlive`` is pinged; an unanswered ping within one
  interval is a ``LinkDead`` event;
- **reconciliation**: every ``reconcile_every`` seconds while no command waits, a snapshot;
  a state the server contradicts twice in a row (the second look ``RECHECK_AFTER`` later)
  is walked back in step.
"""

from __future__ import annotations

import collections
import heapq
import itertools
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from .adapter import DoesLocally, KeepsAlive, VendorProtocol
from .chart import Chart, CommandRule
from .errors import (
    Busy,
    CommandError,
    CommandFailed,
    CommandTimeout,
    CtiError,
    Disconnected,
    IllegalCommand,
    InvalidArguments,
    Unsupported,
)
from .events import (
    EXCERPT_CHARS,
    Answer,
    ChartCommand,
    Frame,
    Malformed,
    RawMessage,
    Signal,
    Snapshot,
    Step,
    clip,
)
from .machine import Machine
from .paths import shortest_signal_path
from .ratelimit import RateLimitedLog
from .secrets import Secret, hidden, revealed, secret, stand_ins

__all__ = [
    "RECHECK_AFTER",
    "Lifecycle",
    "LinkDead",
    "LoginFailed",
    "Ready",
    "Received",
    "Session",
    "SessionEvent",
    "Ticket",
]

log = logging.getLogger("cti_fsm.session")

#: Seconds before a reconciliation takes a second look at a state that disagreed.
RECHECK_AFTER = 1.0


@attrs.frozen
class Lifecycle:
    """The chart names a session itself uses for its life (the chart's ``session:``
    section; ``Lifecycle.of(chart)``).

    Attributes:
        connect: the command that logs in (sent on every connection).
        disconnect: the command that logs out.
        link_lost: the signal applied when the link drops.
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


class Ticket:
    """One command's life in a session, from ``send_command`` to its single outcome.

    Attributes:
        command: the chart command.
        args: its arguments.
        request_id: the id its answer is correlated by (0 while it waits its turn).
        deadline: when it times out (``math.inf`` while queued or if never answered).
        done: True once settled; ``step`` or ``error`` then holds the outcome.
        step: the step its confirming signal took (None: confirmed without one).
        error: why it failed (``CommandFailed``, ``CommandTimeout``, ``Disconnected``, or a
            refusal found when a queued command's turn came).
        waiter: free for the driver (the trio agent keeps what wakes the caller here).
    """

    __slots__ = (
        "_after",
        "_queues",
        "args",
        "command",
        "deadline",
        "done",
        "error",
        "request_id",
        "rule",
        "step",
        "waiter",
    )

    def __init__(self, command: str, args: Mapping[str, Any]) -> None:
        self.command = command
        self.args = args
        self.rule: CommandRule | None = None
        self.request_id = 0
        self.deadline = math.inf
        self.done = False
        self.step: Step | None = None
        self.error: CtiError | None = None
        self.waiter: Any = None
        # the session's own follow-up (login, rights): such a ticket is no user event
        self._after: Any = None
        self._queues: tuple[str, ...] = ()

    def __repr__(self) -> str:
        status = "done" if self.done else "pending"
        return f"<Ticket {self.command} #{self.request_id} {status}>"

    def result(self) -> Step | None:
        """The outcome: the confirming step (or None).

        Raises:
            RuntimeError: not settled yet.
            CtiError: the command failed (the error itself).
        """
        if not self.done:
            raise RuntimeError(f"command {self.command!r} is not settled yet")
        if self.error is not None:
            raise self.error
        return self.step


@attrs.frozen
class Ready:
    """The login, its resync and the rights query are done: the session serves commands."""


@attrs.frozen
class LoginFailed:
    """The login did not complete: refused (``CommandFailed``), unanswered
    (``CommandTimeout``) or cut (``Disconnected``).

    Attributes:
        error: why.
    """

    error: CtiError


@attrs.frozen
class LinkDead:
    """The link is dead though the transport has not noticed (a keepalive went unanswered):
    the driver should close it, and then report ``connection_lost``.

    Attributes:
        reason: why.
    """

    reason: str


@attrs.frozen
class Received:
    """A raw message, before it is mapped (only while ``Session.passthrough`` is on).

    Attributes:
        message: the message.
    """

    message: RawMessage


#: What ``Session.events()`` gives: a step (its notifications for listeners), a settled
#: ``Ticket``, or one of the session's own events.
SessionEvent = Step | Ticket | Ready | LoginFailed | LinkDead | Received

_READY = Ready()


class Session:
    """One agent connection: its rules, with no I/O (see the module's docstring).

    Args:
        machine: the agent's machine (it outlives connections; the session moves it).
        protocol: this connection's fresh vendor protocol.
        user, password, url: the login's arguments; the password is held as a ``Secret``
            (a string is wrapped at once) and revealed only to the protocol's encoding.
        lifecycle: the chart's session names (default: the chart's ``session:``).
        vendor: the vendor's name, for ``Unsupported``.
        resume_from: the state the user last saw before the link dropped (the previous
            session's ``resume_from``): where the resync walks from.
        resume_beside: the regions' states then (the previous session's
            ``resume_beside``): a next state the agent chose, taken up again where the
            server's state allows.
        rights_from_server: ask the chart's rights query after the login and take them.
        reconcile_every: seconds between reconciliation snapshots (None: none).
        stats: counters shared across the agent's sessions (malformed, ignored, ...).
        requests: the request id source shared across sessions (ids never repeat).

    Raises:
        ValueError: ``rights_from_server`` with a chart that names no rights query, or
            ``reconcile_every`` not a positive number.
    """

    __slots__ = (
        "__password",
        "_awaiting",
        "_chart_commands",
        "_clock",
        "_dead",
        "_deferred",
        "_delays",
        "_events",
        "_held",
        "_keepalive",
        "_local",
        "_lost",
        "_next_ping",
        "_next_reconcile",
        "_out",
        "_pending",
        "_ping",
        "_ping_deadline",
        "_queue",
        "_reconcile_request",
        "_requests",
        "_resync_deadline",
        "_resync_request",
        "_serial",
        "_suspect",
        "_timers",
        "_unsupported",
        "_warn",
        "chart",
        "lifecycle",
        "login_error",
        "machine",
        "passthrough",
        "protocol",
        "ready",
        "reconcile_every",
        "resume_beside",
        "resume_from",
        "rights_from_server",
        "stats",
        "url",
        "user",
        "vendor",
        "wake_at",
        "was_ready",
    )

    def __init__(
        self,
        machine: Machine,
        protocol: VendorProtocol,
        *,
        user: str,
        password: str | Secret,
        url: str = "",
        lifecycle: Lifecycle | None = None,
        vendor: str = "",
        resume_from: str | None = None,
        resume_beside: tuple[str, ...] = (),
        rights_from_server: bool = False,
        reconcile_every: float | None = None,
        stats: collections.Counter[str] | None = None,
        requests: Iterable[int] | None = None,
    ) -> None:
        self.machine = machine
        self.chart = machine.chart
        self.protocol = protocol
        self.user = user
        self.__password = secret(password)
        self.url = url
        self.lifecycle = lifecycle or Lifecycle.of(self.chart)
        self.vendor = vendor
        self.resume_from = resume_from
        self.resume_beside = resume_beside
        if rights_from_server and self.lifecycle.rights is None:
            raise ValueError(
                f"rights from the server need the chart {self.chart.name!r} to name its"
                " rights query (session: rights)"
            )
        self.rights_from_server = rights_from_server
        if reconcile_every is not None and not reconcile_every > 0:
            raise ValueError(f"reconcile_every must be positive seconds, got {reconcile_every}")
        self.reconcile_every = reconcile_every
        self.stats = stats if stats is not None else collections.Counter()
        self._requests = iter(requests) if requests is not None else itertools.count(1)
        self._unsupported = protocol.unsupported
        # chart commands this vendor has no service for: done here, as local commands are
        self._local = protocol.local_commands if isinstance(protocol, DoesLocally) else frozenset()
        #: True once logged in and synchronised: user commands are served
        self.ready = False
        #: True once it has been ready (it stays True after the link is lost)
        self.was_ready = False
        #: why the login did not complete, once it did not
        self.login_error: CtiError | None = None
        #: raw messages go out as ``Received`` events (the driver turns it on for raw
        #: listeners: most agents have none, and the events would be garbage)
        self.passthrough = False
        #: the earliest time ``tick`` has work (``math.inf``: none); may be early, never late
        self.wake_at = math.inf
        self._events: list[SessionEvent] = []
        self._out: list[Frame] = []
        # commands awaiting their answer, by request id (insertion order = sending order),
        # and per confirm or fail signal the ones it would answer, oldest first
        self._pending: dict[int, Ticket] = {}
        # lists, not deques: almost always one ticket long, and a deque costs 600 bytes
        self._awaiting: dict[str, list[Ticket]] = {}
        self._timers: list[tuple[float, int, Ticket]] = []
        # the chart's delayed transitions armed now: timer id -> when it is due
        self._delays: dict[str, float] = {}
        # chart commands a step asked for before the session was ready (the resync walk)
        self._chart_commands: list[ChartCommand] = []
        # the serial command outstanding, and the queued ones behind it
        self._serial: Ticket | None = None
        self._queue: list[Ticket] = []
        # steps held while the login is outstanding, then kept back until ready, so the
        # login's notification (onConnect) comes after the resync's
        self._held: list[Step] | None = None
        self._deferred: list[Step] = []
        self._resync_request: int | None = None
        self._resync_deadline = math.inf
        self._reconcile_request: int | None = None
        self._next_reconcile = math.inf
        self._suspect: str | None = None
        self._keepalive = (
            protocol.keepalive_interval
            if isinstance(protocol, KeepsAlive) and protocol.keepalive_interval
            else 0.0
        )
        self._ping: int | None = None
        self._next_ping = math.inf
        self._ping_deadline = math.inf
        self._dead: str | None = None
        self._lost = False
        # the time of the input being handled: a queued command sent when the one before
        # it settles, or a snapshot asked after the login, is timed from it
        self._clock = 0.0
        # what the server sends wrong is warned about once per kind and interval
        self._warn = RateLimitedLog(log)

    def __repr__(self) -> str:
        status = "lost" if self._lost else "ready" if self.ready else "logging in"
        return (
            f"<Session {self.user!r} {status} state={self.machine.state!r}"
            f" pending={len(self._pending)} queued={len(self._queue)}>"
        )

    # --- outputs ---------------------------------------------------------------------------------
    def events(self) -> list[SessionEvent]:
        """Everything that happened since the last call, in order."""
        events = self._events
        if events:
            self._events = []
        return events

    def data_to_send(self) -> list[Frame]:
        """The frames to send now, in order (the caller sends them all, in this order)."""
        out = self._out
        if out:
            self._out = []
        return out

    @property
    def wants_to_send(self) -> bool:
        """True if ``data_to_send`` has frames."""
        return bool(self._out)

    @property
    def lost(self) -> bool:
        """True once ``connection_lost`` was called: nothing more is served."""
        return self._lost

    def pending_commands(self) -> tuple[str, ...]:
        """The commands sent and not answered yet, then the queued ones, in order."""
        return (
            *(t.command for t in self._pending.values() if t._after is None),
            *(t.command for t in self._queue),
        )

    # --- inputs: the link ------------------------------------------------------------------------
    def start(self, now: float) -> None:
        """The transport is open: log in (the chart's login command).

        Raises:
            CtiError: the login command cannot be sent (the chart or the vendor refuses it).
        """
        self._clock = now
        self._held = []
        for change in self.machine.timers():
            assert change.seconds is not None
            self._delays[change.timer] = now + change.seconds
        known = {"user": self.user, "password": self.__password, "url": self.url}
        spec = self.chart.commands.get(self.lifecycle.connect)
        # only what the chart's login declares: a chart of your own may take no url
        args = {a.name: known[a.name] for a in spec.args if a.name in known} if spec else known
        ticket = Ticket(self.lifecycle.connect, args)
        ticket._after = self._logged_in
        self._check(ticket, logging_in=True)
        # the login is the serial command outstanding: a second login is Busy
        self._serial = ticket
        self._send(ticket, now)

    def connection_lost(self, reason: str, *, expected: bool = False) -> None:
        """The link is gone (``expected``: closed on purpose, so no warning). Every command
        not settled fails with ``Disconnected``; the machine takes the chart's link-lost
        signal, announced once however often the link drops before it is back."""
        if self._lost:
            return
        self._lost = True
        self.ready = False
        reason = self._dead or reason
        log.log(
            logging.DEBUG if expected else logging.WARNING, "%s: link lost: %s", self.user, reason
        )
        self._release_held()
        # the queued first: settling the one outstanding would give them their turn
        queued = tuple(self._queue)
        self._queue.clear()
        for ticket in queued:
            self._settle(ticket, error=Disconnected(reason, command=ticket.command))
        # a command sent and not answered may have been carried out: say so
        for ticket in tuple(self._pending.values()):
            self._settle(ticket, error=Disconnected(reason, command=ticket.command, sent=True))
        self.wake_at = math.inf
        self._delays.clear()
        link_lost = self.lifecycle.link_lost
        if not self.machine.handles(link_lost):
            return
        if self.resume_from is None:
            self.resume_from = self.machine.state
            self.resume_beside = self.machine.states[1:]
            self._apply(link_lost, {"reason": reason})
        else:
            # dropped again before the user heard it was back: they already know it is
            # down, so the machine goes down without a second announcement
            self.machine.apply(link_lost, reason=reason)

    # --- inputs: commands ------------------------------------------------------------------------
    def send_command(self, name: str, args: Mapping[str, Any], now: float) -> Ticket:
        """Check ``name`` against the chart and the vendor and send it (or queue it behind
        the command before it, as the chart's ``pending`` says).

        Returns:
            Its ticket: settled at once if the chart gives it nothing to wait for, else
            settled later by exactly one of its answer, its timeout or the link.

        Raises:
            IllegalCommand, PermissionDenied, InvalidArguments: refused by the chart
                (InvalidArguments also when the wire cannot carry an argument).
            Unsupported: the vendor cannot do it.
            MissingContext: the vendor needs something not known now (no current call).
            Busy: the chart says ``pending: reject`` and another command is waiting.
            Disconnected: not logged in (or the link is gone).
        """
        self._clock = now
        spec = self.chart.commands.get(name)
        if args and spec is not None:
            # the chart's secret arguments are held wrapped from here on (cti_fsm.secrets)
            args = hidden(args, [a.name for a in spec.args if a.secret])
        ticket = Ticket(name, args)
        mode = spec.pending if spec is not None else "reject"
        if mode != "parallel" and (self._serial is not None or self._queue):
            if mode == "reject":
                self._check(ticket)
                waiting = self._serial.command if self._serial is not None else "another command"
                raise Busy(command=name, state=self.machine.state, waiting=waiting)
            # a queued command is checked when its turn comes: `hold()` then `retrieve()`
            # sent together is a sequence, and retrieve is legal once hold has landed
            self._check_link(ticket)
            self._queue.append(ticket)
            return ticket
        self._check(ticket)
        if mode != "parallel":
            self._serial = ticket
        try:
            self._send(ticket, now)
        except BaseException:
            if self._serial is ticket:
                self._serial = None
            raise
        return ticket

    def abandon(self, ticket: Ticket) -> None:
        """The caller stopped waiting (cancelled): nothing may answer ``ticket`` from now on,
        and the command queued behind it gets its turn."""
        if ticket.done:
            return
        if ticket in self._queue:
            self._queue.remove(ticket)
            ticket.done = True
            return
        self._settle(ticket, error=None, quiet=True)

    def send_raw(self, message: RawMessage) -> None:
        """Send a raw vendor message as is (no chart check): the passthrough for features
        the chart does not cover.

        Raises:
            Disconnected: the link is gone.
        """
        if self._lost:
            raise Disconnected("not connected")
        self._out.append(self.protocol.encode(message))

    # --- inputs: frames and time -----------------------------------------------------------------
    def receive_data(self, frame: Frame, now: float) -> None:
        """Everything one frame means: steps, settled commands, what to send next."""
        self._clock = now
        protocol = self.protocol
        for item in protocol.decode(frame):
            if isinstance(item, Malformed):
                self._malformed(item, now)
                continue
            if self.passthrough:
                self._events.append(Received(item))
            try:
                inbound = protocol.receive(item)
            except Exception:
                # an adapter bug on one message must not end the session
                self.stats["protocol_errors"] += 1
                log.exception("%s: the protocol failed on a message; dropped", self.user)
                continue
            for each in inbound:
                if type(each) is Signal:
                    self._on_signal(each, now)
                elif type(each) is Answer:
                    self._on_answer(each, now)
                elif type(each) is Snapshot:
                    self._on_snapshot(each, now)
                elif type(each) is Malformed:
                    self._malformed(each, now)

    def _malformed(self, item: Malformed, now: float) -> None:
        """A frame or message that is wrong: counted, warned about (rate-limited, with a
        bounded excerpt), and nothing else: it moves no state and answers nothing."""
        self.stats["malformed"] += 1
        self._warn.warning(
            now,
            item.reason[:40],
            "%s: malformed message dropped: %s: %r",
            self.user,
            item.reason,
            item.excerpt[:EXCERPT_CHARS],
        )

    def tick(self, now: float) -> None:
        """Time has come to ``now``: expire commands, resync waits, pings and
        reconciliation looks that are due; recompute ``wake_at``."""
        if self._lost:
            self.wake_at = math.inf
            return
        self._clock = now
        if now >= self._next_reconcile:
            # before expiring commands: one timing out now was still racing the snapshot
            self._reconcile_look(now)
        timers = self._timers
        while timers and (timers[0][0] <= now or timers[0][2].done):
            _, _, ticket = heapq.heappop(timers)
            if not ticket.done:
                rule = ticket.rule
                timeout = rule.timeout if rule is not None else 0.0
                self._settle(ticket, error=CommandTimeout(ticket.command, timeout))
        delays = self._delays
        while delays:
            timer, due = min(delays.items(), key=lambda item: item[1])
            if due > now:
                break
            del delays[timer]
            step = self.machine.fire(timer)
            if not step.ignored:
                self._took(step)
        if self._resync_request is not None and now >= self._resync_deadline:
            self._resync_request = None
            self._resync_deadline = math.inf
            log.warning("%s: no snapshot in time; state may be stale", self.user)
            self._resynced(now)
        if self._ping is not None and now >= self._ping_deadline:
            self._ping = None
            self._ping_deadline = self._next_ping = math.inf
            self._dead = f"no keepalive answer within {self._keepalive:g}s"
            self._events.append(LinkDead(self._dead))
        elif self._ping is None and now >= self._next_ping:
            self._ping = next(self._requests)
            self._next_ping = math.inf
            self._ping_deadline = now + self._keepalive
            assert isinstance(self.protocol, KeepsAlive)  # _keepalive is set only then
            self._encode_all(self.protocol.keepalive(self._ping))
        self.wake_at = min(
            timers[0][0] if timers else math.inf,
            self._resync_deadline,
            self._ping_deadline,
            self._next_ping,
            self._next_reconcile,
            min(delays.values()) if delays else math.inf,
        )

    # --- commands --------------------------------------------------------------------------------
    def _check_link(self, ticket: Ticket, *, logging_in: bool = False) -> None:
        if self._lost:
            raise Disconnected("not connected", command=ticket.command)
        if not logging_in and not self.ready and ticket.command != self.lifecycle.connect:
            raise Disconnected("not connected (logging in)", command=ticket.command)

    def _check(self, ticket: Ticket, *, logging_in: bool = False) -> None:
        """The one place a command is judged: link, chart, vendor."""
        self._check_link(ticket, logging_in=logging_in)
        try:
            # a secret is judged by its presence and type, never shown to the machine
            ticket.rule = self.machine.check(ticket.command, **stand_ins(ticket.args))
        except IllegalCommand as exc:
            if self._unsupported.isdisjoint(exc.allowed):
                raise
            # "allowed now" is what this agent can really send: the vendor's gaps left out
            raise IllegalCommand(
                command=ticket.command,
                state=exc.state,
                allowed=[c for c in exc.allowed if c not in self._unsupported],
                hint=exc.hint,
            ) from None
        if ticket.command in self._unsupported:
            raise Unsupported(command=ticket.command, state=self.machine.state, vendor=self.vendor)

    def _send(self, ticket: Ticket, now: float) -> None:
        """Encode a checked command and wait for its answer (or settle it at once)."""
        rule = ticket.rule
        assert rule is not None  # checked
        if ticket.command in self._local or self.chart.commands[ticket.command].local:
            # a local command moves the chart and sends nothing: its confirm, at once
            assert rule.confirm is not None  # the loader requires it
            self._settle(ticket, self._apply(rule.confirm, ticket.args))
            return
        request_id = ticket.request_id = next(self._requests)
        try:
            # the one place a secret leaves its wrapper: the protocol writes it on the wire
            messages = self.protocol.encode_command(
                ticket.command, revealed(ticket.args), request_id
            )
        except CommandError as exc:
            # a protocol refusing a command does not know it or the machine's state
            if not exc.state:
                exc.command = exc.command or ticket.command
                exc.state = self.machine.state
                exc.args = (f"{exc} (command {ticket.command!r}, state {exc.state!r})",)
            raise
        except CtiError as exc:
            exc.add_note(f"command {ticket.command!r} in state {self.machine.state!r}")
            raise
        encode = self.protocol.encode
        try:
            frames = [encode(m) for m in messages]
        except (ValueError, TypeError) as exc:
            # an argument the wire cannot carry (a lone surrogate, NaN, a line break in a
            # text protocol, an object JSON has no form for): refused before anything is sent
            raise InvalidArguments(
                f"the arguments of command {ticket.command!r} cannot be sent:"
                f" {type(exc).__name__}: {str(exc)[:EXCERPT_CHARS]}",
                command=ticket.command,
                state=self.machine.state,
            ) from None
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s: sending %s (request %d)", self.user, ticket.command, request_id)
        self._out.extend(frames)
        confirm, fail = rule.confirm, rule.fail
        if confirm is None and fail is None:
            self._settle(ticket)
            return
        self._pending[request_id] = ticket
        queues = ticket._queues = _answered_by(rule)
        for signal in queues:
            queue = self._awaiting.get(signal)
            if queue is None:
                self._awaiting[signal] = [ticket]
            else:
                queue.append(ticket)
        ticket.deadline = deadline = now + rule.timeout
        heapq.heappush(self._timers, (deadline, request_id, ticket))
        if deadline < self.wake_at:
            self.wake_at = deadline

    def _encode_all(self, messages: Sequence[RawMessage]) -> None:
        encode = self.protocol.encode
        self._out.extend([encode(m) for m in messages])

    def _settle(
        self,
        ticket: Ticket,
        step: Step | None = None,
        error: CtiError | None = None,
        *,
        quiet: bool = False,
    ) -> None:
        """The one way a ticket ends: exactly once, then the next queued command's turn."""
        if ticket.done:
            return
        ticket.done = True
        ticket.step = step
        ticket.error = error
        self._pending.pop(ticket.request_id, None)
        for signal in ticket._queues:
            queue = self._awaiting.get(signal)
            if queue is not None:
                # usually answered from the front (popped already); else removed here
                if ticket in queue:
                    queue.remove(ticket)
                if not queue:
                    del self._awaiting[signal]
        after = ticket._after
        if after is not None:
            after(ticket)
        elif not quiet:
            self._events.append(ticket)
        if self._serial is ticket:
            self._serial = None
            self._next_in_queue()

    def _next_in_queue(self) -> None:
        queue = self._queue
        while queue and self._serial is None:
            ticket = queue.pop(0)
            try:
                self._check(ticket)
                self._serial = ticket
                self._send(ticket, self._clock)
            except CtiError as exc:
                self._serial = None
                self._settle(ticket, error=exc)

    # --- inbound ---------------------------------------------------------------------------------
    def _apply(self, signal: str, payload: Mapping[str, Any]) -> Step:
        step = self.machine.apply(signal, **payload)
        if step.ignored:
            self.stats["ignored"] += 1
            log.debug("%s: signal %s ignored in %s", self.user, signal, step.source)
            return step
        return self._took(step)

    def _took(self, step: Step) -> Step:
        """A step taken: logged, handed out (or held during login), then followed."""
        if step.changed and log.isEnabledFor(logging.INFO):
            log.info("%s: %s --%s--> %s", self.user, step.source, step.signal, step.target)
        held = self._held
        if held is not None:
            held.append(step)
        else:
            self._events.append(step)
        if step.timers or step.commands:
            self._follow(step)
        return step

    def _follow(self, step: Step) -> None:
        """What a step asks of its driver: arm and cancel the chart's timers, send the
        chart's commands (through the same check and encode as any command)."""
        delays = self._delays
        for change in step.timers:
            if change.seconds is None:
                delays.pop(change.timer, None)
            else:
                delays[change.timer] = self._clock + change.seconds
                if delays[change.timer] < self.wake_at:
                    self.wake_at = delays[change.timer]
        for command in step.commands:
            if self._lost:
                continue
            if not self.ready:
                # the resync walk passed a transition that sends (a call ended while the
                # link was down, with a next state chosen): sent once the session is ready
                self._chart_commands.append(command)
                continue
            self._send_for_chart(command)

    def _send_for_chart(self, command: ChartCommand) -> None:
        try:
            ticket = self.send_command(command.command, command.args, self._clock)
        except CtiError as exc:
            self._chart_command_failed(command.command, exc)
            return
        if not ticket.done:
            ticket._after = self._chart_command_settled

    def _chart_command_settled(self, ticket: Ticket) -> None:
        error = ticket.error
        # a refusal or a failure signal was reported by the chart already; a link drop is
        # announced by the link-lost signal
        if error is not None and not isinstance(error, (CommandFailed, Disconnected)):
            self._chart_command_failed(ticket.command, error)

    def _chart_command_failed(self, command: str, error: CtiError) -> None:
        """A command the chart sent failed: reported by the command's failure signal."""
        self.stats["chart_command_failed"] += 1
        log.warning("%s: the chart's command %s failed: %s", self.user, command, error)
        spec = self.chart.commands.get(command)
        fail = spec.rule.fail if spec is not None else None
        if fail is not None and self.machine.handles(fail):
            self._apply(fail, {"message": str(error)})

    def _on_signal(self, signal: Signal, now: float) -> None:
        if self._resync_request is not None:
            # the snapshot asked for already includes this
            self.stats["dropped_resync"] += 1
            return
        name = signal.name
        step = self._apply(name, signal.payload)
        if step.ignored:
            if signal.request_id is not None:
                # the response still answers its request, as a plain positive answer would
                self._on_answer(Answer(signal.request_id, True), now)
            return
        if signal.request_id is not None:
            ticket = self._pending.get(signal.request_id)
            if ticket is not None:
                self._answer_with(ticket, name, step)
                return
        queue = self._awaiting.get(name)
        while queue:
            ticket = queue.pop(0)
            if not queue:
                del self._awaiting[name]
            if not ticket.done:
                self._answer_with(ticket, name, step)
                return

    def _answer_with(self, ticket: Ticket, signal: str, step: Step) -> None:
        rule = ticket.rule
        assert rule is not None
        if signal == rule.confirm:
            self._settle(ticket, step)
        elif signal == rule.fail:
            payload = step.payload
            reason = clip(payload.get("message") or payload.get("reason") or signal)
            self._settle(ticket, error=CommandFailed(ticket.command, reason, signal))
        elif rule.confirm is None:
            self._settle(ticket)

    def _on_answer(self, answer: Answer, now: float) -> None:
        request_id = answer.request_id
        reason = clip(answer.reason)
        if reason is not answer.reason:
            # the server's words go into errors and logs: never kilobytes of them
            answer = attrs.evolve(answer, reason=reason)
        if request_id == self._ping and request_id is not None:
            self._ping = None
            self._ping_deadline = math.inf
            self._next_ping = now + self._keepalive
            self.wake_at = min(self.wake_at, self._next_ping)
            return
        if request_id is not None and request_id == self._resync_request and not answer.ok:
            # the server refused the snapshot, or sent one the protocol cannot read: waiting
            # for it is pointless; go on from what the machine knows, and say so
            self._resync_request = None
            self._resync_deadline = math.inf
            log.warning("%s: no usable snapshot (%s); state may be stale", self.user, answer.reason)
            self._resynced(now)
            return
        if request_id is not None and request_id == self._reconcile_request and not answer.ok:
            self._reconcile_request = None
            return
        ticket = self._pending.get(request_id)
        if ticket is None or ticket.done:
            return
        rule = ticket.rule
        assert rule is not None
        if answer.ok:
            if rule.confirm is None:
                self._settle(ticket)
            return
        # the vendor refused it: reported through the chart's failure signal if it has one
        fail = rule.fail
        if fail is not None and self.machine.handles(fail):
            self._apply(fail, {"message": answer.reason})
        self._settle(ticket, error=CommandFailed(ticket.command, answer.reason, fail))

    def _on_snapshot(self, snapshot: Snapshot, now: float) -> None:
        ask = snapshot.request_id
        if self._resync_request is not None and ask in (None, self._resync_request):
            # applied here, in arrival order, so what the server sends after the snapshot
            # lands on top of it
            self._resync_request = None
            self._resync_deadline = math.inf
            self._walk_to(self.resume_from, snapshot, self.resume_beside)
            self._resynced(now)
        elif self._reconcile_request is not None and ask in (None, self._reconcile_request):
            self._reconcile_request = None
            self._reconcile(snapshot, now)

    # --- login, resync, rights -------------------------------------------------------------------
    def _logged_in(self, ticket: Ticket) -> None:
        if ticket.error is not None:
            self._release_held()
            self.login_error = ticket.error
            self._events.append(LoginFailed(ticket.error))
            return
        # the resync's notifications come before the login's (kept back until ready)
        self._deferred, self._held = self._held or [], None
        request_id = next(self._requests)
        messages = self.protocol.snapshot_request(request_id)
        if not messages:
            self._resynced(self._clock)
            return
        self._resync_request = request_id
        timeout = ticket.rule.timeout if ticket.rule is not None else 10.0
        self._resync_deadline = self._clock + timeout
        self.wake_at = min(self.wake_at, self._resync_deadline)
        self._encode_all(messages)

    def _resynced(self, now: float) -> None:
        self.resume_from = None
        self.resume_beside = ()
        query = self.lifecycle.rights
        if self.rights_from_server and query is not None:
            ticket = Ticket(query, {})
            ticket._after = self._rights_answered
            try:
                # part of logging in: the link is not announced as up before it is done
                self._check(ticket, logging_in=True)
                self._send(ticket, now)
            except CtiError as exc:
                log.warning("%s: cannot ask the server for rights: %s", self.user, exc)
            else:
                return
        self._become_ready(now)

    def _rights_answered(self, ticket: Ticket) -> None:
        if ticket.error is not None:
            if not isinstance(ticket.error, Disconnected):
                log.warning("%s: the server did not say the rights: %s", self.user, ticket.error)
                self._become_ready(self._clock)
            return
        granted = ticket.step.payload.get("rights") if ticket.step is not None else None
        if isinstance(granted, str):
            granted = [granted]
        if not isinstance(granted, Iterable):
            log.warning(
                "%s: the server's rights are unreadable: %s", self.user, clip(repr(granted))
            )
        else:
            named = {str(r) for r in granted}
            unknown = named - self.chart.rights
            if unknown:
                log.debug(
                    "%s: rights the chart does not know, ignored: %s", self.user, clip(unknown)
                )
            self.machine.rights = frozenset(named & self.chart.rights)
            log.info(
                "%s: rights from the server: %s", self.user, sorted(self.machine.rights) or "none"
            )
        self._become_ready(self._clock)

    def _become_ready(self, now: float) -> None:
        self.ready = self.was_ready = True
        self._release_held()
        self._events.append(_READY)
        waiting, self._chart_commands = self._chart_commands, []
        for command in waiting:
            self._send_for_chart(command)
        if self._keepalive:
            self._next_ping = now + self._keepalive
        if self.reconcile_every is not None:
            self._next_reconcile = now + self.reconcile_every
        self.wake_at = min(self.wake_at, self._next_ping, self._next_reconcile)

    def _release_held(self) -> None:
        held, self._held = self._held, None
        deferred, self._deferred = self._deferred, []
        self._events.extend(deferred)
        if held:
            self._events.extend(held)

    def _target_of(self, snapshot: Snapshot) -> str | None:
        """The chart state a snapshot names (None, with a warning, if the chart has none)."""
        try:
            return self.chart.resolve(snapshot.state)
        except KeyError:
            log.warning(
                "%s: snapshot names unknown state %s", self.user, clip(repr(snapshot.state))
            )
            return None

    def _walk_to(
        self, origin: str | None, snapshot: Snapshot, beside: tuple[str, ...] = ()
    ) -> None:
        """Walk the machine from ``origin`` (default: where it is) to the snapshot's state
        along the chart's shortest signal path, so listeners hear what changed."""
        target = self._target_of(snapshot)
        if target is None:
            return
        machine = self.machine
        start = origin or machine.state
        if self.chart.contains(target, start):
            if start != machine.state:
                machine.jump(start)
                self._take_up(beside)
            return
        path = self._path_via_availability(start, target, snapshot)
        if path is None:
            machine.jump(target)
            self._take_up(beside)
            log.info("%s: resynchronised by jump to %s", self.user, machine.state)
            return
        machine.jump(start)
        # before the walk: its transitions may act on them (a next state, at a call's end)
        self._take_up(beside)
        for signal in path:
            self._apply(signal, snapshot.payload)
        log.info("%s: resynchronised to %s via %s", self.user, machine.state, ", ".join(path))

    def _take_up(self, beside: tuple[str, ...]) -> None:
        """Put each region back in the state it had before the link dropped, where its
        parallel state is active again (a jump keeps the rest as it is)."""
        machine, chart = self.machine, self.chart
        for leaf in beside:
            region = next((p for p in chart.ancestors(leaf) if chart.states[p].is_region), None)
            outer = chart.states[region].parent if region is not None else None
            if outer is not None and machine.in_state(outer):
                machine.jump(leaf)

    def _path_via_availability(
        self, start: str, target: str, snapshot: Snapshot
    ) -> list[str] | None:
        """The signals from ``start`` to ``target``; through the snapshot's
        ``availability`` first when that is a sibling of ``start`` the server has moved
        to (paused, then restored before a call rang): the call then ends where the
        server says, not where the machine's history last was."""
        machine = self.machine
        direct = shortest_signal_path(machine, start, target)
        hint = snapshot.payload.get("availability")
        if not isinstance(hint, str):
            return direct
        try:
            resume = self.chart.resolve(hint)
        except KeyError:
            return direct
        parent = resume.rpartition(".")[0]
        if resume == start or not parent or not self.chart.contains(parent, start):
            return direct
        first = shortest_signal_path(machine, start, resume)
        then = [] if resume == target else shortest_signal_path(machine, resume, target)
        if first is None or then is None:
            return direct
        return [*first, *then]

    # --- reconciliation --------------------------------------------------------------------------
    def _reconcile_look(self, now: float) -> None:
        interval = self.reconcile_every
        assert interval is not None  # only scheduled then
        self._next_reconcile = now + interval
        if self._reconcile_request is not None:
            # unanswered for a whole interval: forget it, ask again
            log.debug("%s: reconciliation snapshot not answered", self.user)
            self._reconcile_request = None
        if self._pending or self._queue or self._resync_request is not None:
            # an answer on its way would race the snapshot: look again next time
            return
        request_id = next(self._requests)
        messages = self.protocol.snapshot_request(request_id)
        if not messages:
            self._next_reconcile = math.inf  # the vendor has no snapshot to reconcile with
            return
        self._reconcile_request = request_id
        self._encode_all(messages)

    def _reconcile(self, snapshot: Snapshot, now: float) -> None:
        """Compare a reconciliation snapshot with the machine; correct a confirmed drift."""
        target = self._target_of(snapshot)
        if target is None:
            return
        machine = self.machine
        if self.chart.contains(target, machine.state):
            self._suspect = None
            return
        if self._suspect != target:
            # the first look: an event may still be on its way; look again soon
            self._suspect = target
            interval = self.reconcile_every or RECHECK_AFTER
            self._next_reconcile = now + min(RECHECK_AFTER, interval)
            self.wake_at = min(self.wake_at, self._next_reconcile)
            return
        self._suspect = None
        drifted = machine.state
        self.stats["drift_corrections"] += 1
        self._walk_to(None, snapshot)
        log.warning(
            "%s: out of step with the server (%s, server says %s); now %s",
            self.user,
            drifted,
            target,
            machine.state,
        )


_ANSWERED_BY: dict[CommandRule, tuple[str, ...]] = {}


def _answered_by(rule: CommandRule) -> tuple[str, ...]:
    """The signals that answer a command of ``rule`` (its confirm and fail), cached: the
    same few rules answer every command of every agent."""
    found = _ANSWERED_BY.get(rule)
    if found is None:
        found = _ANSWERED_BY[rule] = tuple(
            dict.fromkeys(s for s in (rule.confirm, rule.fail) if s is not None)
        )
    return found
