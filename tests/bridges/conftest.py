"""The simulator every bridge test drives: ``cti-fsm simulate`` in a process of its own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cti_fsm.testing import SimulatorProcess, simulator_process


@pytest.fixture
def sim() -> Iterator[SimulatorProcess]:
    with simulator_process("csta-ws") as running:
        yield running
