"""The ESL simulator frames ESL as FreeSWITCH does: raw TCP, read with our codec."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
from cti_fsm_freeswitch_esl import adapter
from cti_fsm_freeswitch_esl.codec import BODY, EslCodec
from cti_fsm_freeswitch_esl.simulator import EslSimulator

from cti_fsm import open_agent
from cti_fsm.errors import CommandFailed
from cti_fsm.switch import Switch, demo_switch


class Raw:
    """A raw ESL connection: bytes out, decoded messages in."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.codec = EslCodec()
        self.messages: list[Any] = []
        self.raw = b""

    async def send(self, text: str) -> None:
        await self.stream.send_all(text.encode())

    async def until(self, test: Any) -> Any:
        with trio.fail_after(5):
            while True:
                for i, m in enumerate(self.messages):
                    if test(m):
                        del self.messages[: i + 1]
                        return m
                data = await self.stream.receive_some()
                if not data:
                    raise EOFError("closed")
                self.raw += data
                self.messages += self.codec.feed(data)


@asynccontextmanager
async def served(switch: Switch, **kwargs: Any) -> AsyncIterator[tuple[EslSimulator, int]]:
    simulator = EslSimulator(switch, **kwargs)
    async with trio.open_nursery() as nursery:
        port = await nursery.start(simulator.serve)
        yield simulator, port
        nursery.cancel_scope.cancel()


@asynccontextmanager
async def connection(port: int, login: str) -> AsyncIterator[Raw]:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        raw = Raw(stream)
        await raw.until(lambda m: m.get("Content-Type") == "auth/request")
        await raw.send(f"{login}\n\n")
        ok = await raw.until(lambda m: m.get("Content-Type") == "command/reply")
        assert ok["Reply-Text"] == "+OK accepted"
        yield raw


def kind(name: str) -> Any:
    return lambda m: m.get("Event-Name") == name or m.get("Content-Type") == name


async def test_the_same_event_plain_and_json_and_a_job_to_its_issuer_only() -> None:
    switch = demo_switch()
    async with (
        served(switch, tiers={"1001": ["sales"]}) as (simulator, port),
        connection(port, "userauth 1001@default:pw1001") as agent,
        connection(port, "auth ClueCon") as plain,
    ):
        await agent.send("event json CUSTOM callcenter::info BACKGROUND_JOB\n\n")
        await plain.send("event plain CUSTOM callcenter::info BACKGROUND_JOB\n\n")
        for c in (agent, plain):
            reply = await c.until(kind("command/reply"))
            assert reply["Reply-Text"].startswith("+OK event listener enabled")
        await agent.send(
            "bgapi callcenter_config agent set status 1001@default 'Available (On Demand)'\n"
            "Job-UUID: job-1\n\n"
        )
        accepted = await agent.until(kind("command/reply"))
        assert (accepted["Reply-Text"], accepted["Job-UUID"]) == ("+OK Job-UUID: job-1", "job-1")
        as_json = await agent.until(kind("CUSTOM"))
        as_plain = await plain.until(kind("CUSTOM"))
        assert as_json["Content-Type"] == "text/event-json"
        assert as_plain["Content-Type"] == "text/event-plain"
        for event in (as_json, as_plain):
            assert event["CC-Action"] == "agent-status-change"
            assert event["CC-Agent-Status"] == "Available (On Demand)"
        # on the wire the plain event's value is URL-encoded, as switch_event_serialize does
        assert b"CC-Agent-Status: Available%20(On%20Demand)\n" in plain.raw
        done = await agent.until(kind("BACKGROUND_JOB"))
        assert (done["Job-UUID"], done[BODY], done["Content-Length"]) == ("job-1", "+OK\n", "4")
        # the job's result went to the connection that started it, and to no other
        await plain.send("api version\n\n")
        version = await plain.until(kind("api/response"))
        assert version[BODY].startswith("FreeSWITCH Version")
        assert not any(m.get("Event-Name") == "BACKGROUND_JOB" for m in plain.messages)
        assert switch.chart_state("1001") == "checked_in.available.idle"
        assert simulator.connected_agents() == ("1001",)


async def test_a_plain_background_job_carries_its_result_under_an_inner_length() -> None:
    async with (
        served(demo_switch()) as (_, port),
        connection(port, "auth ClueCon") as admin,
    ):
        await admin.send("event plain BACKGROUND_JOB\n\n")
        await admin.until(kind("command/reply"))
        await admin.send("bgapi callcenter_config queue list\nJob-UUID: q\n\n")
        done = await admin.until(kind("BACKGROUND_JOB"))
        assert done["Content-Type"] == "text/event-plain"
        assert done[BODY].startswith("name|strategy|") and done[BODY].endswith("+OK\n")
        assert int(done["Content-Length"]) == len(done[BODY].encode())
        assert b"\nContent-Length: " in admin.raw.split(b"Event-Name: BACKGROUND_JOB", 1)[1]


async def test_exit_says_goodbye_and_closes() -> None:
    switch = demo_switch()
    async with (
        served(switch) as (_, port),
        connection(port, "userauth 1001@default:pw1001") as agent,
    ):
        await agent.send("exit\n\n")
        bye = await agent.until(kind("command/reply"))
        assert bye["Reply-Text"] == "+OK bye"
        notice = await agent.until(kind("text/disconnect-notice"))
        assert notice["Content-Disposition"] == "disconnect"
        assert notice[BODY].startswith("Disconnected, goodbye.")
        with trio.fail_after(5):
            assert await agent.stream.receive_some() == b""
    assert switch.chart_state("1001") == "offline"


async def test_commands_before_login_and_unknown_ones_are_refused_and_the_link_stays() -> None:
    async with served(demo_switch()) as (_, port):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            raw = Raw(stream)
            await raw.until(kind("auth/request"))
            await raw.send("api status\n\n")
            refused = await raw.until(kind("command/reply"))
            assert refused["Reply-Text"] == "-ERR command not found"
            await raw.send("auth ClueCon\n\nbogus\n\napi no_such_api\n\n")
            assert (await raw.until(kind("command/reply")))["Reply-Text"] == "+OK accepted"
            assert (await raw.until(kind("command/reply")))[
                "Reply-Text"
            ] == "-ERR command not found"
            api = await raw.until(kind("api/response"))
            assert api[BODY] == "-ERR no_such_api Command not found!\n"


async def test_a_rejected_agent_is_told_why_by_the_servers_own_words() -> None:
    switch = demo_switch()
    async with served(switch, reject=True) as (_, port):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            raw = Raw(stream)
            rude = await raw.until(kind("text/rude-rejection"))
            assert rude[BODY] == "Access Denied, go away.\n"
            await raw.send("auth ClueCon\n\n")
            with trio.fail_after(5):
                assert await stream.receive_some() == b""
        with pytest.raises(CommandFailed, match="Access Denied, go away"):
            async with open_agent(
                adapter,
                f"tcp://127.0.0.1:{port}",
                "1001",
                "pw1001",
                options={"extension": "8001"},
                reconnect=None,
            ):
                pass  # the login cannot succeed
    assert switch.chart_state("1001") == "offline"
