"""The switch's neutral vocabulary: leg states, causes, situations and the default chart's
names for them.

Simulators translate these words into their vendor's; conformance tests compare an agent's
machine with the chart state a situation maps to.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal

__all__ = ["CAUSES", "DEFAULT_CHART_STATES", "SITUATIONS", "LegState"]

#: A leg's state: dialling, ringing, in the bridge, or held (the holding party's own leg).
LegState = Literal["initiated", "alerting", "connected", "held"]

#: Why a leg was cleared or a call failed (neutral vocabulary; simulators translate it).
CAUSES = (
    "normal",  # a party hung up, or the call ended because too few parties remained
    "busy",  # the called party is busy
    "no_answer",  # the called party did not answer
    "rejected",  # the called party declined (hung up while ringing)
    "take_over",  # a supervisor took the call over from this agent
    "forced_logout",  # a supervisor forced the agent out
    "logout",  # the agent logged out of the CTI server
    "ring_no_answer",  # an ACD call rang out at the agent and went back to its queue
)

#: Situations ``Switch.situation`` reports: the agent's condition as the switch sees it.
SITUATIONS = (
    "offline",
    "connected",
    "ready",
    "not_ready",
    "ringing",
    "dialing",
    "talking",
    "held",
    "consult_ringing",  # consulting: the third party is being called
    "consult_talking",  # consulting: the third party answered
    "three_party",
    "listening",
    "wrap_up",  # after-call work the switch runs: no call is offered until it ends
)

#: The default chart's vocabulary (``specs/agent.yaml``): switch situation -> full state
#: path. Conformance tests compare an agent's machine with ``Switch.chart_state``; a
#: simulator for another chart passes its own table.
DEFAULT_CHART_STATES: Mapping[str, str] = MappingProxyType(
    {
        "offline": "offline",
        "connected": "connected",
        "ready": "checked_in.available.idle",
        "not_ready": "checked_in.available.paused",
        "ringing": "checked_in.ringing",
        "dialing": "checked_in.dialing",
        "talking": "checked_in.talking",
        "held": "checked_in.held",
        "consult_ringing": "checked_in.consulting.consult_ringing",
        "consult_talking": "checked_in.consulting.consult_talking",
        "three_party": "checked_in.three_party",
        "listening": "checked_in.listening",
        "wrap_up": "checked_in.wrap_up",
    }
)
