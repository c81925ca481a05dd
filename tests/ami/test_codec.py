"""The AMI codec: framing, leniency where Asterisk is irregular, limits, and encoding."""

from __future__ import annotations

from pathlib import Path

import pytest
from cti_fsm_asterisk_ami.codec import AmiCodec, EncodeError, encode_packet
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cti_fsm.adapter import Malformed

RAW = "asterisk-mqtt_freepbx_answered-outbound.raw"
AST11 = "panoramisk_xivo-ast11_QueueStatus-response.yaml"


def decode_whole(data: bytes) -> list[object]:
    codec = AmiCodec()
    return codec.feed(data)


def decode_split(data: bytes, cuts: list[int]) -> list[object]:
    codec = AmiCodec()
    out: list[object] = []
    last = 0
    for cut in [*sorted(cuts), len(data)]:
        out.extend(codec.feed(data[last:cut]))
        last = cut
    return out


def test_banner_then_packets_crlf() -> None:
    out = decode_whole(
        b"Asterisk Call Manager/5.0.1\r\n"
        b"Response: Success\r\nActionID: cti-1-0\r\nMessage: Authentication accepted\r\n\r\n"
        b"Event: FullyBooted\r\nPrivilege: system,all\r\nStatus: Fully Booted\r\n\r\n"
    )
    assert out == [
        {"Banner": "Asterisk Call Manager/5.0.1"},
        {"Response": "Success", "ActionID": "cti-1-0", "Message": "Authentication accepted"},
        {"Event": "FullyBooted", "Privilege": "system,all", "Status": "Fully Booted"},
    ]


def test_lf_only_and_empty_values() -> None:
    out = decode_whole(b"Event: Newchannel\nAccountCode: \nChannel: PJSIP/1-0001\n\n")
    assert out == [{"Event": "Newchannel", "AccountCode": "", "Channel": "PJSIP/1-0001"}]


def test_repeated_keys_are_kept_in_order_as_a_list() -> None:
    out = decode_whole(
        b"Event: Newchannel\r\nChanVariable: A=1\r\nChanVariable: B=2\r\n"
        b"ChanVariable: C=3\r\nChannel: X\r\n\r\n"
    )
    assert out == [{"Event": "Newchannel", "ChanVariable": ["A=1", "B=2", "C=3"], "Channel": "X"}]


def test_unknown_events_and_keys_pass_through() -> None:
    out = decode_whole(b"Event: SomethingNew\r\nX-Vendor-Key: v: with colon\r\n\r\n")
    assert out == [{"Event": "SomethingNew", "X-Vendor-Key": "v: with colon"}]


def test_malformed_line_is_reported_and_decoding_goes_on() -> None:
    out = decode_whole(
        b"Event: Hangup\r\nthis line has no colon\r\nChannel: PJSIP/1-0001\r\n\r\n"
        b"Event: Newstate\r\nChannel: PJSIP/1-0001\r\n\r\n"
    )
    assert isinstance(out[0], Malformed) and "Key: Value" in out[0].reason
    assert out[0].excerpt == "this line has no colon"
    assert out[1:] == [
        {"Event": "Hangup", "Channel": "PJSIP/1-0001"},
        {"Event": "Newstate", "Channel": "PJSIP/1-0001"},
    ]


def test_packet_without_type_is_malformed() -> None:
    out = decode_whole(b"Channel: PJSIP/1-0001\r\nUniqueid: 1.2\r\n\r\nEvent: Ok\r\n\r\n")
    assert isinstance(out[0], Malformed) and "no Event" in out[0].reason
    assert out[1] == {"Event": "Ok"}


def test_missing_blank_line_between_two_events_splits_them() -> None:
    # seen in a real QueueStatus answer: two QueueMember rows with no empty line between
    out = decode_whole(
        b"Event: QueueMember\r\nName: a\r\nActionID: 7\r\nEvent: QueueMember\r\nName: b\r\n\r\n"
    )
    assert out == [
        {"Event": "QueueMember", "Name": "a", "ActionID": "7"},
        {"Event": "QueueMember", "Name": "b"},
    ]


def test_follows_response_keeps_command_output() -> None:
    out = decode_whole(
        b"Response: Follows\r\nPrivilege: Command\r\nActionID: 3\r\n"
        b"Name/username: 1001\r\nline two\r\nlast--END COMMAND--\r\n\r\n"
    )
    assert out == [
        {
            "Response": "Follows",
            "Privilege": "Command",
            "ActionID": "3",
            "Name/username": "1001",
            "Output": ["line two", "last"],
        }
    ]


def test_oversized_packet_is_dropped_once_and_the_stream_recovers() -> None:
    codec = AmiCodec(max_packet=200)
    big = b"Event: Cdr\r\n" + b"".join(b"Field%d: %s\r\n" % (i, b"x" * 40) for i in range(20))
    out = codec.feed(big + b"\r\nEvent: After\r\n\r\n")
    assert [type(o) for o in out] == [Malformed, dict]
    assert "longer than 200" in out[0].reason  # type: ignore[union-attr]
    assert out[1] == {"Event": "After"}


def test_endless_line_does_not_grow_the_buffer() -> None:
    codec = AmiCodec(max_packet=100)
    first = codec.feed(b"Event: " + b"x" * 500)
    assert len(first) == 1 and isinstance(first[0], Malformed)
    assert codec.feed(b"y" * 500) == []  # still skipping, nothing kept
    assert codec.feed(b"\r\n\r\nEvent: Next\r\n\r\n") == [{"Event": "Next"}]


def test_invalid_utf8_never_raises() -> None:
    out = decode_whole(b"Event: Newchannel\r\nCallerIDName: caf\xe9\r\n\r\n")
    assert out == [{"Event": "Newchannel", "CallerIDName": "caf\ufffd"}]


@pytest.mark.parametrize("line_end", [b"\n", b"\r\n"])
def test_every_byte_boundary_split_of_a_capture_decodes_identically(
    captures: Path, line_end: bytes
) -> None:
    # the recorded QueueStatus answer as is (LF) and as a live server sends it (CRLF), so
    # cuts also fall between CR and LF
    data = (captures / AST11).read_bytes().replace(b"\n", line_end)
    whole = decode_whole(data)
    assert len(whole) == 9
    for cut in range(1, len(data)):
        assert decode_split(data, [cut]) == whole, f"split at byte {cut}"


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.integers(min_value=1, max_value=10261), max_size=30))
def test_many_random_splits_decode_identically(captures: Path, cuts: list[int]) -> None:
    data = (captures / RAW).read_bytes()
    assert decode_split(data, [c for c in cuts if c < len(data)]) == decode_whole(data)


def test_encode_packet_crlf_repeats_lists_and_ends_with_blank_line() -> None:
    packet = {"Action": "Originate", "Variable": ["A=1", "B=2"], "Async": True, "Empty": None}
    assert encode_packet(packet) == (
        b"Action: Originate\r\nVariable: A=1\r\nVariable: B=2\r\nAsync: true\r\nEmpty: \r\n\r\n"
    )
    assert decode_whole(AmiCodec().encode(packet)) == [
        {"Action": "Originate", "Variable": ["A=1", "B=2"], "Async": "true", "Empty": ""}
    ]


@pytest.mark.parametrize(
    "packet",
    [
        {"Action": "Originate", "Exten": "100\r\nAction: Hangup"},
        {"Action": "Login", "Secret": "pa\nss"},
        {"Bad Key": "x"},
    ],
)
def test_encode_refuses_what_would_break_framing_without_showing_the_value(
    packet: dict[str, str],
) -> None:
    with pytest.raises(EncodeError) as info:
        encode_packet(packet)
    assert "Hangup" not in str(info.value) and "pa" not in str(info.value).replace("packet", "")


def test_a_response_field_inside_an_event_does_not_split_it() -> None:
    # OriginateResponse carries Response: Success/Failure as one of its fields
    out = decode_whole(
        b"Event: OriginateResponse\r\nActionID: cti-4-0\r\nResponse: Failure\r\n"
        b"Channel: PJSIP/8901\r\nReason: 0\r\n\r\n"
    )
    assert out == [
        {
            "Event": "OriginateResponse",
            "ActionID": "cti-4-0",
            "Response": "Failure",
            "Channel": "PJSIP/8901",
            "Reason": "0",
        }
    ]


def test_missing_blank_line_after_a_response_still_splits() -> None:
    out = decode_whole(
        b"Response: Success\r\nActionID: 1\r\nResponse: Error\r\nActionID: 2\r\n"
        b"Event: Hangup\r\nResponse: Success\r\n\r\n"
    )
    assert out == [
        {"Response": "Success", "ActionID": "1"},
        {"Response": "Error", "ActionID": "2"},
        {"Event": "Hangup", "Response": "Success"},
    ]


def test_odd_crlf_packets_decode_as_when_fed_byte_by_byte() -> None:
    # whole CRLF packets take a fast path; one byte at a time, every line takes the line
    # path: each oddity below must leave the fast path to the line path unchanged
    data = (
        b"Event: A\r\nKey:no-space\r\n\r\n"
        b"Event: B\nBare: lf\r\n\r\n"
        b"Event: C\r\n \r\nAfter: blank\r\n\r\n"
        b"Response: Follows\r\nActionID: 1\r\nout--END COMMAND--\r\n\r\n"
        b"Event: D\r\nBad Key: x\r\nValue: \xc3\xa9\xe2\x82\r\n\r\n"
        b"Channel: no-type\r\n\r\n"
        b"Event: E\r\nX: 1\r\nX: 2\r\nEvent: F\r\nResponse: Success\r\nResponse: Error\r\n\r\n"
        b"Event: G\r\nTrailing: cr\r\r\n\r\n"
    )
    whole = decode_whole(data)
    assert decode_split(data, list(range(1, len(data)))) == whole
    assert whole[0] == {"Event": "A", "Key": "no-space"}
    assert {"Event": "E", "X": ["1", "2"]} in whole
    assert {"Event": "F", "Response": "Success"} in whole
    assert {"Response": "Error"} in whole
    assert whole[-1] == {"Event": "G", "Trailing": "cr"}
    # a bad key, and two packets with no type (the blank line in C ends C)
    assert sum(isinstance(o, Malformed) for o in whole) == 3


def test_a_packet_just_within_the_limit_is_decoded_whole() -> None:
    packet = b"Event: Cdr\r\nData: " + b"x" * 80 + b"\r\n\r\n"
    assert len(packet) - 2 == 100  # its lines with their CRLFs
    assert AmiCodec(max_packet=100).feed(packet) == [{"Event": "Cdr", "Data": "x" * 80}]
    out = AmiCodec(max_packet=99).feed(packet)
    assert len(out) == 1 and isinstance(out[0], Malformed)


# --- the stream's split never changes what is decoded (issue 11) ----------------------------
LONG = b"Event: A\r\nLong: " + b"x" * 300 + b"\r\nChannel: Y\r\n\r\n"


def test_an_over_long_line_whose_end_arrives_alone_lets_nothing_out() -> None:
    data = LONG + b"Event: Next\r\n\r\n"
    end_of_long_line = data.index(b"\r\nChannel")
    whole = AmiCodec(max_packet=100).feed(data)
    assert [m for m in whole if not isinstance(m, Malformed)] == [{"Event": "Next"}]
    for cut in (end_of_long_line, end_of_long_line + 1, end_of_long_line + 2):
        codec = AmiCodec(max_packet=100)
        assert codec.feed(data[:cut]) + codec.feed(data[cut:]) == whole, cut


PIECES = [
    b"Asterisk Call Manager/7.0.3\r\n",
    b"Event: Hangup\r\nChannel: X\r\n\r\n",
    LONG,
    b"Event: B\nKey: v\n\n",
    b"Response: Follows\r\nPrivilege: Command\r\nline one\r\n--END COMMAND--\r\n\r\n",
    b"garbage line\r\n",
    b"\r\n",
    b"Event: C\r\nEvent: D\r\n\r\n",
    b"Response: Success\r\nActionID: 1\r\n\r\n",
    "Event: é\r\nX: é\r\n\r\n".encode(),
    b"\xff\xfe\r\n",
    b"Key: " + b"y" * 150 + b"\r\n\r\n",
    # blanks: an empty line ends a packet, a blank line longer than a packet is too long
    b"\r" + b" " * 300 + b"\r\n",
    b" " * 100 + b"\r\n\r\n",
    b"Event: Z\r\n" + b" " * 250 + b"\r\n\r\n",
]


@settings(max_examples=300, deadline=None)
@given(
    pieces=st.lists(st.sampled_from(PIECES), min_size=1, max_size=8),
    cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=8),
    limit=st.sampled_from([64, 128, 200, 400, 65536]),
)
def test_any_split_of_any_stream_decodes_as_the_whole(
    pieces: list[bytes], cuts: list[int], limit: int
) -> None:
    data = b"".join(pieces)
    whole = AmiCodec(max_packet=limit).feed(data)
    codec = AmiCodec(max_packet=limit)
    out: list[object] = []
    previous = 0
    for cut in sorted(c for c in cuts if c <= len(data)):
        out += codec.feed(data[previous:cut])
        previous = cut
    out += codec.feed(data[previous:])
    assert out == whole
