"""The ``csta-ws`` adapter object: codec, protocol, transport and simulator together."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any

from cti_fsm.adapter import MapBackedAdapter
from cti_fsm.switch import Switch

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

    def connect(self, url: str) -> AbstractAsyncContextManager[WebSocketTransport]:
        """``async with adapter.connect("ws://host:port/path") as transport:`` (or wss://).

        Raises:
            Disconnected: (on entering) bad URL, unreachable, or the handshake failed.
        """
        return open_websocket(url)

    def simulator(self, switch: Switch) -> CstaSimulator:
        """A ``csta-ws`` server over ``switch``, hiding the map's secrets in its logs."""
        return CstaSimulator(switch, secrets=self.vendor_map.secrets)
