"""The ``csta-ws`` adapter object: codec, protocol, transport and simulator together."""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any

from cti_fsm.adapter import MapBackedAdapter
from cti_fsm.switch import Switch

from . import capture
from .protocol import CstaProtocol
from .simulator import CstaSimulator
from .transport import WebSocketTransport, open_websocket

__all__ = ["CstaWsAdapter"]


class CstaWsAdapter(MapBackedAdapter):
    """CSTA-style JSON over websocket (ECMA-269 services and events).

    Args:
        vendor_map_file: another map to use (default: ``specs/vendors/csta-ws.yaml``).
        chart: the chart that map is written for (default: the default chart).

    Attributes:
        name: ``csta-ws``.
    """

    name = "csta-ws"

    @property
    def replay_start(self) -> str:
        """Where a replayed capture starts: the chart's initial state (a recorded session,
        like the README's, begins with the login)."""
        return self.chart.initial

    def read_capture(self, path: str | os.PathLike[str]) -> list[str]:
        """The frames the server sent in a recorded session: a transcript (``<<`` lines,
        as in the README, a Markdown file's fenced blocks included) or JSON lines.

        Raises:
            OSError: the file cannot be read.
        """
        return capture.read_capture(path)

    def describe_message(self, message: Mapping[str, Any]) -> str:
        """A message's name for timelines: its event name, else its type."""
        for field in ("event", "service", "type"):
            value = message.get(field)
            if isinstance(value, str):
                return value
        return "?"

    def protocol(self, *, user: str, options: Mapping[str, Any]) -> CstaProtocol:
        """A fresh protocol for one connection of agent ``user`` (options: see
        ``protocol.OPTIONS``).

        Raises:
            ValueError: an unknown option.
        """
        return CstaProtocol(self.vendor_map, self.chart, user=user, options=options)

    def connect(
        self, url: str, *, ssl_context: ssl.SSLContext | None = None
    ) -> AbstractAsyncContextManager[WebSocketTransport]:
        """``async with adapter.connect("ws://host:port/path") as transport:`` (or wss://,
        verified against the system's CAs or ``ssl_context``).

        Raises:
            Disconnected: (on entering) bad URL, unreachable, TLS failed (the reason says
                why), or the handshake failed.
            TypeError: (on entering) ``ssl_context`` is not an ``ssl.SSLContext``.
        """
        return open_websocket(url, ssl_context=ssl_context)

    def simulator(self, switch: Switch) -> CstaSimulator:
        """A ``csta-ws`` server over ``switch``, hiding the map's secrets in its logs."""
        return CstaSimulator(switch, secrets=self.vendor_map.secrets)
