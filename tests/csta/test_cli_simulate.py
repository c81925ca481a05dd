"""``cti-fsm simulate``: any adapter's simulator alone, over the demo population."""

from __future__ import annotations

import io

import pytest
import trio
from cti_fsm_csta_ws import adapter

from cti_fsm.cli import build_parser, main
from cti_fsm.cli.simulate import serve
from cti_fsm.events import Signal


async def test_serves_the_demo_population_and_prints_it_without_passwords(
    nursery: trio.Nursery,
) -> None:
    out = io.StringIO()
    simulator = await nursery.start(serve, "csta-ws", "127.0.0.1", 0, out)
    text = out.getvalue()
    assert text.startswith(f"csta-ws simulator listening on {simulator.url}\n")
    for expected in (
        "agent 1001",
        "device 8001",
        "agent 9001",
        "rights: supervisor",
        "group sales",
    ):
        assert expected in text
    assert "pw1001" not in text and "pw9001" not in text
    # it really serves: a demo account logs in
    async with adapter.connect(simulator.url) as transport:
        protocol = adapter.protocol(user="1002", options={})
        for message in protocol.encode_command(
            "connect", {"user": "1002", "password": "pw1002"}, 1
        ):
            await transport.send(protocol.encode(message))
        [response] = protocol.decode(await transport.receive())
        assert isinstance(response, dict)
        assert protocol.receive(response) == [Signal("logged_in", request_id=1)]
        await transport.aclose()


def test_arguments() -> None:
    args = build_parser().parse_args(["simulate", "--vendor", "csta-ws"])
    assert (args.vendor, args.host, args.port) == ("csta-ws", "127.0.0.1", 0)
    args = build_parser().parse_args(
        ["simulate", "--vendor", "x", "--port", "9000", "--host", "::1"]
    )
    assert (args.port, args.host) == (9000, "::1")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["simulate"])  # --vendor is required


def test_unknown_vendor_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--vendor", "no-such-vendor"]) == 2
    assert "no adapter named 'no-such-vendor'" in capsys.readouterr().err
