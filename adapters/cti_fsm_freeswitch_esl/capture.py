"""Reading recorded ESL traffic for replay: the formats of the shared captures.

- ``.esl``, ``.txt`` (NEventSocket's fixtures): the byte stream itself, frames with their
  ``Content-Length``;
- ``.event`` (a plain event's body with no frame around it): framed as
  ``text/event-plain``;
- ``.md`` and ``.rst`` documentation: each block of ``Name: value`` lines that holds an
  ``Event-Name`` becomes one plain event (values written out, so they are URL-encoded here
  as FreeSWITCH would send them); prose between blocks is skipped.

Every format comes back as frames to feed through the codec, so a replay exercises the
same decoder as a live connection.
"""

from __future__ import annotations

import os
import re

from .codec import encode_event_plain

__all__ = ["document_events", "read_capture"]

_HEADER = re.compile(r"^\s*([A-Za-z][A-Za-z0-9_\-]*):\s?(.*?)\s*$")


def read_capture(path: str | os.PathLike[str]) -> list[bytes]:
    """The frames of a recorded ESL stream, ready for ``EslCodec.feed``.

    Raises:
        OSError: the file cannot be read.
    """
    name = os.fspath(path)
    with open(name, "rb") as f:
        data = f.read()
    if name.endswith((".md", ".rst", ".markdown")):
        return document_events(data.decode("utf-8", "replace"))
    if name.endswith(".event"):
        return [document_events(data.decode("utf-8", "replace"))[0]] if data.strip() else []
    return [data]


def document_events(text: str) -> list[bytes]:
    """The events written out in a document, as ``text/event-plain`` frames."""
    out: list[bytes] = []
    block: dict[str, str] = {}

    def close() -> None:
        if "Event-Name" in block:
            out.append(encode_event_plain(block))
        block.clear()

    for line in text.splitlines():
        found = _HEADER.match(line.replace("\\_", "_"))
        if found and not line.lstrip().startswith(("#", "*", "-")):
            name, value = found.groups()
            if name in block and name in ("Event-Name", "Event-Subclass"):
                close()  # a new event with no blank line before it
            block.setdefault(name, value)
        elif not line.strip() or block:
            close()
    close()
    return out
