"""`cti-fsm demo`: the README's first command plays the whole day and exits 0."""

from __future__ import annotations

import io
import re
import subprocess
import sys

from cti_fsm.demo import DEMO_COMMANDS, choose_adapter, run_demo


async def test_the_day_uses_every_demo_command_and_ends_where_the_switch_says() -> None:
    out = io.StringIO()
    status = await run_demo(pace=0, out=out)
    text = out.getvalue()
    assert status == 0, text
    commands = set(re.findall(r"> (\w+)\(", text))
    # connect and disconnect are the session's own, sent by open_agent and on close
    assert commands == DEMO_COMMANDS - {"connect", "disconnect"}
    for event in (
        "onCheckIn",
        "onCallInRing",
        "onCallIn",
        "onInCall",
        "onHold",
        "onRetrieve",
        "onDtmfSent",
        "onThreePartCallOutRing",
        "onConsult",
        "onTransfer",
        "onIdle",
        "onCallout",
        "onDialOver",
        "onCallOut",
        "onPause",
        "onRestore",
        "onListen",
        "onThreePart",
        "onTakeOver",
        "onCheckOut",
        "onDisconnect",
    ):
        assert event in text, event
    lines = text.strip().splitlines()
    # the end of the day, then the log-outs, then the summary of where that left the agent
    day = next(i for i, x in enumerate(lines) if "day over:" in x)
    assert re.search(r"agent in (\S+) \(the switch says \1\)", lines[day]), lines[day]
    logged_out = next(i for i, x in enumerate(lines) if re.match(r"\s*\S+s  agent +logged_out", x))
    assert day < logged_out < len(lines) - 1
    assert re.search(r"agent ends in (\S+) \(the switch says \1\)", lines[-1]), lines[-1]
    # the summary is true of what it follows: the agent's last step took it there
    after = re.search(r"-> (\S+)$", lines[logged_out])
    assert after is not None and f"agent ends in {after.group(1)} " in lines[-1]


async def test_the_timeline_shows_state_changes() -> None:
    out = io.StringIO()
    await run_demo(pace=0, out=out)
    line = next(x for x in out.getvalue().splitlines() if "held -> onHold" in x)
    assert "checked_in.talking -> checked_in.held" in line
    assert re.match(r"\s*\d+\.\d{3}s  agent ", line)


def test_demo_picks_an_adapter_that_can_play_the_whole_day() -> None:
    adapter = choose_adapter()
    assert not DEMO_COMMANDS & adapter.unsupported


def test_the_console_script_runs_the_demo() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cti_fsm.cli", "demo", "--pace", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "done: agent ends in" in done.stdout
    assert "pw1001" not in done.stdout + done.stderr  # demo passwords are never printed
