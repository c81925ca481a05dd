"""One agent's Event Socket session, sans-IO: ESL messages in, chart signals out; commands in,
ESL commands out.

The vendor map (``specs/vendors/freeswitch-esl.yaml``) says which message means which
signal and how each command is written; this module supplies what a stateless map cannot:

- **correlation**: ESL answers every command in order, with one ``command/reply`` or
  ``api/response``; a ``bgapi`` is answered at once (``+OK Job-UUID: ...``) and then by a
  ``BACKGROUND_JOB`` event carrying the ``Job-UUID`` we gave it, whose body is the result
  (``+OK ...`` or ``-ERR ...``). Every chart command is a ``bgapi`` with our own Job-UUID
  (``<prefix>-<request>-<part>``), so its result is matched back to the command, which the
  map sees as ``cti.command`` (with ``cti.ok``, ``cti.result``, ``cti.args``);
- **whose leg**: the ``CallTracker`` gives each channel event a role (``cti.leg: agent``);
- **whose agent**: mod_callcenter's events name agents (``CC-Agent``): ``cti.agent`` is
  ``self`` for this agent, ``target`` for one a supervisor command named;
- **status history**: mod_callcenter reports a status (``Available``, ``On Break``,
  ``Logged Out``), not what changed: ``cti.previous_status`` lets the map tell a sign-in
  from a return from break; the reason code of a pause is kept here (``cti.reason``), as
  mod_callcenter has none;
- **snapshots**: ``callcenter_config agent get status`` and ``... get state`` and
  ``show channels as json`` become one ``Snapshot`` after a reconnect, and rebuild the
  tracker.

Every function of this module is pure and every table is per instance: a fault-injection
or fuzz harness drives ``EslProtocol.decode`` and ``receive`` directly, with no socket.
"""

from __future__ import annotations

import itertools
import json
import os
import re
from collections import OrderedDict, deque
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import attrs

from cti_fsm.adapter import Answer, Inbound, RawMessage, Signal, Snapshot
from cti_fsm.chart import Chart
from cti_fsm.errors import InvalidArguments, Unsupported
from cti_fsm.vendor_map import VendorMap

from .codec import BODY, DEFAULT_MAX_BODY, EslCodec
from .tracker import HANGUP_EVENTS, CallTracker, contact_regex

__all__ = [
    "AGENT_STATES",
    "AGENT_STATUSES",
    "DEFAULT_OPTIONS",
    "EVENTS",
    "EslProtocol",
    "consulted_row",
    "parse_agent_list",
    "parse_queue_list",
    "snapshot_key",
]

#: Options a protocol understands, with their defaults (see the README's "Options").
DEFAULT_OPTIONS: Mapping[str, Any] = MappingProxyType(
    {
        "login": "userauth",
        "domain": "default",
        "agent_name": None,
        "extension": None,
        "contact_pattern": None,
        "contact": None,
        "dial_context": "default",
        "caller_id": None,
        "esl_password": None,
        "ready_status": "Available",
        "tier_level": 1,
        "tier_position": 1,
        "cancel_key": "#",
        "complete_key": "*",
        "conference_key": "0",
        "barge_key": "3",
        "keepalive_interval": 20.0,
        "max_body": None,
        "job_prefix": None,
    }
)
#: mod_callcenter's agent statuses (``callcenter_config agent set status``).
AGENT_STATUSES = ("Logged Out", "Available", "Available (On Demand)", "On Break")
#: mod_callcenter's agent states (``agent-state-change``).
AGENT_STATES = ("Idle", "Waiting", "Receiving", "In a queue call")
#: The events the agent subscribes to (``event json ...``).
EVENTS = (
    "CHANNEL_CREATE",
    "CHANNEL_PROGRESS",
    "CHANNEL_PROGRESS_MEDIA",
    "CHANNEL_ANSWER",
    "CHANNEL_BRIDGE",
    "CHANNEL_UNBRIDGE",
    "CHANNEL_HOLD",
    "CHANNEL_UNHOLD",
    "CHANNEL_HANGUP",
    "CHANNEL_EXECUTE",
    "DTMF",
    "BACKGROUND_JOB",
    "CUSTOM",
    "callcenter::info",
)
_CHANNEL_EVENTS = frozenset(e for e in EVENTS if e.startswith("CHANNEL_") or e == "DTMF")
_SNAPSHOT = "_snapshot"
#: the snapshot's part that lists the agents (``callcenter_config agent list``)
_AGENT_LIST_PART = 3
_KEEPALIVE = "_keepalive"
_AFTER = "after"
#: A leg's call states before it is answered.
_NOT_UP = frozenset(("RINGING", "EARLY", "DOWN"))
#: A mod_callcenter contact that is a directory user: ``user/<extension>[@domain]``.
_USER_CONTACT = re.compile(r"user/([^\s@/{}\[\],'\"]+)(?:@[^\s/{}\[\],'\"]+)?")
_DIGITS = re.compile(r"[0-9A-Da-d*#]+")
#: What may be written on a bgapi line: no line breaks, no spaces inside an argument
#: (FreeSWITCH splits arguments on spaces), nothing that ends a dial string's variables.
_TOKEN = re.compile(r"[^\s{},'\"]+")
#: Finished requests remembered for late job results; supervisor targets remembered.
_RECENT = 64
_MAX_TARGETS = 8
_MAX_AGENT_CALLS = 1024
#: Requests waiting for their answers; beyond, the oldest is forgotten (a server that never
#: answers must not grow the protocol: its session has long timed them out).
MAX_OUTSTANDING = 10_000


@attrs.define(eq=False)
class _Request:
    request_id: int
    command: str
    args: Mapping[str, Any]
    parts: int
    confirm: str | None = None
    answered: int = 0
    failed: int = 0
    reasons: list[str] = attrs.field(factory=list)
    #: when it was registered, in the protocol's count of requests (see ``_confirmed_at``)
    serial: int = 0
    confirmed: bool = False
    #: snapshot: the result of each part
    results: dict[int, str] = attrs.field(factory=dict)


class EslProtocol:
    """The protocol for one agent connection (``Adapter.protocol`` makes a fresh one).

    Args:
        vendor_map: the loaded ESL vendor map.
        chart: the chart the map is written for (for each command's confirm signal).
        user: the agent: its mod_callcenter name (``1001@default``), or its id, qualified
            with the ``domain`` option.
        options: see ``DEFAULT_OPTIONS`` and the README.

    Attributes:
        codec: this connection's ``EslCodec``.
        agent: the agent's mod_callcenter name.
        unsupported: commands FreeSWITCH cannot do.
        keepalive_interval: seconds between two ``keepalive`` pings the agent should send.
        tracker: the agent's legs and peers.
    """

    def __init__(
        self, vendor_map: VendorMap, chart: Chart, *, user: str, options: Mapping[str, Any]
    ) -> None:
        unknown = sorted(set(options) - set(DEFAULT_OPTIONS) - {"vendor_map"})
        if unknown:
            raise ValueError(
                f"unknown ESL option(s): {', '.join(unknown)};"
                f" known: {', '.join(sorted(DEFAULT_OPTIONS))}"
            )
        o = {**DEFAULT_OPTIONS, **options}
        if o["ready_status"] not in ("Available", "Available (On Demand)"):
            raise ValueError(
                "ESL option 'ready_status' must be 'Available' or 'Available (On Demand)',"
                f" not {o['ready_status']!r}"
            )
        if o["login"] not in ("userauth", "auth"):
            raise ValueError(f"ESL option 'login' must be 'userauth' or 'auth', not {o['login']!r}")
        self._map = vendor_map
        self._chart = chart
        self._options = o
        self.user = user
        self.domain = str(o["domain"])
        self.agent = str(o["agent_name"] or (user if "@" in user else f"{user}@{self.domain}"))
        extension = str(o["extension"] or self.agent.split("@", 1)[0])
        pattern = o["contact_pattern"]
        self.contact = str(o["contact"] or f"user/{extension}")
        #: no option says where the phone is: the agent list's contact will
        self._learn_contact = not (o["extension"] or o["contact"] or o["contact_pattern"])
        self.tracker = CallTracker(re.compile(pattern) if pattern else contact_regex(extension))
        max_body = o["max_body"]
        self.codec = EslCodec(max_body=int(max_body) if max_body else DEFAULT_MAX_BODY)
        self.decode = self.codec.feed
        self.encode = self.codec.encode
        self.unsupported = vendor_map.unsupported
        self.keepalive_interval = float(o["keepalive_interval"])
        self._prefix = str(o["job_prefix"] or f"cti-{os.urandom(4).hex()}")
        self._uuids = itertools.count(1)
        self._pending: dict[int, _Request] = {}
        self._recent: OrderedDict[int, _Request] = OrderedDict()
        #: one entry per command sent, in order: what its command/reply or api/response answers
        self._replies: deque[tuple[_Request | None, int]] = deque()
        # replies owed to command lines dropped from ``_replies`` (the cap): skipped, so
        # every later reply still meets its own command
        self._skip_replies = 0
        # per confirming signal, the serial of the newest request registered before it was
        # last seen: a request is confirmed if its serial is not newer (one look-up per
        # event, however many requests wait)
        self._serial = 0
        self._confirmed_at: dict[str, int] = {}
        self._status: str | None = None
        self._reason: str | None = None
        self._groups: list[str] = []
        self._targets: OrderedDict[str, None] = OrderedDict()
        #: agent name -> (agent leg, member leg) of its queue call, from bridge-agent-start
        self._agent_calls: OrderedDict[str, tuple[str, str]] = OrderedDict()
        self._spied: str | None = None
        #: (spied leg, customer leg) of the call the supervisor listens to, as last known
        self._spied_call: tuple[str, str] | None = None
        #: the member (caller's leg) of the queue call offered to or bridged with the agent
        self._member: str | None = None
        self._fixed_context: dict[str, dict[str, Any]] = {}

    # --- outbound ---------------------------------------------------------------------------
    def encode_command(
        self, command: str, args: Mapping[str, Any], request_id: int
    ) -> Sequence[RawMessage]:
        """The ESL commands that carry out ``command``: each a ``bgapi`` with our Job-UUID
        (the login's ``userauth`` and ``event json`` excepted).

        Raises:
            Unsupported: FreeSWITCH cannot do the command.
            InvalidArguments: an argument would break the command line, or DTMF digits are
                not DTMF digits.
            InvalidArguments: (also) ``listen`` to an agent with no queue call in sight.
            MissingContext: the command needs something not known now (``hangup`` with no
                leg of the agent's in sight).
        """
        if command in self.unsupported:
            raise Unsupported(command=command, state="", vendor=self._map.vendor)
        for name, value in args.items():
            if name == "password" or value is None:
                continue
            items = value if isinstance(value, (list, tuple)) else [value]
            for item in items:
                if not _TOKEN.fullmatch(str(item)):
                    raise InvalidArguments(
                        f"argument {name!r} of command {command!r} must be one word with no"
                        " spaces, quotes, braces or commas (FreeSWITCH splits on them)",
                        command=command,
                        state="",
                    )
        if command == "send_dtmf" and not _DIGITS.fullmatch(str(args.get("digits", ""))):
            raise InvalidArguments(
                f"argument 'digits' of command {command!r} must be DTMF digits (0-9, *, #, A-D)",
                command=command,
                state="",
            )
        context = self._context(command, args, request_id)
        templates = self._map.encode(command, context)  # KeyError: no template for it
        messages: list[RawMessage] = []
        for template in templates:
            for each in template if isinstance(template, list) else [template]:
                messages.append({k: _text(v) for k, v in each.items()})
        if command == "check_in":
            queues = [self._queue(g) for g in _as_list(args.get("group_ids"))]
            tiers = [
                {
                    "Command": f"bgapi callcenter_config tier add {q} {self.agent}"
                    f" {self._options['tier_level']} {self._options['tier_position']}"
                }
                for q in queues
            ]
            messages = [*tiers, *messages]
            self._groups = [str(g) for g in _as_list(args.get("group_ids"))]
        if command == "pause" and not args.get("agent_id"):
            self._reason = args.get("reason")
        if command == "consult":
            self.tracker.consulting = True
        if args.get("agent_id"):
            self._targets[str(args["agent_id"])] = None
            self._targets[self._qualified(str(args["agent_id"]))] = None
            while len(self._targets) > _MAX_TARGETS:
                self._targets.popitem(last=False)
        self._register(command, args, request_id, messages)
        return messages

    def snapshot_request(self, request_id: int) -> Sequence[RawMessage]:
        """The agent's status and state, the channels, and the agents (whose ``uuid`` is
        the leg of each one's queue call, for a supervisor to listen to after a
        reconnect); one ``Snapshot`` answers."""
        messages: list[RawMessage] = [
            {"Command": f"bgapi callcenter_config agent get status {self.agent}"},
            {"Command": f"bgapi callcenter_config agent get state {self.agent}"},
            {"Command": "bgapi show channels as json"},
            {"Command": "bgapi callcenter_config agent list"},
        ]
        self._register(_SNAPSHOT, {}, request_id, messages)
        return messages

    def keepalive(self, request_id: int) -> Sequence[RawMessage]:
        """``api version``; its ``Answer(request_id, ok=True)`` proves the link is alive."""
        messages: list[RawMessage] = [{"Command": "api version"}]
        self._register(_KEEPALIVE, {}, request_id, messages)
        return messages

    def _register(
        self, command: str, args: Mapping[str, Any], request_id: int, messages: list[RawMessage]
    ) -> _Request:
        public = {k: v for k, v in args.items() if k != "password"}
        confirm = None
        spec = self._chart.commands.get(command)
        if spec is not None:
            confirm = spec.rule_for({k: v for k, v in args.items() if v is not None}).confirm
        self._serial += 1
        request = _Request(
            request_id,
            command,
            MappingProxyType(public),
            len(messages),
            confirm,
            serial=self._serial,
        )
        for part, message in enumerate(messages):
            assert isinstance(message, dict)
            if str(message.get("Command", "")).startswith("bgapi "):
                message["Job-UUID"] = f"{self._prefix}-{request_id}-{part}"
            self._replies.append((request, part))
        while len(self._replies) > MAX_OUTSTANDING:
            self._replies.popleft()
            self._skip_replies += 1
        pending = self._pending
        pending[request_id] = request
        if len(pending) > MAX_OUTSTANDING:
            # the oldest never answered: forgotten, so memory stays bounded (its command
            # has timed out in the session long ago; a late answer is then ignored)
            del pending[next(iter(pending))]
        return request

    def _context(self, command: str, args: Mapping[str, Any], request_id: int) -> dict[str, Any]:
        o = self._options
        fixed = self._fixed_context.get(command)
        if fixed is None:
            # what does not change between two commands: the declared arguments (None
            # until given), the options and the agent, worked out once per command
            spec = self._chart.commands.get(command)
            fixed = {a.name: None for a in spec.args} if spec is not None else {}
            fixed.update(
                {
                    "agent": self.agent,
                    "contact": self.contact,
                    "events": " ".join(EVENTS),
                    "dial_context": o["dial_context"],
                    "caller_id": o["caller_id"],
                    "cancel_key": o["cancel_key"],
                    "complete_key": o["complete_key"],
                    "conference_key": o["conference_key"],
                    "barge_key": o["barge_key"],
                    "ready_status": "'Available (On Demand)'"
                    if o["ready_status"] == "Available (On Demand)"
                    else "Available",
                }
            )
            self._fixed_context[command] = fixed
        context = fixed.copy()
        context["request_id"] = request_id
        context.update(args)
        if command == "connect":
            password = args.get("password")
            if o["login"] == "userauth":
                context["auth_command"] = "userauth"
                context["auth_secret"] = f"{self.agent}:{password}"
            else:
                context["auth_command"] = "auth"
                context["auth_secret"] = o["esl_password"] or password
        if args.get("agent_id"):
            context["target_agent"] = self._qualified(str(args["agent_id"]))
        context["member"] = context.get("target_agent") or self.agent
        t = self.tracker
        for name, value in (
            ("channel", t.channel),
            ("peer", t.peer),
            ("consult_peer", t.consult_peer),
        ):
            if value is not None:
                context[name] = value
        if command in ("dial_out", "listen"):
            uuid = f"{self._prefix}-leg-{next(self._uuids)}"
            context["origination_uuid"] = uuid
            t.expect(uuid, "listen" if command == "listen" else "outbound")
        if command == "listen":
            target = self._agent_calls.get(self._qualified(str(args.get("agent_id"))))
            if target is None:
                # eavesdrop needs the agent's leg, which mod_callcenter names only for a
                # queue call (bridge-agent-start): with none seen, FreeSWITCH has nothing
                # to listen to, and the supervisor's phone is not rung for nothing
                raise InvalidArguments(
                    f"agent {args.get('agent_id')!r} has no queue call to listen to",
                    command=command,
                    state="",
                )
            context["spied_leg"] = target[0]
            self._spied = self._qualified(str(args.get("agent_id")))
            self._spied_call = target
        if command == "disconnect_call":
            # the spied agent's queue call as mod_callcenter last said it, else as the
            # snapshot found it (a link dropped since listen: the eavesdrop row names it)
            spied = self._agent_calls.get(self._spied) if self._spied else None
            target = spied or self._spied_call
            if target is not None and target[1]:
                context["customer"] = target[1]
        return context

    def _qualified(self, name: str) -> str:
        return name if "@" in name else f"{name}@{self.domain}"

    def _queue(self, name: Any) -> str:
        return self._qualified(str(name))

    # --- inbound ----------------------------------------------------------------------------
    def receive(self, message: RawMessage) -> Sequence[Inbound]:
        """What one ESL message means for this agent (often nothing)."""
        kind = message.get("Content-Type")
        if kind in ("command/reply", "api/response"):
            return self._reply(message)
        if kind in ("text/disconnect-notice", "text/rude-rejection"):
            return self._signals(message, {"disconnect": True})
        event = message.get("Event-Name")
        if not isinstance(event, str):
            return []
        if event == "BACKGROUND_JOB":
            return self._job(message)
        if event == "CUSTOM":
            if message.get("Event-Subclass") != "callcenter::info":
                return []
            return self._callcenter(message)
        if event in _CHANNEL_EVENTS or event in HANGUP_EVENTS:
            return self._channel(event, message)
        return []

    def _channel(self, event: str, message: RawMessage) -> list[Inbound]:
        t = self.tracker
        # as they were before this event: a hangup that ends a conference is about one
        conference, consulting = t.conference, t.consulting
        facts = t.observe(event, message)
        if "leg" not in facts:
            return []
        # the consulted party's hangup ends the consultation: it still counts as during it
        facts["consulting"] = consulting and (t.consulting or event in HANGUP_EVENTS)
        facts["conference"] = conference
        uuid = message.get("Unique-ID")
        facts["peer_answered"] = t.peer_answered(uuid)
        if event == "CHANNEL_HANGUP" and facts["leg"] != "agent" and not t.peers:
            facts["alone"] = True
        out = self._signals(message, facts)
        self._confirm(out)
        return out

    def _callcenter(self, message: RawMessage) -> list[Inbound]:
        agent = message.get("CC-Agent")
        action = message.get("CC-Action")
        member = message.get("CC-Member-Session-UUID")
        if isinstance(agent, str) and action == "bridge-agent-start":
            legs = (str(message.get("CC-Agent-UUID", "")), str(member or ""))
            self._agent_calls[agent] = legs
            while len(self._agent_calls) > _MAX_AGENT_CALLS:
                self._agent_calls.popitem(last=False)
        elif isinstance(agent, str) and action == "bridge-agent-end":
            self._agent_calls.pop(agent, None)
        if agent is None and member is not None and member == self._member:
            agent = self.agent  # member-queue-end names the member, not always its agent
        facts: dict[str, Any] = {}
        if agent == self.agent:
            facts["agent"] = "self"
            facts["previous_status"] = self._status or "Logged Out"
            facts["reason"] = self._reason
            facts["groups"] = list(self._groups) or None
            facts["legs"] = len(self.tracker.legs)
            if action == "agent-status-change":
                status = message.get("CC-Agent-Status")
                if isinstance(status, str):
                    self._status = status
            elif action in ("agent-offering", "bridge-agent-start"):
                self._member = member if isinstance(member, str) else None
            elif action in ("bridge-agent-end", "bridge-agent-fail", "member-queue-end"):
                self._member = None
        elif isinstance(agent, str) and agent in self._targets:
            facts["agent"] = "target"
            # the agent id as the supervisor's command named it
            named = [n for n in self._targets if self._qualified(n) == agent]
            facts["agent_id"] = next((n for n in named if "@" not in n), agent)
        else:
            return []
        out = self._signals(message, facts)
        self._confirm(out)
        return out

    def _confirm(self, out: Sequence[Inbound]) -> None:
        for each in out:
            if isinstance(each, Signal):
                self._confirmed_at[each.name] = self._serial

    def _signals(self, message: RawMessage, facts: Mapping[str, Any]) -> list[Inbound]:
        # the map reads the facts as the message's ``cti`` field; rules naming
        # ``cti.after`` run again on the signal it gave (one message, two signals)
        return list(self._map.signals(message, {"agent": self.agent}, facts, after=_AFTER))

    # --- replies and jobs -------------------------------------------------------------------
    def _reply(self, message: RawMessage) -> list[Inbound]:
        if self._skip_replies:
            self._skip_replies -= 1
            return []  # owed to a command line forgotten at the cap
        if not self._replies:
            return []  # a reply to no command of ours (a recorded stream's)
        request, part = self._replies.popleft()
        if request is None or request.request_id not in self._pending:
            return []
        text = str(message.get("Reply-Text") or message.get(BODY) or "").strip()
        ok = not text.startswith("-")
        if request.command == _KEEPALIVE:
            self._finish(request)
            return [Answer(request.request_id, True)]
        if text.startswith("+OK Job-UUID"):
            return []  # the job is under way: its BACKGROUND_JOB is the answer
        return self._answered(request, part, message, ok, text)

    def _job(self, message: RawMessage) -> list[Inbound]:
        job = message.get("Job-UUID")
        if not isinstance(job, str) or not job.startswith(self._prefix + "-"):
            return []
        head, _, tail = job[len(self._prefix) + 1 :].partition("-")
        if not head.isdecimal() or not tail.isdecimal():
            return []
        request = self._pending.get(int(head))
        part = int(tail)
        if request is None or part >= request.parts:
            return []
        text = str(message.get(BODY) or "").strip()
        # an API's output is its answer (a status, a table ending +OK); -ERR and -USAGE fail
        return self._answered(request, part, message, not text.startswith("-"), text)

    def _answered(
        self, request: _Request, part: int, message: RawMessage, ok: bool, text: str
    ) -> list[Inbound]:
        out: list[Inbound] = []
        if request.command == "check_in" and part < request.parts - 1:
            ok = True  # a tier add: one already there (or refused) leaves the status to decide
        if request.command == _SNAPSHOT:
            request.results[part] = text
            if part == _AGENT_LIST_PART:
                ok = True  # no agent list (an API the user may not run) is no calls to learn
        else:
            facts = {
                "command": request.command,
                "args": request.args,
                "part": part,
                "ok": ok,
                "result": text,
                "final": request.answered + 1 == request.parts,
                "failed": request.failed + (0 if ok else 1),
            }
            if request.command == "get_all_agents" and ok:
                facts["agents"] = parse_agent_list(text)
            if request.command in ("get_transfer_groups", "get_agent_groups") and ok:
                facts["groups"] = parse_queue_list(text)
            out = self._signals(message, facts)
            if out and not ok:
                ok = True  # the map says this error still means something (a tier there)
        request.answered += 1
        if not ok:
            request.failed += 1
            request.reasons.append(text.removeprefix("-ERR").strip() or "error")
            if request.command == "consult":
                self.tracker.end_consultation()
        if ok and request.command in ("cancel_consult", "complete_transfer"):
            self.tracker.end_consultation()
        if ok and request.command in ("conference", "join_talk"):
            self.tracker.conference = True
        if any(isinstance(s, Signal) and s.name == request.confirm for s in out):
            request.confirmed = True
        if request.answered == request.parts:
            out.extend(self._close(request))
        return out

    def _close(self, request: _Request) -> list[Inbound]:
        self._finish(request)
        confirmed = request.confirmed or (
            request.confirm is not None
            and self._confirmed_at.get(request.confirm, 0) >= request.serial
        )
        failed = request.failed > 0 and not confirmed
        reason = "; ".join(dict.fromkeys(request.reasons)) if failed else ""
        if request.command == _SNAPSHOT:
            if failed:
                return [Answer(request.request_id, False, reason)]
            return [self._snapshot(request)]
        return [Answer(request.request_id, not failed, reason)]

    def _finish(self, request: _Request) -> None:
        self._pending.pop(request.request_id, None)
        self._recent[request.request_id] = request
        while len(self._recent) > _RECENT:
            self._recent.popitem(last=False)

    def _snapshot(self, request: _Request) -> Snapshot:
        status = request.results.get(0, "").strip()
        state = request.results.get(1, "").strip()
        try:
            channels = json.loads(request.results.get(2, "") or "{}")
        except json.JSONDecodeError:
            channels = {}
        rows = channels.get("rows") if isinstance(channels, dict) else None
        rows = [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []
        agents = _table(request.results.get(_AGENT_LIST_PART, ""))
        if self._learn_contact:
            self._adopt_contact(agents)
        self.tracker.restore(rows)
        self._status = status if status in AGENT_STATUSES else None
        own = [r for r in rows if self.tracker.is_agent_channel(r.get("name"))]
        key = snapshot_key(status, state, own, rows)
        if key == "eavesdrop":
            self._spied_call = _spied_call(own[-1], rows)
        self._learn_agent_calls(agents, rows)
        payload: dict[str, Any] = {"vendor_state": key, "status": status, "state": state}
        if status in AGENT_STATUSES and status != "Logged Out":
            # where a finished call returns to (the chart's history inside availability):
            # the status says it even while a call is up
            back = self._map.states.get(status)
            if back is not None:
                payload["availability"] = back
        if own:
            payload["call_id"] = own[-1].get("call_uuid") or own[-1].get("uuid")
        mapped = self._map.states.get(key) or self._map.states.get("unknown", key)
        return Snapshot(mapped, MappingProxyType(payload), request.request_id)

    def _adopt_contact(self, agents: Sequence[Mapping[str, str]]) -> None:
        """With no ``extension``, ``contact`` or ``contact_pattern`` option, the agent's
        phone is its mod_callcenter contact (``user/<extension>[@domain]``), when the agent
        list has one: its legs are that extension's channels, and ``dial_out`` and
        ``listen`` ring it."""
        row = next((a for a in agents if a.get("name") == self.agent), None)
        found = _USER_CONTACT.fullmatch(str(row.get("contact", ""))) if row else None
        if found is None or found[0] == self.contact:
            return
        self.contact = found[0]
        self.tracker.pattern = contact_regex(found[1])
        self._fixed_context.clear()  # it holds the contact

    def _learn_agent_calls(
        self, agents: Sequence[Mapping[str, str]], rows: Sequence[Mapping[str, Any]]
    ) -> None:
        """The queue calls in progress, from the agent list (mod_callcenter sets an agent's
        ``uuid`` to its leg when it bridges a queue call) and the channels: what
        ``bridge-agent-start`` would have said to a client connected then."""
        by_uuid = {r.get("uuid"): r for r in rows if r.get("uuid")}
        for agent in agents:
            name, leg = agent.get("name"), agent.get("uuid")
            row = by_uuid.get(leg)
            if not name or row is None or agent.get("state") != "In a queue call":
                continue
            call = row.get("call_uuid") or leg
            customer = next(
                (
                    str(r["uuid"])
                    for r in by_uuid.values()
                    if r is not row and r.get("call_uuid") == call
                ),
                "",
            )
            self._agent_calls[name] = (str(leg), customer)
            while len(self._agent_calls) > _MAX_AGENT_CALLS:
                self._agent_calls.popitem(last=False)


def snapshot_key(
    status: str, state: str, own: Sequence[Mapping[str, Any]], rows: Sequence[Mapping[str, Any]]
) -> str:
    """The name (under ``states:`` in the vendor map) of what a snapshot shows, in this
    order: ``Logged Out``; the agent's leg eavesdropping (``eavesdrop``); its leg's call
    state (``RINGING``/``EARLY`` ringing; a held peer beside one not held is a consultation,
    ``ConsultRinging`` or ``ConsultTalking`` as the consulted party's leg is up or not;
    ``HELD``; ``ACTIVE`` with a peer still ringing is ``dialing``, with two peers or more
    ``conference``, else ``ACTIVE``); then the status
    (``On Break``, ``Available``, ``Available (On Demand)``), or ``unknown``."""
    if status == "Logged Out":
        return "Logged Out"
    if own:
        leg = own[-1]
        if leg.get("application") == "eavesdrop":
            return "eavesdrop"
        call = leg.get("call_uuid") or leg.get("uuid")
        peers = [r for r in rows if r is not leg and (r.get("call_uuid") or r.get("uuid")) == call]
        callstate = str(leg.get("callstate", ""))
        if callstate in ("RINGING", "EARLY", "DOWN") and leg.get("direction") == "outbound":
            return "RINGING"
        consulted = consulted_row(leg, peers)
        if consulted is not None:
            ringing = consulted.get("callstate") in _NOT_UP
            return "ConsultRinging" if ringing else "ConsultTalking"
        if callstate == "HELD" or any(p.get("callstate") == "HELD" for p in peers):
            return "HELD"
        if any(p.get("callstate") in _NOT_UP for p in peers):
            return "dialing"
        if len(peers) >= 2:
            return "conference"
        return "ACTIVE"
    if status in AGENT_STATUSES:
        return status
    return "unknown"


def _spied_call(
    leg: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]
) -> tuple[str, str] | None:
    """(the spied leg, the customer's leg) from an eavesdropping leg's row: eavesdrop's
    argument is the spied leg; the customer is the other row of the spied leg's call."""
    spied = str(leg.get("application_data") or "")
    row = next((r for r in rows if r.get("uuid") == spied), None)
    if row is None:
        return None
    call = row.get("call_uuid") or spied
    customer = next(
        (
            str(r["uuid"])
            for r in rows
            if r is not row and r is not leg and r.get("uuid") and r.get("call_uuid") == call
        ),
        "",
    )
    return spied, customer


def consulted_row(
    leg: Mapping[str, Any], peers: Sequence[Mapping[str, Any]]
) -> Mapping[str, Any] | None:
    """The consulted party's row in an attended transfer, if one runs: att_xfer holds the
    customer while the agent's own leg (not held) calls a third party, so a call with a
    held peer and another that is not is a consultation; its newest peer not held is the
    consulted one."""
    if leg.get("callstate") == "HELD":
        return None
    held = [p for p in peers if p.get("callstate") == "HELD"]
    others = [p for p in peers if p.get("callstate") != "HELD"]
    return others[-1] if held and others else None


def parse_queue_list(text: str) -> list[dict[str, Any]]:
    """``callcenter_config queue list``: a ``|``-separated table with a header row and a
    closing ``+OK``, as the chart's groups (id and name: the queue's name)."""
    return [
        {"id": row["name"], "name": row["name"], "strategy": row.get("strategy")}
        for row in _table(text)
        if row.get("name")
    ]


def parse_agent_list(text: str) -> list[dict[str, Any]]:
    """``callcenter_config agent list``: agents with their status and state."""
    return [
        {
            "agent_id": row["name"],
            "name": row["name"],
            "status": row.get("status"),
            "state": row.get("state"),
            "paused": row.get("status") == "On Break",
        }
        for row in _table(text)
        if row.get("name")
    ]


def _table(text: str) -> list[dict[str, str]]:
    lines = [line for line in text.splitlines() if line.strip() and line.strip() != "+OK"]
    if not lines:
        return []
    head = lines[0].split("|")
    return [dict(zip(head, line.split("|"), strict=False)) for line in lines[1:]]


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v) for v in value if str(v).strip()]
