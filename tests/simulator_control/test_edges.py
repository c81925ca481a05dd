"""The control's edges: JSON over HTTP (in process, raw bytes on a socket) and lines on
standard input (``cti-fsm simulate --control-stdin`` as a user runs it); its help."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys

import trio

from cti_fsm.cli import build_parser
from cti_fsm.simulator_control import OPERATIONS, SimulatorControl
from cti_fsm.simulator_control_io import MAX_BODY, serve_http, serve_lines
from cti_fsm.switch import demo_switch


async def exchange(port: int, *requests: bytes) -> list[tuple[int, dict[str, object]]]:
    """Send ``requests`` on one connection; each answer's status and JSON body."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    answers = []
    buffer = b""
    async with stream:
        for request in requests:
            await stream.send_all(request)
            while b"\r\n\r\n" not in buffer:
                buffer += await stream.receive_some(65536)
            head, _, buffer = buffer.partition(b"\r\n\r\n")
            lines = head.decode().split("\r\n")
            length = next(
                int(line.split(":")[1])
                for line in lines
                if line.lower().startswith("content-length")
            )
            while len(buffer) < length:
                buffer += await stream.receive_some(65536)
            body, buffer = buffer[:length], buffer[length:]
            answers.append((int(lines[0].split()[1]), json.loads(body)))
    return answers


def post(path: str, body: bytes = b"") -> bytes:
    return f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body


async def test_http_statuses_and_keep_alive(nursery: trio.Nursery) -> None:
    switch = demo_switch()
    switch.login("1001", "pw1001")
    switch.check_in("1001", ["sales"])
    port = await nursery.start(serve_http, SimulatorControl(switch))
    answers = await exchange(
        port,
        post("/call", b'{"group": "sales"}'),
        post("/hangup", b'{"call": "c9"}'),
        post("/nope"),
        post("/call", b"[1]"),
        post("/call", b"{not json"),
        post("/", b'{"op": "state", "agent": "1001"}'),
        post("/drop_link", b'{"agent": "1001"}'),
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"DELETE /call HTTP/1.1\r\nHost: x\r\n\r\n",
        post("/a/b"),
    )
    statuses = [status for status, _ in answers]
    assert statuses == [200, 409, 404, 400, 400, 200, 501, 200, 405, 404]
    assert answers[0][1]["ringing"] == "1001"
    assert answers[1][1]["error"] == "unknown_call"
    assert answers[5][1]["situation"] == "ringing"
    assert [o["op"] for o in answers[7][1]["operations"]] == list(OPERATIONS)  # type: ignore[union-attr]
    # a body over the limit is refused whole and changes nothing
    [(status, body)] = await exchange(port, post("/call", b" " * (MAX_BODY + 1)))
    assert status == 413 and body["error"] == "bad_request"
    assert len(switch.calls()) == 1


async def test_lines_in_answers_out() -> None:
    switch = demo_switch()
    lines = iter(["calls\n", "\n", "call group=nowhere\n", "call sales\n", '{"op": "help"}\n', ""])
    out: list[str] = []

    async def read_line() -> str:
        return next(lines)

    await serve_lines(SimulatorControl(switch), read_line, out.append)
    answers = [json.loads(line) for line in out]
    assert [a["ok"] for a in answers] == [True, False, False, True]
    assert answers[1]["error"] == "unknown_group"
    assert answers[2]["error"] == "bad_request" and "key=value" in answers[2]["message"]


def test_simulate_takes_commands_on_stdin() -> None:
    command = [sys.executable, "-m", "cti_fsm.cli", "simulate", "--vendor", "csta-ws"]
    with subprocess.Popen(
        [*command, "--control-stdin"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as sim:
        assert sim.stdin is not None and sim.stdout is not None
        while not sim.stdout.readline().startswith("passwords:"):
            pass
        sim.stdin.write("call group=support caller=5550100\n")
        sim.stdin.flush()
        answer = json.loads(sim.stdout.readline())
        sim.stdin.write("state agent=1002\n")
        sim.stdin.flush()
        state = json.loads(sim.stdout.readline())
        # Ctrl-C stops it at once, though a thread still waits for the next line
        sim.send_signal(signal.SIGINT)
        assert sim.wait(10) == 0
    assert answer == {"ok": True, "op": "call", "call": "c1", "ringing": None, "queued": True}
    assert state["ok"] and state["connected"] is False


def test_help_shows_the_control() -> None:
    parser = build_parser()
    simulate = parser._subparsers._group_actions[0].choices["simulate"]  # type: ignore[union-attr]
    text = simulate.format_help()
    assert "--control-port N" in text and "--control-stdin" in text
    for op in OPERATIONS.values():
        assert op.usage() in text and op.summary in text
    assert "curl -s -X POST http://127.0.0.1:8766/call" in text
    assert "409 refused by the switch" in text


def test_a_control_port_in_use_exits_2_naming_it() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        simulate = [sys.executable, "-m", "cti_fsm.cli", "simulate", "--vendor", "csta-ws"]
        done = subprocess.run(
            [*simulate, "--control-port", str(port)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert done.returncode == 2
    assert "--control-port" in done.stderr and f"127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.splitlines()) == 1
