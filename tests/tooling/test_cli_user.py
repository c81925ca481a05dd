"""The command line as a user expects it: every subcommand refuses a bad argument in one
line naming it, with exit status 2 and no traceback; Ctrl-C ends ``simulate`` quietly with
status 0; ``replay`` exits non-zero when nothing in its file was valid and reads JSON lines
and the transcript in the csta-ws README."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cti_fsm.cli import main

ROOT = Path(__file__).resolve().parents[2]
CSTA_README = ROOT / "adapters" / "cti_fsm_csta_ws" / "README.md"
AMI_RAW = ROOT / "tests" / "captures" / "asterisk-mqtt_freepbx_answered-outbound.raw"
CSTA_1001 = ["replay", "--vendor", "csta-ws", "--agent", "1001"]
AMI_8001 = ["replay", "--vendor", "asterisk-ami", "--agent", "PJSIP/8001"]


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port on 127.0.0.1 something already listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


def _refusal(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run ``argv``; assert it is refused with status 2 in one line; return the line."""
    try:
        status = main(argv)
    except SystemExit as exited:  # argparse's own refusals
        status = exited.code  # type: ignore[assignment]
    captured = capsys.readouterr()
    assert status == 2, captured
    assert captured.err.count("\n") == 1 and captured.err.endswith("\n"), captured.err
    assert "Traceback" not in captured.err + captured.out
    return captured.err.strip()


@pytest.mark.parametrize(
    ("argv", "argument", "why"),
    [
        (["demo", "--vendor", "asterisk-ami"], "--vendor", "cannot answer, hold, retrieve"),
        (["demo", "--vendor", "nope"], "--vendor", "no adapter named 'nope'"),
        (["demo", "--pace", "-1"], "--pace", "must be 0 or more seconds, not -1"),
        (["demo", "--pace", "soon"], "--pace", "'soon' is not a number of seconds"),
        (["demo", "--pace", "inf"], "--pace", "must be 0 or more seconds"),
        (["simulate", "--vendor", "nope"], "--vendor", "no adapter named 'nope'"),
        (["simulate", "--vendor", "csta-ws", "--port", "70000"], "--port", "0 to 65535"),
        (["simulate", "--vendor", "csta-ws", "--port", "x"], "--port", "'x' is not a port"),
        # TEST-NET-1: no interface of this machine has it, and nothing is sent to it
        (["simulate", "--vendor", "csta-ws", "--host", "192.0.2.1"], "--host", "cannot listen"),
        (["simulate"], "--vendor", "required"),
        (["replay", "--vendor", "nope", "--agent", "a", str(AMI_RAW)], "--vendor", "no adapter"),
        (["replay", "--vendor", "csta-ws", "--agent", "a", "/no/such"], "FILE", "No such file"),
        (
            [*CSTA_1001, "--start", "nowhere", str(CSTA_README)],
            "--start",
            "no state 'nowhere'",
        ),
        (
            [*CSTA_1001, "--option", "max_frame=big", str(CSTA_README)],
            "--option",
            "max_frame=big: invalid literal",
        ),
        (
            [*AMI_8001, "--option", "queues=sales", "--option", "keepalive_interval=often", "x"],
            "--option",
            "keepalive_interval=often",
        ),
        (
            ["replay", "--vendor", "csta-ws", "--agent", "1001", "--option", "loud", "x"],
            "--option",
            "expected KEY=VALUE",
        ),
        (["diagram", "--highlight", "nowhere"], "--highlight", "no state 'nowhere'"),
        (["diagram", "-o", "/no/such/dir/x.mmd"], "-o/--output", "cannot write"),
        (["diagram", "--update", "/no/such.md"], "--update", "cannot read"),
        (["diagram", "--format", "gif"], "--format", "invalid choice"),
        (["stubs", "/no/such.yaml"], "CHART", "no such file"),
        (["check"], "FILE", "required"),
        (["vendors", "--loud"], "--loud", "unrecognized"),
        (["nosuch"], "COMMAND", "invalid choice"),
    ],
)
def test_a_bad_argument_is_refused_in_one_line_naming_it(
    argv: list[str], argument: str, why: str, capsys: pytest.CaptureFixture[str]
) -> None:
    line = _refusal(argv, capsys)
    assert line.startswith("cti-fsm"), line
    assert argument in line and why in line, line


def test_a_port_in_use_is_refused_naming_the_port(
    taken_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    line = _refusal(["simulate", "--vendor", "asterisk-ami", "--port", str(taken_port)], capsys)
    assert line.startswith("cti-fsm simulate: argument --port: cannot listen on"), line
    assert f":{taken_port}:" in line


def test_a_refusal_from_the_console_script_has_no_traceback() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cti_fsm.cli", "demo", "--vendor", "asterisk-ami"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("cti-fsm demo: argument --vendor: 'asterisk-ami' cannot")
    assert done.stderr.count("\n") == 1 and done.stdout == ""


@pytest.mark.parametrize("vendor", ["csta-ws", "asterisk-ami"])
def test_ctrl_c_ends_simulate_quietly_with_status_0(vendor: str) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "cti_fsm.cli", "simulate", "--vendor", vendor],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith(f"{vendor} simulator listening on "), first
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert err == ""
    assert "Traceback" not in out


def _replay(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main(["replay", *argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_replay_of_a_file_with_nothing_valid_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junk = tmp_path / "junk.txt"
    junk.write_text("not json\nnor this\n")
    status, out, err = _replay(["--vendor", "csta-ws", "--agent", "1001", str(junk)], capsys)
    assert status == 1
    assert "2 malformed" in out
    assert err == f"cti-fsm replay: {junk}: no valid csta-ws message in it (2 read, 2 malformed)\n"
    empty = tmp_path / "empty.raw"
    empty.write_bytes(b"")
    status, _, err = _replay(
        ["--vendor", "asterisk-ami", "--agent", "PJSIP/8001", str(empty)], capsys
    )
    assert status == 1 and "no valid asterisk-ami message" in err
    # valid messages that concern another agent are valid all the same: nothing failed
    status, _, err = _replay(
        ["--vendor", "asterisk-ami", "--agent", "PJSIP/9999", str(AMI_RAW)], capsys
    )
    assert status == 0, err


def test_replay_reads_the_transcript_in_the_csta_ws_readme(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, out, err = _replay(["--vendor", "csta-ws", "--agent", "1001", str(CSTA_README)], capsys)
    assert status == 0, err
    lines = out.splitlines()
    # the README's session, frame by frame: the login's answer, the sign-in, a call
    assert [line.split()[2] for line in lines[:-1]] == [
        "logged_in",
        "checked_in",
        "ringing",
        "answered",
        "held",
        "hung_up",
    ]
    assert "offline -> connected" in lines[0]
    assert lines[-1].endswith("final state: checked_in.available.idle")
    assert "malformed" in lines[-1] and lines[-1].startswith("-- 0 malformed")


def test_replay_reads_json_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """One frame a line, from the README's own transcript; a bad line is malformed, and the
    lines after it are read."""
    frames = [
        line[3:] for line in CSTA_README.read_text("utf-8").splitlines() if line.startswith("<< ")
    ]
    lines = [*frames[:3], "{not json", *frames[3:]]
    capture = tmp_path / "session.jsonl"
    capture.write_text("\n".join(lines) + "\n")
    status, out, err = _replay(["--vendor", "csta-ws", "--agent", "1001", str(capture)], capsys)
    assert status == 0, err
    assert "MALFORMED" in out
    assert out.splitlines()[-1] == (
        "-- 1 malformed, 8 signals, 2 ignored, 6 transitions;"
        " final state: checked_in.available.idle"
    )
    # one JSON document over several lines is one frame
    pretty = tmp_path / "one.json"
    pretty.write_text(json.dumps(json.loads(frames[2]), indent=2))
    status, out, err = _replay(
        ["--vendor", "csta-ws", "--agent", "1001", "--start", "connected", str(pretty)], capsys
    )
    assert status == 0, err
    assert "0 malformed" in out.splitlines()[-1]


def test_ami_replay_reads_json_lines_as_it_reads_the_raw_stream(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cti_fsm_asterisk_ami import adapter
    from cti_fsm_asterisk_ami.codec import AmiCodec

    codec = AmiCodec()
    packets = [m for f in adapter.read_capture(AMI_RAW) for m in codec.feed(f)]
    assert all(isinstance(p, dict) for p in packets)
    capture = tmp_path / "answered.jsonl"
    lines = [json.dumps(p) for p in packets]
    capture.write_text("\n".join([*lines[:2], "[1, 2]", *lines[2:]]) + "\n")
    argv = ["--vendor", "asterisk-ami", "--agent", "PJSIP/1986"]
    status, raw_out, err = _replay([*argv, str(AMI_RAW)], capsys)
    assert status == 0, err
    status, json_out, err = _replay([*argv, str(capture)], capsys)
    assert status == 0, err
    moves = [line.split(None, 1)[1] for line in raw_out.splitlines()[:-1]]
    assert moves, raw_out  # the recording moves this agent
    json_lines = json_out.splitlines()
    [bad] = [line for line in json_lines if "MALFORMED" in line]
    assert bad.split()[0] == "2"  # the third line, reported where it is
    assert [line.split(None, 1)[1] for line in json_lines[:-1] if "MALFORMED" not in line] == moves
    assert json_lines[-1] == raw_out.splitlines()[-1].replace("-- 0 malformed", "-- 1 malformed")


def test_ctrl_c_ends_any_other_subcommand_in_one_line_with_status_130() -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "cti_fsm.cli", "demo", "--pace", "5"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        # in the middle of the day: the agents are logged in and waiting out a pause
        for line in proc.stdout:
            if "check_in" in line:
                break
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130
    assert err == "cti-fsm demo: interrupted\n"
