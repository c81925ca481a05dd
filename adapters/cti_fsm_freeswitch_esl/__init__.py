"""FreeSWITCH Event Socket adapter for cti-fsm (mod_callcenter agents over ESL/TCP).

``adapter`` is what the ``cti_fsm.adapters`` entry point ``freeswitch-esl`` names.
The protocol is described in this package's README.md.
"""

from __future__ import annotations

from .codec import EslCodec

__all__ = ["EslCodec"]
