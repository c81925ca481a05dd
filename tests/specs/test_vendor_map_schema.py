"""specs/vendor-map.schema.json: every vendor map validates, and it agrees with the loader."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from cti_fsm.chart_loader import default_chart
from cti_fsm.errors import SpecError
from cti_fsm.vendor_map import load_vendor_map, load_vendor_map_text

VALIDATORS = [jsonschema.Draft202012Validator, jsonschema.Draft7Validator]
EXAMPLE = Path(__file__).with_name("example-vendor.yaml")
VENDORS = Path(__file__).resolve().parents[2] / "specs" / "vendors"
# The example map is always first, so this list (and the test below) is never empty; every
# real map joins it as it lands in specs/vendors/.
MAPS = [EXAMPLE, *sorted(VENDORS.glob("*.yaml"))]


def schema_errors(schema: dict[str, Any], document: Any) -> list[str]:
    out = []
    for validator in VALIDATORS:
        out += [f"{validator.__name__} {e.json_path}: {e.message}" for e in
                validator(schema).iter_errors(document)]  # fmt: skip
    return out


@pytest.mark.parametrize("path", MAPS, ids=[p.name for p in MAPS])
def test_vendor_map_validates_against_schema(vendor_schema: dict[str, Any], path: Path) -> None:
    document = yaml.safe_load(path.read_text("utf-8"))
    assert isinstance(document, dict) and "vendor" in document, "not a vendor map"
    assert schema_errors(vendor_schema, document) == []


def test_example_map_is_a_real_map_for_the_default_chart() -> None:
    # keeps the example honest: the loader accepts it with every name checked
    chart = default_chart()
    vmap = load_vendor_map(EXAMPLE, chart)
    assert vmap.vendor == "example"
    assert vmap.local == {"finish_wrap_up"}
    # every command is mapped, unsupported, done locally for this vendor, or local in the
    # chart (which no map may mention)
    in_chart = {name for name, spec in chart.commands.items() if spec.local}
    assert in_chart and in_chart.isdisjoint(set(vmap.commands) | vmap.unsupported | vmap.local)
    assert set(vmap.commands) | vmap.unsupported | vmap.local | in_chart == set(chart.commands)
    assert vmap.redact({"password": "pw", "x": [{"token": "t"}]}) == {
        "password": "***",
        "x": [{"token": "***"}],
    }


def base_map() -> dict[str, Any]:
    """A small map that uses every key; each case below breaks one thing."""
    return {
        "vendor": "tiny",
        "chart": "agent",
        "description": "every key once",
        "unsupported": ["listen"],
        "secrets": "password",
        "local": ["finish_wrap_up"],
        "signals": [
            {
                "when": {"event": "alerting", "device": "{device}", "code": 1},
                "unless": {"direction": ["outbound", None]},
                "signal": "ringing",
                "payload": {"call_id": "call.id"},
                "set": {"area": "local", "count": 2},
                "description": "inbound only",
            },
            {"when": {}, "signal": "hung_up"},
        ],
        "commands": {
            "hold": {"op": "hold", "call": "{call_id}", "flags": [1, True]},
            "connect": [{"op": "login", "user": "{user}"}, {"op": "subscribe"}],
        },
        "states": {"READY": "idle", "BUSY": "checked_in.talking"},
    }


Mutation = Callable[[dict[str, Any]], object]

#: (id, mutation, a fragment of the loader's message), both must reject it.
REJECTED: list[tuple[str, Mutation, str]] = [
    ("unknown top key", lambda m: m.update(colour="red"), "unknown key 'colour'"),
    ("unknown rule key", lambda m: m["signals"][0].update(guard=1), "unknown key 'guard'"),
    ("missing vendor", lambda m: m.pop("vendor"), "missing required key 'vendor'"),
    ("missing chart", lambda m: m.pop("chart"), "missing required key 'chart'"),
    ("vendor not a string", lambda m: m.update(vendor=3), "vendor must be a string"),
    ("description not a string", lambda m: m.update(description=[]), "must be a string"),
    (
        "unsupported a mapping",
        lambda m: m.update(unsupported={"listen": True}),
        "must be a string or a list of strings",
    ),
    ("secrets null", lambda m: m.update(secrets=None), "secrets must be a string"),
    ("local null", lambda m: m.update(local=None), "local must be a string"),
    (
        "local a mapping",
        lambda m: m.update(local={"finish_wrap_up": True}),
        "must be a string or a list of strings",
    ),
    ("local item a number", lambda m: m.update(local=["hold", 3]), "must be a string"),
    ("signals a mapping", lambda m: m.update(signals={"ringing": {}}), "signals must be a list"),
    ("rule without when", lambda m: m["signals"][0].pop("when"), "missing required key 'when'"),
    (
        "rule without signal",
        lambda m: m["signals"][0].pop("signal"),
        "missing required key 'signal'",
    ),
    (
        "rule signal a list",
        lambda m: m["signals"][0].update(signal=["ringing"]),
        "must be a string",
    ),
    ("when a list", lambda m: m["signals"][0].update(when=["event"]), "must be a mapping"),
    ("set a list", lambda m: m["signals"][0].update(set=["area"]), "must be a mapping"),
    (
        "payload not a path",
        lambda m: m["signals"][0].update(payload={"call_id": 5}),
        "must be a field path",
    ),
    ("commands a list", lambda m: m.update(commands=["hold"]), "must be a mapping"),
    ("state not a string", lambda m: m["states"].update(READY=["idle"]), "must be a string"),
]


def test_base_map_is_accepted_by_loader_and_schema(vendor_schema: dict[str, Any]) -> None:
    vmap = base_map()
    load_vendor_map_text(yaml.safe_dump(vmap, sort_keys=False), None, "tiny.yaml")
    assert schema_errors(vendor_schema, vmap) == []


@pytest.mark.parametrize(
    ("mutate", "message"), [c[1:] for c in REJECTED], ids=[c[0] for c in REJECTED]
)
def test_shape_mistakes_are_rejected_by_loader_and_schema(
    vendor_schema: dict[str, Any], mutate: Mutation, message: str
) -> None:
    vmap = copy.deepcopy(base_map())
    mutate(vmap)
    with pytest.raises(SpecError) as caught:
        load_vendor_map_text(yaml.safe_dump(vmap, sort_keys=False), None, "bad.yaml")
    assert any(message in p.message for p in caught.value.problems), str(caught.value)
    for validator in VALIDATORS:
        assert not validator(vendor_schema).is_valid(vmap), validator.__name__
