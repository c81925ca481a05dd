"""``cti-fsm phonebar``: bad arguments name themselves and exit 2; the README runs it third."""

from __future__ import annotations

import pathlib
import re
import signal
import socket
import subprocess
import sys
import urllib.request

import pytest

from cti_fsm.cli import main

README = (pathlib.Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def test_the_readmes_third_command_is_the_phone_bar_demo() -> None:
    blocks = re.findall(r"```sh\n(.*?)\n```", README, re.S)
    assert blocks[2].endswith(".venv/bin/cti-fsm phonebar --demo"), blocks[2]
    assert "'.[phonebar]'" in blocks[2]


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["phonebar"], "--vendor and --url are required without --demo"),
        (["phonebar", "--vendor", "csta-ws"], "--vendor and --url are required"),
        (["phonebar", "--vendor", "no-such", "--url", "ws://x"], "--vendor: "),
        (["phonebar", "--demo", "--chart", "/no/such.yaml"], "--chart: "),
        (["phonebar", "--demo", "--option", "username"], "--option: 'username' is not KEY=VALUE"),
    ],
)
def test_a_bad_argument_is_named_and_exits_2(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err


def test_a_port_in_use_is_named_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["phonebar", "--demo", "--port", str(port)]) == 2
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


def test_the_demo_command_serves_the_bar_until_ctrl_c() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "cti_fsm.cli", "phonebar", "--demo", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        found = re.search(r"at (http://127\.0\.0\.1:\d+)/ ", first)
        assert found, first
        with urllib.request.urlopen(found.group(1) + "/", timeout=5) as page:
            assert "<cti-phone-bar>" in page.read().decode()
            assert "script-src 'self'" in page.headers["Content-Security-Policy"]
        assert "supervisor 9001" in proc.stdout.readline()
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
