"""cti-fsm: one declarative state chart between business systems and every CTI vendor.

The sans-IO core is ``load_chart`` (a YAML chart into an immutable ``Chart``), ``Machine``
(one agent's state under it: ``check`` commands, ``apply`` signals) and ``Session`` (one
agent connection's rules: frames in, steps and outcomes out). The trio agent
(``open_agent``, ``Agent``) is loaded on first use, so the engine alone loads no trio.
"""

from typing import TYPE_CHECKING, Any

from .chart import (
    ArgSpec,
    Chart,
    CommandRule,
    CommandSpec,
    Emit,
    NotificationSpec,
    SignalSpec,
    StateSpec,
    TransitionSpec,
)
from .chart_loader import default_chart, default_chart_path, load_chart, load_chart_text
from .diagrams import diagram
from .errors import (
    AdapterNotFound,
    Busy,
    CommandError,
    CommandFailed,
    CommandTimeout,
    CtiError,
    Disconnected,
    IllegalCommand,
    InvalidArguments,
    MissingContext,
    PermissionDenied,
    Problem,
    SpecError,
    UnexpectedSignal,
    Unsupported,
)
from .events import Answer, Malformed, Notification, Signal, Snapshot, Step
from .machine import Machine, compile_chart
from .secrets import Secret
from .session import Lifecycle, Session, Ticket

if TYPE_CHECKING:
    from .agent import Agent, AgentStatistics, Backoff, open_agent

#: names loaded on first use, from the module that holds them (they need trio)
_LAZY = {
    "Agent": "agent",
    "AgentStatistics": "agent",
    "Backoff": "agent",
    "open_agent": "agent",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'cti_fsm' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # found directly from now on
    return value


__version__ = "0.1.0"

__all__ = [
    "AdapterNotFound",
    "Agent",
    "AgentStatistics",
    "Answer",
    "ArgSpec",
    "Backoff",
    "Busy",
    "Chart",
    "CommandError",
    "CommandFailed",
    "CommandRule",
    "CommandSpec",
    "CommandTimeout",
    "CtiError",
    "Disconnected",
    "Emit",
    "IllegalCommand",
    "InvalidArguments",
    "Lifecycle",
    "Machine",
    "Malformed",
    "MissingContext",
    "Notification",
    "NotificationSpec",
    "PermissionDenied",
    "Problem",
    "Secret",
    "Session",
    "Signal",
    "SignalSpec",
    "Snapshot",
    "SpecError",
    "StateSpec",
    "Step",
    "Ticket",
    "TransitionSpec",
    "UnexpectedSignal",
    "Unsupported",
    "compile_chart",
    "default_chart",
    "default_chart_path",
    "diagram",
    "load_chart",
    "load_chart_text",
    "open_agent",
]
