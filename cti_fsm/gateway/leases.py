"""Who holds which agent, sans-IO: the leases in the key-value bucket as one gateway sees
them, and what that gateway should claim or give up.

Each agent has a key, ``lease.<agent>``, naming the gateway that holds it; each gateway has
one, ``gw.<name>``, saying until when it is alive (unix seconds), renewed every third of
``lease_seconds``. An agent's lease lasts while its holder's announcement does: renewing
one key per gateway renews all its agents (twenty thousand keys renewed every two seconds
would be the broker's main load). An agent is free when its key is missing or deleted (a
gateway that stopped handed it back), or its holder's announcement has lapsed or was never
seen within ``lease_seconds`` of the key. It is taken with a create (no key) or an update
checked against the revision this gateway saw: two gateways racing for one agent cannot
both win; the holder sees the key change hands (the watcher) and drops the agent.

Each claims only its fair share of the agents (all of them divided by the gateways alive,
rounded up), so gateways started together split the agents instead of the first taking
all. Nothing rebalances later: a gateway started after the others takes only what is free.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Iterable, Mapping
from typing import Any

import attrs

__all__ = ["Lease", "LeaseTable", "decode_lease", "encode_lease", "gateway_key", "lease_key"]


def lease_key(agent: str) -> str:
    """The key of agent ``agent``'s lease."""
    return f"lease.{agent}"


def gateway_key(gateway: str) -> str:
    """The key announcing gateway ``gateway``."""
    return f"gw.{gateway}"


@attrs.frozen
class Lease:
    """One key as last seen: an agent's lease, or a gateway's announcement.

    Attributes:
        owner: the gateway holding the agent, or announcing itself ("": deleted).
        expires: until when the announcement lasts (unix seconds; not used for agents).
        revision: the key's revision, which the next update is checked against.
        seen: when this gateway first saw the key with this owner (unix seconds).
    """

    owner: str
    expires: float
    revision: int
    seen: float = 0.0

    def live(self, now: float) -> bool:
        """True while someone holds it."""
        return bool(self.owner) and self.expires > now


def encode_lease(owner: str, expires: float = 0.0) -> bytes:
    """A key's value: the agent's holder, or the gateway and until when it is alive."""
    return json.dumps({"owner": owner, "expires": expires}).encode()


def decode_lease(data: bytes, revision: int) -> Lease:
    """The lease in ``data`` (an unreadable or empty one is free: owner "")."""
    try:
        body: Any = json.loads(data) if data else {}
    except ValueError:
        body = {}
    if not isinstance(body, Mapping):
        body = {}
    owner, expires = body.get("owner"), body.get("expires")
    if not isinstance(owner, str) or not isinstance(expires, int | float):
        return Lease("", 0.0, revision)
    return Lease(owner, float(expires), revision)


class LeaseTable:
    """The leases and gateways one gateway has seen, and its decisions.

    Args:
        me: this gateway's name.
        agents: every agent the configuration lists.
    """

    def __init__(self, me: str, agents: Iterable[str], lease_seconds: float = 6.0) -> None:
        self.me = me
        self.agents = tuple(agents)
        self.lease_seconds = lease_seconds
        self.leases: dict[str, Lease] = {}
        self.gateways: dict[str, Lease] = {}

    def saw_lease(self, agent: str, lease: Lease, now: float) -> None:
        """An agent's lease (or its deletion, as owner "") was read or watched at ``now``."""
        known = self.leases.get(agent)
        if known is None or lease.revision >= known.revision:
            same = known is not None and known.owner == lease.owner
            self.leases[agent] = attrs.evolve(lease, seen=known.seen if same and known else now)

    def saw_gateway(self, name: str, lease: Lease) -> None:
        """A gateway's announcement was read or watched."""
        known = self.gateways.get(name)
        if known is None or lease.revision >= known.revision:
            self.gateways[name] = lease

    def alive(self, gateway: str, now: float) -> bool:
        """True while ``gateway``'s announcement lasts."""
        seen = self.gateways.get(gateway)
        return seen is not None and seen.live(now)

    def owner(self, agent: str) -> str:
        """The gateway the agent's key names ("" if none)."""
        lease = self.leases.get(agent)
        return lease.owner if lease is not None else ""

    def free(self, agent: str, now: float) -> bool:
        """True if the agent may be claimed: no key, a deleted one, or a holder whose
        announcement has lapsed (or has not been seen within ``lease_seconds`` of the key:
        the two are watched apart, so a new holder's announcement may come a little later)."""
        lease = self.leases.get(agent)
        if lease is None or not lease.owner or lease.owner == self.me:
            # this gateway's own key for an agent it does not hold (``to_claim`` leaves
            # out the held): left by an earlier run under the same name
            return True
        if lease.owner in self.gateways:
            return not self.alive(lease.owner, now)
        return now - lease.seen > self.lease_seconds

    def fair_share(self, now: float) -> int:
        """How many agents this gateway should hold: all, divided by the gateways alive
        (itself included), rounded up."""
        alive = {n for n, g in self.gateways.items() if g.live(now)} | {self.me}
        return math.ceil(len(self.agents) / len(alive))

    def to_claim(self, now: float, busy: Collection[str]) -> list[tuple[str, int]]:
        """The free agents to claim now, with the revision each claim is checked against
        (0: create the key), up to the fair share less the ``busy`` ones (held or being
        claimed), which are left out."""
        room = self.fair_share(now) - len(busy)
        if room <= 0:
            return []
        free: list[tuple[str, int]] = []
        for agent in self.agents:
            if agent in busy or not self.free(agent, now):
                continue
            lease = self.leases.get(agent)
            free.append((agent, lease.revision if lease is not None else 0))
            if len(free) >= room:
                break
        return free
