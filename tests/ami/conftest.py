"""Fixtures for the AMI adapter tests: the captures and a fresh protocol."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from cti_fsm_asterisk_ami import adapter  # noqa: E402
from cti_fsm_asterisk_ami.protocol import AmiProtocol  # noqa: E402

CAPTURES = Path(__file__).resolve().parents[1] / "captures"


@pytest.fixture
def captures() -> Path:
    """The folder of recorded AMI streams (licences in its SOURCES.md)."""
    return CAPTURES


@pytest.fixture
def protocol() -> AmiProtocol:
    """A protocol for the agent PJSIP/1001 with two configured queues."""
    return adapter.protocol(user="PJSIP/1001", options={"queues": ["sales", "support"]})
