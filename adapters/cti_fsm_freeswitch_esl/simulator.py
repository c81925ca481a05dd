"""A FreeSWITCH Event Socket server over trio TCP, backed by the vendor-neutral switch
(``cti_fsm.switch``), with mod_callcenter's agents, tiers and ``callcenter::info`` events.

It frames ESL as mod_event_socket does (``auth/request`` first; ``command/reply``,
``api/response`` with ``Content-Length``; events as ``text/event-plain`` with URL-encoded
values and an inner ``Content-Length`` for a body, or ``text/event-json`` with ``_body``;
``text/disconnect-notice`` on ``exit`` and on a refused login) and renders the switch's
events as the channel and callcenter events a FreeSWITCH 1.10 writes for the same flows:

- a mod_callcenter agent is ``<id>@default`` (agent ``1001`` of the switch); its contact is
  ``user/<device>`` and its legs are ``sofia/internal/<device>@127.0.0.1``; an external
  number's legs are ``sofia/external/<number>@trunk``; a queue is ``<group>@default``;
- a queue call: the caller's leg (``CHANNEL_CREATE``, ``CHANNEL_ANSWER``,
  ``member-queue-start``); ``agent-offering`` and ``agent-state-change`` Receiving, the agent's
  leg (``CHANNEL_CREATE``, ``CHANNEL_PROGRESS``); on answer ``CHANNEL_ANSWER``,
  ``CHANNEL_BRIDGE``, ``bridge-agent-start``, ``agent-state-change`` In a queue call; at the end
  ``CHANNEL_UNBRIDGE``, ``CHANNEL_HANGUP``, ``bridge-agent-end``, ``member-queue-end``,
  ``agent-state-change`` Waiting (Idle for ``Available (On Demand)``); an offer not answered
  ends in ``bridge-agent-fail``;
- ``originate {origination_uuid=...}user/<device> <number> XML <context>``: the agent's leg
  (auto-answered), then the far end's leg, its ``CHANNEL_PROGRESS``, ``CHANNEL_ANSWER`` and the
  bridge; ``&eavesdrop(<uuid>)`` instead of a number is a supervisor listening;
- statuses set with ``callcenter_config agent set status`` become ``agent-status-change``.

Every connection subscribed to an event gets it, in the format it asked for, as with
FreeSWITCH; a ``BACKGROUND_JOB`` goes to the connection that started the job. An agent's
link is the connection that logged in with ``userauth <agent>@<domain>:<password>``; a
connection that logged in with ``auth <esl password>`` (``ClueCon`` by default) is an
administrator's, as a peer client's is.

Tests drive the world through the switch itself (``inbound_call``, ``customer_answers``,
``answer`` for the agent picking up its phone).
"""

from __future__ import annotations

import itertools
import json
import shlex
import time
import uuid as uuidlib
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from typing import Any

import attrs
import trio

from cti_fsm import switch as sw
from cti_fsm.simulator_server import Client, ClientLink, SimulatorServer, StreamLink, TcpLink

from .codec import (
    BODY,
    COMMAND_LINE,
    CommandReader,
    encode_event_json,
    encode_event_plain,
    encode_frame,
)

__all__ = ["DEFAULT_ESL_PASSWORD", "EslSimulator"]

Event = dict[str, Any]
#: mod_event_socket's default password (event_socket.conf.xml).
DEFAULT_ESL_PASSWORD = "ClueCon"
_DOMAIN = "default"
_AUTH_REQUEST = encode_frame({"Content-Type": "auth/request"})
_GOODBYE = "Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"
_CAUSES = {
    "normal": "NORMAL_CLEARING",
    "busy": "USER_BUSY",
    "no_answer": "NO_ANSWER",
    "rejected": "CALL_REJECTED",
    "take_over": "NORMAL_CLEARING",
    "forced_logout": "NORMAL_CLEARING",
    "logout": "NORMAL_CLEARING",
}
_STATUS_ERRORS = "-ERR Invalid Status!\n"
#: How many frames may wait for a slow client before it is disconnected.
_BACKLOG = 10_000
#: how many received commands a simulator keeps for tests to inspect
RECEIVED_KEPT = 10_000


@attrs.define(eq=False)
class _Leg:
    uuid: str
    name: str
    direction: str
    call_uuid: str
    device: str
    cid: str
    dest: str
    agent: str | None = None
    state: str = "RINGING"
    answered: bool = False
    bridged: str | None = None
    application: str = ""
    application_data: str = ""
    held: bool = False


@attrs.define(eq=False)
class _Connection(Client[bytes]):
    commands: CommandReader = attrs.field(factory=CommandReader)
    authed: bool = False
    #: event name (or CUSTOM subclass) -> subscribed; "ALL" for everything
    events: set[str] = attrs.field(factory=set)
    format: str = "plain"


class EslSimulator(SimulatorServer[bytes, _Connection]):
    """The ESL server (``adapter.simulator(switch)``), in the shell every simulator runs in
    (``cti_fsm.simulator_server``: ``url``, ``serve``, ``drop_link`` and the other faults).

    Args:
        switch: the switch model the server renders.
        adapter: the adapter (unused; the signature every simulator has).
        password: the ``auth`` password (an administrator's connection).
        tiers: mod_callcenter tiers configured from the start (``callcenter.conf.xml``):
            switch agent id -> its groups. Others are added with ``tier add``.
        wrap_up_time: the agents' ``wrap-up-time`` in seconds, reported in ``agent list``.
        reject: refuse every connection as an ACL does (``text/rude-rejection``, then the
            close), for tests of a client's handling of it.
    """

    def __init__(
        self,
        switch: sw.Switch,
        adapter: Any = None,
        *,
        password: str = DEFAULT_ESL_PASSWORD,
        tiers: Mapping[str, Sequence[str]] | None = None,
        wrap_up_time: int = 0,
        reject: bool = False,
    ) -> None:
        super().__init__(switch, received_kept=RECEIVED_KEPT, backlog=_BACKLOG)
        self._password = password
        self.wrap_up_time = wrap_up_time
        self.reject = reject
        self.tiers: dict[str, list[str]] = {a: list(g) for a, g in (tiers or {}).items()}
        self.status: dict[str, str] = {}
        #: the status a command is about to bring about (Available (On Demand), On Break)
        self._wanted: dict[str, str] = {}
        self.state: dict[str, str] = {}
        self._legs: dict[tuple[str, str], _Leg] = {}
        self._queue_call: dict[str, tuple[str, str]] = {}  # call -> (queue, member leg)
        self._expected: dict[str, str] = {}  # agent -> origination uuid of its next leg
        #: agent -> its leg in its last bridged queue call (mod_callcenter's agents.uuid)
        self.agent_uuid: dict[str, str] = {}
        self._sequence = itertools.count(1)
        self._core = str(uuidlib.uuid4())
        self._events: list[Event] = []
        self._acting = 0
        self._quiet = False

    @property
    def received(self) -> Any:
        """The latest commands received (their first lines), bounded."""
        return self._received

    # --- the connection ---------------------------------------------------------------------
    async def _open_link(
        self, stream: trio.SocketStream | trio.SSLStream[trio.SocketStream], nursery: trio.Nursery
    ) -> TcpLink | StreamLink:
        # over TLS (serve(ssl_context=...)) the link reads the TLS stream
        return TcpLink(stream) if isinstance(stream, trio.SocketStream) else StreamLink(stream)

    def _new_client(self, id: int, link: ClientLink[bytes], nursery: trio.Nursery) -> _Connection:
        return _Connection(id, link, nursery)

    def _client_opened(self, conn: _Connection) -> None:
        if self.reject:
            self._send(
                conn,
                encode_frame({"Content-Type": "text/rude-rejection"}, "Access Denied, go away.\n"),
            )
            return
        self._send(conn, _AUTH_REQUEST)

    def _client_sent(self, conn: _Connection, data: bytes) -> bool:
        """Carry out the client's commands; False once it said ``exit`` or failed to log in."""
        if self.reject:
            return False
        for message in conn.commands.feed(data):
            if isinstance(message, dict) and not self._command(conn, message):
                return False
        return True

    def _reply(self, conn: _Connection, text: str, **headers: str) -> None:
        self._send(
            conn, encode_frame({"Content-Type": "command/reply", "Reply-Text": text, **headers})
        )

    def _goodbye(self, conn: _Connection) -> None:
        self._send(
            conn,
            encode_frame(
                {"Content-Type": "text/disconnect-notice", "Content-Disposition": "disconnect"},
                _GOODBYE,
            ),
        )

    # --- commands ---------------------------------------------------------------------------
    def _command(self, conn: _Connection, message: Mapping[str, Any]) -> bool:
        line = str(message.get(COMMAND_LINE, "")).strip()
        self._received.append(
            line.split(" ", 1)[0] if line.startswith(("auth", "userauth")) else line
        )
        verb, _, rest = line.partition(" ")
        verb = verb.lower()
        if not conn.authed:
            if verb == "auth" and rest == self._password:
                conn.authed = True
                self._reply(conn, "+OK accepted")
                return True
            if verb == "userauth" and self._userauth(conn, rest):
                self._reply(conn, "+OK accepted")
                return True
            if verb in ("auth", "userauth"):
                self._reply(conn, "-ERR invalid")
                self._goodbye(conn)
                return False
            self._reply(conn, "-ERR command not found")
            return True
        if verb == "exit":
            if conn.agent is not None:
                with suppress(sw.SwitchError):
                    self.switch.logout(conn.agent)  # the agent's CTI session ends with it
            self._reply(conn, "+OK bye")
            self._goodbye(conn)
            return False
        if verb == "event":
            fmt, _, names = rest.partition(" ")
            if fmt not in ("plain", "json", "xml"):
                self._reply(conn, "-ERR invalid format")
                return True
            conn.format = fmt
            conn.events |= set(names.split())
            self._reply(conn, f"+OK event listener enabled {fmt}")
            return True
        if verb in ("noevents", "nixevent"):
            conn.events = set() if verb == "noevents" else conn.events - set(rest.split())
            self._reply(conn, "+OK no longer listening for events" if verb == "noevents" else "+OK")
            return True
        if verb == "api":
            result, events, _ = self._api(conn, rest)
            self._send(conn, encode_frame({"Content-Type": "api/response"}, result))
            self._broadcast(events)
            return True
        if verb == "bgapi":
            job = str(message.get("Job-UUID") or uuidlib.uuid4())
            self._reply(conn, f"+OK Job-UUID: {job}", **{"Job-UUID": job})
            result, events, events_first = self._api(conn, rest)
            done = self._job_event(job, rest, result)
            if events_first:
                self._broadcast(events)
            if conn.events & {"ALL", "BACKGROUND_JOB"}:
                self._send(conn, self._render(conn.format, done))
            if not events_first:
                self._broadcast(events)
            return True
        self._reply(conn, "-ERR command not found")
        return True

    def _userauth(self, conn: _Connection, rest: str) -> bool:
        who, _, password = rest.partition(":")
        agent = who.split("@", 1)[0]
        try:
            self.switch.login(agent, password)
        except sw.SwitchError:
            return False
        conn.authed = True
        self._log_in(conn, agent)
        return True

    def _api(self, conn: _Connection, line: str) -> tuple[str, list[Event], bool]:
        """Run one API command: its output, the events it caused, and whether they come
        before its result (a synchronous API: callcenter_config, originate)."""
        if "'" in line or '"' in line:
            try:
                words = shlex.split(line)
            except ValueError:
                words = line.split()
        else:
            words = line.split()  # the usual line: no quoting to undo
        if not words:
            return "-ERR no command\n", [], True
        handler = _APIS.get(words[0])
        if handler is None:
            return f"-ERR {words[0]} Command not found!\n", [], True
        self._acting += 1
        try:
            result = handler(self, conn, words[1:], line)
        except sw.SwitchError as exc:
            result = f"-ERR {exc.message}\n"
        except (IndexError, ValueError):
            result = f"-USAGE: {words[0]}\n"
        finally:
            self._acting -= 1
        events, self._events = self._events, []
        return result, events, words[0] in ("callcenter_config", "originate")

    def _job_event(self, job: str, line: str, result: str) -> Event:
        command, _, arg = line.partition(" ")
        return {
            **self._head("BACKGROUND_JOB", "mod_event_socket.c"),
            "Job-UUID": job,
            "Job-Command": command,
            "Job-Command-Arg": arg,
            BODY: result,
        }

    # --- events ---------------------------------------------------------------------------
    def _head(self, name: str, file: str = "switch_channel.c") -> Event:
        now = time.time()
        return {
            "Event-Name": name,
            "Core-UUID": self._core,
            "FreeSWITCH-Hostname": "cti-fsm-simulator",
            "FreeSWITCH-Switchname": "cti-fsm-simulator",
            "FreeSWITCH-IPv4": "127.0.0.1",
            "Event-Date-Local": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now)),
            "Event-Date-Timestamp": str(int(now * 1_000_000)),
            "Event-Calling-File": file,
            "Event-Sequence": str(next(self._sequence)),
        }

    def _render(self, fmt: str, event: Event) -> bytes:
        return encode_event_json(event) if fmt == "json" else encode_event_plain(event)

    def _emit(self, event: Event) -> None:
        self._events.append(event)
        if self._acting == 0:
            events, self._events = self._events, []
            self._broadcast(events)

    def _broadcast(self, events: Sequence[Event]) -> None:
        if not events:
            return
        conns = [c for c in self._clients.values() if c.authed and c.events]
        if not conns:
            return
        cache: dict[str, list[bytes]] = {}
        for conn in conns:
            wanted = [e for e in events if _wants(conn.events, e)]
            if not wanted:
                continue
            frames = cache.get(conn.format)
            if frames is None or len(wanted) != len(events):
                frames = [self._render(conn.format, e) for e in wanted]
                if len(wanted) == len(events):
                    cache[conn.format] = frames
            self._send(conn, b"".join(frames), event=True)

    def _cc(self, action: str, agent: str | None = None, **headers: Any) -> None:
        event = {
            **self._head("CUSTOM", "mod_callcenter.c"),
            "Event-Subclass": "callcenter::info",
            "CC-Action": action,
        }
        if agent is not None:
            event["CC-Agent"] = f"{agent}@{_DOMAIN}"
        event.update({k: str(v) for k, v in headers.items()})
        self._emit(event)

    def _status_change(self, agent: str, status: str, *, again: bool = False) -> None:
        """Say the agent's status (``again``: even if it is the same: mod_callcenter tells
        every ``set status``, changed or not)."""
        if self.status.get(agent) == status and not again:
            return
        self.status[agent] = status
        self._cc("agent-status-change", agent, **{"CC-Agent-Status": status})

    def _state_change(self, agent: str, state: str) -> None:
        if self.state.get(agent) == state:
            return
        self.state[agent] = state
        self._cc("agent-state-change", agent, **{"CC-Agent-State": state})

    def _channel(self, name: str, leg: _Leg, **extra: Any) -> None:
        event = {
            **self._head(name),
            "Channel-State": "CS_EXECUTE" if leg.answered else "CS_ROUTING",
            "Channel-Call-State": leg.state,
            "Channel-Name": leg.name,
            "Unique-ID": leg.uuid,
            "Call-Direction": leg.direction,
            "Channel-Call-UUID": leg.call_uuid,
            "Answer-State": "answered" if leg.answered else "ringing",
            "Caller-Direction": leg.direction,
            "Caller-Caller-ID-Number": leg.cid,
            "Caller-Destination-Number": leg.dest,
            "Caller-Unique-ID": leg.uuid,
            "Caller-Channel-Name": leg.name,
        }
        if leg.bridged:
            event["Other-Leg-Unique-ID"] = leg.bridged
        if leg.agent is not None:
            event["variable_cc_agent"] = f"{leg.agent}@{_DOMAIN}"
        event.update(extra)
        self._emit(event)

    # --- legs -------------------------------------------------------------------------------
    def _leg_name(self, device: str) -> str:
        if self.switch.agent_by_device(device) is not None:
            return f"sofia/internal/{device}@127.0.0.1"
        return f"sofia/external/{device}@trunk"

    def _new_leg(
        self, call: str, device: str, *, direction: str, cid: str, dest: str, link: str | None
    ) -> _Leg:
        agent = self.switch.agent_by_device(device)
        wanted = self._expected.pop(agent, None) if agent is not None else None
        uuid = wanted or str(uuidlib.uuid4())
        call_uuid = link and self._by_uuid(link)
        leg = _Leg(
            uuid,
            self._leg_name(device),
            direction,
            call_uuid.call_uuid if call_uuid else uuid,
            device,
            cid,
            dest,
            agent,
        )
        leg.bridged = link
        self._legs[(call, device)] = leg
        return leg

    def _by_uuid(self, uuid: str | None) -> _Leg | None:
        return next((leg for leg in self._legs.values() if leg.uuid == uuid), None)

    def _legs_of(self, call: str) -> list[_Leg]:
        return [leg for (c, _), leg in self._legs.items() if c == call]

    def _agent_of_leg(self, uuid: str) -> str:
        leg = self._by_uuid(uuid)
        if leg is None:
            raise sw.SwitchError("unknown_call", "No such channel!")
        if leg.agent is not None:
            return leg.agent
        # a customer's leg: the agent in its call
        for (call, _), other in self._legs.items():
            if other.uuid == uuid:
                for each in self._legs_of(call):
                    if each.agent is not None:
                        return each.agent
        raise sw.SwitchError("unknown_call", "No agent on that channel")

    def _hangup_leg(self, leg: _Leg, cause: str) -> None:
        if leg.bridged:
            other = self._by_uuid(leg.bridged)
            self._channel("CHANNEL_UNBRIDGE", leg)
            if other is not None and other.bridged == leg.uuid:
                other.bridged = None
        leg.state = "HANGUP"
        self._channel("CHANNEL_HANGUP", leg, **{"Hangup-Cause": _CAUSES.get(cause, cause)})
        for key in [k for k, v in self._legs.items() if v is leg]:
            del self._legs[key]

    def _bridge(self, a: _Leg, b: _Leg) -> None:
        a.bridged, b.bridged = b.uuid, a.uuid
        self._channel(
            "CHANNEL_BRIDGE", a, **{"Bridge-A-Unique-ID": a.uuid, "Bridge-B-Unique-ID": b.uuid}
        )

    # --- switch events to ESL ---------------------------------------------------------------
    def _on_switch_events(self, events: Sequence[sw.SwitchEvent]) -> None:
        if self._quiet:
            return
        checked_in = {e.agent for e in events if isinstance(e, sw.AgentCheckedIn)}
        for event in events:
            render = _RENDER.get(type(event))
            if render is None:
                continue
            if isinstance(event, sw.AgentReady) and event.agent in checked_in:
                continue  # the status Available was already said
            render(self, event)


# --- rendering, one function per switch event ---------------------------------------------
def _checked_in(s: EslSimulator, e: sw.AgentCheckedIn) -> None:
    wanted = s._wanted.pop(e.agent, "Available")
    if wanted == "On Break":
        return  # the pause that follows says On Break
    s._status_change(e.agent, wanted)
    s._state_change(e.agent, "Waiting")


def _checked_out(s: EslSimulator, e: sw.AgentCheckedOut) -> None:
    s._status_change(e.agent, "Logged Out")


def _ready(s: EslSimulator, e: sw.AgentReady) -> None:
    s._status_change(e.agent, s._wanted.pop(e.agent, "Available"))


def _not_ready(s: EslSimulator, e: sw.AgentNotReady) -> None:
    s._status_change(e.agent, "On Break")


def _queued(s: EslSimulator, e: sw.CallQueued) -> None:
    if (e.call, e.calling) in s._legs:
        return  # back in the queue after an agent declined
    leg = s._new_leg(e.call, e.calling, direction="inbound", cid=e.calling, dest=e.group, link=None)
    s._channel("CHANNEL_CREATE", leg)
    leg.answered, leg.state = True, "ACTIVE"
    s._channel("CHANNEL_ANSWER", leg)
    queue = f"{e.group}@{_DOMAIN}"
    s._queue_call[e.call] = (queue, leg.uuid)
    s._cc(
        "member-queue-start",
        None,
        **{
            "CC-Queue": queue,
            "CC-Member-UUID": leg.uuid,
            "CC-Member-Session-UUID": leg.uuid,
            "CC-Member-CID-Name": e.calling,
            "CC-Member-CID-Number": e.calling,
        },
    )


def _initiated(s: EslSimulator, e: sw.CallInitiated) -> None:
    if e.consultation_of is not None:
        own = s._legs.get((e.consultation_of, e.device))
        if own is not None:
            s._legs[(e.call, e.device)] = own  # att_xfer runs on the agent's own leg
            return
    leg = s._new_leg(e.call, e.device, direction="outbound", cid=e.device, dest=e.device, link=None)
    s._channel("CHANNEL_CREATE", leg)
    leg.answered, leg.state = True, "ACTIVE"  # the phone answers its own call (auto-answer)
    s._channel("CHANNEL_ANSWER", leg)


def _originated(s: EslSimulator, e: sw.CallOriginated) -> None:
    mine = s._legs.get((e.call, e.device))
    if mine is None:
        return
    if (e.call, e.called) in s._legs:
        return
    far = s._new_leg(
        e.call, e.called, direction="outbound", cid=e.calling, dest=e.called, link=mine.uuid
    )
    if far.agent is None:
        s._channel("CHANNEL_CREATE", far)


def _alerting(s: EslSimulator, e: sw.LegAlerting) -> None:
    leg = s._legs.get((e.call, e.device))
    if leg is None:
        other = next((x for x in s._legs_of(e.call) if x.device != e.device), None)
        queued = s._queue_call.get(e.call)
        if e.via == "group" and e.agent is not None and queued is not None:
            s._cc(
                "agent-offering",
                e.agent,
                **{
                    "CC-Queue": queued[0],
                    "CC-Agent-System": "single_box",
                    "CC-Member-UUID": queued[1],
                    "CC-Member-Session-UUID": queued[1],
                    "CC-Member-CID-Name": e.calling,
                    "CC-Member-CID-Number": e.calling,
                },
            )
            s._state_change(e.agent, "Receiving")
        leg = s._new_leg(
            e.call,
            e.device,
            direction="outbound",
            cid=e.calling,
            dest=e.device,
            link=other.uuid if other else None,
        )
        s._channel("CHANNEL_CREATE", leg)
    # (the far end of an outbound call was created at CallOriginated)
    s._channel("CHANNEL_PROGRESS", leg)


def _answered(s: EslSimulator, e: sw.LegAnswered) -> None:
    leg = s._legs.get((e.call, e.device))
    if leg is None:
        return
    leg.answered, leg.state = True, "ACTIVE"
    s._channel("CHANNEL_ANSWER", leg)
    other = next(
        (
            x
            for x in s._legs_of(e.call)
            if x is not leg and x.answered and (x.bridged in (None, leg.uuid)) and not x.held
        ),
        None,
    )
    if other is None and leg.bridged is not None:
        other = s._by_uuid(leg.bridged)
    if other is not None:
        s._bridge(other, leg)
    queued = s._queue_call.get(e.call)
    if e.agent is not None and queued is not None:
        s._cc(
            "bridge-agent-start",
            e.agent,
            **{
                "CC-Queue": queued[0],
                "CC-Agent-System": "single_box",
                "CC-Agent-UUID": leg.uuid,
                "CC-Member-UUID": queued[1],
                "CC-Member-Session-UUID": queued[1],
                "CC-Member-CID-Number": e.calling,
            },
        )
        s.agent_uuid[e.agent] = leg.uuid  # kept after the call, as mod_callcenter does
        s._state_change(e.agent, "In a queue call")


def _held(s: EslSimulator, e: sw.LegHeld) -> None:
    leg = s._legs.get((e.call, e.device))
    if leg is None:
        return
    if not e.consultation:
        leg.held, leg.state = True, "HELD"
        s._channel("CHANNEL_HOLD", leg)
        return
    # att_xfer: the customer waits on hold music while the agent calls the third party
    for other in s._legs_of(e.call):
        if other is not leg:
            if other.bridged == leg.uuid:
                s._channel("CHANNEL_UNBRIDGE", other)
                other.bridged = None
            other.held, other.state = True, "HELD"
            s._channel("CHANNEL_HOLD", other)
    leg.bridged = None


def _retrieved(s: EslSimulator, e: sw.LegRetrieved) -> None:
    leg = s._legs.get((e.call, e.device))
    if leg is None:
        return
    if leg.held:
        leg.held, leg.state = False, "ACTIVE"
        s._channel("CHANNEL_UNHOLD", leg)
        return
    for other in s._legs_of(e.call):
        if other is not leg and other.held:
            other.held, other.state = False, "ACTIVE"
            s._channel("CHANNEL_UNHOLD", other)
            s._bridge(other, leg)


def _cleared(s: EslSimulator, e: sw.LegCleared) -> None:
    leg = s._legs.get((e.call, e.device))
    if leg is None:
        return
    shared = [k for k, v in s._legs.items() if v is leg]
    if len(shared) > 1:  # the agent's leg, used by its call and its consultation
        del s._legs[(e.call, e.device)]
        return
    queued = s._queue_call.get(e.call)
    answered = leg.answered
    s._hangup_leg(leg, e.cause)
    if e.agent is not None and queued is not None:
        head = {
            "CC-Queue": queued[0],
            "CC-Agent-System": "single_box",
            "CC-Member-UUID": queued[1],
            "CC-Member-Session-UUID": queued[1],
        }
        if answered:
            s._cc("bridge-agent-end", e.agent, **{"CC-Agent-UUID": leg.uuid, **head})
        else:
            s._cc(
                "bridge-agent-fail",
                e.agent,
                **{"CC-Hangup-Cause": _CAUSES.get(e.cause, e.cause), **head},
            )
        on_demand = s.status.get(e.agent) == "Available (On Demand)"
        s._state_change(e.agent, "Idle" if on_demand else "Waiting")
    if queued is not None and leg.uuid == queued[1]:
        s._cc(
            "member-queue-end",
            None,
            **{
                "CC-Queue": queued[0],
                "CC-Cause": "Terminated" if answered else "Cancel",
                "CC-Member-UUID": queued[1],
                "CC-Member-Session-UUID": queued[1],
            },
        )
        del s._queue_call[e.call]


def _failed(s: EslSimulator, e: sw.CallFailed) -> None:
    leg = s._legs.get((e.call, e.device))
    if leg is not None:
        s._hangup_leg(leg, e.cause)


def _transferred(s: EslSimulator, e: sw.CallTransferred) -> None:
    for device, old, new in e.moved:
        moved = s._legs.pop((old, device), None)
        if moved is not None:
            s._legs[(new, device)] = moved
    if e.secondary in s._queue_call and e.call not in s._queue_call:
        s._queue_call[e.call] = s._queue_call.pop(e.secondary)
    mine = s._legs.get((e.primary, e.transferring)) or s._legs.get((e.call, e.transferring))
    if e.kind != "single_step":
        # the customer and the consulted party are bridged once the transferer leaves
        legs = [x for x in s._legs_of(e.call) if x is not mine]
        if len(legs) == 2:
            for x in legs:
                x.held, x.state = False, "ACTIVE"
            s._bridge(legs[0], legs[1])
    if mine is not None:
        s._hangup_leg(mine, "normal")
    agent = s.switch.agent_by_device(e.transferring)
    queued = s._queue_call.get(e.call)
    if agent is not None and queued is not None:
        s._cc(
            "bridge-agent-end",
            agent,
            **{"CC-Queue": queued[0], "CC-Member-Session-UUID": queued[1]},
        )
        s._state_change(agent, "Waiting")


def _conferenced(s: EslSimulator, e: sw.CallConferenced) -> None:
    if e.kind == "listen":
        sup = s.switch.agent_by_device(e.added)
        spied = next(
            (
                x
                for x in s._legs_of(e.call)
                if x.agent is not None and x.device != e.added and not x.held
            ),
            None,
        )
        leg = s._new_leg(
            e.call, e.added, direction="outbound", cid=e.added, dest=e.added, link=None
        )
        leg.agent = sup
        s._channel("CHANNEL_CREATE", leg)
        leg.answered, leg.state = True, "ACTIVE"
        s._channel("CHANNEL_ANSWER", leg)
        leg.application, leg.application_data = "eavesdrop", spied.uuid if spied else ""
        s._channel(
            "CHANNEL_EXECUTE",
            leg,
            **{"Application": "eavesdrop", "Application-Data": leg.application_data},
        )
        return
    if e.kind == "barge_in":
        return  # a DTMF inside eavesdrop: FreeSWITCH says nothing to the spied agent
    if e.secondary is not None and e.secondary != e.call:
        for key in [k for k in s._legs if k[0] == e.secondary]:
            moved = s._legs.pop(key)
            s._legs.setdefault((e.call, key[1]), moved)
    for leg in s._legs_of(e.call):
        if leg.held:
            leg.held, leg.state = False, "ACTIVE"
            s._channel("CHANNEL_UNHOLD", leg)


def _digits(s: EslSimulator, e: sw.DigitsSent) -> None:
    peer = next((x for x in s._legs_of(e.call) if x.device != e.device), None)
    if peer is None:
        return
    for digit in e.digits:
        s._channel(
            "DTMF", peer, **{"DTMF-Digit": digit, "DTMF-Duration": "2000", "DTMF-Source": "APP"}
        )


_RENDER: Mapping[type, Callable[[EslSimulator, Any], None]] = {
    sw.AgentCheckedIn: _checked_in,
    sw.AgentCheckedOut: _checked_out,
    sw.AgentReady: _ready,
    sw.AgentNotReady: _not_ready,
    sw.CallQueued: _queued,
    sw.CallInitiated: _initiated,
    sw.CallOriginated: _originated,
    sw.LegAlerting: _alerting,
    sw.LegAnswered: _answered,
    sw.LegHeld: _held,
    sw.LegRetrieved: _retrieved,
    sw.LegCleared: _cleared,
    sw.CallFailed: _failed,
    sw.CallTransferred: _transferred,
    sw.CallConferenced: _conferenced,
    sw.DigitsSent: _digits,
}


# --- the API commands, one function each ---------------------------------------------------
Api = Callable[[EslSimulator, _Connection, list[str], str], str]


def _agent_id(s: EslSimulator, name: str) -> str:
    agent = name.split("@", 1)[0]
    if agent not in s.switch.agent_ids:
        raise sw.SwitchError("unknown_agent", "Invalid Agent!")
    return agent


def _callcenter_config(s: EslSimulator, conn: _Connection, w: list[str], line: str) -> str:
    what, verb = w[0], w[1]
    if what == "agent" and verb == "set" and w[2] == "status":
        return _set_status(s, conn, _agent_id(s, w[3]), " ".join(w[4:]))
    if what == "agent" and verb == "set" and w[2] == "state":
        agent, state = _agent_id(s, w[3]), " ".join(w[4:])
        if state not in ("Idle", "Waiting", "Receiving", "In a queue call"):
            return "-ERR Invalid State!\n"
        s.state.pop(agent, None)  # said again even if unchanged, as mod_callcenter does
        s._state_change(agent, state)
        return "+OK\n"
    if what == "agent" and verb == "get" and w[2] in ("status", "state"):
        agent = _agent_id(s, w[3])
        table = s.status if w[2] == "status" else s.state
        info = s.switch.agent_info(agent)
        default = (
            "Logged Out" if not info.checked_in else ("Available" if info.ready else "On Break")
        )
        return table.get(agent, default if w[2] == "status" else "Waiting")
    if what == "agent" and verb == "list":
        rows = ["name|system|uuid|type|contact|status|state|max_no_answer|wrap_up_time"]
        for agent in s.switch.agent_ids:
            info = s.switch.agent_info(agent)
            status = s.status.get(agent) or (
                "Logged Out" if not info.checked_in else ("Available" if info.ready else "On Break")
            )
            rows.append(
                f"{agent}@{_DOMAIN}|single_box|{s.agent_uuid.get(agent, '')}|callback"
                f"|user/{info.device}|{status}"
                f"|{s.state.get(agent, 'Waiting')}|3|{s.wrap_up_time}"
            )
        return "\n".join([*rows, "+OK", ""])
    if what == "queue" and verb == "list":
        rows = ["name|strategy|moh_sound|time_base_score|max_wait_time"]
        rows += [
            f"{g}@{_DOMAIN}|longest-idle-agent|local_stream://moh|queue|0"
            for g in s.switch.group_ids
        ]
        return "\n".join([*rows, "+OK", ""])
    if what == "tier" and verb in ("add", "del"):
        queue, agent = w[2].split("@", 1)[0], _agent_id(s, w[3])
        if queue not in s.switch.group_ids:
            return "-ERR Invalid Queue!\n"
        tiers = s.tiers.setdefault(agent, [])
        if verb == "add":
            if queue in tiers:
                return "-ERR Tier already exist!\n"
            tiers.append(queue)
        elif queue in tiers:
            tiers.remove(queue)
        else:
            return "-ERR Tier not found!\n"
        return "+OK\n"
    return "-ERR Unknown Command!\n"


def _set_status(s: EslSimulator, conn: _Connection, agent: str, status: str) -> str:
    by = conn.agent if conn.agent not in (None, agent) else None
    info = s.switch.agent_info(agent)
    if status not in ("Logged Out", "Available", "Available (On Demand)", "On Break"):
        return _STATUS_ERRORS
    if status == "Logged Out":
        if not info.checked_in:
            s._status_change(agent, status, again=True)
        elif by is not None:
            s.switch.force_logout(by, agent)
        else:
            s.switch.check_out(agent)
        return "+OK\n"
    if not info.checked_in:
        groups = s.tiers.get(agent) or []
        if not groups:
            return "-ERR Agent has no tier!\n"
        s._wanted[agent] = status
        s.switch.check_in(agent, groups)
        if status == "On Break":
            s.switch.pause(agent, None)
        return "+OK\n"
    if status == "On Break":
        if info.ready:
            s.switch.pause(agent, None, by=by)
        else:
            s._status_change(agent, status, again=True)
        return "+OK\n"
    if not info.ready:
        s._wanted[agent] = status
        s.switch.restore(agent, by=by)
    else:
        s._status_change(agent, status, again=True)
    return "+OK\n"


def _dial_target(dialstring: str) -> tuple[dict[str, str], str]:
    """``{a=b,c=d}endpoint``: its variables and the endpoint."""
    variables: dict[str, str] = {}
    if dialstring.startswith("{") and "}" in dialstring:
        inner, _, dialstring = dialstring[1:].partition("}")
        for pair in inner.split(","):
            key, _, value = pair.partition("=")
            variables[key.strip()] = value.strip()
    return variables, dialstring


def _device_of(endpoint: str) -> str:
    # user/8001, loopback/8001/default, sofia/gateway/x/8001
    parts = endpoint.split("/")
    return parts[1] if parts[0] in ("user", "loopback") and len(parts) > 1 else parts[-1]


def _originate(s: EslSimulator, conn: _Connection, w: list[str], line: str) -> str:
    variables, endpoint = _dial_target(w[0])
    agent = s.switch.agent_by_device(_device_of(endpoint))
    if agent is None or agent != conn.agent:
        return "-ERR SUBSCRIBER_ABSENT\n"
    wanted = variables.get("origination_uuid")
    if wanted:
        s._expected[agent] = wanted
    try:
        if w[1].startswith("&eavesdrop("):
            spied_leg = w[1][len("&eavesdrop(") : -1]
            s.switch.listen(agent, s._agent_of_leg(spied_leg))
        else:
            s.switch.dial(agent, w[1])
    except sw.SwitchError as exc:
        s._expected.pop(agent, None)
        return f"-ERR {exc.message}\n"
    leg = next((x for x in s._legs.values() if x.agent == agent), None)
    return f"+OK {leg.uuid if leg else wanted}\n"


def _uuid_kill(s: EslSimulator, conn: _Connection, w: list[str], line: str) -> str:
    s.switch.hangup(s._agent_of_leg(w[0]))
    return "+OK\n"


def _uuid_hold(s: EslSimulator, conn: _Connection, w: list[str], line: str) -> str:
    if w[0] == "off":
        s.switch.retrieve(s._agent_of_leg(w[1]))
    elif w[0] == "toggle":
        return "-ERR toggle is not simulated\n"
    else:
        s.switch.hold(s._agent_of_leg(w[0]))
    return "+OK Success\n"


def _uuid_send_dtmf(s: EslSimulator, conn: _Connection, w: list[str], line: str) -> str:
    s.switch.send_dtmf(s._agent_of_leg(w[0]), w[1])
    return "+OK Success\n"


def _uuid_transfer(s: EslSimulator, conn: _Connection, w: list[str], line: str) -> str:
    s.switch.transfer(s._agent_of_leg(w[0]), w[1])
    return "+OK\n"


def _uuid_broadcast(s: EslSimulator, conn: _Connection, w: list[str], line: str) -> str:
    app, _, arg = w[1].partition("::")
    if app != "att_xfer":
        return "-ERR only att_xfer is simulated\n"
    s.switch.consult(s._agent_of_leg(w[0]), _device_of(_dial_target(arg)[1]))
    return "+OK Message sent\n"


def _uuid_recv_dtmf(s: EslSimulator, conn: _Connection, w: list[str], line: str) -> str:
    agent = s._agent_of_leg(w[0])
    leg = s._by_uuid(w[0])
    key = w[1]
    if leg is not None and leg.application == "eavesdrop":
        if key != "3":
            return "+OK\n"
        s.switch.barge_in(agent)
        return "+OK\n"
    if s.switch.consultation_of(agent) is None:
        return "-ERR no attended transfer on that channel\n"
    action = {
        "#": s.switch.cancel_consult,
        "*": s.switch.complete_transfer,
        "0": s.switch.conference,
    }
    if key not in action:
        return "+OK\n"
    action[key](agent)
    return "+OK\n"


def _uuid_bridge(s: EslSimulator, conn: _Connection, w: list[str], line: str) -> str:
    supervisor = s._agent_of_leg(w[0])
    s.switch.take_over(supervisor)
    mine = s._by_uuid(w[0])
    other = s._by_uuid(w[1])
    if mine is not None:
        mine.application = ""
        if other is not None:
            s._bridge(mine, other)
    return f"+OK {w[0]}\n"


def _show(s: EslSimulator, conn: _Connection, w: list[str], line: str) -> str:
    if w[0] != "channels":
        return "-USAGE: show channels [as json]\n"
    rows = []
    seen: set[int] = set()
    for leg in s._legs.values():
        if id(leg) in seen:
            continue
        seen.add(id(leg))
        rows.append(
            {
                "uuid": leg.uuid,
                "direction": leg.direction,
                "created": "",
                "name": leg.name,
                "state": "CS_EXECUTE" if leg.answered else "CS_ROUTING",
                "cid_name": leg.cid,
                "cid_num": leg.cid,
                "dest": leg.dest,
                "application": leg.application,
                "application_data": leg.application_data,
                "callstate": leg.state,
                "call_uuid": leg.call_uuid,
            }
        )
    if w[-1] == "json":
        return json.dumps({"row_count": len(rows), "rows": rows})
    head = "uuid,direction,name,callstate,call_uuid"
    body = [",".join(str(r[k]) for k in head.split(",")) for r in rows]
    return "\n".join([head, *body, "", f"{len(rows)} total."]) + "\n"


def _version(s: EslSimulator, conn: _Connection, w: list[str], line: str) -> str:
    return "FreeSWITCH Version 1.10.12-release (cti-fsm simulator)\n"


def _status(s: EslSimulator, conn: _Connection, w: list[str], line: str) -> str:
    return f"UP 0 years, 0 days\nFreeSWITCH (Version 1.10.12) is ready\n{len(s._legs)} session(s)\n"


_APIS: Mapping[str, Api] = {
    "callcenter_config": _callcenter_config,
    "originate": _originate,
    "uuid_kill": _uuid_kill,
    "uuid_hold": _uuid_hold,
    "uuid_send_dtmf": _uuid_send_dtmf,
    "uuid_transfer": _uuid_transfer,
    "uuid_broadcast": _uuid_broadcast,
    "uuid_recv_dtmf": _uuid_recv_dtmf,
    "uuid_bridge": _uuid_bridge,
    "show": _show,
    "version": _version,
    "status": _status,
}


def _wants(subscribed: set[str], event: Event) -> bool:
    if "ALL" in subscribed or "all" in subscribed:
        return True
    name = event.get("Event-Name")
    if name == "CUSTOM":
        return "CUSTOM" in subscribed and (
            event.get("Event-Subclass") in subscribed or subscribed == {"CUSTOM"}
        )
    return name in subscribed
