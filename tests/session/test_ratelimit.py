"""cti_fsm.ratelimit: the first warning of a kind at once, then one per interval with the
count of those held back; kinds apart; the table of kinds bounded."""

from __future__ import annotations

import logging

import pytest

from cti_fsm.ratelimit import RateLimitedLog


def test_one_record_per_kind_and_interval_with_the_count(
    caplog: pytest.LogCaptureFixture,
) -> None:
    warn = RateLimitedLog(logging.getLogger("t"), interval=10.0)
    caplog.set_level(logging.WARNING)
    assert warn.warning(0.0, "a", "first %s", "a")
    assert not any(warn.warning(t / 10, "a", "again") for t in range(1, 50))
    assert warn.warning(0.5, "b", "another kind")  # kinds are apart
    assert warn.warning(10.0, "a", "later")
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "first a",
        "another kind",
        "later (49 more like this in the last 10s not logged)",
    ]


def test_the_kinds_remembered_are_bounded() -> None:
    warn = RateLimitedLog(logging.getLogger("t"))
    for n in range(10_000):
        warn.warning(0.0, f"kind {n}", "x")
    assert len(warn._kinds) <= 256
