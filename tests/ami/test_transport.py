"""The TCP transport against a scripted AMI server on 127.0.0.1 (port chosen by the OS)."""

from __future__ import annotations

from functools import partial

import pytest
import trio
from cti_fsm_asterisk_ami import adapter
from cti_fsm_asterisk_ami.transport import parse_url

from cti_fsm.adapter import Answer, Signal
from cti_fsm.errors import Disconnected


async def scripted_server(
    got: list[bytes], stream: trio.SocketStream, *, close_after_login: bool = False
) -> None:
    """Banner, then answers one Login (split in two writes), then closes or waits."""
    await stream.send_all(b"Asterisk Call Manager/7.0.3\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        data += await stream.receive_some(4096)
    got.append(data)
    action_id = next(
        line.split(b": ", 1)[1] for line in data.split(b"\r\n") if line.startswith(b"ActionID")
    )
    answer = (
        b"Response: Success\r\nActionID: "
        + action_id
        + b"\r\nMessage: Authentication accepted\r\n\r\n"
    )
    await stream.send_all(answer[:17])
    await trio.sleep(0.01)
    await stream.send_all(answer[17:])
    if close_after_login:
        await stream.aclose()
        return
    await trio.sleep_forever()


async def test_login_over_tcp_and_server_close(nursery: trio.Nursery) -> None:
    got: list[bytes] = []
    listeners = await nursery.start(
        partial(
            trio.serve_tcp,
            partial(scripted_server, got, close_after_login=True),
            0,
            host="127.0.0.1",
        )
    )
    port = listeners[0].socket.getsockname()[1]
    async with adapter.connect(f"tcp://127.0.0.1:{port}") as transport:
        protocol = adapter.protocol(user="PJSIP/1001", options={"username": "cti"})
        (login,) = protocol.encode_command(
            "connect", {"user": "PJSIP/1001", "password": "pw", "url": ""}, 1
        )
        await transport.send(protocol.codec.encode(login))
        inbound = []
        with trio.fail_after(5):
            while not any(isinstance(i, Answer) for i in inbound):
                for message in protocol.codec.feed(await transport.receive()):
                    inbound.extend(protocol.receive(message))
        assert inbound == [Signal("logged_in", {}), Answer(1, True)]
        assert got[0].startswith(b"Action: Login\r\nUsername: cti\r\nSecret: pw\r\n")
        with pytest.raises(Disconnected, match="closed the connection"), trio.fail_after(5):
            await transport.receive()
        await transport.aclose()
        await transport.aclose()  # idempotent
        with pytest.raises(Disconnected):
            await transport.send(b"Action: Ping\r\n\r\n")


async def test_unreachable_server_is_disconnected() -> None:
    # a port that was just free and is not listened on
    sock = trio.socket.socket()
    await sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    refused = f"cannot reach AMI at 127.0.0.1:{port}: Connection refused"
    with pytest.raises(Disconnected, match=refused):
        async with adapter.connect(f"tcp://127.0.0.1:{port}"):
            pass  # pragma: no cover - entering fails


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("tcp://pbx:5039", ("pbx", 5039)),
        ("pbx", ("pbx", 5038)),
        ("10.0.0.1:7777", ("10.0.0.1", 7777)),
    ],
)
def test_parse_url(url: str, expected: tuple[str, int]) -> None:
    assert parse_url(url) == expected


async def test_bad_url_is_disconnected() -> None:
    with pytest.raises(Disconnected, match="tcp://"):
        async with adapter.connect("ws://pbx:5038"):
            pass  # pragma: no cover - entering fails
