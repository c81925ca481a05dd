"""Fixtures for the csta-ws tests: the demo switch, its simulator on 127.0.0.1 port 0, and
clients made of the adapter's own transport and protocol (no Agent), all stopped at the end
of each test."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import attrs
import pytest
import trio
from cti_fsm_csta_ws import CstaSimulator, adapter

from cti_fsm.adapter import Answer, Inbound, Malformed, Signal, Snapshot, Transport, VendorProtocol
from cti_fsm.errors import Disconnected
from cti_fsm.switch import Switch, demo_switch


@pytest.fixture
def switch() -> Switch:
    return demo_switch()


@pytest.fixture
async def sim(nursery: trio.Nursery, switch: Switch) -> CstaSimulator:
    simulator = adapter.simulator(switch)
    await nursery.start(simulator.serve)
    return simulator


@attrs.define(eq=False)
class Client:
    """One agent's connection: sends chart commands, collects what the protocol makes of
    every frame (``items``), the codec's ``malformed`` reports, and why the link ended."""

    transport: Transport
    protocol: VendorProtocol
    items: list[Inbound] = attrs.field(factory=list)
    malformed: list[Malformed] = attrs.field(factory=list)
    frames: int = 0
    closed: str | None = None
    _changed: trio.Event = attrs.field(factory=trio.Event)
    _ids: itertools.count[int] = attrs.field(factory=lambda: itertools.count(100))

    async def read(self) -> None:
        try:
            while True:
                frame = await self.transport.receive()
                self.frames += 1
                for message in self.protocol.decode(frame):
                    if isinstance(message, Malformed):
                        self.malformed.append(message)
                    else:
                        self.items.extend(self.protocol.receive(message))
                self._wake()
        except Disconnected as exc:
            self.closed = exc.reason
            self._wake()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def wait_for(self, found: Callable[[], Any], timeout: float = 3) -> Any:
        with trio.fail_after(timeout):
            while not (value := found()):
                await self._changed.wait()
            return value

    def signals(self) -> list[str]:
        return [i.name for i in self.items if isinstance(i, Signal)]

    async def wait_signal(self, name: str, timeout: float = 3) -> Signal:
        def last() -> Signal | None:
            return next(
                (i for i in reversed(self.items) if isinstance(i, Signal) and i.name == name), None
            )

        signal: Signal = await self.wait_for(last, timeout)
        return signal

    async def send(self, command: str, **args: Any) -> int:
        request_id = next(self._ids)
        for message in self.protocol.encode_command(command, args, request_id):
            await self.transport.send(self.protocol.encode(message))
        return request_id

    async def answer(self, request_id: int) -> Answer:
        """The answer to a request: its Answer, or (a response that confirms the command
        itself) the signal carrying its request id, read as a positive answer."""

        def found() -> Answer | None:
            for i in self.items:
                if isinstance(i, Answer) and i.request_id == request_id:
                    return i
                if isinstance(i, Signal) and i.request_id == request_id:
                    return Answer(request_id, True, "", i.payload)
            return None

        answer: Answer = await self.wait_for(found)
        return answer

    async def command(self, command: str, **args: Any) -> Answer:
        """Send a command and wait for the server's answer to it."""
        return await self.answer(await self.send(command, **args))

    async def snapshot(self) -> Snapshot:
        request_id = next(self._ids)
        for message in self.protocol.snapshot_request(request_id):
            await self.transport.send(self.protocol.encode(message))

        def found() -> Snapshot | Answer | None:
            return next(
                (
                    i
                    for i in self.items
                    if isinstance(i, (Snapshot, Answer)) and i.request_id == request_id
                ),
                None,
            )

        snapshot: Snapshot = await self.wait_for(found)
        return snapshot


OpenClient = Callable[..., Awaitable[Client]]


@pytest.fixture
async def connect(nursery: trio.Nursery, sim: CstaSimulator) -> AsyncIterator[OpenClient]:
    """``await connect("1001")``: a logged-in client (``login=False``: just connected)."""
    clients: list[Client] = []
    finished = trio.Event()

    async def hold_open(url: str, *, task_status: trio.TaskStatus[Transport]) -> None:
        # the websocket's own tasks live in this task, opened and closed here
        async with adapter.connect(url) as transport:
            task_status.started(transport)
            await finished.wait()

    async def open_client(user: str, password: str | None = None, *, login: bool = True) -> Client:
        transport = await nursery.start(hold_open, sim.url)
        client = Client(transport, adapter.protocol(user=user, options={}))
        clients.append(client)
        nursery.start_soon(client.read)
        if login:
            answer = await client.command(
                "connect", user=user, password=password or f"pw{user}", url=sim.url
            )
            assert answer.ok, answer.reason
        return client

    yield open_client
    for client in clients:
        await client.transport.aclose()
    finished.set()
