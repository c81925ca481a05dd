"""AMI framing, sans-IO: bytes of a TCP stream in, packets out; a packet in, bytes out.

The Asterisk Manager Interface is a line protocol. The server first sends one banner line
(``Asterisk Call Manager/5.0.1``), then packets: ``Key: Value`` lines ended by an empty
line, with CRLF or LF line ends. A packet is an event (``Event:``), a response
(``Response:``) or, in recorded traffic, an action a client sent (``Action:``).

Decoding is lenient where Asterisk is irregular and strict where it matters:

- a key may repeat (``ChanVariable``, ``Variable``): its values are kept, in order, as a list;
- ``Response: Follows`` (the ``Command`` action of Asterisk 11 and older) carries raw output
  lines up to ``--END COMMAND--``: they are kept as a list under ``Output``;
- a second ``Event:`` line, or a second ``Response:`` line, inside a packet means a missing
  empty line (seen in the wild): it starts a new packet. A ``Response:`` inside an event is
  one of its fields (``OriginateResponse`` carries one) and does not split it;
- a line that is not ``Key: Value`` yields a ``Malformed`` and decoding goes on; a packet
  with no ``Event``, ``Response`` or ``Action`` yields a ``Malformed`` too;
- a packet (or a line) longer than ``max_packet`` bytes yields one ``Malformed`` and is
  skipped up to the next empty line, so a hostile or broken peer cannot grow the buffer;
  the end of a line being skipped is never taken for that empty line, however the stream
  is split (a line's ``\r\n`` arriving alone in the next read lets nothing out).

``feed`` never raises and keeps an incomplete tail for the next call, so a stream split at
any byte boundary decodes exactly as the whole. Whole CRLF packets of plain ``Key: Value``
lines, what a live Asterisk sends, are decoded a packet at a time (one decode, one split);
everything else, and a packet split across reads, goes line by line, to the same result.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from cti_fsm.adapter import Malformed, RawMessage

__all__ = ["BANNER_KEY", "DEFAULT_MAX_PACKET", "AmiCodec", "EncodeError", "encode_packet"]

#: The key under which the banner line is reported (its own one-key message).
BANNER_KEY = "Banner"
#: Largest packet accepted, in bytes: a QueueStatus member row is ~400 bytes, a Cdr ~1 KB.
DEFAULT_MAX_PACKET = 64 * 1024

_BANNER_PREFIX = "Asterisk Call Manager/"
_TYPE_KEYS = ("Event", "Response", "Action")
_TYPE_KEY_SET = frozenset(_TYPE_KEYS)
#: A key that starts a new packet when the packet so far already has one of these keys.
#: An event may carry a ``Response`` field (OriginateResponse), so only a second ``Event``
#: or a second ``Response`` means an empty line went missing.
_SPLITS_AFTER: dict[str, frozenset[str]] = {
    "Event": frozenset(("Event", "Response")),
    "Response": frozenset(("Response",)),
}
# keys are tokens: letters, digits and a few punctuation marks Asterisk uses
# (Cause-txt, CID-CallingPres, LOCAL(ARG1) in UserEvent bodies); never spaces or brackets
_KEY = re.compile(r"[A-Za-z0-9_\-.()/*@#$%&+=!?~^]+")
_END_COMMAND = "--END COMMAND--"
#: Keys already seen to be tokens: a few dozen names recur in every packet, so the regular
#: expression runs once per name, not once per line. Bounded, against a peer inventing keys.
#: The keys of ``_SPLITS_AFTER`` stay out: ``_packets`` takes a key found here as a plain
#: field, with no look for a missing empty line.
_TOKENS: set[str] = set()
_TOKENS_MAX = 4096


def _is_token(key: str) -> bool:
    """True if ``key`` is an AMI key (remembered in ``_TOKENS`` while there is room)."""
    if _KEY.fullmatch(key) is None:
        return False
    if len(_TOKENS) < _TOKENS_MAX and key not in _SPLITS_AFTER:
        _TOKENS.add(key)
    return True


class EncodeError(ValueError):
    """A packet cannot be written: a key or value would break the framing."""


class AmiCodec:
    """Decoder and encoder for one AMI connection (it buffers a partial packet).

    Args:
        max_packet: the largest packet (and line) accepted, in bytes.
        expect_banner: True for a live connection, whose first line is the banner;
            recorded streams usually start with a packet and work either way.
    """

    __slots__ = (
        "_buffer",
        "_fields",
        "_follows",
        "_lines",
        "_long_line",
        "_max",
        "_size",
        "_skipping",
        "_started",
    )

    def __init__(self, *, max_packet: int = DEFAULT_MAX_PACKET, expect_banner: bool = True) -> None:
        self._max = max_packet
        self._buffer = bytearray()
        self._started = not expect_banner
        self._fields: dict[str, Any] = {}
        self._lines: list[str] = []
        self._follows: list[str] | None = None
        self._skipping = False
        #: inside an over-long line whose end has not arrived (see ``feed``)
        self._long_line = False
        self._size = 0

    # --- decoding ---------------------------------------------------------------------------
    def feed(self, data: bytes | str) -> list[RawMessage | Malformed]:
        """Decode what arrived; an incomplete last line or packet waits for more. Never raises."""
        if isinstance(data, str):
            data = data.encode("utf-8")
        buffer = self._buffer
        if self._long_line:
            # the rest of an over-long line already reported: dropped up to its end, then
            # the packet is skipped as usual, up to its empty line
            end = data.find(b"\n")
            if end < 0:
                return []
            data = data[end + 1 :]
            self._long_line = False
        buffer += data
        out: list[RawMessage | Malformed] = []
        start = 0
        # no CRLF packet end from here on: the line path takes the rest (searching again
        # after each of its packets would scan an LF-only stream over and over)
        no_end = False
        while True:
            if not self._size and self._started and not self._skipping and not no_end:
                # between packets: whole CRLF packets are decoded at once
                start, end = self._packets(buffer, start, out)
                if end < 0:
                    no_end = True
                else:
                    # a packet the fast path leaves to the line path, up to its end
                    start = self._lines_until(buffer, start, end + 4, out)
                    continue
            # inside a packet, or no packet end in sight: line by line, until a packet ends
            end = buffer.find(b"\n", start)
            if end < 0:
                break
            raw = bytes(buffer[start:end])
            start = end + 1
            self._line(raw.rstrip(b"\r"), out)
        del buffer[:start]
        if len(buffer) > self._max and not self._skipping:
            # a line longer than a packet may be, its end not here yet: reported as the
            # whole line would be (the packet it is part of is too long), and skipped to
            # its end, wherever the stream is split (the end of a line is not the end of
            # the packet: an empty line is)
            self._started = True
            out.append(self._too_long(bytes(buffer)))
            self._drop_packet()
            self._skipping = True
            self._long_line = True
            buffer.clear()
        elif self._skipping and (buffer.strip() or len(buffer) > self._max):
            # skipping to the packet's end: the part of a line here goes, but the line's
            # end, when it comes, is no empty line (a blank part may be one: it stays)
            self._long_line = True
            buffer.clear()
        return out

    def _packets(
        self, buffer: bytearray, start: int, out: list[RawMessage | Malformed]
    ) -> tuple[int, int]:
        """Decode the whole CRLF packets from ``start`` on, each in one go, as ``_line``
        would line by line; stop at the first one that is not the usual case.

        The usual case: ``Key: Value`` lines of tokens, CRLF line ends, within
        ``max_packet``, an ``Event``, ``Response`` or ``Action``, no command output.
        Anything else is left untouched to ``_line``, which reports what is wrong.

        Returns:
            Where decoding stopped, and the end of the packet there (where its empty line
            starts), or -1 if no CRLF packet end follows.
        """
        tokens = _TOKENS
        splits = _SPLITS_AFTER
        # a packet's lines add up to its length and a CRLF: none of them passes the limit
        longest = self._max - 2
        while True:
            end = buffer.find(b"\r\n\r\n", start)
            if end < 0 or end - start > longest:
                return start, end
            # CR and LF are never part of a UTF-8 sequence: decoding the packet at once
            # replaces bad bytes exactly as decoding it line by line does
            text = buffer[start:end].decode("utf-8", "replace")
            lines = text.split("\r\n")
            if text.count("\n") != len(lines) - 1:
                return start, end  # a bare LF ends a line too
            mark = len(out)
            fields: dict[str, Any] = {}
            for line in lines:
                key, sep, value = line.partition(": ")
                value = value.strip()
                # a key in ``tokens`` has no space or colon: it is the key ``_line`` finds
                if sep and key in tokens and key not in fields:
                    fields[key] = value
                    continue
                if not sep:
                    break
                if key in splits:
                    if not splits[key].isdisjoint(fields):
                        # an empty line went missing (see ``_line``)
                        out.append(fields)
                        fields = {}
                    if key == "Response" and value == "Follows" and "Event" not in fields:
                        break  # command output follows: ``_line`` knows it
                elif key not in fields and not _is_token(key):
                    break
                have = fields.get(key)
                if have is None:
                    fields[key] = value
                elif isinstance(have, list):
                    have.append(value)
                else:
                    fields[key] = [have, value]
            else:
                if not _TYPE_KEY_SET.isdisjoint(fields):
                    out.append(fields)
                    start = end + 4
                    continue
            del out[mark:]
            return start, end

    def _lines_until(
        self, buffer: bytearray, start: int, stop: int, out: list[RawMessage | Malformed]
    ) -> int:
        """Decode the lines in ``buffer[start:stop]`` one by one; ``stop`` is a line's end."""
        while start < stop:
            end = buffer.find(b"\n", start, stop)
            raw = bytes(buffer[start:end])
            start = end + 1
            self._line(raw.rstrip(b"\r"), out)
        return start

    def _line(self, raw: bytes, out: list[RawMessage | Malformed]) -> None:
        text = raw.decode("utf-8", "replace")
        if not text.strip():
            if len(raw) + 2 > self._max:
                # blanks longer than a packet may be are no empty line (``feed`` has to
                # report them before their end arrives): too long, whatever the split
                if not self._skipping:
                    self._started = True
                    out.append(self._too_long(raw))
                    self._drop_packet()
                    self._skipping = True
                return
            if self._skipping:
                self._skipping = False
            else:
                self._finish(out)
            return
        if self._skipping:
            return
        if self._size + len(raw) + 2 > self._max:
            # checked before the banner: a line too long is too long wherever the stream
            # was split (``feed`` reports a long line's start before its end is here)
            self._started = True
            out.append(self._too_long(raw))
            self._drop_packet()
            self._skipping = True
            return
        if not self._started:
            self._started = True
            if text.startswith(_BANNER_PREFIX):
                out.append({BANNER_KEY: text.strip()})
                return
        self._size += len(raw) + 2
        self._lines.append(text)
        if self._follows is not None and self._output(text, out):
            return
        key, sep, value = text.partition(":")
        key = key.strip()
        if not sep or (key not in _TOKENS and not _is_token(key)):
            self._lines.pop()
            out.append(Malformed.of("not a 'Key: Value' line", text))
            return
        value = value.strip()
        if any(k in self._fields for k in _SPLITS_AFTER.get(key, ())):
            # an empty line went missing: what came so far is a packet of its own
            self._lines.pop()
            self._finish(out)
            self._lines.append(text)
            self._size = len(raw) + 2
        self._add(key, value)
        if key == "Response" and value == "Follows" and "Event" not in self._fields:
            self._follows = []

    def _too_long(self, line: bytes) -> Malformed:
        """The packet so far and the start of the line that makes it too long. Only as much
        of the line as any split of the stream has delivered when the limit is passed is
        shown, so the report is the same however TCP cut the stream."""
        keep = max(self._max - self._size - 1, 0)
        shown = [*self._lines, line[:keep].decode("utf-8", "replace")]
        return Malformed.of(f"packet longer than {self._max} bytes", "\n".join(shown))

    def _output(self, text: str, out: list[RawMessage | Malformed]) -> bool:
        """In a ``Response: Follows`` packet: True if ``text`` was command output."""
        assert self._follows is not None
        body = text.rstrip()
        if body.endswith(_END_COMMAND):
            # Asterisk 11 glues the end marker to the last output line
            if body[: -len(_END_COMMAND)]:
                self._follows.append(body[: -len(_END_COMMAND)])
            self._finish(out)
            return True
        key = text.partition(":")[0].strip()
        if self._follows or ":" not in text or (key not in _TOKENS and not _is_token(key)):
            self._follows.append(text)
            return True
        return False

    def _add(self, key: str, value: str) -> None:
        have = self._fields.get(key)
        if have is None:
            self._fields[key] = value
        elif isinstance(have, list):
            have.append(value)
        else:
            self._fields[key] = [have, value]

    def _finish(self, out: list[RawMessage | Malformed]) -> None:
        fields, lines, follows = self._fields, self._lines, self._follows
        self._drop_packet()
        if follows is not None:
            fields["Output"] = follows
        if not fields:  # nothing, or only bad lines (each already reported)
            return
        if not any(k in fields for k in _TYPE_KEYS):
            out.append(Malformed.of("packet has no Event, Response or Action", "\n".join(lines)))
            return
        out.append(fields)

    def _drop_packet(self) -> None:
        self._fields = {}
        self._lines = []
        self._follows = None
        self._size = 0

    # --- encoding ---------------------------------------------------------------------------
    def encode(self, message: RawMessage) -> bytes:
        """One packet on the wire (see ``encode_packet``).

        Raises:
            EncodeError: a key or value holds a line break, or a key is not a token.
        """
        return encode_packet(message)


def encode_packet(message: Mapping[str, Any]) -> bytes:
    """``Key: Value`` lines with CRLF and the closing empty line; a list value repeats its key.

    Raises:
        EncodeError: a key or value holds a line break (it would smuggle a second packet
            onto the wire), a key is not a token, or a value is not valid Unicode (a lone
            surrogate). The value itself is never quoted in
            the message: it may be a secret.
    """
    parts: list[str] = []
    for key, value in message.items():
        if key not in _TOKENS and key not in _SPLITS_AFTER and not _is_token(key):
            raise EncodeError(f"field name {key!r} is not an AMI key")
        if type(value) is str:
            # the usual field: one text value, no conversion
            if "\r" in value or "\n" in value:
                raise EncodeError(f"field {key!r} holds a line break")
            parts.append(f"{key}: {value}\r\n")
            continue
        for item in value if isinstance(value, (list, tuple)) else (value,):
            text = _text(item)
            if "\r" in text or "\n" in text:
                raise EncodeError(f"field {key!r} holds a line break")
            parts.append(f"{key}: {text}\r\n")
    parts.append("\r\n")
    try:
        return "".join(parts).encode("utf-8")
    except UnicodeEncodeError:
        # a lone surrogate: it has no UTF-8 form (the value itself is never quoted)
        raise EncodeError("a field holds text that is not valid Unicode") from None


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)
