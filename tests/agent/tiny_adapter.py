"""A tiny adapter living outside the cti_fsm package, registered through the entry-point
group like any third-party vendor package, over an in-memory transport.

Its "server" (``FakeServer``) answers each command with the chart's confirming signal
unless a test scripts something else, and records every message it receives, so tests can
check what was (or was not) sent. Messages are JSON text frames:
``{"op": command, "id": n, "args": {...}}`` out; ``{"signal": name, "payload": {...}}``,
``{"answer": n, "ok": bool, "reason": str}`` and ``{"snapshot": state, "id": n}`` in.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import attrs
import trio

import cti_fsm
from cti_fsm.adapter import Answer, Malformed, RawMessage, Signal, Snapshot
from cti_fsm.errors import Disconnected

# command -> the signal the fake server answers with (the default chart's confirm signals)
CONFIRMS = {
    name: spec.rule.confirm
    for name, spec in cti_fsm.default_chart().commands.items()
    if spec.rule.confirm is not None
}


class JsonCodec:
    """JSON text frames; anything else is Malformed."""

    def feed(self, data: bytes | str) -> list[RawMessage | Malformed]:
        try:
            value = json.loads(data)
        except ValueError:
            return [Malformed.of("not JSON", data)]
        if not isinstance(value, dict):
            return [Malformed.of("not a JSON object", data)]
        return [value]

    def encode(self, message: RawMessage) -> str:
        return json.dumps(message)


class TinyProtocol:
    def __init__(
        self,
        unsupported: frozenset[str],
        keepalive_interval: float = 0,
        local_commands: frozenset[str] = frozenset(),
    ) -> None:
        self.codec = JsonCodec()
        # commands the session does itself (a vendor map's `local:`)
        self.local_commands = local_commands
        # the session reaches the codec only through these (the protocol owns its framing)
        self.decode = self.codec.feed
        self.encode = self.codec.encode
        self.unsupported = unsupported
        self.keepalive_interval = keepalive_interval

    def keepalive(self, request_id: int) -> Sequence[RawMessage]:
        return [{"op": "ping", "id": request_id}]

    def encode_command(
        self, command: str, args: Mapping[str, Any], request_id: int
    ) -> Sequence[RawMessage]:
        return [{"op": command, "id": request_id, "args": dict(args)}]

    def snapshot_request(self, request_id: int) -> Sequence[RawMessage]:
        return [{"op": "snapshot", "id": request_id}]

    def receive(self, message: RawMessage) -> list[Signal | Answer | Snapshot]:
        if "signal" in message:
            # "id": the signal answers that request (a command its response confirms)
            return [Signal(message["signal"], message.get("payload", {}), message.get("id"))]
        if "answer" in message:
            return [Answer(message["answer"], message["ok"], message.get("reason", ""))]
        if "snapshot" in message:
            return [Snapshot(message["snapshot"], message.get("payload", {}), message["id"])]
        if message.get("boom"):
            raise RuntimeError("adapter bug")
        return []


@attrs.define(eq=False)
class Link:
    """One in-memory connection: frames from the server queue up for the client."""

    server: FakeServer
    to_client: trio.MemorySendChannel[str]
    from_server: trio.MemoryReceiveChannel[str]
    closed: bool = False

    async def send(self, frame: bytes | str) -> None:
        if self.closed:
            raise Disconnected("link closed")
        self.server.on_frame(self, frame if isinstance(frame, str) else frame.decode())

    async def receive(self) -> str:
        try:
            return await self.from_server.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            raise Disconnected("server closed the link") from None

    async def aclose(self) -> None:
        self.closed = True
        self.to_client.close()

    def push(self, message: Mapping[str, Any] | str) -> None:
        """The server sends a message (or a raw text frame) to this client."""
        if not self.closed:
            text = message if isinstance(message, str) else json.dumps(message)
            self.to_client.send_nowait(text)

    def drop(self) -> None:
        """The link breaks."""
        self.closed = True
        self.to_client.close()


@attrs.define(eq=False)
class FakeServer:
    """Answers commands with their confirming signals unless ``script`` says otherwise.

    ``script[command]`` is a list of messages to send back instead ("{id}" in an
    ``answer`` is the request id), or a callable ``(link, message) -> None``.
    """

    password: str = "s3cret-pw"
    state: str = "connected"
    script: dict[str, Any] = attrs.field(factory=dict)
    received: list[dict[str, Any]] = attrs.field(factory=list)
    links: list[Link] = attrs.field(factory=list)
    reachable: bool = True
    before_snapshot: list[dict[str, Any]] = attrs.field(factory=list)
    after_snapshot: list[dict[str, Any]] = attrs.field(factory=list)
    snapshot_payload: dict[str, Any] = attrs.field(factory=dict)
    answer_pings: bool = True

    def connect(self) -> Link:
        if not self.reachable:
            raise Disconnected("connection refused")
        send, receive = trio.open_memory_channel[str](1000)
        link = Link(self, send, receive)
        self.links.append(link)
        return link

    @property
    def link(self) -> Link:
        return self.links[-1]

    def ops(self) -> list[str]:
        """The commands received, in order."""
        return [m["op"] for m in self.received]

    def on_frame(self, link: Link, frame: str) -> None:
        message = json.loads(frame)
        self.received.append(message)
        op, rid = message.get("op"), message.get("id")
        if op == "ping":
            if self.answer_pings:
                link.push({"answer": rid, "ok": True})
            return
        if op == "snapshot":
            for early in self.before_snapshot:
                link.push(early)
            link.push({"snapshot": self.state, "id": rid, "payload": self.snapshot_payload})
            for late in self.after_snapshot:
                link.push(late)
            return
        if op in self.script:
            action = self.script[op]
            if callable(action):
                action(link, message)
                return
            for reply in action:
                if reply.get("answer") == "{id}":
                    reply = {**reply, "answer": rid}
                link.push(reply)
            return
        if op == "connect":
            if message["args"].get("password") != self.password:
                link.push({"answer": rid, "ok": False, "reason": "authentication failed"})
                return
            link.push({"answer": rid, "ok": True})
            link.push({"signal": "logged_in"})
            return
        link.push({"answer": rid, "ok": True})
        if op in CONFIRMS:
            link.push({"signal": CONFIRMS[op], "payload": message.get("args", {})})


@attrs.define(eq=False)
class TinyAdapter:
    """The adapter object; ``server`` is the fake server its transport reaches."""

    server: FakeServer = attrs.field(factory=FakeServer)
    name: str = "tiny"
    unsupported: frozenset[str] = frozenset({"logout_agent"})
    own_chart: cti_fsm.Chart | None = None

    @property
    def chart(self) -> cti_fsm.Chart:
        return self.own_chart or cti_fsm.default_chart()

    def for_chart(self, chart: cti_fsm.Chart) -> TinyAdapter:
        # no vendor map: the fake server echoes any chart's signals
        return attrs.evolve(self, own_chart=chart)

    def protocol(self, *, user: str, options: Mapping[str, Any]) -> TinyProtocol:
        return TinyProtocol(self.unsupported, options.get("keepalive", 0))

    @asynccontextmanager
    async def connect(self, url: str) -> AsyncIterator[Link]:
        await trio.lowlevel.checkpoint()
        link = self.server.connect()
        try:
            yield link
        finally:
            await link.aclose()

    def simulator(self, switch: Any) -> Any:
        raise NotImplementedError("the tiny adapter has no simulator")


#: what the entry point names
adapter = TinyAdapter()
