"""``examples/fastapi_app.py`` served by a real uvicorn (its own process, 127.0.0.1, port
0) against ``cti-fsm simulate`` (another process), driven with httpx: the status codes of
commands the chart allows and refuses, and the notification stream."""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

import httpx
import pytest

from cti_fsm.testing import SimulatorProcess, simulator_process

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"
RUNNING = re.compile(r"Uvicorn running on (http://127\.0\.0\.1:[0-9]+)")


@pytest.fixture
def sim() -> Iterator[SimulatorProcess]:
    with simulator_process("csta-ws") as running:
        yield running


@pytest.fixture
def app_url(sim: SimulatorProcess) -> Iterator[str]:
    with served_app(sim.url, "1001", "pw1001") as url:
        yield url


@contextlib.contextmanager
def served_app(cti_url: str, user: str, password: str, **more: str) -> Iterator[str]:
    """The example app under ``uvicorn`` as a user starts it; its base URL."""
    env = {**os.environ, "CTI_URL": cti_url, "CTI_USER": user, "CTI_PASSWORD": password}
    env.update(more)
    command = [sys.executable, "-m", "uvicorn", "--app-dir", str(EXAMPLES), "fastapi_app:app"]
    command += ["--host", "127.0.0.1", "--port", "0"]
    with (
        tempfile.TemporaryFile("w+") as log,
        subprocess.Popen(command, env=env, stdout=log, stderr=log, text=True) as server,
    ):
        try:
            url = None
            deadline = time.monotonic() + 30
            while url is None:
                time.sleep(0.05)
                log.seek(0)
                text = log.read()
                assert server.poll() is None, f"uvicorn exited:\n{text}"
                assert time.monotonic() < deadline, f"uvicorn did not start:\n{text}"
                if found := RUNNING.search(text):
                    url = found.group(1)
            yield url
        finally:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
            log.seek(0)
            assert password not in log.read(), "the password must never be logged"


def events(lines: Iterator[str]) -> Iterator[tuple[str, dict[str, object]]]:
    """(event, data) pairs of a server-sent event stream."""
    name = None
    for line in lines:
        if line.startswith("event: "):
            name = line[len("event: ") :]
        elif line.startswith("data: ") and name is not None:
            yield name, json.loads(line[len("data: ") :])
            name = None


def test_commands_and_the_notification_stream(sim: SimulatorProcess, app_url: str) -> None:
    with httpx.Client(base_url=app_url, timeout=10) as http:
        assert http.get("/agent").json()["state"] == "connected"
        assert "hold" in http.get("/commands").json()

        with http.stream("GET", "/notifications") as stream:
            stream_events = events(stream.iter_lines())
            assert next(stream_events)[0] == "subscribed"

            done = http.post("/commands/check_in", json={"group_ids": "sales"})
            assert done.status_code == 200, done.text
            assert done.json()["state"] == "checked_in.available.idle"
            assert next(stream_events)[0] == "onCheckIn"

            assert sim.control("call", group="sales", caller="5550100")["ringing"] == "1001"
            name, payload = next(stream_events)
            assert (name, payload["phone_number"]) == ("onCallInRing", "5550100")

            assert http.post("/commands/answer").status_code == 200
            assert [next(stream_events)[0] for _ in range(2)] == ["onCallIn", "onInCall"]

            # refused by the chart: 409 with the chart's message; nothing was sent
            sent = sim.control("received", agent="1001")["frames"]
            refused = http.post("/commands/check_out")
            assert refused.status_code == 409
            body = refused.json()
            assert body["error"] == "IllegalCommand"
            assert body["state"] == "checked_in.talking"
            assert "cannot be sent in state 'checked_in.talking'" in body["message"]
            assert "hold" in body["allowed"]
            assert sim.control("received", agent="1001")["frames"] == sent

            # pausing another agent needs the supervisor right: 403
            denied = http.post("/commands/pause", json={"agent_id": "1002"})
            assert denied.status_code == 403, denied.text
            assert denied.json()["error"] == "PermissionDenied"
            assert denied.json()["missing"] == ["supervisor"]
            assert http.post("/commands/no_such_thing").status_code == 404
            bad = http.post("/commands/send_dtmf", json={"digitz": "1"})
            assert bad.status_code == 422, bad.text
            assert bad.json()["error"] == "InvalidArguments"
            assert sim.control("received", agent="1001")["frames"] == sent

            assert http.post("/commands/hold").status_code == 200
            assert next(stream_events)[0] == "onHold"
            assert http.post("/commands/retrieve").status_code == 200
            assert next(stream_events)[0] == "onRetrieve"
            assert http.post("/commands/hangup").status_code == 200
            assert next(stream_events)[0] == "onIdle"
        assert http.get("/agent").json()["state"] == "checked_in.available.idle"


def test_a_command_the_vendor_cannot_do_is_501() -> None:
    with (
        simulator_process("asterisk-ami") as ami,
        served_app(
            ami.url,
            "PJSIP/8001",
            "pw1001",
            CTI_VENDOR="asterisk-ami",
            CTI_OPTIONS='{"username": "1001"}',
        ) as url,
        httpx.Client(base_url=url, timeout=10) as http,
    ):
        assert http.get("/agent").json()["state"] == "connected"
        # Asterisk reports no rights: allowed by the chart, refused before anything is sent
        refused = http.post("/commands/get_rights")
        assert refused.status_code == 501, refused.text
        assert refused.json()["error"] == "Unsupported"
        assert "get_rights" not in http.get("/agent").json()["allowed"]
