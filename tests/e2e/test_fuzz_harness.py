"""The fuzz harness (``cti_fsm.testing.fuzz``) finds what it exists to find: a protocol
that makes a signal of a message it calls malformed, one that raises, one that lets a
wrong-typed value into a payload. (``benchmarks/fuzz.py`` runs it on every adapter.)"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from cti_fsm.adapter import load_adapter
from cti_fsm.events import Malformed, Signal
from cti_fsm.testing.fuzz import FuzzTarget, fuzz


class Broken:
    """csta-ws, with its protocol's receive replaced by ``receive(original, message)``."""

    def __init__(self, receive: Any) -> None:
        self._base = load_adapter("csta-ws")
        self._receive = receive
        self.name = self._base.name
        self.chart = self._base.chart
        self.unsupported = self._base.unsupported
        self.vendor_map = self._base.vendor_map

    def protocol(self, *, user: str, options: Mapping[str, Any]) -> Any:
        protocol = self._base.protocol(user=user, options=options)
        original = protocol.receive
        protocol.receive = lambda message: self._receive(original, message)  # type: ignore[method-assign]
        return protocol

    def simulator(self, switch: Any) -> Any:
        return self._base.simulator(switch)


def _moves_anyway(original: Any, message: Any) -> Sequence[Any]:
    out = list(original(message))
    if any(isinstance(o, Malformed) for o in out):
        out.append(Signal("hung_up", {}))
    return out


def _raises_on_lists(original: Any, message: Any) -> Sequence[Any]:
    if any(isinstance(v, list) for v in message.get("params", {}).values()):
        raise TypeError("a list")
    return original(message)


def _lets_lists_in(original: Any, message: Any) -> Sequence[Any]:
    params = message.get("params", {})
    if isinstance(params, dict) and isinstance(params.get("callingDevice"), list):
        return [Signal("ringing", {"phone_number": params["callingDevice"]})]
    return original(message)


@pytest.mark.parametrize(
    ("receive", "finding"),
    [
        (_moves_anyway, "moved_by_malformed"),
        (_raises_on_lists, "crashes"),
        (_lets_lists_in, "moved_by_malformed"),
    ],
)
def test_the_harness_finds_a_broken_protocol(receive: Any, finding: str) -> None:
    report = fuzz(Broken(receive), FuzzTarget(), inputs=3000, seed=3)  # type: ignore[arg-type]
    assert getattr(report, finding) > 0, str(report)
    assert not report.clean
    assert f"{finding}: " in str(report)


def test_the_shipped_adapters_are_clean_on_a_short_run() -> None:
    report = fuzz("csta-ws", FuzzTarget(), inputs=1000, seed=11)
    assert report.clean, str(report)
    assert report.inputs == 1000 and report.malformed > 0
