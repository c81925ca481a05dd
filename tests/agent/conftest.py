"""Fixtures for Agent tests: the tiny out-of-package adapter and its fake server."""

from __future__ import annotations

import pathlib
import sys
from collections.abc import Iterator

import pytest

HERE = pathlib.Path(__file__).parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import tiny_adapter  # noqa: E402


@pytest.fixture
def server() -> tiny_adapter.FakeServer:
    return tiny_adapter.FakeServer()


@pytest.fixture
def tiny(server: tiny_adapter.FakeServer) -> tiny_adapter.TinyAdapter:
    return tiny_adapter.TinyAdapter(server)


@pytest.fixture
def registered_tiny(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Register tiny_adapter under the entry-point group exactly as an installed
    third-party distribution would: a dist-info with entry_points.txt on sys.path."""
    dist = tmp_path / "cti_fsm_tiny-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: cti-fsm-tiny\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[cti_fsm.adapters]\ntiny = tiny_adapter:adapter\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "tiny"
