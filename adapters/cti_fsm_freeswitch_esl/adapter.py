"""The ``freeswitch-esl`` adapter object: vendor map, protocol, transport, captures, simulator."""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any

from cti_fsm.adapter import MapBackedAdapter
from cti_fsm.vendor_map import load_vendor_map

from . import capture, transport
from .protocol import EslProtocol

__all__ = ["EslAdapter"]


class EslAdapter(MapBackedAdapter):
    """FreeSWITCH Event Socket with mod_callcenter: codec, protocol, TCP transport, capture
    reader, simulator.

    Args:
        vendor_map_file: another map to use (default: ``specs/vendors/freeswitch-esl.yaml``).
        chart: the chart that map is written for (default: the default chart).

    Attributes:
        name: ``freeswitch-esl``.
        replay_start: where a replayed capture starts when no state is given: a recorded
            agent is logged in and signed in to its queues, free.
    """

    name = "freeswitch-esl"
    replay_start = "idle"

    def describe_message(self, message: Mapping[str, Any]) -> str:
        """A message's name for timelines: its event (mod_callcenter's by its action:
        ``agent-offering``), or its content type."""
        event = message.get("Event-Name")
        if event == "CUSTOM":
            subclass = str(message.get("Event-Subclass", ""))
            if subclass == "callcenter::info" and isinstance(message.get("CC-Action"), str):
                return str(message["CC-Action"])
            action = message.get("Action")
            return f"{subclass} {action}" if action else subclass
        if isinstance(event, str):
            return event
        return str(message.get("Content-Type", "?"))

    def protocol(self, *, user: str, options: Mapping[str, Any]) -> EslProtocol:
        """A fresh protocol for one connection of the mod_callcenter agent ``user``
        (``1001@default``, or ``1001`` qualified with the ``domain`` option).
        ``options["vendor_map"]`` (a path) swaps in another map.

        Raises:
            ValueError: an unknown option.
            SpecError: the other vendor map has mistakes.
        """
        vmap = self.vendor_map
        other = options.get("vendor_map")
        if other:
            vmap = load_vendor_map(os.fspath(other), self.chart)
        return EslProtocol(vmap, self.chart, user=user, options=options)

    def connect(self, url: str) -> AbstractAsyncContextManager[transport.TcpTransport]:
        """``async with adapter.connect("tcp://host:port") as transport:`` (port 8021 by
        default); closed when the block ends.

        Raises:
            Disconnected: (on entering) bad URL, or the server cannot be reached.
        """
        return transport.connected(url)

    def read_capture(self, path: str | os.PathLike[str]) -> list[bytes]:
        """The frames of a recorded ESL stream (``.esl``, ``.txt``, ``.event``, ``.md``,
        ``.rst`` documents).

        Raises:
            OSError: the file cannot be read.
        """
        return capture.read_capture(path)

    def simulator(self, switch: Any) -> Any:
        """An ESL server over TCP backed by ``switch`` (a ``cti_fsm.switch.Switch``)."""
        from .simulator import EslSimulator

        return EslSimulator(switch, self)

    def __repr__(self) -> str:
        return f"<EslAdapter {self.name!r}>"
