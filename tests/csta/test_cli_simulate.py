"""``cti-fsm simulate``: any adapter's simulator alone, over the demo population."""

from __future__ import annotations

import functools
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


def test_timer_arguments() -> None:
    args = build_parser().parse_args(["simulate", "--vendor", "csta-ws"])
    assert (args.wrap_up, args.ring_timeout) == (0.0, 0.0)  # off by default
    args = build_parser().parse_args(
        ["simulate", "--vendor", "csta-ws", "--wrap-up", "30", "--ring-timeout", "12.5"]
    )
    assert (args.wrap_up, args.ring_timeout) == (30.0, 12.5)


@pytest.mark.parametrize("value", ["-1", "soon", "inf", "nan"])
def test_bad_timer_arguments_name_the_argument(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(["simulate", "--vendor", "csta-ws", "--wrap-up", value])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "--wrap-up" in err and "Traceback" not in err


async def test_the_switchs_timers_are_on_when_asked(nursery: trio.Nursery) -> None:
    out = io.StringIO()
    simulator = await nursery.start(
        functools.partial(serve, "csta-ws", "127.0.0.1", 0, out, wrap_up=30, ring_timeout=15)
    )
    assert "after-call work: 30 s after ACD calls; ring timeout: 15 s" in out.getvalue()
    switch = simulator.switch
    switch.login("1001", "pw1001")
    switch.check_in("1001", ["sales"])
    before = trio.current_time()
    switch.inbound_call("sales")
    assert switch.wake_at == pytest.approx(before + 15, abs=1)  # on the simulator's clock
    switch.answer("1001")
    switch.hangup("1001")
    assert switch.situation("1001") == "wrap_up"
