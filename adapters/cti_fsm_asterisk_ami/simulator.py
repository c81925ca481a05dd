"""An AMI server over trio TCP, backed by the vendor-neutral switch (``cti_fsm.switch``).

It answers the actions the adapter sends and renders the switch's events as the packet
sequences an Asterisk 18 with app_queue writes for the same flows (the AMI v2
specification's call flows and the recorded FreePBX traffic are the reference):

- an agent is the queue member ``PJSIP/<device>``; its calls are channels
  ``PJSIP/<device>-<sequence>``; an external number's are ``PJSIP/trunk-<sequence>``;
- a queue call: caller ``Newchannel``/``QueueCallerJoin``; ``AgentCalled``,
  ``DialBegin``, ``Newstate`` Ringing; on answer ``DialEnd`` ANSWER, both channels
  ``BridgeEnter``, ``AgentConnect``; at the end ``BridgeLeave``, ``Hangup``,
  ``AgentComplete``;
- an outbound call: the agent's channel, ``DialBegin`` to the far end, its ``Newstate``
  Ringing, ``DialEnd``, bridge; a failure is ``DialEnd`` with BUSY/NOANSWER/CHANUNAVAIL;
- an attended transfer (``Atxfer``): the agent's channel leaves the customer's bridge
  (music on hold for the customer) and joins a new bridge with a Local channel whose other
  half dials the target; the target's answer is that dial's ``DialEnd``, then the Local
  channel is optimized away (``LocalOptimizationBegin/End``); completion is an
  ``AttendedTransfer``;
- ``listen`` is ChanSpy: the supervisor's channel and ``ChanSpyStart``.

Every connected session gets every event, as with Asterisk. The switch signs an agent in
to all its groups at once; a ``QueueAdd``/``QueueRemove`` of one more or one fewer queue is
done by signing out and in again without telling the sessions, then reporting only the
queue that changed.

Tests drive the world through the switch itself (``inbound_call``, ``customer_answers``,
``answer`` for the agent picking up its phone, ``hold`` for the phone's hold key).
"""

from __future__ import annotations

import collections
import itertools
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from typing import Any

import attrs
import trio

from cti_fsm import switch as sw
from cti_fsm.secrets import REDACTED
from cti_fsm.simulator_server import Client, ClientLink, SimulatorServer, StreamLink, TcpLink

from .codec import AmiCodec, encode_packet

__all__ = ["AmiSimulator"]

Packet = dict[str, Any]
_BANNER = b"Asterisk Call Manager/7.0.3\r\n"
_CAUSES = {
    "normal": ("16", "Normal Clearing"),
    "busy": ("17", "User busy"),
    "no_answer": ("19", "No answer"),
    "rejected": ("21", "Call Rejected"),
    "take_over": ("16", "Normal Clearing"),
    "forced_logout": ("16", "Normal Clearing"),
    "logout": ("16", "Normal Clearing"),
    "ring_no_answer": ("19", "No answer"),
}
_DIAL_STATUS = {
    "busy": "BUSY",
    "no_answer": "NOANSWER",
    "rejected": "BUSY",
    "ring_no_answer": "NOANSWER",
}
_STATE_DESC = {"0": "Down", "4": "Ring", "5": "Ringing", "6": "Up"}
#: How many packets may wait for a slow client before it is disconnected.
_BACKLOG = 10_000


@attrs.define(eq=False)
class _Channel:
    name: str
    uid: str
    linkedid: str
    device: str
    caller_id: str
    state: str = "0"
    bridge: str | None = None
    dialer: str | None = None
    application: str = ""
    application_data: str = ""
    announced: bool = False


@attrs.define(eq=False)
class _Session(Client[bytes]):
    codec: AmiCodec = attrs.field(factory=lambda: AmiCodec(expect_banner=False))


#: how many received actions a simulator keeps for tests to inspect
RECEIVED_KEPT = 10_000


class AmiSimulator(SimulatorServer[bytes, _Session]):
    """The AMI server (``adapter.simulator(switch)``), in the shell every simulator runs in
    (``cti_fsm.simulator_server``: ``url``, ``serve``, ``drop_link`` and the other faults).

    Args:
        switch: the switch model the server renders.
        technology: the channel technology of agents' devices (``PJSIP``).
        context: the dialplan context the Local channels of transfers name.
    """

    url_template = "tcp://{host}:{port}"
    tls_url_template = "tls://{host}:{port}"

    def __init__(
        self,
        switch: sw.Switch,
        adapter: Any = None,
        *,
        technology: str = "PJSIP",
        context: str = "default",
    ) -> None:
        # actions are read ahead of their answers being written: the adapter pipelines a
        # check-in's QueueAdds and its check_in returns on the first confirmation, so
        # answering each before reading the next lets it return before the switch has
        # every queue. A client that does not read is dropped at the backlog instead.
        super().__init__(switch, received_kept=RECEIVED_KEPT, backlog=_BACKLOG, reader_writes=False)
        self.tech = technology
        self.context = context
        self._channels: dict[tuple[str, str], _Channel] = {}
        self._bridges: dict[str, list[str]] = {}
        self._local: dict[str, tuple[_Channel, _Channel, str]] = {}
        self._spies: dict[str, str] = {}
        self._ids = itertools.count(1)
        self._epoch = int(time.time())
        self._outbox: list[Packet] = []
        self._acting = 0
        self._quiet = False

    @property
    def received(self) -> collections.deque[Packet]:
        """The latest actions received, the last ``RECEIVED_KEPT`` of them (bounded: a
        long-running simulator must not grow)."""
        return self._received

    # --- the connection ---------------------------------------------------------------------
    async def _open_link(
        self, stream: trio.SocketStream | trio.SSLStream[trio.SocketStream], nursery: trio.Nursery
    ) -> TcpLink | StreamLink:
        # over TLS (serve(ssl_context=...)) the link reads the TLS stream
        return TcpLink(stream) if isinstance(stream, trio.SocketStream) else StreamLink(stream)

    def _new_client(self, id: int, link: ClientLink[bytes], nursery: trio.Nursery) -> _Session:
        return _Session(id, link, nursery)

    def _malformed(self) -> bytes:
        """What ``send_malformed`` sends: a packet whose line is not ``Key: Value``."""
        return b"this line has no colon\r\n\r\n"

    def _client_opened(self, session: _Session) -> None:
        self._send(session, _BANNER)

    def _client_sent(self, session: _Session, data: bytes) -> bool:
        """Carry out the client's actions; False once it logged off."""
        for message in session.codec.feed(data):
            is_action = isinstance(message, dict) and "Action" in message
            if is_action and not self._action(session, message):  # type: ignore[arg-type]
                return False
        return True

    def _broadcast(self, packets: Sequence[Packet]) -> None:
        data = b"".join(encode_packet(p) for p in packets)
        if not data:
            return
        for session in self._logged_in_clients():
            self._send(session, data, event=True)

    def _reply(self, session: _Session, packet: Packet) -> None:
        self._send(session, encode_packet(packet))

    # --- actions ----------------------------------------------------------------------------
    def _action(self, session: _Session, action: Packet) -> bool:
        """Carry out one action; False ends the connection (Logoff)."""
        self.received.append(_hidden(action))
        name = str(action.get("Action", "")).lower()
        action_id = action.get("ActionID")
        head: Packet = {"ActionID": action_id} if action_id is not None else {}
        if session.agent is None and name not in ("login", "ping", "logoff"):
            self._reply(session, {"Response": "Error", **head, "Message": "Permission denied"})
            return True
        handler = _ACTIONS.get(name)
        if handler is None:
            self._reply(
                session, {"Response": "Error", **head, "Message": "Invalid/unknown command"}
            )
            return True
        self._acting += 1
        try:
            answer, after = handler(self, session, action)
        except sw.SwitchError as exc:
            answer, after = {"Response": "Error", "Message": exc.message}, []
        finally:
            self._acting -= 1
        self._reply(session, {"Response": answer.pop("Response", "Success"), **head, **answer})
        for packet in after:
            self._reply(session, {**packet, **head})
        self._flush()
        return name != "logoff"

    def _flush(self) -> None:
        if self._acting == 0 and self._outbox:
            packets, self._outbox = self._outbox, []
            self._broadcast(packets)

    def _agent_of(self, interface: Any) -> str:
        device = str(interface or "").removeprefix(f"{self.tech}/")
        agent = self.switch.agent_by_device(device)
        if agent is None:
            raise sw.SwitchError("unknown_agent", f"no member {interface!r}")
        return agent

    def _agent_of_channel(self, name: Any) -> str:
        for channel in self._channels.values():
            if channel.name == name:
                agent = self.switch.agent_by_device(channel.device)
                if agent is not None:
                    return agent
        raise sw.SwitchError("unknown_call", f"No such channel {name!r}")

    @contextmanager
    def _silently(self) -> Iterator[None]:
        self._quiet = True
        try:
            yield
        finally:
            self._quiet = False

    def _regroup(self, agent: str, groups: Sequence[str]) -> None:
        """Sign ``agent`` in to exactly ``groups`` without telling anyone (see the module)."""
        info = self.switch.agent_info(agent)
        with self._silently():
            self.switch.check_out(agent)
            if groups:
                self.switch.check_in(agent, groups)
                if not info.ready:
                    self.switch.pause(agent, info.reason)

    # --- switch events to AMI ---------------------------------------------------------------
    def _on_switch_events(self, events: Sequence[sw.SwitchEvent]) -> None:
        if self._quiet:
            return
        checked_in = {e.agent for e in events if isinstance(e, sw.AgentCheckedIn)}
        for event in events:
            render = _RENDER.get(type(event))
            if render is None:
                continue
            if isinstance(event, sw.AgentReady) and event.agent in checked_in:
                continue  # QueueMemberAdded already says "not paused"
            if isinstance(event, sw.AgentReady) and event.ended_wrap_up and not self._acting:
                # app_queue's wrapuptime ends with no event: it just offers calls again
                # (a QueuePause that ended it still says so, as any QueuePause does)
                continue
            self._outbox.extend(render(self, event))
        self._flush()

    def _interface(self, device: str) -> str:
        return f"{self.tech}/{device}"

    def _member(self, agent: str, queue: str, **extra: Any) -> Packet:
        info = self.switch.agent_info(agent)
        return {
            "Queue": queue,
            "MemberName": agent,
            "Interface": self._interface(info.device),
            "StateInterface": self._interface(info.device),
            "Membership": "dynamic",
            "Penalty": "0",
            "CallsTaken": "0",
            "Status": "2" if self.switch.call_of(agent) else "1",
            "Paused": "0" if info.ready else "1",
            "PausedReason": info.reason or "",
            **extra,
        }

    def _channel(self, call: str, device: str, *, caller_id: str | None = None) -> _Channel:
        key = (call, device)
        found = self._channels.get(key)
        if found is None:
            n = next(self._ids)
            owner = self.switch.agent_by_device(device)
            base = self._interface(device) if owner is not None else f"{self.tech}/trunk"
            linked = next((c.linkedid for (k, _), c in self._channels.items() if k == call), None)
            uid = f"{self._epoch}.{n}"
            found = _Channel(f"{base}-{n:08x}", uid, linked or uid, device, caller_id or device)
            self._channels[key] = found
        return found

    def _fields(self, c: _Channel, prefix: str = "") -> Packet:
        return {
            f"{prefix}Channel": c.name,
            f"{prefix}ChannelState": c.state,
            f"{prefix}ChannelStateDesc": _STATE_DESC.get(c.state, "Unknown"),
            f"{prefix}CallerIDNum": c.caller_id,
            f"{prefix}Uniqueid": c.uid,
            f"{prefix}Linkedid": c.linkedid,
        }

    def _new(self, c: _Channel, state: str = "0") -> list[Packet]:
        c.state = state
        c.announced = True
        return [{"Event": "Newchannel", **self._fields(c)}]

    def _newstate(self, c: _Channel, state: str) -> list[Packet]:
        c.state = state
        return [{"Event": "Newstate", **self._fields(c)}]

    def _enter(self, c: _Channel, bridge: str) -> list[Packet]:
        out = self._leave(c) if c.bridge not in (None, bridge) else []
        if c.bridge == bridge:
            return out
        members = self._bridges.setdefault(bridge, [])
        members.append(c.name)
        c.bridge = bridge
        return [
            *out,
            {
                "Event": "BridgeEnter",
                "BridgeUniqueid": bridge,
                "BridgeType": "basic",
                "BridgeTechnology": "simple_bridge",
                "BridgeNumChannels": str(len(members)),
                **self._fields(c),
            },
        ]

    def _leave(self, c: _Channel) -> list[Packet]:
        bridge = c.bridge
        if bridge is None:
            return []
        members = self._bridges.get(bridge, [])
        if c.name in members:
            members.remove(c.name)
        c.bridge = None
        out: list[Packet] = [
            {
                "Event": "BridgeLeave",
                "BridgeUniqueid": bridge,
                "BridgeType": "basic",
                "BridgeTechnology": "simple_bridge",
                "BridgeNumChannels": str(len(members)),
                **self._fields(c),
            }
        ]
        if not members:
            self._bridges.pop(bridge, None)
            out.append({"Event": "BridgeDestroy", "BridgeUniqueid": bridge})
        return out

    def _hangup(self, c: _Channel, cause: str = "normal") -> list[Packet]:
        out = self._leave(c)
        code, text = _CAUSES.get(cause, _CAUSES["normal"])
        out.append({"Event": "Hangup", **self._fields(c), "Cause": code, "Cause-txt": text})
        for key, each in list(self._channels.items()):
            if each is c:
                del self._channels[key]
        return out

    def _dial_begin(self, dialer: _Channel | None, target: _Channel) -> list[Packet]:
        target.dialer = dialer.name if dialer else None
        caller = self._fields(dialer) if dialer else {}
        return [
            {
                "Event": "DialBegin",
                **caller,
                **self._fields(target, "Dest"),
                "DialString": target.device,
            }
        ]

    def _dial_end(self, target: _Channel, status: str) -> list[Packet]:
        if target.dialer is None and status != "ANSWER":
            return []
        dialer = next((c for c in self._channels.values() if c.name == target.dialer), None)
        caller = self._fields(dialer) if dialer else {}
        target.dialer = None
        return [
            {"Event": "DialEnd", **caller, **self._fields(target, "Dest"), "DialStatus": status}
        ]

    def _queue_of(self, call: str) -> str:
        """The queue an ACD call came through ("" if none or gone)."""
        try:
            return self.switch.call(call).group or ""
        except sw.SwitchError:
            return ""

    def _bridge_id(self, call: str) -> str:
        return f"b-{self._epoch}-{call}"

    def _caller_of(self, call: str, but: str) -> _Channel | None:
        """The channel that dials in ``call``: the first one other than ``but``'s."""
        for (k, device), c in self._channels.items():
            if k == call and device != but:
                return c
        return None


# --- rendering, one function per switch event ---------------------------------------------------
def _checked_in(s: AmiSimulator, e: sw.AgentCheckedIn) -> list[Packet]:
    return [{"Event": "QueueMemberAdded", **s._member(e.agent, g)} for g in e.groups]


def _checked_out(s: AmiSimulator, e: sw.AgentCheckedOut) -> list[Packet]:
    return [{"Event": "QueueMemberRemoved", **s._member(e.agent, g, Paused="0")} for g in e.groups]


def _pause(s: AmiSimulator, e: sw.AgentReady | sw.AgentNotReady) -> list[Packet]:
    info = s.switch.agent_info(e.agent)
    return [{"Event": "QueueMemberPause", **s._member(e.agent, g)} for g in info.checked_in]


def _queued(s: AmiSimulator, e: sw.CallQueued) -> list[Packet]:
    if (e.call, e.calling) in s._channels:
        return []  # back in the queue after an agent declined
    c = s._channel(e.call, e.calling)
    return [
        *s._new(c, "4"),
        *s._newstate(c, "6"),
        {"Event": "QueueCallerJoin", **s._fields(c), "Queue": e.group, "Position": "1"},
    ]


def _initiated(s: AmiSimulator, e: sw.CallInitiated) -> list[Packet]:
    if e.consultation_of is not None:
        # Atxfer: the transferer's own channel is reused for the consultation
        own = s._channels.get((e.consultation_of, e.device))
        if own is not None:
            s._channels[(e.call, e.device)] = own
            return []
    c = s._channel(e.call, e.device)
    return s._new(c, "4")


def _originated(s: AmiSimulator, e: sw.CallOriginated) -> list[Packet]:
    mine = s._channel(e.call, e.device)
    target = s._channel(e.call, e.called, caller_id=e.called)
    if e.consultation_of is None:
        return [*s._new(target), *s._dial_begin(mine, target)]
    # a Local channel pair reaches the target; the transferer talks to its first half
    n = next(s._ids)
    one = _Channel(
        f"Local/{e.called}@{s.context}-{n:08x};1", f"{s._epoch}.{n}a", mine.linkedid, "", e.called
    )
    two = _Channel(
        f"Local/{e.called}@{s.context}-{n:08x};2", f"{s._epoch}.{n}b", mine.linkedid, "", e.called
    )
    bridge = s._bridge_id(e.call)
    s._local[e.call] = (one, two, bridge)
    s._channels[(e.call, f"local;1:{n}")] = one
    s._channels[(e.call, f"local;2:{n}")] = two
    return [
        *s._new(one),
        *s._new(two, "4"),
        {
            "Event": "LocalBridge",
            "LocalOneChannel": one.name,
            "LocalTwoChannel": two.name,
            "LocalOptimization": "Yes",
        },
        *s._enter(mine, bridge),
        *s._enter(one, bridge),
        *s._new(target),
        *s._dial_begin(two, target),
    ]


def _alerting(s: AmiSimulator, e: sw.LegAlerting) -> list[Packet]:
    out: list[Packet] = []
    c = s._channel(e.call, e.device, caller_id=e.called)
    if not c.announced:
        out += s._new(c)
    if c.dialer is None:
        caller = s._caller_of(e.call, e.device)
        if e.via == "group" and e.agent is not None and caller is not None:
            out.append(
                {
                    "Event": "AgentCalled",
                    **s._fields(caller),
                    **s._fields(c, "Dest"),
                    "Queue": e.group,
                    "MemberName": e.agent,
                    "Interface": s._interface(e.device),
                }
            )
        out += s._dial_begin(caller, c)
    return [*out, *s._newstate(c, "5")]


def _answered(s: AmiSimulator, e: sw.LegAnswered) -> list[Packet]:
    c = s._channel(e.call, e.device)
    dialer = c.dialer
    out = s._newstate(c, "6")
    local = s._local.get(e.call)
    out += s._dial_end(c, "ANSWER")
    if local is not None:
        one, two, bridge = local
        out += [
            {
                "Event": "LocalOptimizationBegin",
                "LocalOneChannel": one.name,
                "LocalTwoChannel": two.name,
                "SourceChannel": c.name,
            }
        ]
        out += s._enter(c, bridge)
        out += s._leave(one)
        out += [
            {
                "Event": "LocalOptimizationEnd",
                "LocalOneChannel": one.name,
                "LocalTwoChannel": two.name,
            }
        ]
        out += s._hangup(one) + s._hangup(two)
        del s._local[e.call]
        return out
    bridge = s._bridge_id(e.call)
    for (k, _), other in list(s._channels.items()):
        if k != e.call or other is c or other.bridge is not None:
            continue
        if other.name == dialer:
            # the channel that dialled is answered too (Ring -> Up), as Asterisk's is
            if other.state != "6":
                out += s._newstate(other, "6")
            out += s._enter(other, bridge)
        elif other.state == "6":
            out += s._enter(other, bridge)
    out += s._enter(c, bridge)
    if e.agent is not None:
        info = s.switch.call(e.call)
        if info.group is not None and info.origin == "inbound":
            caller = s._caller_of(e.call, e.device)
            out.append(
                {
                    "Event": "AgentConnect",
                    **(s._fields(caller) if caller else {}),
                    **s._fields(c, "Dest"),
                    "Queue": info.group,
                    "MemberName": e.agent,
                    "Interface": s._interface(e.device),
                    "HoldTime": "0",
                    "RingTime": "1",
                }
            )
    return out


def _held(s: AmiSimulator, e: sw.LegHeld) -> list[Packet]:
    c = s._channel(e.call, e.device)
    if not e.consultation:
        return [{"Event": "Hold", **s._fields(c), "MusicClass": "default"}]
    others = [s._channels[k] for k in list(s._channels) if k[0] == e.call and k[1] != e.device]
    return [
        *s._leave(c),
        *({"Event": "MusicOnHoldStart", **s._fields(o), "Class": "default"} for o in others),
    ]


def _retrieved(s: AmiSimulator, e: sw.LegRetrieved) -> list[Packet]:
    c = s._channel(e.call, e.device)
    if c.bridge is not None:
        return [{"Event": "Unhold", **s._fields(c)}]
    others = [s._channels[k] for k in list(s._channels) if k[0] == e.call and k[1] != e.device]
    out = [{"Event": "MusicOnHoldStop", **s._fields(o)} for o in others]
    return [*out, *s._enter(c, s._bridge_id(e.call))]


def _cleared(s: AmiSimulator, e: sw.LegCleared) -> list[Packet]:
    c = s._channels.get((e.call, e.device))
    if c is None:
        return []
    out: list[Packet] = []
    if c.state != "6":
        if e.cause == "ring_no_answer" and e.agent is not None:
            # app_queue reports the member that rang out before it hangs its channel up
            caller = s._caller_of(e.call, e.device)
            out.append(
                {
                    "Event": "AgentRingNoAnswer",
                    **(s._fields(caller) if caller else {}),
                    **s._fields(c, "Dest"),
                    "Queue": s._queue_of(e.call),
                    "Interface": s._interface(e.device),
                    "MemberName": e.agent,
                    "RingTime": "15",
                }
            )
        status = "CANCEL" if e.cause in ("normal", "logout", "forced_logout") else None
        out += s._dial_end(c, status or _DIAL_STATUS.get(e.cause, "CANCEL"))
    info_group = None
    try:
        info = s.switch.call(e.call)
        info_group = info.group if info.origin == "inbound" else None
    except sw.SwitchError:
        pass
    shared = [k for k, v in s._channels.items() if v is c]
    if len(shared) > 1:  # the transferer's channel, used by two calls: only leave this one
        del s._channels[(e.call, e.device)]
        local = s._local.pop(e.call, None)
        if local is not None:
            out += s._hangup(local[0]) + s._hangup(local[1])
        return [*out, *s._leave(c)]
    if c.state == "6" and e.agent is not None and info_group is not None:
        out.append(
            {
                "Event": "AgentComplete",
                **s._fields(c),
                "Queue": info_group,
                "Interface": s._interface(e.device),
                "MemberName": e.agent,
                "Reason": "agent",
                "TalkTime": "1",
                "HoldTime": "0",
            }
        )
    spied = s._spies.pop(c.name, None)
    if spied is not None:
        out.append({"Event": "ChanSpyStop", "SpyerChannel": c.name, "SpyeeChannel": spied})
    local = s._local.pop(e.call, None)
    if local is not None:
        out += s._hangup(local[0]) + s._hangup(local[1])
    return [*out, *s._hangup(c, e.cause)]


def _failed(s: AmiSimulator, e: sw.CallFailed) -> list[Packet]:
    c = s._channels.get((e.call, e.device))
    if c is None:
        return []
    # the unreachable party's channel ends with its dial, as Asterisk hangs it up
    status = _DIAL_STATUS.get(e.cause, "CHANUNAVAIL")
    return [*s._dial_end(c, status), *s._hangup(c, e.cause)]


def _transferred(s: AmiSimulator, e: sw.CallTransferred) -> list[Packet]:
    mine = s._channels.get((e.primary, e.transferring))
    if mine is None:
        return []
    if e.kind == "single_step":
        out = [
            {
                "Event": "BlindTransfer",
                "Result": "Success",
                **s._fields(mine, "Transferer"),
                "TransfererChannel": mine.name,
                "BridgeUniqueid": s._bridge_id(e.primary),
                "Context": s.context,
                "Extension": e.target,
                "IsExternal": "No",
            }
        ]
        return [*out, *s._hangup(mine)]
    out = [
        {
            "Event": "AttendedTransfer",
            "Result": "Success",
            "OrigTransfererChannel": mine.name,
            "OrigBridgeUniqueid": s._bridge_id(e.primary),
            "SecondTransfererChannel": mine.name,
            "DestType": "Bridge",
            "SecondTransfererConnectedLineNum": e.target,
        }
    ]
    for device, old, new in e.moved:
        moved = s._channels.pop((old, device), None)
        if moved is not None:
            s._channels[(new, device)] = moved
            out += s._enter(moved, s._bridge_id(new))
    for key in [k for k, v in s._channels.items() if v is mine]:
        del s._channels[key]
    s._local.pop(e.secondary or "", None)
    return [*out, *s._hangup(mine)]


def _conferenced(s: AmiSimulator, e: sw.CallConferenced) -> list[Packet]:
    if e.kind == "listen":
        spyer = s._channel(e.call, e.added)
        spyer.application = "ChanSpy"
        spyee = next(
            (
                s._channels[(e.call, d)]
                for d, silent in e.parties
                if not silent
                and (e.call, d) in s._channels
                and s.switch.agent_by_device(d) is not None
                and d != e.added
            ),
            None,
        )
        out = [*s._new(spyer), *s._newstate(spyer, "6")]
        if spyee is not None:
            s._spies[spyer.name] = spyee.name
            # ChanSpy's argument, as CoreShowChannels lists it: the spied device's prefix
            spyer.application_data = f"{spyee.name.rsplit('-', 1)[0]}-,qdE"
            out.append(
                {
                    "Event": "ChanSpyStart",
                    **s._fields(spyer, "Spyer"),
                    "SpyerChannel": spyer.name,
                    **s._fields(spyee, "Spyee"),
                    "SpyeeChannel": spyee.name,
                }
            )
        return out
    if e.kind == "barge_in":
        return []  # a DTMF mode switch inside ChanSpy: nothing on AMI
    # the consultation is merged into the call: its channels now belong to the call alone
    # (a copy left under the consultation would make _cleared take the agent's channel for
    # one shared by two calls, and never write its Hangup)
    if e.secondary is not None and e.secondary != e.call:
        for key in [k for k in s._channels if k[0] == e.secondary]:
            moved = s._channels.pop(key)
            s._channels.setdefault((e.call, key[1]), moved)
        local = s._local.pop(e.secondary, None)
        if local is not None:
            s._local.setdefault(e.call, local)
    out = []
    for device, _ in e.parties:
        c = s._channels.get((e.call, device))
        if c is not None:
            out += s._enter(c, s._bridge_id(e.call))
    return out


def _digits(s: AmiSimulator, e: sw.DigitsSent) -> list[Packet]:
    peer = next((c for (k, d), c in s._channels.items() if k == e.call and d != e.device), None)
    if peer is None:
        return []
    out: list[Packet] = []
    for digit in e.digits:
        out.append({"Event": "DTMFBegin", **s._fields(peer), "Digit": digit, "Direction": "Sent"})
        out.append(
            {
                "Event": "DTMFEnd",
                **s._fields(peer),
                "Digit": digit,
                "DurationMs": "100",
                "Direction": "Sent",
            }
        )
    return out


_RENDER: Mapping[type, Callable[[AmiSimulator, Any], list[Packet]]] = {
    sw.AgentCheckedIn: _checked_in,
    sw.AgentCheckedOut: _checked_out,
    sw.AgentReady: _pause,
    sw.AgentNotReady: _pause,
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


# --- actions, one function per AMI action --------------------------------------------------
Result = tuple[Packet, list[Packet]]

#: the keys of an action whose values are secrets (a Login's password, an MD5 login's key)
_SECRET_KEYS = frozenset({"secret", "key"})


def _hidden(action: Packet) -> Packet:
    """``action`` as ``received`` keeps it: secrets shown as ``***``."""
    if not any(k.lower() in _SECRET_KEYS for k in action):
        return action
    return {k: REDACTED if k.lower() in _SECRET_KEYS else v for k, v in action.items()}


def _login(s: AmiSimulator, session: _Session, a: Packet) -> Result:
    agent = str(a.get("Username", ""))
    try:
        s.switch.login(agent, str(a.get("Secret", "")))
    except sw.SwitchError:
        return {"Response": "Error", "Message": "Authentication failed"}, []
    s._log_in(session, agent)
    return {"Message": "Authentication accepted"}, []


def _logoff(s: AmiSimulator, session: _Session, a: Packet) -> Result:
    if session.agent is not None:
        with suppress(sw.SwitchError):
            s.switch.logout(session.agent)
    return {"Response": "Goodbye", "Message": "Thanks for all the fish."}, []


def _ping(s: AmiSimulator, session: _Session, a: Packet) -> Result:
    return {"Ping": "Pong", "Timestamp": f"{time.time():.6f}"}, []


def _queue_add(s: AmiSimulator, session: _Session, a: Packet) -> Result:
    agent, queue = s._agent_of(a.get("Interface")), str(a.get("Queue", ""))
    info = s.switch.agent_info(agent)
    if queue in info.checked_in:
        return {"Response": "Error", "Message": "Unable to add interface: Already there"}, []
    if queue not in s.switch.group_ids:
        return {
            "Response": "Error",
            "Message": "Unable to add interface to queue: No such queue",
        }, []
    if not info.checked_in:
        s.switch.check_in(agent, [queue])
    else:
        s._regroup(agent, [*info.checked_in, queue])
        s._outbox.append({"Event": "QueueMemberAdded", **s._member(agent, queue)})
    return {"Message": "Added interface to queue"}, []


def _queue_remove(s: AmiSimulator, session: _Session, a: Packet) -> Result:
    agent, queue = s._agent_of(a.get("Interface")), str(a.get("Queue", ""))
    info = s.switch.agent_info(agent)
    if queue not in info.checked_in:
        return {"Response": "Error", "Message": "Unable to remove interface: Not there"}, []
    if session.agent != agent:
        s.switch.force_logout(str(session.agent), agent)
    elif info.checked_in == (queue,):
        s.switch.check_out(agent)
    else:
        s._regroup(agent, [g for g in info.checked_in if g != queue])
        s._outbox.append({"Event": "QueueMemberRemoved", **s._member(agent, queue)})
    return {"Message": "Removed interface from queue"}, []


def _queue_pause(s: AmiSimulator, session: _Session, a: Packet) -> Result:
    agent = s._agent_of(a.get("Interface"))
    by = session.agent if session.agent != agent else None
    if str(a.get("Paused", "")).lower() in ("true", "1", "yes"):
        s.switch.pause(agent, a.get("Reason") or None, by=by)
    else:
        s.switch.restore(agent, by=by)
    return {"Message": "Interface paused successfully"}, []


def _originate(s: AmiSimulator, session: _Session, a: Packet) -> Result:
    agent = s._agent_of(a.get("Channel"))
    if agent != session.agent:
        raise sw.SwitchError("no_rights", "Originate of another member's device")
    try:
        if a.get("Application") == "ChanSpy":
            spied = str(a.get("Data", "")).split(",", 1)[0].rstrip("-")
            s.switch.listen(agent, s._agent_of(spied))
        else:
            s.switch.dial(agent, str(a.get("Exten", "")))
    except sw.SwitchError as exc:
        fail = {
            "Event": "OriginateResponse",
            "Response": "Failure",
            "Channel": a.get("Channel"),
            "Reason": "0",
            "Message": exc.message,
        }
        return {"Message": "Originate successfully queued"}, [fail]
    return {"Message": "Originate successfully queued"}, []


def _hangup_action(s: AmiSimulator, session: _Session, a: Packet) -> Result:
    agent = s._agent_of_channel(a.get("Channel"))
    if s.switch.consultation_of(agent) is not None:
        # the transferer hanging up completes an attended transfer
        s.switch.complete_transfer(agent)
    else:
        s.switch.hangup(agent)
    return {"Message": "Channel Hungup"}, []


def _blind_transfer(s: AmiSimulator, session: _Session, a: Packet) -> Result:
    s.switch.transfer(s._agent_of_channel(a.get("Channel")), str(a.get("Exten", "")))
    return {"Message": "Transfer succeeded"}, []


def _atxfer(s: AmiSimulator, session: _Session, a: Packet) -> Result:
    s.switch.consult(s._agent_of_channel(a.get("Channel")), str(a.get("Exten", "")))
    return {"Message": "Atxfer successfully queued"}, []


def _cancel_atxfer(s: AmiSimulator, session: _Session, a: Packet) -> Result:
    s.switch.cancel_consult(s._agent_of_channel(a.get("Channel")))
    return {"Message": "CancelAtxfer successfully queued"}, []


def _play_dtmf(s: AmiSimulator, session: _Session, a: Packet) -> Result:
    digit = str(a.get("Digit", ""))
    name = a.get("Channel")
    if str(a.get("Receive", "")).lower() == "true" and name in s._spies and digit == "6":
        s.switch.barge_in(s._agent_of_channel(name))
        return {"Message": "DTMF successfully queued"}, []
    if not any(c.name == name for c in s._channels.values()):
        raise sw.SwitchError("unknown_call", "No such channel")
    s.switch.send_dtmf(str(session.agent), digit)
    return {"Message": "DTMF successfully queued"}, []


def _bridge(s: AmiSimulator, session: _Session, a: Packet) -> Result:
    name = a.get("Channel2")
    supervisor = s._agent_of_channel(name)
    s.switch.take_over(supervisor)
    # the supervisor's channel leaves ChanSpy and joins the customer's bridge
    mine = next((k for k, c in s._channels.items() if c.name == name), None)
    if mine is not None:
        c = s._channels[mine]
        c.application = "Bridge"
        spied = s._spies.pop(c.name, None)
        if spied is not None:
            s._outbox.append(
                {"Event": "ChanSpyStop", "SpyerChannel": c.name, "SpyeeChannel": spied}
            )
        s._outbox.extend(s._enter(c, s._bridge_id(mine[0])))
    return {"Message": "Channels have been bridged"}, []


def _queue_summary(s: AmiSimulator, session: _Session, a: Packet) -> Result:
    rows = []
    agents = [s.switch.agent_info(x) for x in s.switch.agent_ids]
    for group in s.switch.group_ids:
        members = [x for x in agents if group in x.checked_in]
        waiting = [c for c in s.switch.calls() if c.queued and c.group == group]
        rows.append(
            {
                "Event": "QueueSummary",
                "Queue": group,
                "LoggedIn": str(len(members)),
                "Available": str(sum(x.situation == "ready" for x in members)),
                "Callers": str(len(waiting)),
                "HoldTime": "0",
                "TalkTime": "0",
            }
        )
    end = {"Event": "QueueSummaryComplete", "EventList": "Complete", "ListItems": str(len(rows))}
    return {"EventList": "start", "Message": "Queue summary will follow"}, [*rows, end]


def _queue_status(s: AmiSimulator, session: _Session, a: Packet) -> Result:
    member = a.get("Member")
    rows: list[Packet] = []
    for group in s.switch.group_ids:
        rows.append({"Event": "QueueParams", "Queue": group, "Max": "0", "Strategy": "rrmemory"})
        for agent in s.switch.agent_ids:
            info = s.switch.agent_info(agent)
            iface = s._interface(info.device)
            if group not in info.checked_in or member not in (None, iface):
                continue
            status = {"ringing": "6", "held": "8"}.get(
                info.situation, "2" if s.switch.call_of(agent) else "1"
            )
            rows.append(
                {
                    "Event": "QueueMember",
                    "Queue": group,
                    "Name": agent,
                    "Location": iface,
                    "StateInterface": iface,
                    "Membership": "dynamic",
                    "Penalty": "0",
                    "CallsTaken": "0",
                    "InCall": "0",
                    "Status": status,
                    "Paused": "0" if info.ready else "1",
                    "PausedReason": info.reason or "",
                }
            )
    end = {"Event": "QueueStatusComplete", "EventList": "Complete", "ListItems": str(len(rows))}
    return {"EventList": "start", "Message": "Queue status will follow"}, [*rows, end]


def _core_show_channels(s: AmiSimulator, session: _Session, a: Packet) -> Result:
    seen: set[int] = set()
    rows = []
    for c in s._channels.values():
        if id(c) in seen:
            continue
        seen.add(id(c))
        rows.append(
            {
                "Event": "CoreShowChannel",
                **s._fields(c),
                "BridgeId": c.bridge or "",
                "Application": c.application or ("AppDial" if c.dialer else "Dial"),
                "ApplicationData": c.application_data,
                "Duration": "00:00:01",
            }
        )
    end = {
        "Event": "CoreShowChannelsComplete",
        "EventList": "Complete",
        "ListItems": str(len(rows)),
    }
    return {"EventList": "start", "Message": "Channels will follow"}, [*rows, end]


_ACTIONS: Mapping[str, Callable[[AmiSimulator, _Session, Packet], Result]] = {
    "login": _login,
    "logoff": _logoff,
    "ping": _ping,
    "queueadd": _queue_add,
    "queueremove": _queue_remove,
    "queuepause": _queue_pause,
    "originate": _originate,
    "hangup": _hangup_action,
    "blindtransfer": _blind_transfer,
    "atxfer": _atxfer,
    "cancelatxfer": _cancel_atxfer,
    "playdtmf": _play_dtmf,
    "bridge": _bridge,
    "queuesummary": _queue_summary,
    "queuestatus": _queue_status,
    "coreshowchannels": _core_show_channels,
}
