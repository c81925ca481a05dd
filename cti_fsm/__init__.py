"""cti-fsm: one declarative state chart between business systems and every CTI vendor.

The sans-IO core is ``load_chart`` (a YAML chart into an immutable ``Chart``) and
``Machine`` (one agent's state under it: ``check`` commands, ``apply`` signals).
"""

from .agent import Agent, AgentStatistics, Backoff, Lifecycle, open_agent
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
    Busy,
    CommandError,
    CommandFailed,
    CommandTimeout,
    CtiError,
    Disconnected,
    IllegalCommand,
    InvalidArguments,
    PermissionDenied,
    Problem,
    SpecError,
    UnexpectedSignal,
    Unsupported,
)
from .machine import Machine, Notification, Step, compile_chart

__version__ = "0.1.0"

__all__ = [
    "Agent",
    "AgentStatistics",
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
    "Notification",
    "NotificationSpec",
    "PermissionDenied",
    "Problem",
    "SignalSpec",
    "SpecError",
    "StateSpec",
    "Step",
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
