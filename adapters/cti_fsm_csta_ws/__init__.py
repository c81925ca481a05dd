"""CSTA-style JSON over websocket: the first cti-fsm adapter.

``adapter`` is what the ``cti_fsm.adapters`` entry point ``csta-ws`` names. The protocol
(envelope, ECMA-269 services and events, the command and event tables) is written down in
this package's README.md.
"""

from __future__ import annotations

from .adapter import CstaWsAdapter
from .codec import JsonCodec
from .protocol import CstaProtocol
from .simulator import CstaSimulator
from .transport import WebSocketTransport, open_websocket

__all__ = [
    "CstaProtocol",
    "CstaSimulator",
    "CstaWsAdapter",
    "JsonCodec",
    "WebSocketTransport",
    "adapter",
    "open_websocket",
]

#: The adapter instance registered as ``csta-ws``.
adapter = CstaWsAdapter()
