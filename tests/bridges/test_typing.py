"""The bridged agents are typed as the trio agent is: mypy --strict on user code passes the
default chart's commands (awaitable from asyncio, plain from threads) and reports a
misspelt command, a wrong argument type and a blocking call awaited."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import cti_fsm

REPO = Path(cti_fsm.__file__).resolve().parents[1]

GOOD = """\
import cti_fsm.asyncio
import cti_fsm.sync
from cti_fsm import Step


async def from_asyncio() -> None:
    async with cti_fsm.asyncio.open_agent("csta-ws", "ws://x", "1001", "pw") as agent:
        step: Step | None = await agent.hold()
        await agent.pause(reason="lunch")
        await agent.check_in(["sales", "support"])
        async for note in agent.notifications(["onIdle"]):
            print(note.name, agent.state, agent.allowed())


def from_a_thread() -> None:
    with cti_fsm.sync.open_agent("csta-ws", "ws://x", "1001", "pw", timeout=5) as agent:
        step: Step | None = agent.hold()
        agent.dial_out("5550100")
        for note in agent.notifications(timeout=1):
            print(note["phone_number"], step)
"""

BAD = """\
import cti_fsm.asyncio
import cti_fsm.sync


async def from_asyncio() -> None:
    async with cti_fsm.asyncio.open_agent("csta-ws", "ws://x", "1001", "pw") as agent:
        await agent.hodl()
        await agent.dial_out(123)


async def from_a_thread() -> None:
    with cti_fsm.sync.open_agent("csta-ws", "ws://x", "1001", "pw") as agent:
        agent.hodl()
        await agent.hold()
"""


def test_mypy_passes_the_commands_and_reports_the_mistakes(tmp_path: Path) -> None:
    (tmp_path / "mypy.ini").write_text(
        textwrap.dedent(
            f"""\
            [mypy]
            mypy_path = {REPO}{os.pathsep}{REPO / "adapters"}
            cache_dir = {tmp_path / ".mypy_cache"}

            [mypy-cti_fsm.*]
            follow_imports = silent
            """
        ),
        "utf-8",
    )
    (tmp_path / "good.py").write_text(GOOD, "utf-8")
    (tmp_path / "bad.py").write_text(BAD, "utf-8")
    env = {k: v for k, v in os.environ.items() if k != "MYPYPATH"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--config-file",
            "mypy.ini",
            "good.py",
            "bad.py",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    errors = [line for line in done.stdout.splitlines() if ": error:" in line]
    assert not [e for e in errors if e.startswith("good.py")], done.stdout
    assert [e.split(":")[1] for e in errors] == ["7", "8", "13", "14"], done.stdout
    assert '"Agent" has no attribute "hodl"' in errors[0]
    assert 'incompatible type "int"; expected "str"' in errors[1]
    assert '"Agent" has no attribute "hodl"' in errors[2]
    assert 'Incompatible types in "await"' in errors[3]
