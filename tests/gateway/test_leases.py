"""Lease decisions, sans-IO: gateways split the agents, take what is free or lapsed, and
leave what another holds."""

from __future__ import annotations

from cti_fsm.gateway.leases import Lease, LeaseTable, decode_lease, encode_lease

AGENTS = [f"a{i}" for i in range(10)]


def test_alone_a_gateway_claims_every_agent_with_a_create() -> None:
    table = LeaseTable("g1", AGENTS)
    assert table.to_claim(100.0, 0) == [(a, 0) for a in AGENTS]


def test_gateways_alive_split_the_agents_rounded_up() -> None:
    table = LeaseTable("g1", AGENTS)
    table.saw_gateway("g2", Lease("g2", 200.0, 5))
    table.saw_gateway("g3", Lease("g3", 50.0, 6))  # lapsed: not counted
    assert table.fair_share(100.0) == 5
    assert len(table.to_claim(100.0, 0)) == 5
    assert table.to_claim(100.0, 5) == []


def test_a_live_lease_is_left_and_a_lapsed_or_deleted_one_is_claimed_at_its_revision() -> None:
    table = LeaseTable("g1", ["a", "b", "c"])
    table.saw_lease("a", Lease("g2", 200.0, 10))
    table.saw_lease("b", Lease("g2", 90.0, 11))
    table.saw_lease("c", decode_lease(b"", 12))  # deleted by a gateway that stopped
    assert table.to_claim(100.0, 0) == [("b", 11), ("c", 12)]


def test_an_older_revision_never_overwrites_a_newer_one() -> None:
    table = LeaseTable("g1", ["a"])
    table.saw_lease("a", Lease("g2", 200.0, 10))
    table.saw_lease("a", Lease("g1", 300.0, 9))
    assert table.leases["a"].owner == "g2"
    assert table.held(100.0) == []


def test_lease_values_round_trip_and_garbage_is_free() -> None:
    lease = decode_lease(encode_lease("g1", 123.5), 4)
    assert lease == Lease("g1", 123.5, 4) and lease.live(100.0) and not lease.live(124.0)
    assert not decode_lease(b"{bad", 5).live(0.0)
    assert not decode_lease(b'{"owner": 1}', 5).live(0.0)
