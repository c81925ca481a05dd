"""FreeSWITCH Event Socket adapter for cti-fsm (mod_callcenter agents over ESL/TCP).

``adapter`` is what the ``cti_fsm.adapters`` entry point ``freeswitch-esl`` names.
The protocol is described in this package's README.md.
"""

from __future__ import annotations

from .adapter import EslAdapter
from .codec import EslCodec
from .protocol import EslProtocol

__all__ = ["EslAdapter", "EslCodec", "EslProtocol", "adapter"]

#: The adapter instance registered as ``freeswitch-esl``.
adapter = EslAdapter()
"""The ``freeswitch-esl`` adapter object named by the ``cti_fsm.adapters`` entry point."""
