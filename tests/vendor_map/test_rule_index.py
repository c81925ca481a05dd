"""The vendor map's rule index is an optimisation only: the first matching rule, and so
the signal, is the same as scanning every rule in order."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cti_fsm import default_chart
from cti_fsm.adapter import Signal
from cti_fsm.vendor_map import VendorMap, load_vendor_map, vendor_map_path

MAPS = {
    name: load_vendor_map(vendor_map_path(name), default_chart())
    for name in ("csta-ws", "asterisk-ami")
}


def full_scan(
    vmap: VendorMap, message: Mapping[str, Any], context: Mapping[str, Any]
) -> Signal | None:
    for rule in vmap.rules:
        found = rule.match(message, context)
        if found is not None:
            return found
    return None


def literals(vmap: VendorMap) -> dict[str, list[Any]]:
    """Every field path the rules test, with the values they test it for."""
    out: dict[str, list[Any]] = {}
    for rule in vmap.rules:
        for part in (rule.when, rule.unless):
            for path, expected in part.items():
                values = expected if isinstance(expected, list) else [expected]
                out.setdefault(path, []).extend(v for v in values if v is not None)
    return out


def nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """{"a.b": 1} -> {"a": {"b": 1}} (dotted paths as the rules write them)."""
    out: dict[str, Any] = {}
    for path, value in flat.items():
        *parents, last = path.split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {}) if isinstance(node.get(part, {}), dict) else {}
        node[last] = value
    return out


@pytest.mark.parametrize("name", sorted(MAPS))
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_indexed_lookup_equals_a_full_scan(name: str, data: st.DataObject) -> None:
    vmap = MAPS[name]
    fields = literals(vmap)
    assert vmap._index_paths, "the map pins some fields to fixed values"
    chosen = data.draw(st.lists(st.sampled_from(sorted(fields)), unique=True, max_size=6))
    flat = {
        path: data.draw(
            st.one_of(
                st.sampled_from(fields[path] or ["x"]),
                st.sampled_from(["", "other", "1", 1, True]),
                st.lists(st.sampled_from(fields[path] or ["x"]), min_size=1, max_size=2),
            )
        )
        for path in chosen
    }
    message = nest(flat)
    context = {"device": "8001", "call_id": "c1", "user": "1001", "interface": "PJSIP/1001"}
    assert vmap.signal(message, context) == full_scan(vmap, message, context)


def test_the_index_narrows_the_rules_for_a_typical_event() -> None:
    vmap = MAPS["csta-ws"]
    event = next(r for r in vmap.rules if r.signal == "held")
    message = nest({p: v for p, v in event.when.items() if isinstance(v, str) and "{" not in v})
    assert len(vmap.candidates(message)) < len(vmap.rules) / 3
