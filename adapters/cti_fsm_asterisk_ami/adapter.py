"""The ``asterisk-ami`` adapter object named by the ``cti_fsm.adapters`` entry point."""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cached_property
from typing import Any

from cti_fsm.chart import Chart
from cti_fsm.chart_loader import default_chart
from cti_fsm.vendor_map import VendorMap, load_vendor_map, vendor_map_path

from . import capture, transport
from .protocol import AmiProtocol

__all__ = ["AmiAdapter"]


class AmiAdapter:
    """Asterisk Manager Interface: codec, protocol, TCP transport, capture reader, simulator.

    Attributes:
        name: ``asterisk-ami``.
        replay_start: where a replayed capture starts when no state is given: a recorded
            agent is logged in and signed in to its queues, free.
    """

    name = "asterisk-ami"
    replay_start = "idle"

    def __init__(self, vendor_map_file: str | None = None, chart: Chart | None = None) -> None:
        self._map_file = vendor_map_file
        self._chart = chart

    @cached_property
    def chart(self) -> Chart:
        """The chart the vendor map is written for (the default chart)."""
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
        """Commands AMI cannot do (from the vendor map)."""
        return self.vendor_map.unsupported

    def protocol(self, *, user: str, options: Mapping[str, Any]) -> AmiProtocol:
        """A fresh protocol for one connection of the agent whose queue-member interface is
        ``user``. ``options["vendor_map"]`` (a path) swaps in another map, for example one
        using Redirect instead of BlindTransfer on Asterisk 11.

        Raises:
            ValueError: an unknown option.
            SpecError: the other vendor map has mistakes.
        """
        vmap = self.vendor_map
        other = options.get("vendor_map")
        if other:
            vmap = load_vendor_map(os.fspath(other), self.chart)
        return AmiProtocol(vmap, self.chart, user=user, options=options)

    async def connect(self, url: str) -> transport.TcpTransport:
        """Open a TCP connection to ``tcp://host:port`` (port 5038 by default).

        Raises:
            Disconnected: bad URL, or the server cannot be reached.
        """
        return await transport.open_tcp(url)

    def read_capture(self, path: str | os.PathLike[str]) -> list[bytes]:
        """The frames of a recorded AMI stream (``.raw``, panoramisk ``.yaml``, ``.md`` docs).

        Raises:
            OSError: the file cannot be read.
        """
        return capture.read_capture(path)

    def simulator(self, switch: Any) -> Any:
        """An AMI server over TCP backed by ``switch`` (a ``cti_fsm.switch.Switch``)."""
        from .simulator import AmiSimulator

        return AmiSimulator(switch, self)

    def __repr__(self) -> str:
        return f"<AmiAdapter {self.name!r}>"
