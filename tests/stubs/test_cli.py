"""``cti-fsm stubs``: in process through ``cti_fsm.cli.main``, and once through ``python -m``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cti_fsm.chart_loader import default_chart, default_chart_path, load_chart
from cti_fsm.cli import main
from cti_fsm.stubs import render_commands

AFTER_CALL_WORK = str(Path(__file__).resolve().parents[1] / "charts" / "after_call_work.yaml")


def test_writes_the_class_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stubs", AFTER_CALL_WORK]) == 0
    out, err = capsys.readouterr()
    assert out == render_commands(load_chart(AFTER_CALL_WORK))
    assert "class AfterCallWorkCommands:" in out and not err


def test_writes_a_file_with_class_and_protocol_options(tmp_path: Path) -> None:
    target = tmp_path / "commands.py"
    argv = ["stubs", default_chart_path(), "-o", str(target), "--class", "DefaultCommands"]
    assert main(argv) == 0
    assert target.read_text("utf-8") == render_commands(default_chart(), "DefaultCommands")
    assert main([*argv[:-1], "MyAgent", "--protocol"]) == 0
    assert target.read_text("utf-8") == render_commands(default_chart(), "MyAgent", protocol=True)


def test_bad_arguments_exit_2_naming_the_argument(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = str(tmp_path / "nope.yaml")
    assert main(["stubs", missing]) == 2
    assert capsys.readouterr().err == (
        f"cti-fsm stubs: argument CHART: no such file: {missing!r}\n"
    )
    unwritable = str(tmp_path / "no-such-dir" / "x.py")
    assert main(["stubs", AFTER_CALL_WORK, "-o", unwritable]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"cti-fsm stubs: argument -o/--output: cannot write {unwritable!r}")
    # argparse's own report for a bad value: usage, the argument, status 2
    with pytest.raises(SystemExit) as exited:
        main(["stubs", AFTER_CALL_WORK, "--class", "not-a-name"])
    assert exited.value.code == 2
    assert "argument --class: 'not-a-name' is not a Python class name" in capsys.readouterr().err


def test_chart_problems_are_reported_as_check_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("chart: x\nstates: {a: {}}\n")
    assert main(["stubs", str(bad)]) == 1
    assert capsys.readouterr().err.splitlines() == [
        f"{bad}:2:1: chart: missing required key 'initial'",
        f"{bad}: 1 problem(s)",
    ]
    # a valid chart with a command Python cannot name: the same report, nothing written
    odd = tmp_path / "odd.yaml"
    odd.write_text("chart: odd\ninitial: a\nstates: {a: {}}\ncommands:\n  do-it: {from: a}\n")
    target = tmp_path / "out.py"
    assert main(["stubs", str(odd), "-o", str(target)]) == 1
    assert capsys.readouterr().err.splitlines() == [
        f"{odd}:5:3: command 'do-it' is not a Python identifier: no typed method;"
        " send it with agent.command('do-it')",
        f"{odd}: 1 problem(s)",
    ]
    assert not target.exists()


def test_module_entry_point_has_the_subcommand() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cti_fsm.cli", "stubs", "--help"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    usage = " ".join(done.stdout.split("\n\n")[0].split())
    assert (
        usage
        == "usage: cti-fsm stubs [-h] [-o FILE] [--class NAME] [--protocol] [--blocking] CHART"
    )
