"""A rule's conditions, prepared once, decide as the plain comparison does: a fixed text
or number is matched by a set look-up when the field is text, by ``_matches`` otherwise."""

from __future__ import annotations

from typing import Any

import pytest

from cti_fsm.events import Malformed
from cti_fsm.vendor_map import _ABSENT, SignalRule, _matches

EXPECTED: list[Any] = ["QueueMemberPause", 1, 1.5, ["A", 2], [["x"], "y"], None, True, "{device}"]
ACTUAL: list[Any] = ["QueueMemberPause", "1", "1.5", "A", "2", "x", "y", "", 1, True, None]
ACTUAL += [["1", "A"], ("z", "y"), "PJSIP/8001", _ABSENT]


@pytest.mark.parametrize("expected", EXPECTED, ids=repr)
@pytest.mark.parametrize("actual", ACTUAL, ids=repr)
def test_a_prepared_condition_decides_as_matches_does(expected: Any, actual: Any) -> None:
    context = {"device": "PJSIP/8001"}
    rule = SignalRule(signal="s", when={"Field": expected, "cti.Field": expected})
    message: dict[str, Any] = {} if actual is _ABSENT else {"Field": actual}
    message["cti"] = dict(message)
    found = rule.match(message, context)
    if isinstance(actual, (list, tuple)):
        # a list (a repeated key, a JSON array) where a condition reads one value: malformed
        assert isinstance(found, Malformed)
        assert "'Field' is a " in found.reason
        return
    wanted = _matches(context["device"] if expected == "{device}" else expected, actual)
    assert (found is not None) is wanted
