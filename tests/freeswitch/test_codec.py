"""The ESL codec: every content type FreeSWITCH writes, the limits, and split independence."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cti_fsm_freeswitch_esl.codec import (
    BODY,
    EncodeError,
    EslCodec,
    encode_command,
    encode_event_json,
    encode_event_plain,
    encode_frame,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from cti_fsm.adapter import Malformed

CAPTURES = Path(__file__).resolve().parents[1] / "captures" / "freeswitch-esl"

EX1 = "neventsocket_ex1_inbound-bridge-to-agent-answer-caller-hangup.txt"
EX4 = "neventsocket_ex4_bridged-DTMF-record-att_xfer-failed.txt"

AUTH = b"Content-Type: auth/request\n\n"
ACCEPTED = b"Content-Type: command/reply\nReply-Text: +OK accepted\n\n"
API = b"Content-Type: api/response\nContent-Length: 4\n\n+OK\n"
#: a BACKGROUND_JOB as mod_event_socket writes it: outer length, URL-encoded headers, the
#: empty line, then the job's result under its own Content-Length
JOB_BODY = (
    b"Job-UUID: 7f4db78a-17d7-11dd-b7a0-db4edd065621\n"
    b"Job-Command: callcenter_config\n"
    b"Job-Command-Arg: agent%20set%20status%201000%40default%20Available\n"
    b"Event-Name: BACKGROUND_JOB\n"
    b"Content-Length: 4\n\n+OK\n"
)
JOB = b"Content-Length: %d\nContent-Type: text/event-plain\n\n%s" % (len(JOB_BODY), JOB_BODY)
CC_JSON = json.dumps(
    {
        "Event-Name": "CUSTOM",
        "Event-Subclass": "callcenter::info",
        "CC-Agent": "1000@default",
        "CC-Action": "agent-status-change",
        "CC-Agent-Status": "Available (On Demand)",
    }
).encode()
JSON_EVENT = b"Content-Length: %d\nContent-Type: text/event-json\n\n%s" % (len(CC_JSON), CC_JSON)
DISCONNECT = (
    b"Content-Type: text/disconnect-notice\nContent-Length: 67\n\n"
    b"Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"
)
RUDE = b"Content-Type: text/rude-rejection\nContent-Length: 24\n\nAccess Denied, go away.\n"
LOG = (
    b"Content-Type: log/data\nContent-Length: 12\nLog-Level: 7\nText-Channel: 3\n"
    b"Log-File: switch_core.c\n\nhello world\n"
)
STREAM = AUTH + ACCEPTED + API + JOB + JSON_EVENT + LOG + DISCONNECT + RUDE


def decode(data: bytes, **limits: Any) -> list[Any]:
    return EslCodec(**limits).feed(data)


def test_every_content_type_decodes_to_one_flat_message() -> None:
    auth, reply, api, job, event, log, bye, rude = decode(STREAM)
    assert auth == {"Content-Type": "auth/request"}
    assert reply == {"Content-Type": "command/reply", "Reply-Text": "+OK accepted"}
    assert api == {"Content-Type": "api/response", "Content-Length": "4", BODY: "+OK\n"}
    # the plain event: its own headers, URL-decoded, its own body under _body
    assert job["Content-Type"] == "text/event-plain"
    assert job["Event-Name"] == "BACKGROUND_JOB"
    assert job["Job-Command-Arg"] == "agent set status 1000@default Available"
    assert job[BODY] == "+OK\n"
    assert event["Content-Type"] == "text/event-json"
    assert event["CC-Agent-Status"] == "Available (On Demand)"
    assert log["Log-Level"] == "7" and log[BODY] == "hello world\n"
    assert bye[BODY].startswith("Disconnected, goodbye.")
    assert rude == {
        "Content-Type": "text/rude-rejection",
        "Content-Length": "24",
        BODY: "Access Denied, go away.\n",
    }


def test_a_json_event_keeps_its_body_under_body() -> None:
    raw = encode_event_json({"Event-Name": "BACKGROUND_JOB", "Job-UUID": "j1", BODY: "-ERR no\n"})
    (event,) = decode(raw)
    assert event["Content-Length"] == "8" and event[BODY] == "-ERR no\n"


def test_what_the_encoders_write_decodes_back() -> None:
    event = {"Event-Name": "CUSTOM", "CC-Member-CID-Name": "CHOUINARD MO: 50% off", "A": "b\nc"}
    (plain,) = decode(encode_event_plain(event))
    (as_json,) = decode(encode_event_json(event))
    for decoded in (plain, as_json):
        assert {k: decoded[k] for k in event} == event


def test_the_official_json_capture_and_the_plain_one_agree(captures: Path) -> None:
    (as_json,) = decode(
        (captures / "esl-core_fs1.10_live_channel-bridge-loopback-json.esl").read_bytes()
    )
    (plain,) = decode(
        (captures / "esl-core_fs1.10_live_channel-bridge-loopback-plain.esl").read_bytes()
    )
    assert as_json["Event-Name"] == plain["Event-Name"] == "CHANNEL_BRIDGE"
    assert plain["FreeSWITCH-IPv6"] == "::1"  # %3A%3A1 on the wire
    assert plain["Event-Date-GMT"].startswith("Tue, 14 Apr 2026")
    assert as_json["Other-Leg-Unique-ID"] == "cbb0a495-37ec-49b7-9198-35f5d1fe2505"


def test_a_whole_recorded_stream_decodes_with_no_damage(captures: Path) -> None:
    out = decode((captures / EX1).read_bytes())
    assert not any(isinstance(m, Malformed) for m in out)
    kinds = [m["Content-Type"] for m in out]
    assert kinds.count("text/event-plain") == 14
    assert kinds.count("api/response") == 2
    assert kinds[-1] == "text/disconnect-notice"
    # the outbound socket's connect reply: channel data, Content-Type last
    assert out[0]["Event-Name"] == "CHANNEL_DATA" and out[0]["Reply-Text"] == "+OK\n"


@settings(max_examples=60, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=12))
def test_any_split_of_the_stream_decodes_as_the_whole(cuts: list[int]) -> None:
    whole = decode(STREAM)
    codec = EslCodec()
    out: list[Any] = []
    points = sorted(set(cuts))
    for a, b in zip([0, *points], [*points, len(STREAM)], strict=True):
        out += codec.feed(STREAM[a:b])
    assert out == whole


@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_any_split_of_a_recorded_stream_decodes_as_the_whole(data: st.DataObject) -> None:
    stream = (CAPTURES / EX4).read_bytes()
    whole = decode(stream)
    cuts = sorted(set(data.draw(st.lists(st.integers(0, len(stream)), max_size=30))))
    codec = EslCodec()
    out: list[Any] = []
    for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        out += codec.feed(stream[a:b])
    assert out == whole


@settings(max_examples=60, deadline=None)
@given(
    junk=st.binary(max_size=300),
    cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=8),
)
def test_garbage_anywhere_never_raises_and_splits_do_not_matter(
    junk: bytes, cuts: list[int]
) -> None:
    stream = AUTH + junk + b"\n\n" + ACCEPTED + junk + API
    limits = {"max_header": 128, "max_body": 64}
    whole = decode(stream, **limits)
    codec = EslCodec(**limits)
    out: list[Any] = []
    points = sorted({c for c in cuts if c <= len(stream)})
    for a, b in zip([0, *points], [*points, len(stream)], strict=True):
        out += codec.feed(stream[a:b])
    assert out == whole


def test_a_body_above_the_limit_is_skipped_as_it_arrives_and_the_next_frame_decodes() -> None:
    codec = EslCodec(max_body=100)
    head = b"Content-Type: api/response\nContent-Length: 5000\n\n"
    first = codec.feed(head + b"x" * 1000)
    assert len(first) == 1 and isinstance(first[0], Malformed)
    assert "Content-Length 5000 is above the limit of 100 bytes" in first[0].reason
    assert codec.feed(b"x" * 3000) == []
    assert len(codec._buffer) == 0  # nothing of the refused body is kept
    assert codec.feed(b"x" * 1000 + ACCEPTED) == [
        {"Content-Type": "command/reply", "Reply-Text": "+OK accepted"}
    ]


def test_a_header_block_above_the_limit_is_dropped_up_to_its_end() -> None:
    codec = EslCodec(max_header=64)
    out = codec.feed(b"Content-Type: command/reply\nReply-Text: " + b"y" * 500)
    assert [m.reason for m in out] == ["header block longer than 64 bytes"]
    assert len(codec._buffer) <= 3
    assert codec.feed(b"y" * 10_000) == []
    assert len(codec._buffer) <= 3
    assert codec.feed(b"\n\n" + ACCEPTED) == [
        {"Content-Type": "command/reply", "Reply-Text": "+OK accepted"}
    ]


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (b"Reply-Text: +OK\n\n", "frame has no Content-Type"),
        (b"Content-Type: api/response\nContent-Length: four\n\n", "is not a number"),
        (b"Content-Length: 3\nContent-Type: text/event-json\n\n[1]", "not an object"),
        (b"Content-Length: 3\nContent-Type: text/event-json\n\n{x}", "not JSON"),
        (
            b"Content-Length: 32\nContent-Type: text/event-plain\n\n"
            b"Event-Name: X\nContent-Length: 9\n\n",
            "says Content-Length 9 but 0 bytes follow",
        ),
    ],
)
def test_a_broken_frame_is_one_malformed_and_the_next_frame_decodes(
    frame: bytes, reason: str
) -> None:
    *bad, good = decode(frame + ACCEPTED)
    assert len(bad) == 1 and isinstance(bad[0], Malformed) and reason in bad[0].reason
    assert good == {"Content-Type": "command/reply", "Reply-Text": "+OK accepted"}


def test_an_inner_content_length_above_the_limit_is_refused() -> None:
    body = b"Event-Name: BACKGROUND_JOB\nContent-Length: 999999\n\n+OK\n"
    frame = encode_frame({"Content-Type": "text/event-plain"}, body)
    (bad,) = decode(frame, max_body=1000)
    assert isinstance(bad, Malformed) and "above the limit of 1000" in bad.reason


def test_crlf_from_a_peer_is_read_too() -> None:
    assert decode(b"Content-Type: command/reply\r\nReply-Text: +OK\r\n\r\n") == [
        {"Content-Type": "command/reply", "Reply-Text": "+OK"}
    ]


def test_commands_are_written_as_libesl_writes_them() -> None:
    assert encode_command({"Command": "auth", "Secret": "ClueCon"}) == b"auth ClueCon\n\n"
    assert (
        encode_command(
            {
                "Command": "bgapi callcenter_config agent get status 1000@default",
                "Job-UUID": "cti-7",
            }
        )
        == b"bgapi callcenter_config agent get status 1000@default\nJob-UUID: cti-7\n\n"
    )


@pytest.mark.parametrize(
    "message",
    [
        {"Command": "api status\n\nexit"},
        {"Command": "bgapi status", "Job-UUID": "x\ny"},
        {"Command": "auth", "Secret": "pw\nexit"},
        {"Job-UUID": "x"},
    ],
)
def test_a_command_that_would_break_the_framing_is_refused(message: dict[str, str]) -> None:
    with pytest.raises(EncodeError) as info:
        encode_command(message)
    assert "pw" not in str(info.value)  # a secret is never quoted
