"""Testing tools for cti-fsm users: transition coverage and hypothesis call flows.

- ``Coverage``: which chart transitions (leaf x signal and guarded alternative, timer,
  leaf x command) a run took; ``ChartsCoverage`` measures every chart machines run, and
  ``pytest --chart-coverage`` prints it for a pytest run.
- ``flows``: a hypothesis strategy of valid call flows, for testing business code that
  listens to the agent's events.
- ``chart_state_machine``: a hypothesis ``RuleBasedStateMachine`` generated from a chart,
  seeded with the shortest paths to every transition.
- ``simulator_process``: ``cti-fsm simulate`` in a process of its own with its HTTP control,
  for tests of programs that use the library (``SimulatorProcess.control(op, ...)``).
- ``conformance`` (``check_adapter``), ``faults`` (``check_fault_matrix``: every scenario
  with the link dropped at every step, in virtual time) and ``fuzz`` (mutated frames
  through the sans-IO session) for adapter authors.

The hypothesis tools are imported on first use, so ``Coverage`` (and the pytest plugin)
work without hypothesis installed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .coverage import (
    ChartsCoverage,
    ChartTransition,
    CommandVariant,
    Coverage,
    chart_transitions,
    command_variants,
)

if TYPE_CHECKING:
    from .conformance import (
        ConformanceError,
        ConformanceReport,
        Gap,
        Login,
        LoopbackRelay,
        Scenario,
        check_adapter,
        check_adapter_sync,
    )
    from .processes import SimulatorProcess, simulator_process
    from .state_machine import ChartStateMachine, chart_state_machine, plan_walks
    from .strategies import Flow, FlowStep, flows

__all__ = [
    "ChartStateMachine",
    "ChartTransition",
    "ChartsCoverage",
    "CommandVariant",
    "ConformanceError",
    "ConformanceReport",
    "Coverage",
    "Flow",
    "FlowStep",
    "Gap",
    "Login",
    "LoopbackRelay",
    "Scenario",
    "SimulatorProcess",
    "chart_state_machine",
    "chart_transitions",
    "check_adapter",
    "check_adapter_sync",
    "command_variants",
    "flows",
    "plan_walks",
    "simulator_process",
]

_LAZY = {
    "Flow": "strategies",
    "FlowStep": "strategies",
    "flows": "strategies",
    "ChartStateMachine": "state_machine",
    "chart_state_machine": "state_machine",
    "plan_walks": "state_machine",
    "SimulatorProcess": "processes",
    "simulator_process": "processes",
    # the adapter conformance suite (trio; hypothesis for its random walk)
    "ConformanceError": "conformance",
    "ConformanceReport": "conformance",
    "Gap": "conformance",
    "Login": "conformance",
    "LoopbackRelay": "conformance",
    "Scenario": "conformance",
    "check_adapter": "conformance",
    "check_adapter_sync": "conformance",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
