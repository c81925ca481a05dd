"""JSON text frames, one message per websocket message (sans-IO).

Each websocket message carries exactly one JSON object, so there is no stream to
re-synchronise: a bad frame is reported as ``Malformed`` and the next one decodes as if
nothing happened. ``feed`` never raises on what the peer sends.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from cti_fsm.adapter import Frame, Malformed, RawMessage

__all__ = ["DEFAULT_MAX_FRAME", "JsonCodec"]

#: Largest frame decoded, in characters (bytes for a binary frame). The biggest honest
#: message is a supervisor's list of every agent: about 200 bytes an agent.
DEFAULT_MAX_FRAME = 1 << 20


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in JSON")


def _finite(text: str) -> float:
    # 1e999 is valid JSON that Python reads as infinity: no CTI field means that
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} is out of range")
    return value


# built once: json.loads/dumps with non-default arguments build a new one on every call
_DECODER = json.JSONDecoder(parse_constant=_no_constant, parse_float=_finite)
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


#: a \\uXXXX escape of a surrogate half; whether it is paired is decided after decoding
_LONE_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")


def _has_lone_surrogate(value: Any) -> bool:
    """True if the decoded ``value`` has a string with an unpaired surrogate."""
    try:
        _ENCODER.encode(value).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


class JsonCodec:
    """Decode JSON text frames into dicts and encode dicts as compact JSON text.

    Args:
        max_frame: frames longer than this are refused as ``Malformed`` unread.
    """

    __slots__ = ("max_frame",)

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        if max_frame <= 0:
            raise ValueError("max_frame must be positive")
        self.max_frame = max_frame

    def feed(self, data: Frame) -> list[RawMessage | Malformed]:
        """The message in one frame, or ``Malformed`` saying what was wrong with it."""
        if len(data) > self.max_frame:
            return [Malformed.of(f"frame of {len(data)} exceeds the {self.max_frame} limit", data)]
        if isinstance(data, bytes):
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                return [Malformed.of(f"binary frame is not UTF-8 (byte {exc.start})", data)]
        else:
            text = data
            if not text.isascii():
                try:
                    text.encode("utf-8")
                except UnicodeEncodeError:
                    return [Malformed.of("text frame holds a lone surrogate", text)]
        try:
            value = _DECODER.decode(text)
        except json.JSONDecodeError as exc:
            # the text ran out before the value did: a frame cut short
            if exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string"):
                return [Malformed.of(f"truncated JSON ({exc.msg})", text)]
            return [Malformed.of(f"not JSON: {exc.msg} at character {exc.pos}", text)]
        except (ValueError, RecursionError) as exc:
            # NaN/Infinity, or nesting deep enough to exhaust the parser
            return [Malformed.of(f"not acceptable JSON: {type(exc).__name__}: {exc}", text)]
        if not isinstance(value, dict):
            return [
                Malformed.of(f"a frame must hold a JSON object, not {type(value).__name__}", text)
            ]
        if "\\u" in text and _LONE_SURROGATE.search(text) and _has_lone_surrogate(value):
            # "\ud800" alone is valid JSON but no text: it could never be sent back
            return [Malformed.of("a string holds a lone surrogate (\\ud800-\\udfff)", text)]
        return [value]

    def encode(self, message: RawMessage) -> Frame:
        """One compact JSON text frame.

        Raises:
            TypeError: the message holds something JSON cannot carry.
            ValueError: a number that is not finite (NaN, infinity), or a string holding
                a lone surrogate (a websocket text frame is UTF-8).
        """
        text = _ENCODER.encode(message)
        if not text.isascii():
            text.encode("utf-8")  # UnicodeEncodeError (a ValueError): a lone surrogate
        return text

    def __repr__(self) -> str:
        return f"JsonCodec(max_frame={self.max_frame})"
