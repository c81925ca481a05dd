"""What one agent's calls look like on an Asterisk, followed from the AMI event stream.

AMI reports channels, dials and bridges, not "the agent's call": this module keeps the
little state needed to say, for each event, whose channel it names. It is sans-IO and
knows nothing of the chart; the protocol turns what it finds into ``cti.*`` facts that the
vendor map matches on.

- An **agent channel** is one whose name starts with the agent's device and a dash
  (``PJSIP/1001-0000002a`` for ``PJSIP/1001``): a stateless test, so an agent's channel is
  recognised even in the middle of a recorded stream. Renamed ghosts of Asterisk 11
  masquerades (``...<ZOMBIE>``, ``...<MASQ>``) are not live channels.
- A **peer** is a channel linked to an agent channel by a dial or a bridge; the two halves
  of a Local channel (``;1``/``;2``) are linked to each other. A peer that appears while a
  consultation runs is a **consult** peer.
- **Bridges** (12+) are followed for every channel, because the agent's bridge can be
  entered by the other party before the agent's channel arrives. Entries go when channels
  leave or hang up; a cap keeps a stream with lost events from growing the tables.
- A bridge an agent channel **left** while others stayed in it (the customer's, when a
  consultation starts) is remembered until the channel goes back, the bridge goes or the
  channel hangs up, so its return there (taking the held customer back) can be told from
  a new call.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["AGENT", "CHANNEL_FIELDS", "CONSULT", "PEER", "TRACKED_EVENTS", "CallTracker"]

AGENT = "agent"
PEER = "peer"
CONSULT = "consult"

#: Fields that name a channel, whose role the map can ask for as ``cti.<field>``.
CHANNEL_FIELDS = (
    "Channel",
    "DestChannel",
    "Destination",
    "Channel1",
    "Channel2",
    "TransfererChannel",
    "OrigTransfererChannel",
    "SecondTransfererChannel",
    "SpyerChannel",
    "SpyeeChannel",
)
_GHOST_SUFFIXES = ("<ZOMBIE>", "<MASQ>")
#: Bound on the tables, far above what one Asterisk carries at once.
_MAX_BRIDGES = 20_000
_MAX_PEERS = 64
_MAX_OWN = 16


def _twin(name: str) -> str | None:
    if name.startswith("Local/") and name[-2:] in (";1", ";2"):
        return name[:-1] + ("2" if name.endswith("1") else "1")
    return None


class CallTracker:
    """Channels, peers and bridges as they concern one agent.

    Args:
        device: the agent's device (``PJSIP/1001``); ``None`` until known.
    """

    __slots__ = (
        "_bridge_of",
        "_left",
        "_legs",
        "_members",
        "_own",
        "_peers",
        "consulting",
        "device",
        "optimizing",
        "rang",
    )

    def __init__(self, device: str | None) -> None:
        self.device = device
        #: agent channel name -> unique id, oldest first
        self._own: dict[str, str] = {}
        #: peer channel name -> its role (peer or consult), oldest first
        self._peers: dict[str, str] = {}
        self._bridge_of: dict[str, str] = {}
        self._members: dict[str, set[str]] = {}
        #: (agent channel, bridge) it left while others stayed there, oldest first
        self._left: dict[tuple[str, str], None] = {}
        self.consulting = False
        #: Local channel halves being optimized away (12+): they are no party, until gone
        self.optimizing: set[str] = set()
        #: agent channel -> the legs its dial is still ringing (a ring group dials several
        #: at once: the dial fails when the last one does)
        self._legs: dict[str, set[str]] = {}
        #: the far end of the agent's current dial has rung (said once per dial)
        self.rang = False

    # --- reading ----------------------------------------------------------------------------
    def is_agent(self, channel: Any) -> bool:
        """True if ``channel`` is a live channel of the agent's device."""
        if not isinstance(channel, str) or self.device is None:
            return False
        return channel.startswith(self.device + "-") and not channel.endswith(_GHOST_SUFFIXES)

    def role(self, channel: Any) -> str | None:
        """``agent``, ``peer``, ``consult`` or None for the channel named."""
        if self.is_agent(channel):
            return AGENT
        if isinstance(channel, str) and channel not in self.optimizing:
            return self._peers.get(channel)
        return None

    @property
    def channel(self) -> str | None:
        """The agent's current channel: the newest live one."""
        return next(reversed(self._own), None)

    @property
    def channels(self) -> tuple[str, ...]:
        """The agent's live channels, oldest first."""
        return tuple(self._own)

    @property
    def peer(self) -> str | None:
        """The party the agent talks to: a peer in the agent's bridge, else the newest peer
        that is not part of a consultation."""
        bridge = self.bridge_of(self.channel)
        if bridge is not None:
            for name in reversed(self._peers):
                if name in self._members.get(bridge, ()):
                    return name
        for name, role in reversed(self._peers.items()):
            if role == PEER:
                return name
        return next(reversed(self._peers), None)

    def legs_left(self, channel: Any) -> int:
        """How many legs of ``channel``'s dial still ring (after the event observed)."""
        return len(self._legs.get(channel, ())) if isinstance(channel, str) else 0

    def bridge_of(self, channel: str | None) -> str | None:
        """The bridge ``channel`` is in, if known."""
        return None if channel is None else self._bridge_of.get(channel)

    def members(self, bridge: str | None) -> frozenset[str]:
        """The channels known to be in ``bridge``."""
        return frozenset(self._members.get(bridge, ())) if bridge is not None else frozenset()

    def in_agent_bridge(self, bridge: Any) -> bool:
        """True if one of the agent's channels is in ``bridge``."""
        return isinstance(bridge, str) and any(
            self.is_agent(c) for c in self._members.get(bridge, ())
        )

    def parties(self, bridge: Any, reported: Any = None) -> int:
        """How many parties ``bridge`` joins: the count Asterisk reported (or the members
        known), less Local channel halves being optimized away."""
        members = self._members.get(bridge, set()) if isinstance(bridge, str) else set()
        readable = isinstance(reported, str) and reported.isdecimal() and len(reported) < 10
        count = int(reported) if readable else len(members)
        return count - len(members & self.optimizing)

    def returns_to(self, channel: Any, bridge: Any) -> bool:
        """True if agent ``channel`` entering ``bridge`` goes back to a bridge it left while
        others stayed in it (the held customer's); ask before ``observe`` sees the entry."""
        return (
            isinstance(channel, str) and isinstance(bridge, str) and (channel, bridge) in self._left
        )

    def others_in_bridge_of(self, channel: str) -> list[str]:
        """The other channels in ``channel``'s bridge (the spied agent's customer, say)."""
        bridge = self._bridge_of.get(channel)
        return sorted(c for c in self._members.get(bridge, ()) if c != channel) if bridge else []

    # --- learning ---------------------------------------------------------------------------
    def observe(self, event: str, message: Mapping[str, Any]) -> None:
        """Update the tables from one event (call after reading roles for it)."""
        handler = _HANDLERS.get(event)
        if handler is not None:
            handler(self, message)
        for field in ("Channel", "DestChannel", "Destination", "Channel1", "Channel2"):
            name = message.get(field)
            if isinstance(name, str) and self.is_agent(name) and event != "Hangup":
                self._own_add(name, message.get("Uniqueid") or message.get("UniqueID") or "")

    def restore(self, channels: Iterable[Mapping[str, Any]]) -> None:
        """Rebuild the tables from a ``CoreShowChannels`` listing (after a reconnect)."""
        self._own.clear()
        self._peers.clear()
        self._left.clear()
        for row in channels:
            name = row.get("Channel")
            bridge = row.get("BridgeId") or row.get("BridgeID")
            if isinstance(name, str) and isinstance(bridge, str) and bridge:
                self._enter(bridge, name)
            if isinstance(name, str) and self.is_agent(name):
                self._own_add(name, str(row.get("Uniqueid") or row.get("UniqueID") or ""))
                linked = row.get("BridgedChannel")  # Asterisk 11
                if isinstance(linked, str) and linked and linked != "<none>":
                    self._peer_add(linked)
        self.consulting = False
        rows = [r for r in channels if isinstance(r.get("Channel"), str)]
        linked = {r.get("Linkedid") for r in rows if self.is_agent(r["Channel"])} - {None, ""}
        mine = self.channel
        here = self.bridge_of(mine)
        # a party of the agent's call waiting in another bridge is the customer the agent
        # left for a consultation (held): the agent may go back there
        apart = [
            r
            for r in rows
            if not self.is_agent(r["Channel"])
            and r.get("Linkedid") in linked
            and self._bridge_of.get(r["Channel"]) not in (None, here)
        ]
        for r in apart:
            self._peer_add(r["Channel"])
            if mine is not None:
                self._left[(mine, self._bridge_of[r["Channel"]])] = None
        if apart:
            # whoever else is with the agent, or still being dialled, is the consulted party
            others = [
                r["Channel"]
                for r in rows
                if not self.is_agent(r["Channel"])
                and r not in apart
                and (
                    (here is not None and self._bridge_of.get(r["Channel"]) == here)
                    or (r.get("Linkedid") in linked and r["Channel"] not in self._bridge_of)
                )
            ]
            self.consulting = bool(others)
            for name in others:
                self._peer_add(name)
        for name in self._own:
            for other in self.others_in_bridge_of(name):
                if not self.is_agent(other):
                    self._peer_add(other)

    def _own_add(self, name: str, unique_id: str) -> None:
        if name not in self._own:
            self._own[name] = unique_id
            while len(self._own) > _MAX_OWN:
                del self._own[next(iter(self._own))]

    def _peer_add(self, name: Any) -> None:
        if not isinstance(name, str) or not name or self.is_agent(name) or name in self._peers:
            return
        self._peers[name] = CONSULT if self.consulting else PEER
        twin = _twin(name)
        if twin is not None and twin not in self._peers:
            self._peers[twin] = self._peers[name]
        while len(self._peers) > _MAX_PEERS:
            del self._peers[next(iter(self._peers))]

    def _link(self, a: Any, b: Any) -> None:
        """``a`` dials or is bridged with ``b``: a peer of the agent's is linked onwards."""
        if self.is_agent(a):
            self._peer_add(b)
        elif self.is_agent(b):
            self._peer_add(a)
        elif isinstance(a, str) and a in self._peers and isinstance(b, str) and b:
            # through a Local channel the agent reaches the real party: same role
            self._peers.setdefault(b, self._peers[a])

    def _enter(self, bridge: str, channel: str) -> None:
        old = self._bridge_of.get(channel)
        if old is not None and old != bridge:
            self._leave(old, channel)
        self._bridge_of[channel] = bridge
        self._members.setdefault(bridge, set()).add(channel)
        while len(self._members) > _MAX_BRIDGES:
            gone = next(iter(self._members))
            for c in self._members.pop(gone):
                self._bridge_of.pop(c, None)

    def _leave(self, bridge: str, channel: str) -> None:
        members = self._members.get(bridge)
        if members is not None:
            members.discard(channel)
            if not members:
                del self._members[bridge]
        if self._bridge_of.get(channel) == bridge:
            del self._bridge_of[channel]

    def _forget(self, channel: Any) -> None:
        if not isinstance(channel, str):
            return
        self.optimizing.discard(channel)
        for key in [k for k in self._left if k[0] == channel]:
            del self._left[key]
        self._own.pop(channel, None)
        self._peers.pop(channel, None)
        self._legs.pop(channel, None)
        bridge = self._bridge_of.get(channel)
        if bridge is not None:
            self._leave(bridge, channel)
        if not self._own:
            self._peers.clear()
            self.consulting = False

    def end_consultation(self) -> None:
        """The consultation is over: its peers are ordinary peers again (or gone)."""
        self.consulting = False

    def _rename(self, old: Any, new: Any) -> None:
        if not isinstance(old, str) or not isinstance(new, str):
            return
        if old in self._peers:
            self._peers[new] = self._peers.pop(old)
        bridge = self._bridge_of.pop(old, None)
        if bridge is not None:
            self._members[bridge].discard(old)
            self._members[bridge].add(new)
            self._bridge_of[new] = bridge
        self._own.pop(old, None)
        if self.is_agent(new):
            self._own_add(new, "")


def _on_dial(t: CallTracker, m: Mapping[str, Any]) -> None:
    event, caller = m.get("Event"), m.get("Channel")
    dest = m.get("DestChannel") or m.get("Destination")
    if (
        event in ("DialBegin", "DialEnd")
        and isinstance(caller, str)
        and t.is_agent(caller)
        and isinstance(dest, str)
    ):
        legs = t._legs.get(caller)
        if event == "DialBegin":
            if not legs:
                t.rang = False  # a new dial: its first ring is news again
                legs = t._legs[caller] = set()
                while len(t._legs) > _MAX_OWN:
                    del t._legs[next(iter(t._legs))]
            if len(legs) < _MAX_PEERS:
                legs.add(dest)
        elif legs is not None:
            legs.discard(dest)
            if not legs:
                del t._legs[caller]
    if event == "Dial" and m.get("SubEvent") != "Begin":
        return
    if event == "DialEnd":
        return
    t._link(caller, dest)


def _on_queue_call(t: CallTracker, m: Mapping[str, Any]) -> None:
    caller = m.get("Channel") or m.get("ChannelCalling")  # 12+ / 11
    t._link(caller, m.get("DestChannel") or m.get("DestinationChannel"))


def _on_bridge11(t: CallTracker, m: Mapping[str, Any]) -> None:
    if m.get("Bridgestate") == "Link":
        t._link(m.get("Channel1"), m.get("Channel2"))


def _on_local_bridge(t: CallTracker, m: Mapping[str, Any]) -> None:
    t._link(m.get("Channel1") or m.get("LocalOneChannel"), m.get("Channel2"))


def _on_bridge_enter(t: CallTracker, m: Mapping[str, Any]) -> None:
    bridge, channel = m.get("BridgeUniqueid"), m.get("Channel")
    if not isinstance(bridge, str) or not isinstance(channel, str):
        return
    t._enter(bridge, channel)
    t._left.pop((channel, bridge), None)
    if t.in_agent_bridge(bridge):
        for other in t.members(bridge):
            t._peer_add(other)


def _on_bridge_leave(t: CallTracker, m: Mapping[str, Any]) -> None:
    bridge, channel = m.get("BridgeUniqueid"), m.get("Channel")
    if isinstance(bridge, str) and isinstance(channel, str):
        t._leave(bridge, channel)
        # others stayed (by Asterisk's count, or the members known): the agent may come back
        if t.is_agent(channel) and t.parties(bridge, m.get("BridgeNumChannels")) > 0:
            t._left[(channel, bridge)] = None
            while len(t._left) > _MAX_OWN:
                del t._left[next(iter(t._left))]


def _on_bridge_destroy(t: CallTracker, m: Mapping[str, Any]) -> None:
    bridge = m.get("BridgeUniqueid")
    if isinstance(bridge, str):
        for channel in t._members.pop(bridge, set()):
            t._bridge_of.pop(channel, None)
        for key in [k for k in t._left if k[1] == bridge]:
            del t._left[key]


def _on_hangup(t: CallTracker, m: Mapping[str, Any]) -> None:
    t._forget(m.get("Channel"))


def _on_rename(t: CallTracker, m: Mapping[str, Any]) -> None:
    t._rename(m.get("Channel") or m.get("Oldname"), m.get("Newname"))


def _on_optimization(t: CallTracker, m: Mapping[str, Any]) -> None:
    names = {h for h in (m.get("LocalOneChannel"), m.get("LocalTwoChannel")) if isinstance(h, str)}
    # the halves stay marked until they hang up: their last bridge moves and their hangups
    # are the optimization's, not a party's
    if m.get("Event") == "LocalOptimizationBegin":
        t.optimizing |= names


def _on_attended_transfer(t: CallTracker, m: Mapping[str, Any]) -> None:
    t.end_consultation()


_HANDLERS = {
    "DialBegin": _on_dial,
    "DialEnd": _on_dial,
    "Dial": _on_dial,
    "AgentCalled": _on_queue_call,
    "AgentConnect": _on_queue_call,
    "Bridge": _on_bridge11,
    "LocalBridge": _on_local_bridge,
    "BridgeEnter": _on_bridge_enter,
    "BridgeLeave": _on_bridge_leave,
    "BridgeDestroy": _on_bridge_destroy,
    "Hangup": _on_hangup,
    "Rename": _on_rename,
    "AttendedTransfer": _on_attended_transfer,
    "LocalOptimizationBegin": _on_optimization,
    "LocalOptimizationEnd": _on_optimization,
}

#: Events that change the tables (the protocol looks at these even when no rule names them).
TRACKED_EVENTS = frozenset(_HANDLERS) | {"Newchannel"}
