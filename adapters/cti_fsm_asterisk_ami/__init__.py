"""Asterisk Manager Interface adapter for cti-fsm (app_queue call centres over AMI/TCP).

``adapter`` is what the ``cti_fsm.adapters`` entry point ``asterisk-ami`` names.
The protocol is described in this package's README.md.
"""

from __future__ import annotations

from .adapter import AmiAdapter
from .codec import AmiCodec
from .protocol import AmiProtocol

__all__ = ["AmiAdapter", "AmiCodec", "AmiProtocol", "adapter"]

#: The adapter instance registered as ``asterisk-ami``.
adapter = AmiAdapter()
