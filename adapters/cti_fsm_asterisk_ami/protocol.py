"""One agent's AMI session, sans-IO: packets in, chart signals out; commands in, actions out.

The vendor map (``specs/vendors/asterisk-ami.yaml``) says which packet means which signal
and how each command is written; this module supplies what a stateless map cannot know:

- **correlation**: every action carries ``ActionID: cti-<request>-<part>``; its
  ``Response`` (and, for list actions, the events up to the ``...Complete`` one) are
  matched back to the command, which the map sees as ``cti.command``. A command written as
  several actions (QueueAdd per queue, PlayDTMF per digit) fails only when every part
  failed, or, for a command whose confirmation is the response itself, when any did;
- **whose channel**: the ``CallTracker`` gives each channel field a role (``cti.Channel:
  agent``), so "a Hangup of the agent's last channel" is one rule;
- **snapshots**: ``QueueStatus`` (the member's rows) plus ``CoreShowChannels`` (its
  channels) become one ``Snapshot`` after a reconnect, and rebuild the tracker.

Noise (VarSet, Newexten, CEL, AGIExec, RTCP...) is dropped before any rule runs: only
events a rule names, or that the tracker follows, are looked at.
"""

from __future__ import annotations

import functools
import re
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import attrs

from cti_fsm.adapter import Answer, Inbound, Malformed, RawMessage, Signal, Snapshot
from cti_fsm.chart import Chart
from cti_fsm.errors import InvalidArguments, Unsupported
from cti_fsm.events import clip
from cti_fsm.vendor_map import MissingContext, VendorMap, excerpt

from .codec import DEFAULT_MAX_PACKET, AmiCodec
from .tracker import AGENT, CHANNEL_FIELDS, CONSULT, PEER, TRACKED_EVENTS, CallTracker

__all__ = ["DEFAULT_OPTIONS", "DEVICE_STATES", "MAX_OUTSTANDING", "AmiProtocol"]

#: Options a protocol understands, with their defaults (see the README's "Options").
DEFAULT_OPTIONS: Mapping[str, Any] = MappingProxyType(
    {
        "username": None,
        "events": "call,agent,dtmf,originate",
        "context": "default",
        "queues": (),
        "member_name": None,
        "penalty": None,
        "state_interface": None,
        "caller_id": None,
        "originate_timeout": 30000,
        "dtmf_duration": None,
        "spy_options": "qdE",
        "keepalive_interval": 20.0,
        "max_packet": None,
    }
)
#: AMI's numeric device states (QueueMember ``Status``), by number.
DEVICE_STATES: Mapping[str, str] = MappingProxyType(
    {
        "0": "UNKNOWN",
        "1": "NOT_INUSE",
        "2": "INUSE",
        "3": "BUSY",
        "4": "INVALID",
        "5": "UNAVAILABLE",
        "6": "RINGING",
        "7": "RINGINUSE",
        "8": "ONHOLD",
    }
)
_IN_CALL_DEVICE = frozenset(("INUSE", "BUSY", "RINGING", "RINGINUSE", "ONHOLD"))
_CHANNEL_STATES = {"4": "Ring", "5": "Ringing", "6": "Up"}
_ACTION_PREFIX = "cti-"
#: Actions whose answer is a list of events ending with a ``...Complete`` event.
_LIST_ACTIONS = frozenset(("QueueStatus", "QueueSummary", "CoreShowChannels", "Status"))
_SUCCESS = frozenset(("Success", "Goodbye", "Follows"))
_MEMBER_FIELDS = ("Interface", "Location", "AgentCalled", "Member", "StateInterface")
_DIGITS = re.compile(r"[0-9A-Da-d*#]+")
_SNAPSHOT = "_snapshot"
_KEEPALIVE = "_keepalive"
_AFTER = "after"
#: How many finished requests are remembered for late events (OriginateResponse).
_RECENT = 64
#: Requests waiting for their answers; beyond, the oldest is forgotten (an Asterisk that
#: never answers must not grow the protocol: its session has long timed them out).
MAX_OUTSTANDING = 10_000
#: Bounds on list answers nobody asked for (recorded streams) and on their rows.
_MAX_FOREIGN_LISTS = 8
_MAX_LIST_ROWS = 10_000


@attrs.define(eq=False)
class _Request:
    request_id: int
    command: str
    args: Mapping[str, Any]
    parts: int
    confirm: str | None = None
    queues: tuple[str | None, ...] = ()
    #: part number -> rows collected so far, for list actions still open
    lists: dict[int, list[RawMessage]] = attrs.field(factory=dict)
    done_lists: dict[int, list[RawMessage]] = attrs.field(factory=dict)
    answered: int = 0
    failed: int = 0
    reasons: list[str] = attrs.field(factory=list)
    confirmed: bool = False
    #: when it was registered, in the protocol's count of requests (see ``_confirmed_at``)
    serial: int = 0


class AmiProtocol:
    """The protocol for one agent connection (``Adapter.protocol`` makes a fresh one).

    Args:
        vendor_map: the loaded AMI vendor map.
        chart: the chart the map is written for (for each command's confirm signal).
        user: the agent's queue-member interface (``PJSIP/1001``, ``Local/1001@agents``).
        options: see ``DEFAULT_OPTIONS`` and the README.

    Attributes:
        codec: this connection's ``AmiCodec``.
        unsupported: commands AMI cannot do.
        keepalive_interval: seconds between two ``keepalive`` pings the agent should send.
    """

    def __init__(
        self, vendor_map: VendorMap, chart: Chart, *, user: str, options: Mapping[str, Any]
    ) -> None:
        unknown = sorted(set(options) - set(DEFAULT_OPTIONS) - {"vendor_map"})
        if unknown:
            raise ValueError(
                f"unknown AMI option(s): {', '.join(unknown)};"
                f" known: {', '.join(sorted(DEFAULT_OPTIONS))}"
            )
        self._map = vendor_map
        self._chart = chart
        self.user = user
        self._options = {**DEFAULT_OPTIONS, **options}
        max_packet = self._options["max_packet"]
        self.codec = AmiCodec(max_packet=int(max_packet) if max_packet else DEFAULT_MAX_PACKET)
        # the session reaches the codec only through these (the protocol owns its framing)
        self.decode = self.codec.feed
        self.encode = self.codec.encode
        self.unsupported = vendor_map.unsupported
        self.local_commands = vendor_map.local
        self.keepalive_interval = float(self._options["keepalive_interval"])
        device = self._options["state_interface"] or (None if user.startswith("Local/") else user)
        self.tracker = CallTracker(device)
        self._queues: set[str] = set()
        self._targets: OrderedDict[str, None] = OrderedDict()
        self._spyee: str | None = None
        self._pending: dict[int, _Request] = {}
        # per signal, the count of requests registered when it last arrived: a request
        # registered before then was confirmed by it (one look-up per event, whatever
        # number of requests wait)
        self._serial = 0
        self._confirmed_at: dict[str, int] = {}
        self._forgotten = 0
        self._recent: OrderedDict[int, _Request] = OrderedDict()
        self._foreign: OrderedDict[str, list[RawMessage]] = OrderedDict()
        # what the map says once for every connection (a thousand agents share one map)
        index = _map_facts(vendor_map)
        self._relevant, self._response_confirmed = index.relevant, index.response_confirmed
        #: keys read as one value: by the map's rules, the tracker and this module
        self._single = index.single
        #: per command, what its templates are written once for: each queue, each digit
        self._expands = index.expands
        #: per command, the context that does not change between two commands
        self._fixed_context: dict[str, dict[str, Any]] = {}
        self._local = user.startswith("Local/")

    # --- outbound ---------------------------------------------------------------------------
    def encode_command(
        self, command: str, args: Mapping[str, Any], request_id: int
    ) -> Sequence[RawMessage]:
        """The AMI actions that carry out ``command``, each with its ActionID.

        Raises:
            Unsupported: AMI cannot do the command.
            InvalidArguments: an argument would break the framing or is not valid Unicode,
                or DTMF digits are not DTMF digits.
            MissingContext: the command needs something not known now (``hangup`` with no
                channel of the agent's in sight, ``check_out`` with no known queue).
        """
        if command in self.unsupported:
            raise Unsupported(command=command, state="", vendor=self._map.vendor)
        for name, value in args.items():
            if not isinstance(value, str):
                continue
            if "\r" in value or "\n" in value:
                raise InvalidArguments(
                    f"argument {name!r} of command {command!r} holds a line break",
                    command=command,
                    state="",
                )
            if not value.isascii() and not _is_unicode(value):
                # refused here, before anything is noted (a consultation begun, say)
                raise InvalidArguments(
                    f"argument {name!r} of command {command!r} is not valid Unicode"
                    " (a lone surrogate)",
                    command=command,
                    state="",
                )
        context = self._context(command, args, request_id)
        expand: list[Mapping[str, Any]] = [{}]
        queues: tuple[str | None, ...] = (None,)
        expands = self._expands[command]  # KeyError: the map has no template for it
        if expands == "queue":
            queues = tuple(self._queues_for(command, args))
            expand = [{"queue": q} for q in queues]
        elif expands == "digit":
            digits = str(args.get("digits", ""))
            if not _DIGITS.fullmatch(digits):
                raise InvalidArguments(
                    f"argument 'digits' of command {command!r} must be DTMF digits"
                    " (0-9, *, #, A-D)",
                    command=command,
                    state="",
                )
            expand = [{"digit": d} for d in digits]
        messages: list[RawMessage] = []
        for extra in expand:
            for action in self._map.encode(command, {**context, **extra} if extra else context):
                # AMI is text: numbers and booleans as Asterisk writes them
                messages.append({k: v if type(v) is str else _text(v) for k, v in action.items()})
        request = self._register(command, args, request_id, messages)
        request.queues = queues if len(queues) == len(messages) else ()
        if command == "consult":
            self.tracker.consulting = True
        if args.get("agent_id"):
            self._targets[str(args["agent_id"])] = None
            while len(self._targets) > 8:
                self._targets.popitem(last=False)
        return messages

    def snapshot_request(self, request_id: int) -> Sequence[RawMessage]:
        """``QueueStatus`` for this member and ``CoreShowChannels``; one ``Snapshot`` answers."""
        messages: list[RawMessage] = [
            {"Action": "QueueStatus", "Member": self.user},
            {"Action": "CoreShowChannels"},
        ]
        self._register(_SNAPSHOT, {}, request_id, messages)
        return messages

    def keepalive(self, request_id: int) -> Sequence[RawMessage]:
        """A ``Ping``; its ``Answer(request_id, ok=True)`` proves the link is alive. Send one
        every ``keepalive_interval`` seconds; no answer within that long means the link is dead."""
        messages: list[RawMessage] = [{"Action": "Ping"}]
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
            message["ActionID"] = f"{_ACTION_PREFIX}{request_id}-{part}"
            if message.get("Action") in _LIST_ACTIONS:
                request.lists[part] = []
        pending = self._pending
        pending[request_id] = request
        if len(pending) > MAX_OUTSTANDING:
            # the oldest never answered: forgotten, so memory stays bounded (its command
            # has timed out in the session long ago; a late answer is then ignored)
            del pending[next(iter(pending))]
            self._forgotten += 1
        return request

    def _context(self, command: str, args: Mapping[str, Any], request_id: int) -> dict[str, Any]:
        fixed = self._fixed_context.get(command)
        if fixed is None:
            fixed = self._fixed_context[command] = self._context_of(command)
        context = fixed.copy()
        context["state_interface"] = self.tracker.device if self._local else None
        context["request_id"] = request_id
        context.update(args)  # an argument overrides what comes before, as an option would not
        context["member"] = args.get("agent_id") or self.user
        if self.tracker.device is not None:
            context["device"] = self.tracker.device
        if command == "connect":
            context["username"] = self._options["username"] or args.get("user")
        for name, value in (("channel", self.tracker.channel), ("peer", self.tracker.peer)):
            if value is not None:
                context[name] = value
        if self._spyee is not None:
            others = [
                c
                for c in self.tracker.others_in_bridge_of(self._spyee)
                if not self.tracker.is_agent(c)
            ]
            if others:
                context["customer"] = others[0]
        return context

    def _context_of(self, command: str) -> dict[str, Any]:
        """The part of a command's context that is the same every time: its declared
        arguments (None until given), the options and the user."""
        o = self._options
        spec = self._chart.commands.get(command)
        declared = {a.name: None for a in spec.args} if spec is not None else {}
        return {
            **declared,
            "events": o["events"],
            "context": o["context"],
            "member_name": o["member_name"],
            "penalty": o["penalty"],
            "caller_id": o["caller_id"],
            "originate_timeout": o["originate_timeout"],
            "dtmf_duration": o["dtmf_duration"],
            "spy_options": o["spy_options"],
            "user": self.user,
        }

    def _queues_for(self, command: str, args: Mapping[str, Any]) -> list[str]:
        if command == "check_in":
            queues = _as_list(args.get("group_ids"))
        elif command == "check_out":
            queues = sorted(self._queues) or _as_list(self._options["queues"])
        else:
            queues = _as_list(self._options["queues"])
        if not queues:
            raise MissingContext(
                f"command {command!r} needs the queues: none given, none known"
                " (set the 'queues' option)"
            )
        return queues

    # --- inbound ----------------------------------------------------------------------------
    def receive(self, message: RawMessage) -> Sequence[Inbound]:
        """What one AMI packet means for this agent (often nothing); ``Malformed`` for a
        packet that repeats a key this adapter reads as one value (two ``Channel`` lines)."""
        repeated = self._repeated(message)
        if repeated is not None:
            kind = message.get("Event") or message.get("Response") or "packet"
            bad = Malformed(
                f"key {repeated!r} appears more than once in a {str(kind)[:40]} packet",
                excerpt(message),
            )
            action_id = message.get("ActionID")
            found = self._request_of(action_id) if isinstance(action_id, str) else None
            if found is not None and found[0].command == _SNAPSHOT:
                # a snapshot with a row it cannot read is no snapshot: said at once
                request = found[0]
                if request.request_id in self._pending:
                    self._finish(request)
                    return [bad, Answer(request.request_id, False, bad.reason)]
            return [bad]
        event = message.get("Event")
        if event is None and "Response" in message:
            # an event may carry a Response field (OriginateResponse): it stays an event
            return self._response(message)
        if not isinstance(event, str):
            return []  # the banner, or an action in a recorded stream
        action_id = message.get("ActionID")
        if isinstance(action_id, str):
            found = self._request_of(action_id)
            if found is not None:
                request, part = found
                if part in request.lists:
                    return self._list_row(request, part, event, message)
                return self._signals(message, {"command": request.command, "args": request.args})
            if action_id and not action_id.startswith(_ACTION_PREFIX):
                foreign = self._foreign_row(action_id, event, message)
                if foreign is not None:
                    return foreign
        if event not in self._relevant and "*" not in self._relevant:
            return []
        return self._event(event, message)

    def _repeated(self, message: RawMessage) -> str | None:
        """A key the adapter reads as one value that the packet repeats (the codec keeps
        a repeated key's values as a list), if any. Keys that legitimately repeat
        (``ChanVariable``, ``Variable``, command ``Output``) are no one's business here."""
        for key, value in message.items():
            if type(value) is list and key in self._single:
                return str(key)
        return None

    def _event(self, event: str, message: RawMessage) -> list[Inbound]:
        t = self.tracker
        facts: dict[str, Any] = {}
        for field in CHANNEL_FIELDS:
            # most events name one or two channels: an absent field has no role
            name = message.get(field)
            if name is not None:
                role = t.role(name)
                if role is not None:
                    facts[field] = role
        bridge = message.get("BridgeUniqueid")
        agent_bridge = t.in_agent_bridge(bridge)
        facts["consulting"] = t.consulting
        if event == "BridgeEnter":
            facts["returning"] = t.returns_to(message.get("Channel"), bridge)
        self._member_facts(event, message, facts)
        t.observe(event, message)
        self._post_facts(event, message, facts, agent_bridge)
        out = self._signals(message, facts)
        for each in out:
            # a command confirmed by an event: its failed parts no longer fail it
            if type(each) is Signal:
                self._confirmed_at[each.name] = self._serial
        return out

    def _post_facts(
        self, event: str, message: RawMessage, facts: dict[str, Any], agent_bridge: bool
    ) -> None:
        """Facts that need the tracker's tables after the event."""
        t = self.tracker
        bridge = message.get("BridgeUniqueid")
        if event == "Hangup":
            facts["last"] = facts.get("Channel") == AGENT and not t.channels
            if facts.get("Channel") == CONSULT:
                t.end_consultation()
        elif event in ("BridgeEnter", "BridgeLeave"):
            # a Local channel half moved out by an optimization is not a party coming or going
            if (agent_bridge or t.in_agent_bridge(bridge)) and message.get(
                "Channel"
            ) not in t.optimizing:
                facts["bridge"] = AGENT
            parties = t.parties(bridge, message.get("BridgeNumChannels"))
            facts["parties"] = parties
            facts["multiparty"] = parties >= 3
        elif event == "DialEnd" and facts.get("Channel") == CONSULT:
            if message.get("DialStatus") != "ANSWER":
                t.end_consultation()
        elif event == "DialEnd" and facts.get("Channel") == AGENT:
            # a ring group's dial fails when its last leg does, not at its first
            facts["legs_left"] = t.legs_left(message.get("Channel"))
        elif (event == "Newstate" and facts.get("Channel") == PEER) or (
            event == "DialState" and facts.get("Channel") == AGENT
        ):
            ringing = message.get("ChannelState") == "5" or message.get("DialStatus") == "RINGING"
            if ringing:
                # several legs ringing at once are one call ringing: said once per dial
                facts["first_ring"] = not t.rang
                t.rang = True
        elif event == "ChanSpyStart" and facts.get("SpyerChannel") == AGENT:
            spyee = message.get("SpyeeChannel")
            if isinstance(spyee, str):
                self._spyee = spyee
                facts["agent_id"] = spyee.rsplit("-", 1)[0]

    def _member_facts(self, event: str, message: RawMessage, facts: dict[str, Any]) -> None:
        names = [n for n in map(message.get, _MEMBER_FIELDS) if isinstance(n, str)]
        if not names:
            return
        if self.user in names:
            facts["member"] = AGENT
            state_interface = message.get("StateInterface")
            if self.tracker.device is None and isinstance(state_interface, str):
                self.tracker.device = state_interface
            queue = message.get("Queue")
            if isinstance(queue, str):
                if event == "QueueMemberAdded":
                    self._queues.add(queue)
                elif event == "QueueMemberRemoved":
                    self._queues.discard(queue)
            facts["queues_left"] = len(self._queues)
            return
        for name in names:
            if name in self._targets:
                facts["member"] = "target"
                facts["agent_id"] = name
                return

    def _signals(self, message: RawMessage, facts: Mapping[str, Any]) -> list[Inbound]:
        # the map reads the facts as the packet's ``cti`` field; rules naming ``cti.after``
        # run again on the signal it gave (one packet, two signals in order)
        context = {"user": self.user, "device": self.tracker.device}
        return list(self._map.signals(message, context, facts, after=_AFTER))

    # --- responses and lists ----------------------------------------------------------------
    def _request_of(self, action_id: str) -> tuple[_Request, int] | None:
        """The request and part an ActionID ``cti-<request>-<part>`` names, if still known."""
        if not action_id.startswith(_ACTION_PREFIX):
            return None
        head, sep, tail = action_id[len(_ACTION_PREFIX) :].partition("-")
        # isdecimal: the digits int() reads (and a regular expression's \d), no sign or space
        if not sep or not head.isdecimal() or not tail.isdecimal():
            return None
        if len(head) > 20 or len(tail) > 9:
            return None  # no id of ours is that long (and int() refuses thousands of digits)
        request_id, part = int(head), int(tail)
        request = self._pending.get(request_id) or self._recent.get(request_id)
        if request is None or part >= request.parts:
            return None
        return request, part

    def _response(self, message: RawMessage) -> list[Inbound]:
        action_id = message.get("ActionID")
        found = self._request_of(action_id) if isinstance(action_id, str) else None
        if found is None or found[0].request_id not in self._pending:
            return []
        request, part = found
        ok = message.get("Response") in _SUCCESS
        reason = clip(message.get("Message") or message.get("Response") or "error")
        if request.command == _KEEPALIVE:
            self._finish(request)
            return [Answer(request.request_id, ok, "" if ok else reason)]
        out: list[Inbound] = []
        if request.command != _SNAPSHOT:
            facts = {
                "command": request.command,
                "args": request.args,
                "queue": request.queues[part] if part < len(request.queues) else None,
                "final": request.answered + 1 == request.parts,
                "failed": request.failed + (0 if ok else 1),
            }
            out = self._signals(message, facts)
            if not ok and any(type(s) is Signal for s in out):
                ok = True  # the map says this error still means something (already a member)
        request.answered += 1
        if ok and request.command == "cancel_consult":
            self.tracker.end_consultation()
        if not ok:
            request.failed += 1
            request.reasons.append(reason)
            request.lists.pop(part, None)
            if request.command == "consult":
                self.tracker.end_consultation()
        if out and any(isinstance(s, Signal) and s.name == request.confirm for s in out):
            request.confirmed = True
        if request.answered == request.parts and not request.lists:
            out.extend(self._close(request))
        return out

    def _close(self, request: _Request) -> list[Inbound]:
        """The request is fully answered: its final Answer (and Snapshot)."""
        self._finish(request)
        confirmed = request.confirmed or (
            request.confirm is not None
            and self._confirmed_at.get(request.confirm, 0) >= request.serial
        )
        failed = request.failed == request.parts or (
            request.failed > 0 and not confirmed and request.command in self._response_confirmed
        )
        reason = "; ".join(dict.fromkeys(request.reasons)) if failed else ""
        if request.command == _SNAPSHOT:
            if failed:
                return [Answer(request.request_id, False, reason)]
            return [self._snapshot(request.done_lists, request.request_id, restore=True)]
        return [Answer(request.request_id, not failed, reason)]

    def _finish(self, request: _Request) -> None:
        self._pending.pop(request.request_id, None)
        self._recent[request.request_id] = request
        while len(self._recent) > _RECENT:
            self._recent.popitem(last=False)

    def _list_row(
        self, request: _Request, part: int, event: str, message: RawMessage
    ) -> list[Inbound]:
        rows = request.lists[part]
        if not _is_list_end(event, message):
            if len(rows) < _MAX_LIST_ROWS:
                rows.append(message)
            return []
        request.done_lists[part] = request.lists.pop(part)
        out: list[Inbound] = []
        if request.command != _SNAPSHOT:
            facts = {
                "command": request.command,
                "args": request.args,
                "groups": _groups(rows),
                "agents": _agents(rows),
            }
            out = self._signals(message, facts)
            if any(isinstance(s, Signal) and s.name == request.confirm for s in out):
                request.confirmed = True
        if request.answered == request.parts and not request.lists:
            out.extend(self._close(request))
        return out

    def _foreign_row(self, action_id: str, event: str, message: RawMessage) -> list[Inbound] | None:
        """A list answering someone else's action (seen in recorded streams): a QueueStatus
        naming this agent becomes an unsolicited ``Snapshot``."""
        rows = self._foreign.get(action_id)
        if rows is None:
            if event not in ("QueueParams", "QueueMember", "QueueEntry"):
                return None
            rows = self._foreign[action_id] = []
            while len(self._foreign) > _MAX_FOREIGN_LISTS:
                self._foreign.popitem(last=False)
        if not _is_list_end(event, message):
            if len(rows) < _MAX_LIST_ROWS:
                rows.append(message)
            return []
        del self._foreign[action_id]
        if not any(self._is_mine(r) for r in rows if r.get("Event") == "QueueMember"):
            return []
        return [self._snapshot({0: rows}, None, restore=False)]

    def _is_mine(self, row: RawMessage) -> bool:
        return any(row.get(f) == self.user for f in ("Location", "Interface", "StateInterface"))

    def _snapshot(
        self, lists: Mapping[int, list[RawMessage]], request_id: int | None, *, restore: bool
    ) -> Snapshot:
        """The agent's state from QueueStatus and CoreShowChannels rows; with ``restore``,
        the tracker is rebuilt from the channel rows (they are the whole truth)."""
        rows = [r for part in sorted(lists) for r in lists[part]]
        members = [r for r in rows if r.get("Event") == "QueueMember" and self._is_mine(r)]
        channels = [r for r in rows if r.get("Event") == "CoreShowChannel"]
        self._queues = {str(r["Queue"]) for r in members if isinstance(r.get("Queue"), str)}
        if self.tracker.device is None:
            for r in members:
                if isinstance(r.get("StateInterface"), str):
                    self.tracker.device = str(r["StateInterface"])
        if restore:
            self.tracker.restore(channels)
        own = [r for r in channels if self.tracker.is_agent(r.get("Channel"))]
        device = next(
            (DEVICE_STATES.get(str(r.get("Status")), "UNKNOWN") for r in members), "UNKNOWN"
        )
        paused = any(str(r.get("Paused")) == "1" for r in members)
        payload: dict[str, Any] = {"group_ids": sorted(self._queues)}
        if members:
            # where a finished call returns to (the chart's history inside availability)
            back = self._map.states.get("paused" if paused else "NOT_INUSE")
            if back is not None:
                payload["availability"] = back
        if not members:
            key = "not_member"
        elif own:
            row = own[-1]
            payload["call_id"] = row.get("Linkedid") or row.get("UniqueID") or row.get("Uniqueid")
            if row.get("Application") == "ChanSpy":
                key = "ChanSpy"
                if restore:
                    self._spyee = _spied(row, channels)
            elif "BridgeId" in row:
                key = _bridged_state(row, channels, self.tracker)
            else:
                # Asterisk 11 lists no bridges: the channel's own state says what it can
                key = _CHANNEL_STATES.get(str(row.get("ChannelState")), "Up")
            if key in ("Up", "Alone") and device == "ONHOLD":
                key = "ONHOLD"
        elif device in _IN_CALL_DEVICE:
            key = device
        elif paused:
            key = "paused"
        else:
            key = device
        state = self._map.states.get(key) or self._map.states.get("UNKNOWN", key)
        payload["vendor_state"] = key
        return Snapshot(state, MappingProxyType(payload), request_id)


def _text_field(row: RawMessage, name: str) -> str:
    """A field of a listing row as text ('' when absent or not text: a repeated key)."""
    value = row.get(name)
    return value if isinstance(value, str) else ""


def _bridged_state(row: RawMessage, channels: Sequence[RawMessage], t: CallTracker) -> str:
    """The agent's situation from the bridges of a CoreShowChannels listing (Asterisk 12+),
    read from where the parties are rather than from the agent channel's own state, which
    says ``Up`` alike for a call, a consultation, a held customer and an outbound call
    still ringing at the far end:

    - ``ConsultTalking`` / ``ConsultRinging``: a party of the agent's call (same Linkedid)
      waits in a bridge the agent's channel left (the held customer) while the agent talks
      to someone else (who answered: in the agent's bridge), or dials them (not bridged);
    - ``Apart``: that held party, and no one else with the agent (a consultation ended);
    - ``Multiparty``: two or more others in the agent's bridge; ``Up``: one other;
    - else the channel's state: ``Ringing`` (offered to the agent), ``Ring`` (the agent
      dials), and ``Alone`` for an agent channel up with nobody yet (an Originate's
      first leg, the far end still ringing).
    """
    bridge = _text_field(row, "BridgeId")
    linked = {_text_field(r, "Linkedid") for r in channels if t.is_agent(r.get("Channel"))}
    linked.discard("")
    others = [r for r in channels if not t.is_agent(r.get("Channel"))]
    with_me = [r for r in others if bridge and _text_field(r, "BridgeId") == bridge]
    related = [r for r in others if _text_field(r, "Linkedid") in linked]
    apart = [r for r in related if _text_field(r, "BridgeId") not in ("", bridge)]
    dialling = [r for r in related if not _text_field(r, "BridgeId")]
    if apart:
        # a Local channel in the agent's bridge is the dial to the target, not the target
        answered = [r for r in with_me if not _text_field(r, "Channel").startswith("Local/")]
        if answered:
            return "ConsultTalking"
        return "ConsultRinging" if with_me or dialling else "Apart"
    if len(with_me) >= 2:
        return "Multiparty"
    if with_me:
        return "Up"
    state = _CHANNEL_STATES.get(_text_field(row, "ChannelState"), "Up")
    return "Alone" if state == "Up" else state


def _spied(row: RawMessage, channels: Sequence[RawMessage]) -> str | None:
    """The channel a ChanSpy channel spies on, from its ApplicationData (``PJSIP/8001-,q``)."""
    prefix = _text_field(row, "ApplicationData").split(",", 1)[0]
    if not prefix:
        return None
    for other in channels:
        name = _text_field(other, "Channel")
        if name.startswith(prefix) and name != row.get("Channel"):
            return name
    return None


def _is_unicode(text: str) -> bool:
    """True if ``text`` has a UTF-8 form (no lone surrogate)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _is_list_end(event: str, message: RawMessage) -> bool:
    return event.endswith("Complete") or message.get("EventList") == "Complete"


def _groups(rows: Sequence[RawMessage]) -> list[dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        queue = r.get("Queue")
        if isinstance(queue, str) and r.get("Event") in ("QueueSummary", "QueueParams"):
            out.setdefault(queue, {"id": queue, "name": queue})
            for field, key in (("Available", "available"), ("Callers", "waiting")):
                if field in r:
                    out[queue][key] = r[field]
    return list(out.values())


def _agents(rows: Sequence[RawMessage]) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        if r.get("Event") != "QueueMember":
            continue
        out.append(
            {
                "agent_id": r.get("Location") or r.get("Interface"),
                "name": r.get("Name") or r.get("MemberName"),
                "group_id": r.get("Queue"),
                "paused": str(r.get("Paused")) == "1",
                "status": DEVICE_STATES.get(str(r.get("Status")), "UNKNOWN"),
            }
        )
    return out


def _text(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return value


def _expands(templates: Sequence[Any]) -> str | None:
    """``queue`` if a command's templates are written once per queue (``{queue}``),
    ``digit`` if once per DTMF digit (``{digit}``), else None."""
    text = repr(templates)
    if "{queue}" in text:
        return "queue"
    if "{digit}" in text:
        return "digit"
    return None


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v) for v in value if str(v).strip()]


#: Keys the tracker and this module read as one value (beyond those the map's rules name).
_READ_KEYS = frozenset(
    (
        *CHANNEL_FIELDS,
        *_MEMBER_FIELDS,
        "Event",
        "Response",
        "ActionID",
        "EventList",
        "BridgeUniqueid",
        "BridgeNumChannels",
        "Uniqueid",
        "UniqueID",
        "Linkedid",
        "Queue",
        "Oldname",
        "Newname",
        "LocalOneChannel",
        "LocalTwoChannel",
        "ChannelCalling",
        "DestinationChannel",
        "DialStatus",
        "SubEvent",
        "Bridgestate",
        "Status",
        "Paused",
        "BridgeId",
        "BridgeID",
        "ChannelState",
        "Application",
        "ApplicationData",
        "BridgedChannel",
    )
)


@attrs.frozen
class _MapFacts:
    relevant: frozenset[str]
    response_confirmed: frozenset[str]
    single: frozenset[str]
    expands: Mapping[str, str | None]


@functools.lru_cache(maxsize=32)
def _map_facts(vendor_map: VendorMap) -> _MapFacts:
    """What the protocol reads from the map, worked out once per map."""
    relevant, confirmed = _map_index(vendor_map)
    return _MapFacts(
        relevant,
        confirmed,
        _single_keys(vendor_map),
        MappingProxyType({name: _expands(ts) for name, ts in vendor_map.commands.items()}),
    )


def _single_keys(vendor_map: VendorMap) -> frozenset[str]:
    """The keys read as one value: ``_READ_KEYS`` and every raw field a rule reads."""
    keys = set(_READ_KEYS)
    for rule in vendor_map.rules:
        paths = [*rule.when, *rule.unless, *rule.require, *rule.payload.values()]
        keys.update(p.split(".", 1)[0] for p in paths if not p.startswith("cti."))
    return frozenset(keys)


def _map_index(vendor_map: VendorMap) -> tuple[frozenset[str], frozenset[str]]:
    """Events some rule names (plus those the tracker follows), and the commands a rule
    confirms from the action's own response."""
    events: set[str] = set(TRACKED_EVENTS)
    by_response: set[str] = set()
    for rule in vendor_map.rules:
        named = rule.when.get("Event")
        answers_ours = any(k in rule.when for k in ("Response", "cti.command", "cti.after"))
        if named is None and not answers_ours:
            # a rule on other fields: every event may matter to it
            events.add("*")
        for name in named if isinstance(named, list) else [named]:
            if isinstance(name, str):
                events.add(name)
        if rule.when.get("Response") in _SUCCESS:
            commands = rule.when.get("cti.command")
            for name in commands if isinstance(commands, list) else [commands]:
                if isinstance(name, str):
                    by_response.add(name)
    return frozenset(events), frozenset(by_response)
