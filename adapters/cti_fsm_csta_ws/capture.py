"""Reading recorded csta-ws traffic for replay: what the server sent, one frame each.

- a transcript, as the adapter's README shows one: lines ``<< FRAME`` (server to client,
  replayed), ``>> FRAME`` (client to server, skipped: the agent sent it, it did not
  receive it) and narration in parentheses; in a Markdown file, only the lines inside
  fenced code blocks count;
- JSON lines: one frame per non-blank line (``.jsonl``, or any file without ``<<``/``>>``);
- one JSON document spread over several lines: one frame.

Every frame goes through the codec, so a replay checks frames as a live connection does
(a line that is no JSON object is reported ``Malformed``, and the replay goes on).
"""

from __future__ import annotations

import json
import os
import re

__all__ = ["read_capture", "transcript_frames"]

_FENCE = re.compile(r"^\s*```")
#: a transcript line: its direction and the frame
_LINE = re.compile(r"^\s*(<<|>>)\s?(.*)$")


def read_capture(path: str | os.PathLike[str]) -> list[str]:
    """The frames the server sent in a recorded csta-ws session, in order.

    Raises:
        OSError: the file cannot be read.
    """
    name = os.fspath(path)
    with open(name, encoding="utf-8", errors="replace") as f:
        text = f.read()
    if name.endswith((".md", ".markdown")):
        return transcript_frames(_fenced(text))
    lines = text.splitlines()
    if any(_LINE.match(line) for line in lines):
        return transcript_frames(lines)
    if len([line for line in lines if line.strip()]) > 1 and _one_document(text):
        return [text]
    return [line.strip() for line in lines if line.strip()]


def transcript_frames(lines: list[str]) -> list[str]:
    """The ``<<`` frames of transcript ``lines``; ``>>`` frames and other lines skipped."""
    frames = []
    for line in lines:
        found = _LINE.match(line)
        if found is not None and found.group(1) == "<<":
            frames.append(found.group(2).strip())
    return frames


def _fenced(text: str) -> list[str]:
    inside = False
    lines = []
    for line in text.splitlines():
        if _FENCE.match(line):
            inside = not inside
        elif inside:
            lines.append(line)
    return lines


def _one_document(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True
