"""The ``asterisk-ami`` adapter object named by the ``cti_fsm.adapters`` entry point."""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any

from cti_fsm.adapter import MapBackedAdapter
from cti_fsm.tls import TlsTransport
from cti_fsm.vendor_map import load_vendor_map

from . import capture, transport
from .protocol import AmiProtocol

__all__ = ["AmiAdapter"]


class AmiAdapter(MapBackedAdapter):
    """Asterisk Manager Interface: codec, protocol, TCP or TLS transport, capture reader,
    simulator.

    Args:
        vendor_map_file: another map to use (default: ``specs/vendors/asterisk-ami.yaml``).
        chart: the chart that map is written for (default: the default chart).

    Attributes:
        name: ``asterisk-ami``.
        replay_start: where a replayed capture starts when no state is given: a recorded
            agent is logged in and signed in to its queues, free.
    """

    name = "asterisk-ami"
    replay_start = "idle"

    def describe_message(self, message: Mapping[str, Any]) -> str:
        """A packet's name for timelines: its Event, Response or Action."""
        for field in ("Event", "Response", "Action"):
            value = message.get(field)
            if isinstance(value, str):
                return value
        return "?"

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

    def connect(
        self, url: str, *, ssl_context: ssl.SSLContext | None = None
    ) -> AbstractAsyncContextManager[transport.TcpTransport | TlsTransport]:
        """``async with adapter.connect("tcp://host:port") as transport:`` (port 5038 by
        default), or ``tls://host:port`` (5039) for AMI over TLS, verified against the
        system's CAs or ``ssl_context``; closed when the block ends.

        Raises:
            Disconnected: (on entering) bad URL, the server cannot be reached, or TLS
                failed (the reason says why).
            TypeError: (on entering) ``ssl_context`` is not an ``ssl.SSLContext``.
        """
        return transport.connected(url, ssl_context=ssl_context)

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
