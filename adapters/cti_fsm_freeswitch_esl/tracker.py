"""Which FreeSWITCH channels are one agent's, followed from the channel events (sans-IO).

ESL reports channels (legs), each by its ``Unique-ID``, not "the agent's call": this module
keeps the little state needed to say, for each event, whose leg it names. It knows nothing
of the chart; the protocol turns what it finds into ``cti.*`` facts the vendor map reads.

- An **agent leg** is a channel whose ``Channel-Name`` is the agent's contact
  (``sofia/internal/1001@10.0.0.5``, ``sofia/internal/sip:1001@10.0.0.5:5070`` for
  extension 1001; ``contact_pattern`` to change it): a stateless test, so the agent's leg
  is recognised in the middle of a recorded stream too.
- A **peer** is a channel linked to an agent leg: the other leg of its ``CHANNEL_CREATE``
  (``Other-Leg-Unique-ID``), or of a bridge (``Bridge-A/B-Unique-ID``). A peer that appears
  while a consultation runs is a **consult** peer.
- Each agent leg has a **purpose**: ``inbound`` (FreeSWITCH called the agent's phone: a
  queue or direct call), ``outbound`` (the agent's phone called FreeSWITCH, or our own
  ``dial_out`` originated it), ``listen`` (our ``listen`` originated it to eavesdrop).
  Legs the protocol originates are announced beforehand (``expect``), by the
  ``origination_uuid`` it chose.
- A leg that hung up is remembered for a while (bounded), so a late event about it does
  not bring it back as a new call.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["AGENT", "CONSULT", "HANGUP_EVENTS", "PEER", "CallTracker", "contact_regex"]

AGENT = "agent"
PEER = "peer"
CONSULT = "consult"
#: The events that end a leg.
HANGUP_EVENTS = frozenset(("CHANNEL_HANGUP", "CHANNEL_HANGUP_COMPLETE", "CHANNEL_DESTROY"))
#: Bounds on the tables, far above what one agent has at once.
_MAX_OWN = 16
_MAX_PEERS = 64
_MAX_GONE = 256


def contact_regex(extension: str) -> re.Pattern[str]:
    """The channel names of a SIP contact ``extension``: ``<endpoint>/<profile>/[sip:]ext@``."""
    return re.compile(rf"^[^/]+/[^/]+/(?:sip:)?{re.escape(extension)}@")


class CallTracker:
    """Legs and peers as they concern one agent.

    Args:
        pattern: what an agent leg's ``Channel-Name`` matches (``contact_regex``).
    """

    __slots__ = ("_expected", "_gone", "_own", "_peers", "conference", "consulting", "pattern")

    def __init__(self, pattern: re.Pattern[str]) -> None:
        self.pattern = pattern
        #: agent leg uuid -> [purpose, answered], oldest first
        self._own: OrderedDict[str, list[Any]] = OrderedDict()
        #: peer uuid -> [role, answered], oldest first
        self._peers: OrderedDict[str, list[Any]] = OrderedDict()
        #: uuid the protocol will originate -> purpose
        self._expected: OrderedDict[str, str] = OrderedDict()
        self._gone: OrderedDict[str, None] = OrderedDict()
        self.consulting = False
        #: three or more parties were joined (a conference, a barge-in)
        self.conference = False

    # --- reading ----------------------------------------------------------------------------
    def role(self, uuid: Any) -> str | None:
        """``agent``, ``peer``, ``consult`` or None for the leg ``uuid``."""
        if uuid in self._own:
            return AGENT
        found = self._peers.get(uuid)
        return found[0] if found is not None else None

    @property
    def channel(self) -> str | None:
        """The agent's current leg: the newest live one."""
        return next(reversed(self._own), None)

    @property
    def purpose(self) -> str | None:
        """The current leg's purpose (``inbound``, ``outbound``, ``listen``)."""
        leg = self._own.get(self.channel or "")
        return str(leg[0]) if leg is not None else None

    @property
    def peer(self) -> str | None:
        """The party the agent talks to: the newest peer that is not a consultation's,
        else the newest."""
        for uuid, (role, _) in reversed(self._peers.items()):
            if role == PEER:
                return uuid
        return next(reversed(self._peers), None)

    @property
    def consult_peer(self) -> str | None:
        """The consulted party's leg, if one is up."""
        for uuid, (role, _) in reversed(self._peers.items()):
            if role == CONSULT:
                return uuid
        return None

    @property
    def legs(self) -> tuple[str, ...]:
        """The agent's live legs, oldest first."""
        return tuple(self._own)

    @property
    def peers(self) -> int:
        """How many peers are up."""
        return len(self._peers)

    def peer_answered(self, uuid: Any) -> bool:
        """True if the peer ``uuid`` has answered."""
        found = self._peers.get(uuid)
        return bool(found and found[1])

    def is_agent_channel(self, name: Any) -> bool:
        """True if the channel name ``name`` is the agent's contact."""
        return isinstance(name, str) and self.pattern.search(name) is not None

    # --- learning ---------------------------------------------------------------------------
    def expect(self, uuid: str, purpose: str) -> None:
        """The protocol is about to originate the agent leg ``uuid`` for ``purpose``."""
        self._expected[uuid] = purpose
        while len(self._expected) > _MAX_OWN:
            self._expected.popitem(last=False)

    def observe(self, event: str, message: Mapping[str, Any]) -> dict[str, Any]:
        """Update the tables from one channel event; the facts about it: ``leg`` (the
        role of its Unique-ID), ``first`` (an agent leg seen for the first time),
        ``purpose`` (the agent's current leg's), ``last`` (the agent's last leg hung up)."""
        uuid = message.get("Unique-ID")
        facts: dict[str, Any] = {}
        if not isinstance(uuid, str) or uuid in self._gone:
            return facts
        ending = event in HANGUP_EVENTS
        new = uuid not in self._own and not ending and uuid not in self._peers
        if new and (uuid in self._expected or self.is_agent_channel(message.get("Channel-Name"))):
            purpose = self._expected.pop(uuid, None)
            if purpose is None:
                # FreeSWITCH calling the phone is an inbound call for the agent; the
                # phone calling FreeSWITCH is the agent placing a call
                direction = message.get("Call-Direction")
                purpose = "outbound" if direction == "inbound" else "inbound"
            self._own[uuid] = [purpose, False]
            while len(self._own) > _MAX_OWN:
                self._own.popitem(last=False)
            facts["first"] = True
        if event == "CHANNEL_BRIDGE":
            self._link(message.get("Bridge-A-Unique-ID"), message.get("Bridge-B-Unique-ID"))
        self._link(uuid, message.get("Other-Leg-Unique-ID"))
        role = self.role(uuid)
        if role is not None:
            facts["leg"] = role
        if event == "CHANNEL_ANSWER":
            table = self._own if role == AGENT else self._peers
            if uuid in table:
                table[uuid][1] = True
        facts["purpose"] = self.purpose
        if ending and role is not None:
            self._forget(uuid)
            facts["last"] = role == AGENT and not self._own
        facts["peers"] = len(self._peers)
        return facts

    def _link(self, a: Any, b: Any) -> None:
        if not isinstance(a, str) or not isinstance(b, str) or not a or not b:
            return
        if a in self._own and b not in self._own:
            self._peer_add(b)
        elif b in self._own and a not in self._own:
            self._peer_add(a)

    def _peer_add(self, uuid: str) -> None:
        if uuid in self._peers or uuid in self._gone:
            return
        self._peers[uuid] = [CONSULT if self.consulting else PEER, False]
        if len(self._peers) >= 2:
            self.conference = self.conference or not self.consulting
        while len(self._peers) > _MAX_PEERS:
            self._peers.popitem(last=False)

    def _forget(self, uuid: str) -> None:
        self._own.pop(uuid, None)
        role = self._peers.pop(uuid, [None])[0]
        if role == CONSULT:
            self.consulting = False
        self._gone[uuid] = None
        while len(self._gone) > _MAX_GONE:
            self._gone.popitem(last=False)
        if not self._own:
            self._peers.clear()
            self.consulting = False
        if len(self._peers) <= 1:
            self.conference = False

    def restore(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Rebuild the tables from ``show channels as json`` rows (after a reconnect): the
        agent's legs by name, and the rows sharing their ``call_uuid`` as peers; with one
        peer held and another not (att_xfer), that other is the consulted party; with two
        peers or more otherwise, a conference."""
        self._own.clear()
        self._peers.clear()
        self.consulting = self.conference = False
        rows = list(rows)
        calls: set[Any] = set()
        for row in rows:
            if self.is_agent_channel(row.get("name")) and isinstance(row.get("uuid"), str):
                direction = row.get("direction")
                purpose = (
                    "listen"
                    if row.get("application") == "eavesdrop"
                    else ("outbound" if direction == "inbound" else "inbound")
                )
                self._own[row["uuid"]] = [purpose, row.get("callstate") in ("ACTIVE", "HELD")]
                calls.add(row.get("call_uuid") or row["uuid"])
        peers = []
        for row in rows:
            uuid = str(row.get("uuid") or "")
            if uuid and uuid not in self._own and (row.get("call_uuid") or uuid) in calls:
                self._peers[uuid] = [PEER, row.get("callstate") in ("ACTIVE", "HELD")]
                peers.append(row)
        # an attended transfer under way: the customer held, the consulted party not
        own = [r for r in rows if r.get("uuid") in self._own]
        held = any(r.get("callstate") == "HELD" for r in peers)
        others = [r for r in peers if r.get("callstate") != "HELD"]
        if own and held and others and own[-1].get("callstate") != "HELD":
            self._peers[str(others[-1]["uuid"])][0] = CONSULT
            self.consulting = True
        elif len(self._peers) >= 2:
            self.conference = True

    def end_consultation(self) -> None:
        """The consultation is over: its peer, if still up, is an ordinary peer again."""
        self.consulting = False
        for leg in self._peers.values():
            leg[0] = PEER
