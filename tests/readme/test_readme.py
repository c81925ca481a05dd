"""README.md stays true: its two commands, its generated blocks, its code."""

from __future__ import annotations

import pathlib
import re

from cti_fsm.cli.vendors import markdown_table

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


def test_fault_matrix_example_runs_as_shown() -> None:
    code = re.findall(r"```python\n(.*?)\n```", README, re.S)
    example = next(c for c in code if "check_fault_matrix" in c)
    scope: dict[str, object] = {}
    exec(compile(example, "README.md", "exec"), scope)
    test = scope["test_my_adapter_survives_every_drop"]
    assert callable(test)
    test()
