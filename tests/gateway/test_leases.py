"""Lease decisions, sans-IO: gateways split the agents, take what is free (no key, handed
back, or held by a gateway whose announcement lapsed), and leave what another holds."""

from __future__ import annotations

from cti_fsm.gateway.leases import Lease, LeaseTable, decode_lease, encode_lease

AGENTS = [f"a{i}" for i in range(10)]


def test_alone_a_gateway_claims_every_agent_with_a_create() -> None:
    table = LeaseTable("g1", AGENTS)
    assert table.to_claim(100.0, ()) == [(a, 0) for a in AGENTS]


def test_gateways_alive_split_the_agents_rounded_up() -> None:
    table = LeaseTable("g1", AGENTS)
    table.saw_gateway("g2", Lease("g2", 200.0, 5))
    table.saw_gateway("g3", Lease("g3", 50.0, 6))  # lapsed: not counted
    assert table.fair_share(100.0) == 5
    assert len(table.to_claim(100.0, ())) == 5
    assert table.to_claim(100.0, AGENTS[:5]) == []
    assert [a for a, _ in table.to_claim(100.0, AGENTS[:2])] == AGENTS[2:5]


def test_an_agent_of_a_live_gateway_is_left_and_one_of_a_lapsed_gateway_is_claimed() -> None:
    table = LeaseTable("g1", ["a", "b", "c", "d"], lease_seconds=6.0)
    table.saw_gateway("g2", Lease("g2", 200.0, 1))
    table.saw_gateway("g3", Lease("g3", 90.0, 2))
    table.saw_lease("a", Lease("g2", 0.0, 10), now=95.0)
    table.saw_lease("b", Lease("g3", 0.0, 11), now=95.0)
    table.saw_lease("c", decode_lease(b"", 12), now=95.0)  # handed back by a clean stop
    table.saw_lease("d", Lease("g9", 0.0, 13), now=95.0)  # its holder not announced yet
    assert [table.free(a, 100.0) for a in "abcd"] == [False, True, True, False]
    # a holder never announced within lease_seconds of its key is taken as gone
    assert [table.free(a, 102.0) for a in "abcd"] == [False, True, True, True]
    # two gateways alive (g1, g2): two agents each, claimed at the revisions seen
    assert table.to_claim(100.0, ()) == [("b", 11), ("c", 12)]


def test_a_key_that_changes_hands_is_seen_with_its_new_owner() -> None:
    table = LeaseTable("g1", ["a"])
    table.saw_lease("a", Lease("g1", 0.0, 10), now=1.0)
    assert table.owner("a") == "g1"
    table.saw_lease("a", Lease("g2", 0.0, 11), now=2.0)
    assert table.owner("a") == "g2" and table.leases["a"].seen == 2.0
    table.saw_lease("a", Lease("g1", 0.0, 9), now=3.0)  # an older revision, late
    assert table.owner("a") == "g2"


def test_this_gateways_own_key_from_an_earlier_run_is_claimable() -> None:
    table = LeaseTable("g1", ["a"])
    table.saw_gateway("g1", Lease("g1", 200.0, 1))
    table.saw_lease("a", Lease("g1", 0.0, 7), now=100.0)
    assert table.to_claim(100.0, ()) == [("a", 7)]
    assert table.to_claim(100.0, ("a",)) == []


def test_key_values_round_trip_and_garbage_is_free() -> None:
    lease = decode_lease(encode_lease("g1", 123.5), 4)
    assert lease == Lease("g1", 123.5, 4) and lease.live(100.0) and not lease.live(124.0)
    assert decode_lease(encode_lease("g1"), 5).owner == "g1"
    assert not decode_lease(b"{bad", 5).owner
    assert not decode_lease(b'{"owner": 1}', 5).owner
