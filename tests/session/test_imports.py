"""The engine alone loads no trio: ``import cti_fsm`` for a Machine or a Session."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import sys
import cti_fsm
cti_fsm.Machine(cti_fsm.default_chart())
assert cti_fsm.Session and cti_fsm.Step
assert 'trio' not in sys.modules, sorted(m for m in sys.modules if m.startswith('trio'))
print(cti_fsm.open_agent.__module__, 'trio' in sys.modules)
"""


def test_the_engine_loads_no_trio_and_the_agent_loads_it_on_first_use() -> None:
    done = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["cti_fsm.agent", "True"]
