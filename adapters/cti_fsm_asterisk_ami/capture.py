"""Reading recorded AMI traffic for replay: the formats found in public test fixtures.

- ``.raw`` and the panoramisk ``.yaml`` fixtures are the byte stream itself (the latter
  despite the name), sometimes with the client's ``Action:`` packets interleaved and with
  gaps the recorder marked in the text; the codec reports such damage as ``Malformed``;
- ``.md`` documentation (the AMI v2 specification's call flows): the packets inside fenced
  code blocks; a line of ``...`` (fields left out) ends a packet, and prose between blocks
  is skipped;
- JSON lines (``.jsonl``, ``.ndjson``): one packet a line, as a JSON object of its fields
  (a list value repeats its key); a line that is no such object is passed on as it is, so
  the codec reports it ``Malformed`` and the lines after it are read.

Every format comes back as frames to feed through the codec, so a replay exercises the
same decoder as a live connection.
"""

from __future__ import annotations

import json
import os
import re

from .codec import EncodeError, encode_packet

__all__ = ["markdown_packets", "read_capture"]

_FENCE = re.compile(r"^\s*```")
_ELISION = re.compile(r"^\s*(\.\.\.|…)\s*$")


def read_capture(path: str | os.PathLike[str]) -> list[bytes]:
    """The frames of a recorded AMI stream, ready for ``AmiCodec.feed``.

    Raises:
        OSError: the file cannot be read.
    """
    name = os.fspath(path)
    with open(name, "rb") as f:
        data = f.read()
    if name.endswith((".md", ".markdown")):
        return [markdown_packets(data.decode("utf-8", "replace")).encode("utf-8")]
    if name.endswith((".jsonl", ".ndjson")):
        return [_json_packet(line) for line in data.splitlines() if line.strip()]
    # a recorded stream may stop mid-packet: close the last one
    return [data, b"\r\n\r\n"]


def _json_packet(line: bytes) -> bytes:
    """One JSON line as an AMI packet; a line that is none, as itself (then malformed)."""
    try:
        fields = json.loads(line)
        if isinstance(fields, dict):
            return encode_packet(fields)
    except (ValueError, EncodeError, TypeError):
        pass
    # its own packet: the codec's complaint concerns this line alone
    return line.strip() + b"\r\n\r\n"


def markdown_packets(text: str) -> str:
    """The AMI packets in a document's fenced code blocks, as one LF-framed stream."""
    out: list[str] = []
    inside = False
    for line in text.splitlines():
        if _FENCE.match(line):
            inside = not inside
            out.append("")
            continue
        if not inside:
            continue
        if _ELISION.match(line):
            out.append("")
        elif line.strip().startswith(("Event:", "Response:", "Action:")) and out and out[-1]:
            # a new packet right after another one, with no elision line between them
            out.extend(["", line.strip()])
        else:
            out.append(line.strip())
    out.append("")
    return "\n".join(out) + "\n"
