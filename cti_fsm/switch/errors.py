"""The switch's one error: ``SwitchError``, raised by an operation it refuses, and its codes."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from ..errors import CtiError

__all__ = ["ERROR_CODES", "SwitchError"]

#: ``SwitchError.code`` values, with what each means.
ERROR_CODES: Mapping[str, str] = MappingProxyType(
    {
        "unknown_agent": "no agent with that id (or device)",
        "bad_password": "the password does not match",
        "not_logged_in": "the agent has no session",
        "no_rights": "the acting agent lacks the rights the operation needs",
        "unknown_group": "no such group, or the agent may not sign in to it",
        "invalid_agent_state": "the agent's sign-in or readiness does not allow it",
        "busy": "the agent is in a call",
        "no_active_call": "the agent has no connected call to act on",
        "no_held_call": "the agent has no held call",
        "no_call_to_answer": "nothing is ringing at the agent",
        "no_call_to_clear": "the agent has no call",
        "no_call_to_complete": "the agent has no consultation to complete",
        "invalid_call_state": "the call is not in a state that allows it",
        "unknown_call": "the agent has no leg in that call",
        "invalid_destination": "the target is not an agent, group, device or number",
        "destination_busy": "the target agent cannot take a call now",
        "invalid_parameter": "an argument has an invalid value",
    }
)


class SwitchError(CtiError):
    """An operation the switch refuses; nothing changed.

    Attributes:
        code: one of ``ERROR_CODES``.
        message: what was wrong, naming the agent or call (never a password).
    """

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}")
