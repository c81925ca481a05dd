"""``cti-fsm replay`` and ``cti-fsm vendors``."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from cti_fsm.cli import replay as replay_cli
from cti_fsm.cli import vendors as vendors_cli


def main(argv: list[str]) -> int:
    """Run one of this area's subcommands as ``cti-fsm`` would, without loading the others
    (they are built elsewhere and may not import yet)."""
    module = {"replay": replay_cli, "vendors": vendors_cli}[argv[0]]
    parser = argparse.ArgumentParser(prog=f"cti-fsm {argv[0]}")
    module.configure(parser)
    status: int = module.run(parser.parse_args(argv[1:]))
    return status


def test_subcommands_are_registered() -> None:
    from cti_fsm.cli import SUBCOMMANDS

    assert {"replay", "vendors"} <= set(SUBCOMMANDS)


RAW = "asterisk-mqtt_freepbx_answered-outbound.raw"


def test_replay_prints_transitions_and_notifications(
    captures: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(
        ["replay", "--vendor", "asterisk-ami", "--agent", "PJSIP/1986", str(captures / RAW)]
    )
    out = capsys.readouterr().out.splitlines()
    assert status == 0
    assert out[0].split()[:5] == ["5", "DialBegin", "dialing", "checked_in.available.idle", "->"]
    assert "onCallout(call_id='1770888509.40', phone_number='21')" in out[0]
    assert "onCallOutRing" in out[1] and "(stays)" in out[1]
    assert out[-1] == (
        "-- 0 malformed, 5 signals, 1 ignored, 3 transitions; final state: "
        "checked_in.available.idle"
    )
    assert len(out) == 5


def test_replay_all_shows_ignored_signals(
    captures: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(
        [
            "replay",
            "--vendor",
            "asterisk-ami",
            "--agent",
            "PJSIP/1986",
            "--all",
            str(captures / RAW),
        ]
    )
    assert "answered           ignored in checked_in.talking" in capsys.readouterr().out


def test_replay_start_and_malformed_lines(
    captures: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = "panoramisk_xivo-ast11_agent-login-QueueMemberAdded.yaml"
    status = main(
        [
            "replay",
            "--vendor",
            "asterisk-ami",
            "--agent",
            "Local/id-3@agentcallback",
            "--start",
            "connected",
            str(captures / name),
        ]
    )
    out = capsys.readouterr().out
    assert status == 0
    assert out.count("MALFORMED") == 4
    assert "connected -> checked_in.available.idle  onCheckIn(result='success'" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--vendor", "nope", "--agent", "x", "f"], "no adapter named 'nope'"),
        (["--vendor", "asterisk-ami", "--agent", "x", "/no/such/file"], "No such file"),
        (["--vendor", "asterisk-ami", "--agent", "x", "--start", "nowhere", "CAPTURE"], "nowhere"),
        (["--vendor", "asterisk-ami", "--agent", "x", "--option", "bogus=1", "CAPTURE"], "bogus"),
    ],
)
def test_replay_errors_exit_2(
    captures: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    argv = [str(captures / RAW) if a == "CAPTURE" else a for a in argv]
    assert main(["replay", *argv]) == 2
    assert message in capsys.readouterr().err


def test_vendors_matrix_from_the_vendor_maps(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["vendors"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:2] == ["command", "asterisk-ami"]
    column = lines[0].split().index("asterisk-ami")
    rows = {
        line.split()[0]: line.split()[column]
        for line in lines[2:]
        if line and "|" not in line and ":" not in line
    }
    assert rows["hold"] == "-" and rows["answer"] == "-" and rows["get_rights"] == "-"
    assert rows["dial_out"] == "yes" and rows["listen"] == "yes"


def test_vendors_markdown(capsys: pytest.CaptureFixture[str]) -> None:
    main(["vendors", "--markdown"])
    out = capsys.readouterr().out
    assert out.startswith("| command | ")
    assert "| `hold` |" in out and "| `connect` | " in out


def test_vendors_reports_an_adapter_that_does_not_load(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def load(name: str) -> object:
        if name == "broken":
            raise ImportError("no module named broken_vendor")
        from cti_fsm.adapter import load_adapter

        return load_adapter(name)

    monkeypatch.setattr(vendors_cli, "adapter_names", lambda: ("asterisk-ami", "broken"))
    monkeypatch.setattr(vendors_cli, "load_adapter", load)
    assert main(["vendors"]) == 0
    out = capsys.readouterr().out
    assert "broken: cannot load: ImportError: no module named broken_vendor" in out
    assert out.splitlines()[0].split() == ["command", "asterisk-ami"]
