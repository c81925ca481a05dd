"""Who holds which agent, sans-IO: the leases in the key-value bucket as one gateway sees
them, and what that gateway should claim, renew or give up.

A lease is the key ``lease.<agent>`` holding ``{"owner": gateway, "expires": unix time}``.
It is taken with a create (no such key), or an update checked against the revision the
gateway last saw (a deleted or expired lease): two gateways racing for one agent cannot
both win. The holder renews it every third of its life with an update checked against its
own last revision; a renewal refused means someone else holds it now, and the agent is
given up at once. A gateway that stops deletes its leases (the others take them at their
next round); one that dies leaves them to expire.

Gateways announce themselves the same way (``gw.<name>``, renewed with their leases), so
each claims only its fair share of the agents (all of them divided by the gateways alive,
rounded up): started together, gateways split the agents instead of the first taking all.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
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
    """One lease as last seen.

    Attributes:
        owner: the gateway holding it ("" for a deleted one).
        expires: when it lapses unrenewed (unix seconds).
        revision: the key's revision, which the next update is checked against.
    """

    owner: str
    expires: float
    revision: int

    def live(self, now: float) -> bool:
        """True while someone holds it."""
        return bool(self.owner) and self.expires > now


def encode_lease(owner: str, expires: float) -> bytes:
    """A lease's value."""
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

    def __init__(self, me: str, agents: Iterable[str]) -> None:
        self.me = me
        self.agents = tuple(agents)
        self.leases: dict[str, Lease] = {}
        self.gateways: dict[str, Lease] = {}

    def saw_lease(self, agent: str, lease: Lease) -> None:
        """A lease's value (or deletion, as owner "") was read or watched."""
        known = self.leases.get(agent)
        if known is None or lease.revision >= known.revision:
            self.leases[agent] = lease

    def saw_gateway(self, name: str, lease: Lease) -> None:
        """A gateway's announcement was read or watched."""
        known = self.gateways.get(name)
        if known is None or lease.revision >= known.revision:
            self.gateways[name] = lease

    def held(self, now: float) -> list[str]:
        """The agents this gateway holds by the leases seen."""
        return [a for a, lease in self.leases.items() if lease.owner == self.me and lease.live(now)]

    def fair_share(self, now: float) -> int:
        """How many agents this gateway should hold: all, divided by the gateways alive
        (itself included), rounded up."""
        alive = {n for n, g in self.gateways.items() if g.live(now)} | {self.me}
        return math.ceil(len(self.agents) / len(alive))

    def to_claim(self, now: float, holding: int) -> list[tuple[str, int]]:
        """The free agents to claim now, with the revision each claim is checked against
        (0: create the key), up to the fair share less ``holding``."""
        room = self.fair_share(now) - holding
        if room <= 0:
            return []
        free: list[tuple[str, int]] = []
        for agent in self.agents:
            lease = self.leases.get(agent)
            if lease is None:
                free.append((agent, 0))
            elif not lease.live(now):
                free.append((agent, lease.revision))
            if len(free) >= room:
                break
        return free
