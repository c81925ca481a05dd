"""The ``Switch`` class: one face for the state, checks, changes, operations and stimuli
that the other modules of this package define."""

from __future__ import annotations

from .operations import _AgentOperations
from .stimuli import _Stimuli

__all__ = ["Switch"]


class Switch(_AgentOperations, _Stimuli):
    """The switch: agents, groups, calls with legs, and the operations on them (sans-IO).

    Args:
        supervisor_right: the right that supervisor operations need.
    """
