"""``examples/django_style.py``: its views called from several worker threads at once, as a
threaded server calls them, against ``cti-fsm simulate``; and the script as a user runs it."""

from __future__ import annotations

import concurrent.futures
import importlib.util
import pathlib
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from types import ModuleType

import attrs
import pytest

from cti_fsm.testing import SimulatorProcess, simulator_process

EXAMPLE = pathlib.Path(__file__).resolve().parents[2] / "examples" / "django_style.py"


@pytest.fixture
def sim() -> Iterator[SimulatorProcess]:
    with simulator_process("csta-ws") as running:
        yield running


@pytest.fixture
def example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("django_style", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["django_style"] = module  # attrs looks the module up by name
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules["django_style"]
    return module


@attrs.frozen
class Request:
    body: bytes = b""


def test_views_from_worker_threads(sim: SimulatorProcess, example: ModuleType) -> None:
    before = set(threading.enumerate())
    bar = example.PHONE_BAR
    bar.start("csta-ws", sim.url, "1001", "pw1001")
    try:
        view = example.command_view
        assert view(Request(b'{"group_ids": "sales"}'), "check_in").status == 200
        assert sim.control("call", group="sales")["ringing"] == "1001"
        deadline = time.monotonic() + 10
        while bar.agent.state != "checked_in.ringing":
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert view(Request(), "answer").status == 200
        # two workers at once: one holds, the other's check_out is refused by the chart
        with concurrent.futures.ThreadPoolExecutor(2) as workers:
            hold = workers.submit(view, Request(), "hold")
            assert hold.result().data == {"state": "checked_in.held", "target": "checked_in.held"}
            refused = workers.submit(view, Request(), "check_out").result()
        assert refused.status == 409
        assert refused.data["error"] == "IllegalCommand"
        assert "cannot be sent in state 'checked_in.held'" in refused.data["message"]
        assert view(Request(b'{"agent_id": "1002"}'), "pause").status == 403
        assert view(Request(b"not json"), "hangup").status == 400
        assert view(Request(), "hangup").status == 200
        assert example.agent_view(Request()).data["state"] == "checked_in.available.idle"
    finally:
        bar.close()
    assert bar.call_log[:4] == ["onCheckIn", "onCallInRing", "onCallIn", "onInCall"]
    assert "onHold" in bar.call_log and bar.call_log[-1] in ("onIdle", "onDisconnect")
    assert example.agent_view(Request()).status == 503
    assert set(threading.enumerate()) == before


def test_the_script_works_a_call_the_control_makes_arrive(sim: SimulatorProcess) -> None:
    with subprocess.Popen(
        [sys.executable, str(EXAMPLE), sim.url], stdout=subprocess.PIPE, text=True
    ) as script:
        assert script.stdout is not None
        lines = [script.stdout.readline(), script.stdout.readline()]
        assert lines[1].startswith("waiting for a call"), lines
        assert sim.control("call", group="sales", caller="5550100")["ok"]
        out, _ = script.communicate(timeout=30)
    assert script.returncode == 0
    assert "ringing: 5550100" in out
    assert "status=409" in out
    assert "call log: onCheckIn, onCallInRing, onCallIn, onInCall" in out
