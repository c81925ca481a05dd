"""The csta-ws codec: one JSON object per websocket message; bad frames are reported, never
raised, and the next frame decodes normally."""

from __future__ import annotations

import json

import pytest
from cti_fsm_csta_ws.codec import DEFAULT_MAX_FRAME, JsonCodec
from hypothesis import given, settings
from hypothesis import strategies as st

from cti_fsm.adapter import EXCERPT_CHARS, Malformed

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
_messages = st.dictionaries(st.text(max_size=10), _json, max_size=6)


@settings(max_examples=60, deadline=None)
@given(_messages)
def test_round_trip(message: dict[str, object]) -> None:
    codec = JsonCodec()
    frame = codec.encode(message)
    assert isinstance(frame, str)
    assert codec.feed(frame) == [message]
    assert codec.feed(frame.encode("utf-8")) == [message]  # a binary frame decodes alike


def test_encode_is_compact_and_keeps_unicode() -> None:
    assert JsonCodec().encode({"a": [1, 2], "name": "张三"}) == '{"a":[1,2],"name":"张三"}'


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        ("this is not JSON {", "not JSON"),
        ('{"type": "event", "event": "held", "par', "truncated JSON"),
        ('{"type": "event"', "truncated JSON"),
        ("[1, 2, 3]", "not list"),
        ('"just a string"', "not str"),
        ("42", "not int"),
        ("null", "not NoneType"),
        ('{"value": NaN}', "not acceptable JSON"),
        ('{"value": Infinity}', "not acceptable JSON"),
        ("[" * 100_000 + "]" * 100_000, "not acceptable JSON"),
        (b"\xff\xfe{}", "not UTF-8"),
        ("", "truncated JSON"),
    ],
)
def test_bad_frames_are_malformed_not_raised(frame: str | bytes, reason: str) -> None:
    [item] = JsonCodec().feed(frame)
    assert isinstance(item, Malformed)
    assert reason in item.reason
    assert len(item.excerpt) <= EXCERPT_CHARS


def test_oversized_frame_is_refused_unread() -> None:
    codec = JsonCodec(max_frame=100)
    big = json.dumps({"type": "event", "filler": "x" * 200})
    [item] = codec.feed(big)
    assert isinstance(item, Malformed)
    assert "exceeds the 100 limit" in item.reason
    assert item.excerpt == big[:EXCERPT_CHARS]


def test_the_default_limit_admits_a_large_honest_message() -> None:
    # a supervisor's list of a few thousand agents must fit
    agents = [
        {"agentID": str(i), "device": str(8000 + i), "situation": "ready"} for i in range(5000)
    ]
    frame = JsonCodec().encode({"type": "response", "result": {"agents": agents}})
    assert len(frame) < DEFAULT_MAX_FRAME
    [item] = JsonCodec().feed(frame)
    assert not isinstance(item, Malformed)


def test_decoding_goes_on_after_bad_frames() -> None:
    codec = JsonCodec(max_frame=1000)
    good = codec.encode({"type": "event", "event": "held"})
    frames: list[str | bytes] = ["garbage", good, '{"cut', "x" * 2000, b"\xc3", "[]", good]
    results = [codec.feed(f) for f in frames]
    assert [type(r[0]).__name__ for r in results] == [
        "Malformed",
        "dict",
        "Malformed",
        "Malformed",
        "Malformed",
        "Malformed",
        "dict",
    ]
    assert results[1] == results[6] == [{"type": "event", "event": "held"}]


def test_encode_refuses_what_json_cannot_carry() -> None:
    with pytest.raises(ValueError):
        JsonCodec().encode({"x": float("nan")})
    with pytest.raises(TypeError):
        JsonCodec().encode({"x": object()})


def test_max_frame_must_be_positive() -> None:
    with pytest.raises(ValueError):
        JsonCodec(max_frame=0)
