"""cti_fsm.tcp: the TCP transport that waits only when the kernel makes it, against peers
on 127.0.0.1 (ports chosen by the OS); and the simulators' TcpLink over it."""

from __future__ import annotations

import socket
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio
import trio.testing

from cti_fsm import tcp
from cti_fsm.errors import Disconnected
from cti_fsm.simulator_server import SendsBatches, TcpLink
from cti_fsm.tcp import TcpTransport, open_tcp

#: More than any socket buffer set below can hold, so a send must wait part-way.
BIG = 2 * 1024 * 1024


@asynccontextmanager
async def connected(
    *, send_buffer: int | None = None, max_chunk: int = tcp.DEFAULT_CHUNK
) -> AsyncIterator[tuple[TcpTransport, trio.SocketStream]]:
    """Our transport connected to a trio stream accepted by a listener; both closed after.
    ``send_buffer``: our socket's SO_SNDBUF (small: sends fill it)."""
    (listener,) = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listener.socket.getsockname()[1]
    try:
        if send_buffer is None:
            transport = await open_tcp(
                "127.0.0.1", port, name="the test server", max_chunk=max_chunk
            )
        else:
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer)
            sock.connect(("127.0.0.1", port))  # loopback: the listener's backlog takes it
            transport = TcpTransport(sock, "the test server", max_chunk=max_chunk)
        server = await listener.accept()
    finally:
        await listener.aclose()
    try:
        yield transport, server
    finally:
        await transport.aclose()
        await server.aclose()


async def read_exactly(stream: trio.SocketStream, n: int, *, pause: float = 0.0) -> bytes:
    """``n`` bytes from ``stream``, sleeping ``pause`` between reads (a slow reader)."""
    data = bytearray()
    while len(data) < n:
        chunk = await stream.receive_some(65536)
        assert chunk, "the stream ended early"
        data += chunk
        await trio.sleep(pause)
    return bytes(data)


async def test_a_round_trip_and_the_statistics() -> None:
    async with connected() as (transport, server):
        await transport.send("Action: Ping\r\n\r\n")  # text goes as UTF-8
        assert await read_exactly(server, 16) == b"Action: Ping\r\n\r\n"
        await server.send_all(b"Response: Success\r\n\r\n")
        with trio.fail_after(5):
            assert await transport.receive() == b"Response: Success\r\n\r\n"
        stats = transport.statistics()
        assert (stats.bytes_sent, stats.bytes_received, stats.closed) == (16, 21, False)
        assert stats.send_waits == 0 and stats.receive_waits >= 0
    assert transport.closed and transport.statistics().closed


async def test_a_frame_larger_than_the_socket_buffer_is_sent_whole_to_a_slow_reader() -> None:
    frame = bytes(range(256)) * (BIG // 256)
    async with connected(send_buffer=4096) as (transport, server):
        async with trio.open_nursery() as nursery:
            got: list[bytes] = []

            async def reader() -> None:
                got.append(await read_exactly(server, len(frame), pause=0.001))

            nursery.start_soon(reader)
            with trio.fail_after(20):
                await transport.send(frame)
        assert got == [frame]
        stats = transport.statistics()
        assert stats.bytes_sent == len(frame)
        assert stats.send_waits > 0  # the buffer filled: it waited, part-way, and went on


async def test_a_send_behind_one_part_way_out_waits_its_turn() -> None:
    big, small = b"a" * BIG, b"b" * 100
    async with connected(send_buffer=4096) as (transport, server):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(transport.send, big)
            await trio.testing.wait_all_tasks_blocked()  # the big one waits for room
            nursery.start_soon(transport.send, small)
            await trio.testing.wait_all_tasks_blocked()
            with trio.fail_after(20):
                data = await read_exactly(server, len(big) + len(small))
        assert data == big + small  # not cut into by the later send


async def test_the_peer_closing_is_disconnected() -> None:
    async with connected() as (transport, server):
        await server.send_all(b"last words")
        await server.aclose()
        with trio.fail_after(5):
            assert await transport.receive() == b"last words"
            closed = r"the test server at 127\.0\.0\.1:\d+ closed the connection"
            with pytest.raises(Disconnected, match=closed):
                await transport.receive()


async def test_a_reset_is_disconnected() -> None:
    async with connected() as (transport, server):
        # SO_LINGER 0: the close sends a reset, as a crashed peer's kernel does
        server.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        await server.aclose()
        reset = r"the test server at 127\.0\.0\.1:\d+ broke: Connection reset by peer"
        with trio.fail_after(5), pytest.raises(Disconnected, match=reset):
            await transport.receive()
        with pytest.raises(Disconnected, match="broke"), trio.fail_after(5):
            for _ in range(100):  # the first sends may land in the buffer before the reset
                await transport.send(b"x" * 65536)


async def test_aclose_while_receiving_wakes_the_receiver() -> None:
    async with connected() as (transport, _server):
        async with trio.open_nursery() as nursery:
            raised: list[BaseException] = []

            async def receiver() -> None:
                try:
                    await transport.receive()
                except Disconnected as exc:
                    raised.append(exc)

            nursery.start_soon(receiver)
            await trio.testing.wait_all_tasks_blocked()
            await transport.aclose()
            await transport.aclose()  # idempotent
        assert len(raised) == 1 and "was closed" in str(raised[0])
        with pytest.raises(Disconnected, match="is closed"):
            await transport.receive()
        with pytest.raises(Disconnected, match="is closed"):
            await transport.send(b"more")


async def test_aclose_while_a_send_waits_wakes_the_sender() -> None:
    async with connected(send_buffer=4096) as (transport, _server):
        async with trio.open_nursery() as nursery:
            raised: list[BaseException] = []

            async def sender() -> None:
                try:
                    await transport.send(b"a" * BIG)  # nobody reads: it waits for room
                except Disconnected as exc:
                    raised.append(exc)

            nursery.start_soon(sender)
            await trio.testing.wait_all_tasks_blocked()
            await transport.aclose()
        assert len(raised) == 1 and "was closed" in str(raised[0])


async def test_a_blocked_receive_can_be_cancelled_and_the_link_goes_on() -> None:
    async with connected() as (transport, server):
        with trio.move_on_after(0.05) as scope:
            await transport.receive()
        assert scope.cancelled_caught
        await server.send_all(b"after")
        with trio.fail_after(5):
            assert await transport.receive() == b"after"


async def test_a_receive_is_a_cancel_point_even_with_data_waiting() -> None:
    async with connected() as (transport, server):
        await server.send_all(b"kept")
        await trio.sleep(0.05)  # it is in our socket's buffer now
        with trio.CancelScope() as scope:
            scope.cancel()
            await transport.receive()
        assert scope.cancelled_caught
        with trio.fail_after(5):
            assert await transport.receive() == b"kept"  # nothing was lost to it


async def test_a_send_cancelled_part_way_leaves_the_link_unusable() -> None:
    async with connected(send_buffer=4096) as (transport, _server):
        with trio.move_on_after(0.05) as scope:
            await transport.send(b"a" * BIG)  # nobody reads
        assert scope.cancelled_caught
        with pytest.raises(Disconnected, match="cancelled part-way"):
            await transport.send(b"next")


async def test_data_always_ready_does_not_starve_other_tasks() -> None:
    # one byte a receive: the buffer never runs dry, so no receive waits
    async with connected(max_chunk=1) as (transport, server):
        ticks = 0

        async def other() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await trio.lowlevel.checkpoint()

        await server.send_all(b"x" * 4000)
        await trio.sleep(0.05)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(other)
            before = ticks
            for _ in range(4 * tcp.YIELD_EVERY):
                assert await transport.receive() == b"x"
            nursery.cancel_scope.cancel()
        assert ticks - before >= 3  # it ran at least every YIELD_EVERY receives
        assert transport.statistics().fairness_yields >= 3


async def test_connection_refused_says_who_and_why() -> None:
    # a port that was just free and is not listened on
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    with pytest.raises(
        Disconnected, match=f"cannot reach PBX at 127.0.0.1:{port}: Connection refused"
    ):
        await open_tcp("127.0.0.1", port, name="PBX")


async def test_an_unknown_host_is_disconnected() -> None:
    with pytest.raises(Disconnected, match=r"cannot reach PBX at no-such-host\.invalid:1: "):
        await open_tcp("no-such-host.invalid", 1, name="PBX")


async def test_the_simulators_tcp_link_batches_and_ends_quietly() -> None:
    (listener,) = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listener.socket.getsockname()[1]
    client = await trio.open_tcp_stream("127.0.0.1", port)
    link = TcpLink(await listener.accept())
    await listener.aclose()
    try:
        assert isinstance(link, SendsBatches)
        await link.send_many([b"Response: Success\r\n\r\n", b"Event: QueueMemberPause\r\n\r\n"])
        await link.send(b"Event: Hangup\r\n\r\n")
        expected = b"Response: Success\r\n\r\nEvent: QueueMemberPause\r\n\r\nEvent: Hangup\r\n\r\n"
        with trio.fail_after(5):
            data = b""
            while len(data) < len(expected):
                data += await client.receive_some(4096)
        assert data == expected  # in order
        await client.send_all(b"Action: Logoff\r\n\r\n")
        with trio.fail_after(5):
            assert await link.receive() == b"Action: Logoff\r\n\r\n"
        await client.aclose()
        with trio.fail_after(5):
            assert await link.receive() is None  # the client's end of stream
    finally:
        await link.close(dropped=False)
        await client.aclose()
    with pytest.raises(trio.BrokenResourceError):
        await link.send(b"too late")
    await link.abort()  # closing again does not raise
