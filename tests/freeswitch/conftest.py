"""Fixtures for the FreeSWITCH ESL adapter tests: the shared captures and a fresh protocol."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

CAPTURES = Path(__file__).resolve().parents[1] / "captures" / "freeswitch-esl"


@pytest.fixture
def captures() -> Path:
    """The folder of recorded ESL streams copied from ../shared (licences in SOURCES.md)."""
    return CAPTURES
