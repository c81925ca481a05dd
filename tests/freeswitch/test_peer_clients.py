"""Peer ESL clients read our simulator as they read FreeSWITCH: FreeSWITCH's own libesl
(python-ESL) with JSON events, and greenswitch with plain ones, each in its own process."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
import trio
from cti_fsm_freeswitch_esl.simulator import DEFAULT_ESL_PASSWORD, EslSimulator

from cti_fsm.switch import demo_switch

PEERS = Path(__file__).resolve().parent / "peers"


def _need(module: str, install: str) -> None:
    if importlib.util.find_spec(module) is not None:
        return
    message = f"{module} is not installed: {install}"
    if os.environ.get("CI"):
        pytest.fail(message)  # CI installs it (.ci/run): its absence there is a failure
    pytest.skip(message)


async def _run_peer(
    script: str, password: str = DEFAULT_ESL_PASSWORD
) -> tuple[dict[str, Any], Any]:
    switch = demo_switch()
    switch.login("1001", "pw1001")  # the agent's phone bar is elsewhere; a peer administers it
    simulator = EslSimulator(switch, tiers={"1001": ["sales"]})
    async with trio.open_nursery() as nursery:
        port = await nursery.start(simulator.serve)
        with trio.fail_after(30):
            done = await trio.run_process(
                [
                    sys.executable,
                    str(PEERS / script),
                    "127.0.0.1",
                    str(port),
                    password,
                    "1001@default",
                ],
                capture_stdout=True,
                capture_stderr=True,
                check=False,
            )
        nursery.cancel_scope.cancel()
    assert done.returncode == 0, done.stderr.decode()
    return json.loads(done.stdout.decode().strip().splitlines()[-1]), switch


STATUS = {
    "Event-Name": "CUSTOM",
    "Event-Subclass": "callcenter::info",
    "CC-Agent": "1001@default",
    "CC-Action": "agent-status-change",
    "CC-Agent-Status": "Available",
}
STATE = {**STATUS, "CC-Action": "agent-state-change", "CC-Agent-State": "Waiting"}


async def test_freeswitchs_own_libesl_reads_our_json_events_and_job_results() -> None:
    _need(
        "ESL",
        "pip install swig==3.0.12 wheel, then PATH=.venv/bin:$PATH pip install"
        " --no-build-isolation python-ESL (see .ci/run)",
    )
    out, switch = await _run_peer("python_esl_peer.py")
    assert out["subscribed"] == "+OK event listener enabled json"
    assert out["api"] == "+OK\n"
    assert out["events"] == [
        {**STATUS, "CC-Agent-State": None},
        {**STATE, "CC-Agent-Status": None},
    ]
    # a bgapi's result: its Job-UUID, and the body libesl took from the JSON's _body
    assert out["job_uuid"] and out["job_result"] == "Available"
    assert switch.chart_state("1001") == "checked_in.available.idle"


async def test_greenswitch_reads_our_plain_events() -> None:
    _need("greenswitch", "pip install -e '.[test]'")
    out, switch = await _run_peer("greenswitch_peer.py")
    assert out["subscribed"] == "+OK event listener enabled plain"
    assert out["api"] == "+OK\n"
    assert out["events"] == [
        {**STATUS, "CC-Agent-State": None},
        {**STATE, "CC-Agent-Status": None},
    ]
    assert switch.chart_state("1001") == "checked_in.available.idle"


async def test_a_wrong_password_is_refused_with_a_disconnect_notice() -> None:
    _need("greenswitch", "pip install -e '.[test]'")
    switch = demo_switch()
    simulator = EslSimulator(switch)
    async with trio.open_nursery() as nursery:
        port = await nursery.start(simulator.serve)
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            await stream.send_all(b"auth wrong\n\n")
            data = b""
            with trio.fail_after(5):
                while b"See you at ClueCon" not in data:
                    chunk = await stream.receive_some()
                    if not chunk:
                        break
                    data += chunk
        nursery.cancel_scope.cancel()
    assert data.startswith(b"Content-Type: auth/request\n\n")
    assert b"Content-Type: command/reply\nReply-Text: -ERR invalid\n\n" in data
    assert b"Content-Type: text/disconnect-notice" in data
