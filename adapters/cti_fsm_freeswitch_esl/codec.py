"""ESL framing, sans-IO: bytes of an Event Socket stream in, messages out; a command in, bytes out.

FreeSWITCH's Event Socket (mod_event_socket, TCP port 8021) frames every message as a block
of ``Name: value`` header lines ended by an empty line (LF line ends), then, when the block
has a ``Content-Length``, exactly that many bytes of body. ``Content-Type`` says what it is:

==========================  ===============================================================
``auth/request``            the server's first words: send ``auth <password>``
``command/reply``           the answer to a command, in ``Reply-Text`` (``+OK ...``/``-ERR``)
``api/response``            the answer to ``api``: the command's output is the body
``text/event-plain``        an event: the body is header lines, values URL-encoded, an empty
                            line, and, when those headers have a ``Content-Length`` of their
                            own (a ``BACKGROUND_JOB``'s result), that many bytes of body
``text/event-json``         an event: the body is one JSON object; its body is under ``_body``
``text/disconnect-notice``  the server is closing the connection (or lingering)
``text/rude-rejection``     the server refused the connection (its ACL) and closes it
``log/data``                a log line (``log`` subscription): the body is its text
==========================  ===============================================================

Every message comes out as one flat dict (``RawMessage``), so a vendor map matches events
and answers alike by header name:

- an event is its own headers, URL-decoded, with ``Content-Type`` set to the frame's
  (``text/event-plain`` or ``text/event-json``) and its body, if any, under ``_body``;
- every other frame is its headers (URL-decoded, as libesl does) with its body under
  ``_body``.

A header repeated inside one block keeps its first value, as a look-up in libesl finds.
Decoding is bounded everywhere: a header block longer than ``max_header`` bytes, a
``Content-Length`` above ``max_body`` (the frame's, or an event's own) or not a number, a
plain event's body that says it is longer than it is, JSON that is not one object, or a
frame with no ``Content-Type`` yields one ``Malformed``, the frame is skipped (a too-long
body byte for byte as it arrives, never buffered) and decoding goes on with the next one.
``feed`` never raises and keeps an incomplete tail, so a stream split anywhere decodes
exactly as the whole.

Encoding writes what a client sends: a command line (``Command``; for ``auth`` the password
comes from ``Secret`` so that the vendor map can keep it out of every log) and then one
``Name: value`` line per other field (``Job-UUID`` for ``bgapi``), and the empty line.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, unquote

from cti_fsm.adapter import Malformed, RawMessage

__all__ = [
    "BODY",
    "COMMAND_LINE",
    "CONTENT_TYPES",
    "DEFAULT_MAX_BODY",
    "DEFAULT_MAX_HEADER",
    "EVENT_TYPES",
    "CommandReader",
    "EncodeError",
    "EslCodec",
    "encode_command",
    "encode_event_json",
    "encode_event_plain",
    "encode_frame",
    "parse_event_json",
    "parse_event_plain",
    "parse_headers",
]

#: The key a message's body is kept under (as FreeSWITCH's own JSON events name it).
BODY = "_body"
#: Largest header block accepted, in bytes (a frame's, or a plain event's own).
DEFAULT_MAX_HEADER = 64 * 1024
#: Largest body accepted, in bytes: a CHANNEL_* event with every variable is 5-20 KB, a
#: ``show channels as json`` of a busy switch can be a few hundred KB.
DEFAULT_MAX_BODY = 4 * 1024 * 1024
#: The content types whose body is an event.
EVENT_TYPES = frozenset(("text/event-plain", "text/event-json"))
#: Every content type FreeSWITCH writes to an inbound client.
CONTENT_TYPES = frozenset(
    (
        "auth/request",
        "command/reply",
        "api/response",
        "text/disconnect-notice",
        "text/rude-rejection",
        "log/data",
        *EVENT_TYPES,
    )
)
#: What switch_url_encode leaves as it is in a plain event's values: printable ASCII but
#: its unsafe set (line ends, space, ``#%&+:;<=>?@[\\]^`{|}"``), as the captures show.
_URL_UNSAFE = '\r\n #%&+:;<=>?@[\\]^`{|}"'
_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in _URL_UNSAFE)


#: The key under which ``CommandReader`` reports a command's first line.
COMMAND_LINE = "_line"


class EncodeError(ValueError):
    """A command cannot be written: a field would break the framing."""


def parse_headers(block: str) -> dict[str, str]:
    """``Name: value`` lines as a dict, values URL-decoded; the first of a repeated name
    wins; a line with no colon is skipped (as libesl skips it)."""
    out: dict[str, str] = {}
    for line in block.split("\n"):
        name, sep, value = line.partition(":")
        if not sep:
            continue
        name = name.strip()
        if name and name not in out:
            value = value.strip(" \t\r")
            out[name] = unquote(value) if "%" in value else value
    return out


def parse_event_plain(body: str, max_body: int = DEFAULT_MAX_BODY) -> dict[str, Any]:
    """A ``text/event-plain`` body: its headers, and its own body under ``_body``.

    Raises:
        ValueError: the event's ``Content-Length`` is not a number, above ``max_body`` or
            longer than what follows its headers.
    """
    head, _, rest = body.partition("\n\n")
    event: dict[str, Any] = parse_headers(head)
    length = event.get("Content-Length")
    if length is not None:
        size = _length(length, max_body)
        data = rest.encode("utf-8")
        if size > len(data):
            raise ValueError(f"event body says Content-Length {size} but {len(data)} bytes follow")
        event[BODY] = data[:size].decode("utf-8", "replace")
    return event


def parse_event_json(body: str) -> dict[str, Any]:
    """A ``text/event-json`` body: the object, its values as FreeSWITCH wrote them.

    Raises:
        ValueError: not JSON, or not one object.
    """
    try:
        event = json.loads(body)
    except json.JSONDecodeError as exc:
        raise ValueError(f"event is not JSON: {exc.msg} at {exc.pos}") from None
    if not isinstance(event, dict):
        raise ValueError(f"event JSON is a {type(event).__name__}, not an object")
    return event


def _length(text: Any, limit: int) -> int:
    """A ``Content-Length`` value, checked.

    Raises:
        ValueError: not a decimal number, or above ``limit``.
    """
    value = str(text).strip()
    if not value.isdecimal() or len(value) > 12:
        raise ValueError(f"Content-Length {value[:20]!r} is not a number")
    size = int(value)
    if size > limit:
        raise ValueError(f"Content-Length {size} is above the limit of {limit} bytes")
    return size


class EslCodec:
    """Decoder and encoder for one ESL connection (it buffers a partial frame).

    Args:
        max_header: the largest header block accepted, in bytes.
        max_body: the largest body (``Content-Length``) accepted, in bytes.
    """

    __slots__ = (
        "_buffer",
        "_discarding",
        "_headers",
        "_max_body",
        "_max_header",
        "_need",
        "_skip",
    )

    def __init__(
        self, *, max_header: int = DEFAULT_MAX_HEADER, max_body: int = DEFAULT_MAX_BODY
    ) -> None:
        self._max_header = max_header
        self._max_body = max_body
        self._buffer = bytearray()
        #: the headers of a frame whose body has not all arrived, and its length
        self._headers: dict[str, str] | None = None
        self._need = 0
        #: bytes still to throw away (the body of a frame too long to keep)
        self._skip = 0
        #: inside a header block too long to keep: bytes are dropped up to its end
        self._discarding = False

    def feed(self, data: bytes | str) -> list[RawMessage | Malformed]:
        """Decode what arrived; an incomplete frame waits for more. Never raises."""
        if isinstance(data, str):
            data = data.encode("utf-8")
        buffer = self._buffer
        buffer += data
        out: list[RawMessage | Malformed] = []
        start = 0
        size = len(buffer)
        while start < size:
            if self._skip:
                dropped = min(self._skip, size - start)
                self._skip -= dropped
                start += dropped
                continue
            if self._discarding:
                end, gap = _block_end(buffer, start)
                if end < 0:
                    # keep what may be the first half of the block's end
                    start = max(start, size - 3)
                    break
                self._discarding = False
                start = end + gap
                continue
            if self._headers is not None:
                if size - start < self._need:
                    break
                body = bytes(buffer[start : start + self._need])
                start += self._need
                headers, self._headers = self._headers, None
                out.append(self._message(headers, body))
                continue
            # between frames: blank lines are nothing (FreeSWITCH writes none, peers may)
            while start < size and buffer[start] in (0x0A, 0x0D):
                start += 1
            if start >= size:
                break
            end, gap = _block_end(buffer, start)
            if end < 0:
                # room for the block's end (up to 4 bytes) not yet seen: the same frames
                # are refused however the stream is split
                if size - start > self._max_header + 3:
                    out.append(
                        Malformed.of(
                            f"header block longer than {self._max_header} bytes",
                            bytes(buffer[start : start + 200]),
                        )
                    )
                    self._discarding = True
                    continue
                break
            if end - start > self._max_header:
                out.append(
                    Malformed.of(
                        f"header block longer than {self._max_header} bytes",
                        bytes(buffer[start : start + 200]),
                    )
                )
                start = end + gap
                continue
            block = bytes(buffer[start:end]).decode("utf-8", "replace")
            start = end + gap
            headers = parse_headers(block)
            length = headers.get("Content-Length")
            if length is None:
                out.append(self._message(headers, None, block))
                continue
            try:
                self._need = _length(length, self._max_body)
            except ValueError as exc:
                out.append(Malformed.of(str(exc), block))
                if str(length).strip().isdecimal():
                    # a known length: skip the body as it arrives, keep the stream in step
                    self._skip = int(str(length).strip())
                continue
            self._headers = headers
        del buffer[:start]
        return out

    def _message(
        self, headers: dict[str, str], body: bytes | None, block: str = ""
    ) -> RawMessage | Malformed:
        kind = headers.get("Content-Type")
        if kind is None:
            return Malformed.of("frame has no Content-Type", block or repr(headers))
        if body is None:
            return headers
        text = body.decode("utf-8", "replace")
        if kind in EVENT_TYPES:
            try:
                event = (
                    parse_event_json(text)
                    if kind == "text/event-json"
                    else parse_event_plain(text, self._max_body)
                )
            except ValueError as exc:
                return Malformed.of(f"{kind}: {exc}", text)
            event["Content-Type"] = kind
            return event
        message: dict[str, Any] = dict(headers)
        message[BODY] = text
        return message

    # --- encoding ---------------------------------------------------------------------------
    def encode(self, message: RawMessage) -> bytes:
        """One command on the wire (see ``encode_command``).

        Raises:
            EncodeError: a field holds a line break, or there is no ``Command``.
        """
        return encode_command(message)


def _block_end(buffer: bytearray, start: int) -> tuple[int, int]:
    """Where the header block from ``start`` ends (its empty line) and how long that end
    is: ``\\n\\n``, or ``\\r\\n\\r\\n`` from a peer writing CRLF; (-1, 0) if not yet."""
    lf = buffer.find(b"\n\n", start)
    # a CRLF end before the LF one lies inside the block: look no further than that
    crlf = buffer.find(b"\r\n\r\n", start, lf + 1 if lf >= 0 else len(buffer))
    if crlf >= 0:
        return crlf, 4
    if lf >= 0:
        return lf, 2
    return -1, 0


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def encode_command(message: Mapping[str, Any]) -> bytes:
    """``Command`` (with ``Secret`` after it, for ``auth``) as the first line, every other
    field as a header line, then the empty line.

    Raises:
        EncodeError: a field holds a line break (it would smuggle a second command onto
            the wire), or there is no ``Command``. A value is never quoted in the message:
            it may be a secret.
    """
    command = message.get("Command")
    if not isinstance(command, str) or not command.strip():
        raise EncodeError("an ESL command needs a 'Command' line")
    parts = [command]
    if "Secret" in message:
        parts[0] = f"{command} {_text(message['Secret'])}"
    for key, value in message.items():
        if key not in ("Command", "Secret"):
            parts.append(f"{key}: {_text(value)}")
    for key, value in message.items():
        text = _text(value)
        if "\n" in text or "\r" in text or "\n" in key or ":" in key:
            raise EncodeError(f"field {key!r} holds a line break or a colon in its name")
    return ("\n".join(parts) + "\n\n").encode("utf-8")


def encode_frame(headers: Mapping[str, Any], body: str | bytes | None = None) -> bytes:
    """A frame as FreeSWITCH writes it to a client: ``headers`` (``Content-Length`` added
    before them when there is a body, as mod_event_socket orders it), the empty line, the
    body. Used by the simulator; header values are written as given."""
    data = body.encode("utf-8") if isinstance(body, str) else body
    lines = []
    if data is not None:
        lines.append(f"Content-Length: {len(data)}")
    lines.extend(f"{k}: {_text(v)}" for k, v in headers.items())
    head = ("\n".join(lines) + "\n\n").encode("utf-8")
    return head + data if data is not None else head


def encode_event_plain(event: Mapping[str, Any]) -> bytes:
    """An event as ``text/event-plain`` (switch_event_serialize): header values
    URL-encoded, the empty line, and ``_body`` with its own ``Content-Length``."""
    lines = [f"{k}: {quote(_text(v), safe=_SAFE)}" for k, v in event.items() if k != BODY]
    body = event.get(BODY)
    if body is not None:
        data = _text(body).encode("utf-8")
        text = "\n".join(lines) + f"\nContent-Length: {len(data)}\n\n"
        payload = text.encode("utf-8") + data
    else:
        payload = ("\n".join(lines) + "\n\n").encode("utf-8")
    return encode_frame({"Content-Type": "text/event-plain"}, payload)


def encode_event_json(event: Mapping[str, Any]) -> bytes:
    """An event as ``text/event-json`` (switch_event_serialize_json): one object of
    strings, with ``Content-Length`` and ``_body`` when it has a body."""
    obj: dict[str, Any] = {k: _text(v) for k, v in event.items() if k != BODY}
    body = event.get(BODY)
    if body is not None:
        text = _text(body)
        obj["Content-Length"] = str(len(text.encode("utf-8")))
        obj[BODY] = text
    return encode_frame({"Content-Type": "text/event-json"}, json.dumps(obj, separators=(",", ":")))


class CommandReader:
    """The server's side of the framing (what a simulator reads): commands a client sent,
    each a first line (``COMMAND_LINE``: ``auth ClueCon``, ``bgapi status``) and header
    lines (``Job-UUID``), ended by an empty line; bounded by ``max_command`` bytes (a longer
    one is dropped up to its end and reported as a ``Malformed``). Never raises; a stream
    split anywhere reads as the whole.

    Args:
        max_command: the longest command accepted, in bytes.
    """

    __slots__ = ("_buffer", "_discarding", "_max")

    def __init__(self, *, max_command: int = DEFAULT_MAX_HEADER) -> None:
        self._buffer = bytearray()
        self._max = max_command
        self._discarding = False

    def feed(self, data: bytes) -> list[dict[str, str] | Malformed]:
        """The commands complete in what arrived so far."""
        buffer = self._buffer
        buffer += data
        out: list[dict[str, str] | Malformed] = []
        start = 0
        while True:
            while start < len(buffer) and buffer[start] in (0x0A, 0x0D):
                start += 1
            end, gap = _block_end(buffer, start)
            if end < 0:
                if not self._discarding and len(buffer) - start > self._max + 3:
                    out.append(
                        Malformed.of(
                            f"command longer than {self._max} bytes",
                            bytes(buffer[start : start + 200]),
                        )
                    )
                    self._discarding = True
                if self._discarding:
                    start = max(start, len(buffer) - 3)
                break
            if self._discarding or end - start > self._max:
                if not self._discarding:
                    out.append(
                        Malformed.of(
                            f"command longer than {self._max} bytes",
                            bytes(buffer[start : start + 200]),
                        )
                    )
                self._discarding = False
                start = end + gap
                continue
            text = bytes(buffer[start:end]).decode("utf-8", "replace")
            start = end + gap
            first, _, rest = text.partition("\n")
            command: dict[str, str] = {COMMAND_LINE: first.strip()}
            for line in rest.split("\n"):
                name, sep, value = line.partition(":")
                if sep and name.strip() and name.strip() not in command:
                    command[name.strip()] = value.strip()
            out.append(command)
        del buffer[:start]
        return out
