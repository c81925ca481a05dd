"""The ``csta-ws`` adapter object: codec, protocol, transport and simulator together."""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cached_property
from typing import Any

from cti_fsm.chart import Chart
from cti_fsm.chart_loader import default_chart
from cti_fsm.switch import Switch
from cti_fsm.vendor_map import VendorMap, load_vendor_map, vendor_map_path

from .protocol import CstaProtocol
from .simulator import CstaSimulator
from .transport import WebSocketTransport, open_websocket

__all__ = ["CstaWsAdapter"]


class CstaWsAdapter:
    """CSTA-style JSON over websocket (ECMA-269 services and events).

    Args:
        vendor_map_file: another map to use (default: ``specs/vendors/csta-ws.yaml``).
        chart: the chart that map is written for (default: the default chart).

    Attributes:
        name: ``csta-ws``.
    """

    name = "csta-ws"

    def __init__(
        self, vendor_map_file: str | os.PathLike[str] | None = None, chart: Chart | None = None
    ) -> None:
        self._map_file = vendor_map_file
        self._chart = chart

    def __repr__(self) -> str:
        return f"<CstaWsAdapter {self.name!r}>"

    @cached_property
    def chart(self) -> Chart:
        """The chart the vendor map is written for."""
        return self._chart or default_chart()

    @cached_property
    def vendor_map(self) -> VendorMap:
        """The vendor map, loaded and checked against the chart on first use.

        Raises:
            SpecError: the map has mistakes.
        """
        return load_vendor_map(self._map_file or vendor_map_path(self.name), self.chart)

    @property
    def unsupported(self) -> frozenset[str]:
        """Commands this vendor cannot do (from the vendor map)."""
        return self.vendor_map.unsupported

    def protocol(self, *, user: str, options: Mapping[str, Any]) -> CstaProtocol:
        """A fresh protocol for one connection of agent ``user`` (options: see
        ``protocol.OPTIONS``).

        Raises:
            ValueError: an unknown option.
        """
        return CstaProtocol(self.vendor_map, self.chart, user=user, options=options)

    async def connect(self, url: str) -> WebSocketTransport:
        """Open a websocket to ``ws://host:port/path`` (or ``wss://``).

        Raises:
            Disconnected: bad URL, unreachable, or the handshake failed.
        """
        return await open_websocket(url)

    def simulator(self, switch: Switch) -> CstaSimulator:
        """A ``csta-ws`` server over ``switch``, hiding the map's secrets in its logs."""
        return CstaSimulator(switch, secrets=self.vendor_map.secrets)
