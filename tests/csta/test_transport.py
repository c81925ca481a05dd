"""The csta-ws client transport (wsproto, no background task) against real servers on
127.0.0.1, ports chosen by the OS: trio-websocket (the simulator's library, so the two
implementations check each other), and a server scripted frame by frame on wsproto for
what trio-websocket will not send (fragments, a broken frame, silence after a close)."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import attrs
import pytest
import trio
import trio.testing
import trio_websocket
from cti_fsm_csta_ws import transport
from cti_fsm_csta_ws.transport import open_websocket, parse_url
from cti_fsm_csta_ws.wsclient import close_reason
from trio_websocket import ConnectionClosed, WebSocketRequest
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Ping,
    Pong,
    Request,
    TextMessage,
)

from cti_fsm.errors import Disconnected

#: A trio-websocket handler: the upgrade request and the raw TCP stream under it (to drop).
Handler = Callable[[WebSocketRequest, trio.SocketStream], Awaitable[None]]


@asynccontextmanager
async def trio_websocket_server(
    handler: Handler, *, ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[str]:
    """A trio-websocket server running ``handler`` per connection; yields its URL."""
    (listener,) = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listener.socket.getsockname()[1]

    async def on_connection(stream: trio.SocketStream) -> None:
        async with trio.open_nursery() as nursery:
            wrapped: trio.abc.Stream = stream
            if ssl_context is not None:
                wrapped = trio.SSLStream(stream, ssl_context, server_side=True)
            try:
                request = await trio_websocket.wrap_server_stream(nursery, wrapped)
                await handler(request, stream)
            finally:
                nursery.cancel_scope.cancel()
                await stream.aclose()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.serve_listeners, on_connection, [listener])
        scheme = "wss" if ssl_context is not None else "ws"
        yield f"{scheme}://127.0.0.1:{port}/agents?site=1"
        nursery.cancel_scope.cancel()


@attrs.define(eq=False)
class ScriptedPeer:
    """The server end of one connection, frame by frame: wsproto over a trio stream."""

    stream: trio.SocketStream
    ws: WSConnection = attrs.field(factory=lambda: WSConnection(ConnectionType.SERVER))
    request: Request | None = None

    def frames(self, *events: Event) -> bytes:
        return b"".join(self.ws.send(event) for event in events)

    async def send(self, *events: Event) -> None:
        """All of ``events`` in one write."""
        await self.stream.send_all(self.frames(*events))

    async def trickle(self, *events: Event) -> None:
        """``events`` a byte per write, the client reading in between."""
        for byte in self.frames(*events):
            await self.stream.send_all(bytes([byte]))
            await trio.sleep(0.001)

    async def answer_close(self) -> None:
        """Wait for the client's close and reply, as a well-behaved server does."""
        while not isinstance(event := await self.next_event(), CloseConnection):
            pass
        await self.send(event.response())

    async def next_event(self) -> Event:
        while True:
            for event in self.ws.events():
                return event
            data = await self.stream.receive_some(65536)
            self.ws.receive_data(data or None)


@asynccontextmanager
async def scripted_server(
    script: Callable[[ScriptedPeer], Awaitable[None]],
) -> AsyncIterator[str]:
    """A server that accepts the upgrade and runs ``script``; yields its URL."""
    (listener,) = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listener.socket.getsockname()[1]

    async def on_connection(stream: trio.SocketStream) -> None:
        peer = ScriptedPeer(stream)
        request = await peer.next_event()
        assert isinstance(request, Request)
        peer.request = request
        await peer.send(AcceptConnection())
        try:
            await script(peer)
        finally:
            await stream.aclose()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.serve_listeners, on_connection, [listener])
        yield f"ws://127.0.0.1:{port}/"
        nursery.cancel_scope.cancel()


# --- messages --------------------------------------------------------------------------------
async def test_text_and_binary_messages_round_trip() -> None:
    seen: dict[str, object] = {}

    async def echo(request: WebSocketRequest, _stream: trio.SocketStream) -> None:
        ws = await request.accept()
        seen["path"] = request.path
        for _ in range(3):
            await ws.send_message(await ws.get_message())
        await ws.get_message()  # until the client closes

    async with trio_websocket_server(echo) as url, open_websocket(url) as ws:
        await ws.send('{"type": "request", "text": "héllo"}')
        assert await ws.receive() == '{"type": "request", "text": "héllo"}'
        await ws.send(b"\x00\xff binary")
        assert await ws.receive() == b"\x00\xff binary"  # binary stays bytes
        await ws.send("x" * 200_000)  # more than one read
        assert await ws.receive() == "x" * 200_000
    assert seen == {"path": "/agents?site=1"}


async def test_messages_written_together_are_received_one_by_one() -> None:
    requests: list[tuple[str, str]] = []

    async def three_in_one_write(peer: ScriptedPeer) -> None:
        assert peer.request is not None
        requests.append((peer.request.host, peer.request.target))
        await peer.send(TextMessage("one"), BytesMessage(b"two"), TextMessage("three"))
        await peer.answer_close()

    async with scripted_server(three_in_one_write) as url, open_websocket(url) as ws:
        assert [await ws.receive() for _ in range(3)] == ["one", b"two", "three"]
    port = parse_url(url)[2]
    assert requests == [(f"127.0.0.1:{port}", "/")]


async def test_a_fragmented_message_is_put_back_together() -> None:
    async def fragments(peer: ScriptedPeer) -> None:
        await peer.trickle(
            TextMessage('{"event": ', message_finished=False),
            Ping(b"mid-message"),  # control frames may come between fragments
            TextMessage('"held"', message_finished=False),
            TextMessage("}", message_finished=True),
        )
        assert await peer.next_event() == Pong(b"mid-message")
        await peer.send(
            BytesMessage(b"ab", message_finished=False), BytesMessage(b"cd"), TextMessage("é")
        )
        await peer.answer_close()

    async with scripted_server(fragments) as url, open_websocket(url) as ws:
        with trio.fail_after(5):
            assert await ws.receive() == '{"event": "held"}'
            assert await ws.receive() == b"abcd"
            assert await ws.receive() == "é"


async def test_a_cancelled_receive_keeps_a_message_half_read() -> None:
    go_on = trio.Event()

    async def pause_mid_message(peer: ScriptedPeer) -> None:
        await peer.send(TextMessage("first half, ", message_finished=False))
        await go_on.wait()
        await peer.send(TextMessage("second half"))
        await peer.answer_close()

    async with scripted_server(pause_mid_message) as url, open_websocket(url) as ws:
        with trio.move_on_after(0.1) as waited:
            await ws.receive()
        assert waited.cancelled_caught
        go_on.set()
        with trio.fail_after(5):
            assert await ws.receive() == "first half, second half"


# --- control frames and closing --------------------------------------------------------------
async def test_a_ping_is_answered_from_receive() -> None:
    async def pinger(request: WebSocketRequest, _stream: trio.SocketStream) -> None:
        ws = await request.accept()
        with trio.fail_after(5):
            await ws.ping(b"still there?")  # returns when the pong comes
        await ws.send_message("pong seen")
        await ws.get_message()

    async with trio_websocket_server(pinger) as url, open_websocket(url) as ws:
        with trio.fail_after(5):
            assert await ws.receive() == "pong seen"


async def test_the_servers_close_is_answered_and_names_its_code() -> None:
    replied = trio.Event()

    async def closer(request: WebSocketRequest, _stream: trio.SocketStream) -> None:
        ws = await request.accept()
        await ws.send_message("last words")
        with trio.fail_after(5):
            await ws.aclose(4000, "shift over")  # waits for the client's reply
        replied.set()

    async with trio_websocket_server(closer) as url, open_websocket(url) as ws:
        assert await ws.receive() == "last words"  # what came before the close comes first
        with pytest.raises(Disconnected, match=r"4000 PRIVATE_RESERVED \(shift over\)"):
            await ws.receive()
        with trio.fail_after(5):
            await replied.wait()
        assert ws.closed
        with pytest.raises(Disconnected, match="4000"):
            await ws.receive()
        with pytest.raises(Disconnected, match="4000"):
            await ws.send("too late")


async def test_a_server_that_drops_the_connection_is_1006() -> None:
    async def dropper(request: WebSocketRequest, stream: trio.SocketStream) -> None:
        await request.accept()
        await stream.aclose()  # no close frame

    async with trio_websocket_server(dropper) as url, open_websocket(url) as ws:
        with trio.fail_after(5), pytest.raises(Disconnected, match="1006 ABNORMAL_CLOSURE"):
            await ws.receive()
        with pytest.raises(Disconnected, match="1006"):
            await ws.send("anyone?")


async def test_a_frame_that_breaks_the_protocol_closes_with_1002() -> None:
    client_closed: list[Event] = []

    async def breaker(peer: ScriptedPeer) -> None:
        await peer.stream.send_all(b"\x83\x00")  # opcode 3 is reserved
        client_closed.append(await peer.next_event())

    async with scripted_server(breaker) as url, open_websocket(url) as ws:
        with trio.fail_after(5), pytest.raises(Disconnected, match="1002 PROTOCOL_ERROR"):
            await ws.receive()
    assert [type(e) for e in client_closed] == [CloseConnection]
    assert isinstance(client_closed[0], CloseConnection) and client_closed[0].code == 1002


async def test_aclose_is_idempotent_and_wakes_a_receiver() -> None:
    server_saw: list[int] = []

    async def until_closed(request: WebSocketRequest, _stream: trio.SocketStream) -> None:
        ws = await request.accept()
        try:
            await ws.get_message()
        except ConnectionClosed as exc:
            assert exc.reason is not None
            server_saw.append(exc.reason.code)

    async with trio_websocket_server(until_closed) as url, open_websocket(url) as ws:
        woken: list[str] = []

        async def receiver() -> None:
            with pytest.raises(Disconnected) as info:
                await ws.receive()
            woken.append(info.value.reason)

        with trio.fail_after(5):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(receiver)
                await trio.testing.wait_all_tasks_blocked()
                await ws.aclose()
                await ws.aclose()  # idempotent
        assert woken == [close_reason(1000)]
        with pytest.raises(Disconnected):
            await ws.send("after")
    assert server_saw == [1000]


async def test_aclose_gives_up_on_a_peer_that_never_replies(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(transport, "DISCONNECT_TIMEOUT", 0.2)

    async def silent(peer: ScriptedPeer) -> None:
        assert isinstance(await peer.next_event(), CloseConnection)
        await trio.sleep_forever()  # no reply, the TCP connection kept open

    woken: list[str] = []

    async def receiver() -> None:
        with pytest.raises(Disconnected) as info:
            await ws.receive()
        woken.append(info.value.reason)

    async with scripted_server(silent) as url, trio.open_nursery() as nursery:
        async with open_websocket(url) as ws:
            nursery.start_soon(receiver)  # it waits for the reply along with aclose
            await trio.testing.wait_all_tasks_blocked()
            start = trio.current_time()
        assert 0.15 < trio.current_time() - start < 2  # the block's aclose waited 0.2 s
    assert ws.closed and woken == [close_reason(1000)]


# --- limits ----------------------------------------------------------------------------------
async def test_a_message_over_the_limit_closes_with_1009() -> None:
    server_saw: list[int] = []

    async def big(request: WebSocketRequest, _stream: trio.SocketStream) -> None:
        ws = await request.accept()
        await ws.send_message("x" * 1000)  # at the limit: delivered
        await ws.send_message("y" * 1001)
        try:
            await ws.get_message()
        except ConnectionClosed as exc:
            assert exc.reason is not None
            server_saw.append(exc.reason.code)

    async with trio_websocket_server(big) as url, open_websocket(url, max_message=1000) as ws:
        assert await ws.receive() == "x" * 1000
        with trio.fail_after(5), pytest.raises(Disconnected, match="1009 MESSAGE_TOO_BIG"):
            await ws.receive()
    assert server_saw == [1009]


@pytest.mark.parametrize("last_finishes", [True, False])
async def test_fragments_adding_up_over_the_limit_close_with_1009(last_finishes: bool) -> None:
    async def fragments(peer: ScriptedPeer) -> None:
        await peer.send(
            BytesMessage(b"z" * 500, message_finished=False),
            BytesMessage(b"z" * 500, message_finished=False),  # at the limit: still fine
            BytesMessage(b"z", message_finished=last_finishes),
        )
        await peer.answer_close()

    async with scripted_server(fragments) as url, open_websocket(url, max_message=1000) as ws:
        with trio.fail_after(5), pytest.raises(Disconnected, match="1009"):
            await ws.receive()


async def test_the_default_limit_lets_an_oversized_frame_reach_the_codec() -> None:
    async def oversized(request: WebSocketRequest, _stream: trio.SocketStream) -> None:
        ws = await request.accept()
        await ws.send_message('{"pad": "' + "p" * (2 << 20) + '"}')  # over the codec's 1 MiB
        await ws.get_message()

    async with trio_websocket_server(oversized) as url, open_websocket(url) as ws:
        with trio.fail_after(5):
            frame = await ws.receive()
    assert len(frame) == (2 << 20) + 11


# --- opening ---------------------------------------------------------------------------------
async def test_a_refused_handshake_names_the_status() -> None:
    async def refuse(request: WebSocketRequest, _stream: trio.SocketStream) -> None:
        await request.reject(403, body=b"no agents here")

    async with trio_websocket_server(refuse) as url:
        with pytest.raises(Disconnected, match=r"cannot open a websocket .*HTTP 403"):
            async with open_websocket(url):
                pass  # pragma: no cover - entering fails


async def test_a_server_that_never_answers_the_upgrade_times_out() -> None:
    (listener,) = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listener.socket.getsockname()[1]
    try:
        with pytest.raises(Disconnected, match=r"no answer within 0\.2 s"):
            async with open_websocket(f"ws://127.0.0.1:{port}/", timeout=0.2):
                pass  # pragma: no cover - entering fails
    finally:
        await listener.aclose()


async def test_an_http_server_is_not_a_websocket_server() -> None:
    (listener,) = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listener.socket.getsockname()[1]

    async def http(stream: trio.SocketStream) -> None:
        await stream.receive_some(65536)
        await stream.send_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi")
        await stream.aclose()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.serve_listeners, http, [listener])
        with pytest.raises(Disconnected, match=r"HTTP 200"):
            async with open_websocket(f"ws://127.0.0.1:{port}/"):
                pass  # pragma: no cover - entering fails
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("ws://pbx/", (False, "pbx", 80, "/")),
        ("wss://pbx", (True, "pbx", 443, "/")),
        ("ws://10.0.0.1:8088/csta?tenant=a", (False, "10.0.0.1", 8088, "/csta?tenant=a")),
    ],
)
def test_parse_url(url: str, expected: tuple[bool, str, int, str]) -> None:
    assert parse_url(url) == expected


#: openssl's command line for a self-signed certificate for 127.0.0.1 (key unencrypted)
MAKE_CERTIFICATE = [
    "openssl",
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-days",
    "2",
    "-subj",
    "/CN=127.0.0.1",
    "-addext",
    "subjectAltName=IP:127.0.0.1",
]


# --- TLS -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key (openssl's command line)."""
    if shutil.which("openssl") is None:
        pytest.skip("no openssl command to make a certificate with")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [*MAKE_CERTIFICATE, "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    return cert, key


async def test_wss_verifies_the_certificate_by_default(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)

    async def echo(request: WebSocketRequest, _stream: trio.SocketStream) -> None:
        ws = await request.accept()
        await ws.send_message(await ws.get_message())
        await ws.get_message()

    async with trio_websocket_server(echo, ssl_context=server_context) as url:
        with pytest.raises(Disconnected, match=r"TLS with .* failed: certificate verify failed"):
            async with open_websocket(url):
                pass  # pragma: no cover - entering fails
        trusting = ssl.create_default_context(cafile=str(cert))
        async with open_websocket(url, ssl_context=trusting) as ws:
            await ws.send("over TLS")
            with trio.fail_after(5):
                assert await ws.receive() == "over TLS"
