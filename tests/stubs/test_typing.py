"""What mypy --strict says about user code calling chart commands through the typed class.

One mypy run per user file (each takes seconds): one that must pass, with the generated
text of a user chart's class and protocol checked in the same run, and one that must
fail on a misspelt command and a wrong argument type.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import cti_fsm
from cti_fsm.chart_loader import load_chart
from cti_fsm.stubs import render_commands

#: How user code gets its agent: the one ``open_agent`` yields for the default chart.
TARGET = (
    "import cti_fsm",
    'cti_fsm.open_agent("csta-ws", "ws://127.0.0.1:1", "1001", "pw")',
)

AFTER_CALL_WORK = Path(__file__).resolve().parents[1] / "charts" / "after_call_work.yaml"
REPO = Path(cti_fsm.__file__).resolve().parents[1]

PASSES = """\
from typing import cast

{import_line}
from acw_protocol import AfterCallWorkAgent


async def f() -> None:
    async with {name} as a:
        await a.hold()
        await a.dial_out("123")
        await a.pause(agent_id="7")
        await a.check_in(["1", "2"])
        step = await a.transfer("2001")
        if step is not None:
            print(step.target)


async def g(agent: object) -> None:
    acw = cast(AfterCallWorkAgent, agent)
    await acw.finish_wrap_up()
    await acw.extend_wrap_up(30)
"""

FAILS = """\
{import_line}


async def f() -> None:
    async with {name} as a:
        await a.hodl()
        await a.dial_out(123)
"""


@pytest.fixture(scope="module")
def mypy_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory outside the checkout with the mypy settings both runs share.

    The package is installed editable through an import hook, which mypy cannot follow,
    so the settings point mypy at the checkout; errors inside the package are its own
    tests' concern (and other work in progress), so they are silenced, not reported here.
    One cache for both runs: the second does not analyse the package again.
    """
    where = tmp_path_factory.mktemp("mypy")
    (where / "mypy.ini").write_text(
        textwrap.dedent(
            f"""\
            [mypy]
            mypy_path = {REPO}{os.pathsep}{REPO / "adapters"}
            cache_dir = {where / ".mypy_cache"}

            [mypy-cti_fsm.*]
            follow_imports = silent
            """
        ),
        "utf-8",
    )
    chart = load_chart(AFTER_CALL_WORK)
    (where / "acw_class.py").write_text(render_commands(chart), "utf-8")
    (where / "acw_protocol.py").write_text(
        render_commands(chart, "AfterCallWorkAgent", protocol=True), "utf-8"
    )
    return where


def mypy(where: Path, *files: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "MYPYPATH"}
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--config-file", "mypy.ini", *files],
        cwd=where,
        env=env,
        capture_output=True,
        text=True,
    )


def user_file(where: Path, name: str, template: str) -> str:
    import_line, type_name = TARGET
    (where / name).write_text(template.format(import_line=import_line, name=type_name), "utf-8")
    return name


def test_typed_calls_pass(mypy_dir: Path) -> None:
    ok = user_file(mypy_dir, "user_ok.py", PASSES)
    done = mypy(mypy_dir, ok, "acw_class.py", "acw_protocol.py")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Success: no issues found in 3 source files" in done.stdout


def test_misspelt_command_and_wrong_argument_fail(mypy_dir: Path) -> None:
    bad = user_file(mypy_dir, "user_bad.py", FAILS)
    done = mypy(mypy_dir, bad)
    assert done.returncode == 1, done.stdout + done.stderr
    assert 'has no attribute "hodl"' in done.stdout
    assert 'Argument 1 to "dial_out" of' in done.stdout
    assert 'incompatible type "int"; expected "str"' in done.stdout
    assert "Found 2 errors in 1 file" in done.stdout
