"""specs/schema.json: valid, editor-friendly, and in step with the chart loader's shape checks."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from cti_fsm.chart_loader import default_chart_path, load_chart_text
from cti_fsm.errors import SpecError

# Both readings matter: jsonschema checks draft 2020-12, editors (yaml-language-server)
# validate with draft-07 semantics.
VALIDATORS = [jsonschema.Draft202012Validator, jsonschema.Draft7Validator]

#: Keywords whose meaning is the same in draft-07 and draft 2020-12. ``$defs`` is only a
#: container here: ``$ref`` reaches into it by JSON pointer, which every draft resolves.
PORTABLE_KEYWORDS = {
    "$schema", "$ref", "$defs", "title", "description", "type", "enum", "const",
    "properties", "additionalProperties", "required", "propertyNames", "pattern",
    "minLength", "minProperties", "maxProperties", "minItems", "items", "anyOf", "allOf",
    "if", "then", "exclusiveMinimum",
}  # fmt: skip
_SUBSCHEMA = ("items", "additionalProperties", "propertyNames", "if", "then")


def walk(schema: Any, where: str = "#") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every subschema with its JSON pointer, keyword positions only."""
    if not isinstance(schema, dict):
        return
    yield where, schema
    for key, value in schema.items():
        if key in ("properties", "$defs"):
            for name, sub in value.items():
                yield from walk(sub, f"{where}/{key}/{name}")
        elif key in _SUBSCHEMA:
            yield from walk(value, f"{where}/{key}")
        elif key in ("anyOf", "allOf"):
            for i, sub in enumerate(value):
                yield from walk(sub, f"{where}/{key}/{i}")


@pytest.mark.parametrize("name", ["chart_schema", "vendor_schema"])
def test_schema_is_valid_and_portable(name: str, request: pytest.FixtureRequest) -> None:
    schema = request.getfixturevalue(name)
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft7Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    for where, sub in walk(schema):
        unportable = set(sub) - PORTABLE_KEYWORDS
        assert not unportable, f"{where}: keywords editors read differently: {unportable}"
        if "$ref" in sub:
            # draft-07 ignores a $ref's siblings: only annotations may sit beside it
            assert set(sub) <= {"$ref", "description", "title"}, where


@pytest.mark.parametrize("name", ["chart_schema", "vendor_schema"])
def test_every_property_and_definition_has_hover_help(
    name: str, request: pytest.FixtureRequest
) -> None:
    schema = request.getfixturevalue(name)
    missing = [
        f"{where}/properties/{prop}"
        for where, sub in walk(schema)
        for prop, body in sub.get("properties", {}).items()
        if not re.search(r"/(if|then)\b", where) and not body.get("description")
    ]
    missing += [
        f"#/$defs/{d}" for d, body in schema["$defs"].items() if not body.get("description")
    ]
    assert not missing


@pytest.mark.parametrize("validator", VALIDATORS)
def test_default_chart_validates(chart_schema: dict[str, Any], validator: Any) -> None:
    chart = yaml.safe_load(Path(default_chart_path()).read_text("utf-8"))
    errors = [f"{e.json_path}: {e.message}" for e in validator(chart_schema).iter_errors(chart)]
    assert errors == []


def test_every_chart_the_loader_accepts_validates(chart_schema: dict[str, Any]) -> None:
    # the other charts in the tree (tests/charts/: after-call work, nested history) are
    # real-world shapes the schema must not nag about; ones written broken on purpose
    # are the loader's business, not this test's
    tests = Path(__file__).resolve().parents[1]
    checked = []
    candidates = [p for p in sorted(tests.glob("**/*.yaml")) if "node_modules" not in p.parts]
    for path in [Path(default_chart_path()), *candidates]:
        text = path.read_text("utf-8")
        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError:
            continue
        if not (isinstance(document, dict) and "states" in document and "vendor" not in document):
            continue
        try:
            load_chart_text(text, str(path))
        except SpecError:
            continue
        for validator in VALIDATORS:
            errors = [e.message for e in validator(chart_schema).iter_errors(document)]
            assert errors == [], f"{path}: {validator.__name__}"
        checked.append(path.name)
    assert "agent.yaml" in checked


def base_chart() -> dict[str, Any]:
    """A small chart that uses every key the format has (but ``extends``, which needs a base
    chart: see ACCEPTED); each case below breaks one thing."""
    return {
        "chart": "demo",
        "version": 2,
        "description": "every key once",
        "initial": "away",
        "rights": ["boss"],
        "defaults": {"timeout": 2.5, "pending": "queue"},
        "settings": {"limit": 30, "mode": "fast"},
        "states": {
            "away": {
                "description": "logged out",
                "after": [{"seconds": {"setting": "limit"}, "signal": "started"}],
            },
            "present": {
                "initial": "idle",
                "history": "shallow",
                "states": {
                    "idle": None,
                    "busy": {
                        "after": [
                            {
                                "seconds": [{"field": "limit"}, 60],
                                "to": "idle",
                                "emit": [{"onWork": {"result": "late"}}],
                                "send": ["start"],
                                "keep": {"late": True},
                            }
                        ]
                    },
                },
                "regions": {
                    "mood": {
                        "description": "beside",
                        "initial": "calm",
                        "states": {"calm": None, "cross": {}},
                    },
                },
            },
        },
        "commands": {
            "start": {"from": "away", "confirm": "started", "pending": "reject"},
            "work": {
                "description": "do a job",
                "from": ["idle"],
                "rights": [],
                "args": {
                    "job": {"type": "string", "description": "what to do"},
                    "key": {"secret": True, "required": False},
                    "for_whom": {
                        "type": "any",
                        "required": False,
                        "when_given": {"from": "present", "rights": "boss", "timeout": 1},
                    },
                },
                "confirm": "working",
                "fail": "refused",
                "timeout": 3,
            },
            "note": {
                "from": "present",
                "local": True,
                "args": {"text": {"required": False, "choices": ["hi", 1, True]}},
                "confirm": "noted",
            },
        },
        "signals": {
            "started": {"transitions": [{"from": "away", "to": "present", "emit": ["onStart"]}]},
            "working": {
                "description": "the job began",
                "payload": ["job"],
                "transitions": [
                    {"from": "idle", "to": "busy", "emit": [{"onWork": {"result": "ok"}}]},
                    {"from": "busy", "emit": [{"onWork": None}]},
                ],
            },
            "refused": {
                "payload": "why",
                "transitions": [{"from": ["present"], "emit": [{"onWork": {"result": False}}]}],
            },
            "done": {"transitions": [{"from": "busy", "to": "idle"}]},
            "spare": None,
            "noted": {
                "payload": ["text"],
                "transitions": [
                    {
                        "from": "mood",
                        "to": "cross",
                        "keep": {
                            "last": {"field": "text"},
                            "how": [{"kept": "last"}, {"setting": "mode"}, "x"],
                        },
                    },
                ],
            },
            "calm_down": {
                "payload": ["why"],
                "transitions": [
                    {
                        "from": "cross",
                        "to": "calm",
                        "when": [
                            {"in": ["idle", "busy"]},
                            {"not_in": "away"},
                            {"field": "why", "not": ["x", None]},
                            {"setting": "mode", "is": "fast"},
                        ],
                    },
                    {
                        "from": "cross",
                        "when": {"setting": "mode", "not": ["slow"]},
                        "send": [
                            {"note": {"text": {"kept": "last"}}, "when": {"in": "calm"}},
                            "start",
                        ],
                    },
                ],
            },
        },
        "notifications": {
            "onStart": None,
            "onWork": {"fields": ["job", "result"], "description": "job news"},
        },
    }


Mutation = Callable[[dict[str, Any]], object]


def timer(c: dict[str, Any]) -> dict[str, Any]:
    """The delayed transition (``busy``'s ``after``)."""
    body: dict[str, Any] = c["states"]["present"]["states"]["busy"]["after"][0]
    return body


def signal_timer(c: dict[str, Any]) -> dict[str, Any]:
    """The timer that delivers a signal (``away``'s ``after``)."""
    body: dict[str, Any] = c["states"]["away"]["after"][0]
    return body


def region(c: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = c["states"]["present"]["regions"]["mood"]
    return body


def guarded(c: dict[str, Any], index: int = 0) -> dict[str, Any]:
    """A transition with guards (``calm_down``'s)."""
    body: dict[str, Any] = c["signals"]["calm_down"]["transitions"][index]
    return body


def choices_arg(c: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = c["commands"]["note"]["args"]["text"]
    return body


#: (id, mutation, a fragment of the loader's message): the loader and the schema must
#: both reject each, so the schema cannot drift from the loader's shape rules.
REJECTED: list[tuple[str, Mutation, str]] = [
    ("unknown top key", lambda c: c.update(colour="red"), "unknown key 'colour'"),
    ("unknown defaults key", lambda c: c["defaults"].update(retries=1), "unknown key 'retries'"),
    (
        "unknown state key",
        lambda c: c["states"]["away"].update(histroy="shallow"),
        "unknown key 'histroy'",
    ),
    (
        "unknown command key",
        lambda c: c["commands"]["start"].update(guard="x"),
        "unknown key 'guard'",
    ),
    (
        "unknown argument key",
        lambda c: c["commands"]["work"]["args"]["job"].update(default="x"),
        "unknown key 'default'",
    ),
    (
        "unknown when_given key",
        lambda c: c["commands"]["work"]["args"]["for_whom"]["when_given"].update(pending="queue"),
        "unknown key 'pending'",
    ),
    (
        "unknown signal key",
        lambda c: c["signals"]["done"].update(fields=["x"]),
        "unknown key 'fields'",
    ),
    (
        "unknown transition key",
        lambda c: c["signals"]["done"]["transitions"][0].update(guard="x"),
        "unknown key 'guard'",
    ),
    (
        "unknown notification key",
        lambda c: c["notifications"]["onWork"].update(payload=["job"]),
        "unknown key 'payload'",
    ),
    ("missing chart", lambda c: c.pop("chart"), "missing required key 'chart'"),
    ("missing initial", lambda c: c.pop("initial"), "missing required key 'initial'"),
    ("missing states", lambda c: c.pop("states"), "missing required key 'states'"),
    ("no states", lambda c: c.update(states={}), "chart declares no states"),
    ("chart not a string", lambda c: c.update(chart=7), "chart name must be a string"),
    ("version not a number", lambda c: c.update(version="two"), "version must be a number"),
    ("description not a string", lambda c: c.update(description=1), "must be a string"),
    ("rights null", lambda c: c.update(rights=None), "rights must be a string"),
    (
        "timeout not a number",
        lambda c: c["commands"]["work"].update(timeout="soon"),
        "timeout must be a number",
    ),
    ("timeout zero", lambda c: c["defaults"].update(timeout=0), "must be greater than 0"),
    (
        "pending not a choice",
        lambda c: c["commands"]["start"].update(pending="later"),
        "pending must be one of",
    ),
    (
        "argument type not a choice",
        lambda c: c["commands"]["work"]["args"]["job"].update(type="str"),
        "type must be one of",
    ),
    (
        "required not a boolean",
        lambda c: c["commands"]["work"]["args"]["job"].update(required="no"),
        "required must be true or false",
    ),
    (
        "history not shallow",
        lambda c: c["states"]["present"].update(history="deep"),
        "history must be one of shallow",
    ),
    ("history on a leaf", lambda c: c["states"].update(away={"history": "shallow"}), "has history"),
    (
        "initial on a leaf",
        lambda c: c["states"].update(away={"initial": "present"}),
        "has initial but no children",
    ),
    (
        "composite without initial",
        lambda c: c["states"]["present"].pop("initial"),
        "has children but no 'initial'",
    ),
    ("state body a list", lambda c: c["states"].update(away=[]), "must be a mapping, not a list"),
    (
        "state name with a dot",
        lambda c: c["states"]["present"]["states"].update({"a.b": None}),
        "must be non-empty and have no dot",
    ),
    (
        "command body null",
        lambda c: c["commands"].update(start=None),
        "missing required key 'from'",
    ),
    ("command without from", lambda c: c["commands"]["start"].pop("from"), "'from'"),
    (
        "command from nowhere",
        lambda c: c["commands"]["start"].update({"from": []}),
        "is allowed from no state",
    ),
    (
        "from a mapping",
        lambda c: c["commands"]["start"].update({"from": {"away": 1}}),
        "must be a string or a list of strings",
    ),
    (
        "transition without from",
        lambda c: c["signals"]["done"]["transitions"][0].pop("from"),
        "missing required key 'from'",
    ),
    (
        "transition from nowhere",
        lambda c: c["signals"]["done"]["transitions"][0].update({"from": []}),
        "has an empty 'from'",
    ),
    ("transitions null", lambda c: c["signals"]["done"].update(transitions=None), "must be a list"),
    (
        "to not a string",
        lambda c: c["signals"]["done"]["transitions"][0].update(to=["idle"]),
        "to must be a string",
    ),
    (
        "emit a string",
        lambda c: c["signals"]["started"]["transitions"][0].update(emit="onStart"),
        "emit must be a list",
    ),
    (
        "emit item with two names",
        lambda c: c["signals"]["done"]["transitions"][0].update(
            emit=[{"onStart": None, "onWork": None}]
        ),
        "write a notification name or",
    ),
    (
        "emit item a number",
        lambda c: c["signals"]["done"]["transitions"][0].update(emit=[3]),
        "must be a string, not a number",
    ),
    (
        "emit constant a list",
        lambda c: c["signals"]["working"]["transitions"][0].update(
            emit=[{"onWork": {"result": ["ok"]}}]
        ),
        "must be a single value",
    ),
    ("payload null", lambda c: c["signals"]["working"].update(payload=None), "payload must be"),
    (
        "fields a mapping",
        lambda c: c["notifications"]["onWork"].update(fields={"job": 1}),
        "fields must be a string or a list of strings",
    ),
    # --- settings and extends
    ("settings a list", lambda c: c.update(settings=["limit"]), "settings must be a mapping"),
    ("setting a list", lambda c: c["settings"].update(limit=[30]), "must be a single value"),
    ("extends not a string", lambda c: c.update(extends=["agent"]), "extends must be a string"),
    # --- regions
    ("regions a list", lambda c: c["states"]["present"].update(regions=["mood"]),
     "must be a mapping"),
    ("region without states", lambda c: region(c).pop("states"), "has no states"),
    ("region body null", lambda c: c["states"]["present"]["regions"].update(mood=None),
     "has no states"),
    ("region without initial", lambda c: region(c).pop("initial"),
     "region 'present.mood' has children but no 'initial'"),
    ("region name with a dot", lambda c: c["states"]["present"]["regions"].update(
        {"a.b": {"initial": "x", "states": {"x": None}}}), "must be non-empty and have no dot"),
    ("unknown region key", lambda c: region(c).update(inital="calm"), "unknown key 'inital'"),
    # --- timers
    ("after not a list", lambda c: c["states"]["away"].update(after={"seconds": 1}),
     "after must be a list"),
    ("unknown timer key", lambda c: timer(c).update(colour="red"), "unknown key 'colour'"),
    ("timer without seconds", lambda c: signal_timer(c).pop("seconds"),
     "missing required key 'seconds'"),
    ("timer without a target", lambda c: timer(c).pop("to"), "has no target"),
    ("timer with a signal and a target", lambda c: signal_timer(c).update(to="present"),
     "a timer that delivers a signal takes no 'to'"),
    ("timer with a signal and a send", lambda c: signal_timer(c).update(send=["start"]),
     "takes no 'send'"),
    ("timer signal not a string", lambda c: signal_timer(c).update(signal=["started"]),
     "signal must be a string"),
    ("seconds of two references", lambda c: signal_timer(c).update(
        seconds={"field": "limit", "setting": "limit"}), "write one of {field: x}"),
    ("seconds an unknown reference", lambda c: signal_timer(c).update(seconds={"feld": "x"}),
     "unknown key 'feld'"),
    ("seconds a nested list", lambda c: signal_timer(c).update(seconds=[[1]]),
     "must be a value, a reference or a list of them"),
    ("reference not a string", lambda c: signal_timer(c).update(seconds={"setting": 3}),
     "setting must be a string"),
    # --- guards
    ("when a string", lambda c: guarded(c).update(when="busy"), "must be a mapping"),
    ("guard of an unknown kind", lambda c: guarded(c).update(when={"on": "busy"}),
     "unknown key 'on'"),
    ("guard of two kinds", lambda c: guarded(c).update(when={"in": "busy", "not_in": "away"}),
     "each condition is one of"),
    ("guard without is or not", lambda c: guarded(c).update(when={"field": "why"}),
     "needs exactly one of 'is' or 'not'"),
    ("guard with is and not", lambda c: guarded(c).update(
        when={"setting": "mode", "is": "fast", "not": "slow"}), "needs exactly one of 'is'"),
    ("in guard with is", lambda c: guarded(c).update(when={"in": "busy", "is": True}),
     "'in' takes a state, not 'is' or 'not'"),
    ("guard value a mapping", lambda c: guarded(c).update(when={"field": "why", "is": {"a": 1}}),
     "must be a single value"),
    ("guard field not a string", lambda c: guarded(c).update(when={"field": 3, "is": 1}),
     "field must be a string"),
    ("guard state a mapping", lambda c: guarded(c).update(when={"in": {"busy": 1}}),
     "must be a string or a list of strings"),
    # --- sends and kept values
    ("send not a list", lambda c: guarded(c, 1).update(send="start"), "send must be a list"),
    ("send of two commands", lambda c: guarded(c, 1).update(send=[{"start": None, "work": None}]),
     "write a command name or {command: {argument: value}}"),
    ("send with only a guard", lambda c: guarded(c, 1).update(send=[{"when": {"in": "calm"}}]),
     "write a command name or"),
    ("send item a number", lambda c: guarded(c, 1).update(send=[3]), "must be a string"),
    ("send arguments a list", lambda c: guarded(c, 1).update(send=[{"note": ["hi"]}]),
     "must be a mapping"),
    ("send argument a nested list", lambda c: guarded(c, 1).update(
        send=[{"note": {"text": [["hi"]]}}]), "must be a value, a reference or a list of them"),
    ("send guard of an unknown kind", lambda c: guarded(c, 1).update(
        send=[{"start": None, "when": {"inn": "calm"}}]), "unknown key 'inn'"),
    ("keep a list", lambda c: c["signals"]["noted"]["transitions"][0].update(keep=["last"]),
     "keep must be a mapping"),
    ("kept value of an unknown kind", lambda c: c["signals"]["noted"]["transitions"][0].update(
        keep={"last": {"payload": "text"}}), "unknown key 'payload'"),
    # --- local commands and choices
    ("local not a boolean", lambda c: c["commands"]["note"].update(local="yes"),
     "local must be true or false"),
    ("local without confirm", lambda c: c["commands"]["note"].pop("confirm"),
     "is local: it needs a 'confirm' signal"),
    ("no choices", lambda c: choices_arg(c).update(choices=[]), "has no choices"),
    ("choices a string", lambda c: choices_arg(c).update(choices="hi"), "choices must be a list"),
    ("a choice a list", lambda c: choices_arg(c).update(choices=[["hi"]]),
     "must be a single value"),
    ("a secret with choices", lambda c: choices_arg(c).update(secret=True),
     "a secret has no choices"),
]  # fmt: skip


def test_base_chart_is_accepted_by_loader_and_schema(chart_schema: dict[str, Any]) -> None:
    chart = base_chart()
    load_chart_text(yaml.safe_dump(chart, sort_keys=False), "base.yaml")
    for validator in VALIDATORS:
        assert list(validator(chart_schema).iter_errors(chart)) == []


@pytest.mark.parametrize(
    ("mutate", "message"), [c[1:] for c in REJECTED], ids=[c[0] for c in REJECTED]
)
def test_shape_mistakes_are_rejected_by_loader_and_schema(
    chart_schema: dict[str, Any], mutate: Mutation, message: str
) -> None:
    chart = copy.deepcopy(base_chart())
    mutate(chart)
    with pytest.raises(SpecError) as caught:
        load_chart_text(yaml.safe_dump(chart, sort_keys=False), "bad.yaml")
    assert any(message in p.message for p in caught.value.problems), str(caught.value)
    for validator in VALIDATORS:
        assert not validator(chart_schema).is_valid(chart), validator.__name__


def sections_null(c: dict[str, Any]) -> None:
    c.update(commands=None, defaults=None, settings=None, notifications={"onStart": None})
    c.update(signals={"started": c["signals"]["started"]}, states={"away": None, "present": None})


def constants_of_every_scalar_type(c: dict[str, Any]) -> None:
    c["notifications"]["onWork"]["fields"] = ["job", "result", "n", "f", "z"]
    constants = {"result": True, "n": 1, "f": 0.5, "z": None}
    c["signals"]["working"]["transitions"][0]["emit"] = [{"onWork": constants}]


def nested_three_deep(c: dict[str, Any]) -> None:
    busy = {"initial": "a", "states": {"a": None, "b": {"description": "deeper"}}}
    c["states"]["present"]["states"]["busy"] = busy
    # declared on a child of `busy`, which also has one: an override, not a duplicate
    c["signals"]["done"]["transitions"].append({"from": "a", "to": "b"})


def regions_null(c: dict[str, Any]) -> None:
    c["states"]["present"]["regions"] = None
    # nothing refers to the region's states any more
    del c["commands"]["note"], c["signals"]["noted"], c["signals"]["calm_down"]


#: Unusual but legal shapes: both must accept them, or the editor nags about good charts.
ACCEPTED: list[tuple[str, Mutation]] = [
    ("sections null", sections_null),
    ("rights a single name", lambda c: c.update(rights="boss")),
    ("from a single state", lambda c: c["signals"]["done"]["transitions"][0].update(
        {"from": "busy"})),
    ("arguments null", lambda c: c["commands"]["work"].update(args=None)),
    ("argument body null", lambda c: c["commands"]["work"]["args"].update(job=None)),
    ("when_given null", lambda c: c["commands"]["work"]["args"]["for_whom"].update(
        when_given=None)),
    ("leaf with empty children", lambda c: c["states"].update(away={"states": None})),
    ("emit constants null", lambda c: c["signals"]["working"]["transitions"][0].update(
        emit=[{"onWork": None}])),
    ("emit constants of every scalar type", constants_of_every_scalar_type),
    ("nested three deep", nested_three_deep),
    ("regions null", regions_null),
    ("regions without children", lambda c: c["states"].update(away={
        "regions": {"r": {"initial": "x", "states": {"x": None}}}})),
    ("a region with regions", lambda c: region(c).update(
        regions={"inner": {"initial": "x", "states": {"x": None}}})),
    ("a region with history and timers", lambda c: region(c).update(
        history="shallow", after=[{"seconds": 2, "to": "calm"}])),
    ("after empty", lambda c: c["states"]["away"].update(after=[])),
    ("seconds null", lambda c: signal_timer(c).update(seconds=None)),
    ("seconds a number", lambda c: signal_timer(c).update(seconds=2.5)),
    ("seconds of every source", lambda c: signal_timer(c).update(
        seconds=[{"kept": "late"}, {"setting": "limit"}, None, 5])),
    ("a guard, not a list", lambda c: guarded(c).update(when={"in": "busy"})),
    ("no guards", lambda c: guarded(c, 1).update(when=[])),
    ("guard values a list", lambda c: guarded(c).update(
        when={"setting": "mode", "is": ["fast", 1]})),
    ("send arguments null", lambda c: guarded(c, 1).update(send=[{"start": None}])),
    ("keep null", lambda c: timer(c).update(keep=None)),
    ("local false", lambda c: c["commands"]["start"].update(local=False)),
    ("extends without states or initial", lambda c: (c.clear(), c.update(
        chart="mine", extends="agent", settings={"wrap_up_seconds": 30}))),
    # restated states give only what they change: the base gives `initial` and the rest
    ("extends with partial states", lambda c: (c.clear(), c.update(
        chart="mine", extends="agent", states={"checked_in": {
            "states": {"wrap_up": {"description": "notes"}},
            "regions": {"next": {"states": {"unchanged": {"description": "as before"}}}}}}))),
]  # fmt: skip


@pytest.mark.parametrize("mutate", [c[1] for c in ACCEPTED], ids=[c[0] for c in ACCEPTED])
def test_legal_shapes_are_accepted_by_loader_and_schema(
    chart_schema: dict[str, Any], mutate: Mutation
) -> None:
    chart = copy.deepcopy(base_chart())
    mutate(chart)
    load_chart_text(yaml.safe_dump(chart, sort_keys=False), "ok.yaml")
    for validator in VALIDATORS:
        errors = [f"{e.json_path}: {e.message}" for e in validator(chart_schema).iter_errors(chart)]
        assert errors == [], validator.__name__
