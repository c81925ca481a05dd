"""README.md stays true: its two commands, its generated blocks, its code (the agent
programs run as written against ``cti-fsm simulate``)."""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys

import cti_fsm
from cti_fsm.adapter import load_adapter
from cti_fsm.cli.vendors import markdown_table
from cti_fsm.testing import simulator_process

ROOT = pathlib.Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_starts_with_the_demo_and_the_test_commands() -> None:
    blocks = re.findall(r"```sh\n(.*?)\n```", README, re.S)
    assert blocks[0].endswith("cti-fsm demo"), blocks[0]
    assert blocks[1].endswith("python -m pytest -q"), blocks[1]
    # CI runs exactly the README's test command
    assert blocks[1] in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_capability_matrix_is_current() -> None:
    block = README.split("<!-- vendors:start -->\n")[1].split("\n<!-- vendors:end -->")[0]
    assert block == markdown_table(), "regenerate with: cti-fsm vendors --markdown"


def test_engine_example_runs_as_shown() -> None:
    code = re.findall(r"```python\n(.*?)\n```", README, re.S)
    engine = next(c for c in code if "Machine(default_chart()" in c)
    printed: list[str] = []
    exec(
        compile(engine, "README.md", "exec"),
        {"print": lambda *a: printed.append(" ".join(map(str, a)))},
    )
    assert printed[0] == "checked_in.ringing ('onCallInRing',)"
    assert printed[1].startswith("('pause', 'restore', 'answer', 'hangup'")


def test_agent_examples_run_as_written_against_cti_fsm_simulate() -> None:
    """The trio, asyncio and threads programs, as written, against ``cti-fsm simulate``
    (on free ports, which the programs read from CTI_URL and CTI_CONTROL)."""
    shell = re.findall(r"```sh\n(.*?)\n```", README, re.S)
    assert "cti-fsm simulate --vendor csta-ws --port 8765 --control-port 8766" in shell
    code = re.findall(r"```python\n(.*?)\n```", README, re.S)
    programs = [c for c in code if 'os.environ.get("CTI_CONTROL"' in c]
    assert len(programs) == 3
    assert "trio.run(main)" in programs[0]
    assert "asyncio.run(main())" in programs[1]
    assert "cti_fsm.sync.open_agent" in programs[2]
    for program in programs:
        # the defaults are the ports the README's simulate command listens on
        assert 'os.environ.get("CTI_URL", "ws://127.0.0.1:8765/")' in program
        assert 'os.environ.get("CTI_CONTROL", "http://127.0.0.1:8766")' in program
    with simulator_process("csta-ws") as sim:
        env = {**os.environ, "CTI_URL": sim.url, "CTI_CONTROL": sim.control_url}
        for program in programs:
            done = subprocess.run(
                [sys.executable, "-c", program],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert done.returncode == 0, done.stderr[-3000:]
            lines = done.stdout.splitlines()
            assert sorted(lines) == ["back to checked_in.available.idle", "ringing: 5550100"]
            # the program logged out on the way out
            assert sim.control("state", agent="1001")["connected"] is False


def test_the_own_chart_example_loads_and_fits_every_shipped_vendor() -> None:
    section = README.split("## Your own chart\n")[1].split("\n## ")[0]
    [text] = re.findall(r"```yaml\n(.*?)\n```", section, re.S)
    chart = cti_fsm.load_chart_text(text, "desk.yaml")
    assert chart.extends == ("agent",) and chart.settings["wrap_up_seconds"] == 45
    assert chart.commands["tag_call"].local
    for vendor in ("csta-ws", "asterisk-ami", "freeswitch-esl"):
        adapter = load_adapter(vendor).for_chart(chart)  # type: ignore[attr-defined]
        assert "tag_call" not in adapter.unsupported


def test_fault_matrix_example_runs_as_shown() -> None:
    code = re.findall(r"```python\n(.*?)\n```", README, re.S)
    example = next(c for c in code if "check_fault_matrix" in c)
    scope: dict[str, object] = {}
    exec(compile(example, "README.md", "exec"), scope)
    test = scope["test_my_adapter_survives_every_drop"]
    assert callable(test)
    test()
