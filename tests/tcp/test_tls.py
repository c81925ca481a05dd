"""TLS done properly, on both adapters over loopback with a throwaway CA (trustme): AMI over
``tls://`` and csta-ws over ``wss://``; verified with the private CA given as the agent's
``ssl_context`` option; refused at once, naming TLS and the reason, when the certificate is
not trusted, names another host, or the port does not speak TLS; verification off only
with a context the caller built."""

from __future__ import annotations

import functools
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
import trustme

from cti_fsm.adapter import Adapter, load_adapter
from cti_fsm.agent import Agent, open_agent
from cti_fsm.errors import Disconnected
from cti_fsm.switch import demo_switch
from cti_fsm.tls import client_context, open_tls

#: per adapter: login user and protocol options for agent 1001 of the demo switch
ACCOUNTS: dict[str, tuple[str, dict[str, Any]]] = {
    "csta-ws": ("1001", {}),
    "asterisk-ami": ("PJSIP/8001", {"username": "1001", "queues": ["sales"]}),
}
VENDORS = sorted(ACCOUNTS)
#: a refusal must come at once: well under the 10 s a login or handshake may take
AT_ONCE = 1.0


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def server_context(ca: trustme.CA, *names: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(context)
    return context


def trusting(ca: trustme.CA) -> ssl.SSLContext:
    """What a user with a private CA builds: the default context, trusting that CA."""
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


@asynccontextmanager
async def simulator(vendor: str, tls: ssl.SSLContext | None) -> AsyncIterator[tuple[Adapter, str]]:
    adapter = load_adapter(vendor)
    sim = adapter.simulator(demo_switch())
    async with trio.open_nursery() as nursery:
        await nursery.start(functools.partial(sim.serve, ssl_context=tls))
        yield adapter, sim.url
        nursery.cancel_scope.cancel()


async def refusal(vendor: str, url: str, **options: Any) -> str:
    """The reason the first connection is refused, which must come at once."""
    user, account = ACCOUNTS[vendor]
    with trio.fail_after(AT_ONCE), pytest.raises(Disconnected) as refused:
        async with open_agent(
            vendor, url, user, "pw1001", options={**account, **options}, reconnect=None
        ):
            pass  # pragma: no cover - refused before
    return refused.value.reason


@pytest.mark.parametrize("vendor", VENDORS)
async def test_a_private_ca_given_as_ssl_context_is_verified_and_works(
    vendor: str, ca: trustme.CA
) -> None:
    user, account = ACCOUNTS[vendor]
    async with simulator(vendor, server_context(ca, "127.0.0.1")) as (adapter, url):
        assert url.startswith({"csta-ws": "wss://", "asterisk-ami": "tls://"}[vendor])
        options = {**account, "ssl_context": trusting(ca)}
        async with open_agent(adapter, url, user, "pw1001", options=options) as agent:
            await agent.check_in(group_ids=["sales"])
            assert agent.state == "checked_in.available.idle"


@pytest.mark.parametrize("vendor", VENDORS)
async def test_an_untrusted_certificate_is_refused_at_once_naming_tls_and_why(
    vendor: str, ca: trustme.CA
) -> None:
    async with simulator(vendor, server_context(ca, "127.0.0.1")) as (_, url):
        # verification is on by default: the system's CAs do not know this one
        reason = await refusal(vendor, url)
    assert "TLS with" in reason
    assert "certificate verify failed: unable to get local issuer certificate" in reason


@pytest.mark.parametrize("vendor", VENDORS)
async def test_a_certificate_for_another_name_is_refused(vendor: str, ca: trustme.CA) -> None:
    async with simulator(vendor, server_context(ca, "cti.example.com")) as (_, url):
        reason = await refusal(vendor, url, ssl_context=trusting(ca))
    assert "TLS with" in reason
    assert "certificate verify failed: IP address mismatch" in reason


@pytest.mark.parametrize("vendor", VENDORS)
async def test_a_port_without_tls_is_refused_naming_tls(vendor: str, ca: trustme.CA) -> None:
    async with simulator(vendor, None) as (_, plain):
        secure = plain.replace("ws://", "wss://").replace("tcp://", "tls://")
        reason = await refusal(vendor, secure, ssl_context=trusting(ca))
    assert "TLS with" in reason and "failed:" in reason
    assert reason.split("failed: ", 1)[1].strip(), reason  # a reason, not an empty one


@pytest.mark.parametrize("vendor", VENDORS)
async def test_verification_is_off_only_in_a_context_the_user_built(
    vendor: str, ca: trustme.CA
) -> None:
    user, account = ACCOUNTS[vendor]
    unverified = ssl.create_default_context()
    unverified.check_hostname = False
    unverified.verify_mode = ssl.CERT_NONE
    async with simulator(vendor, server_context(ca, "cti.example.com")) as (adapter, url):
        options = {**account, "ssl_context": unverified}
        async with open_agent(adapter, url, user, "pw1001", options=options) as agent:
            assert agent.connected
    # nothing else turns it off: not a flag, a path or a string where a context goes
    for wrong in (False, "none", "/etc/ssl/ca.pem"):
        with pytest.raises(TypeError, match=r"ssl_context must be an ssl\.SSLContext"):
            Agent(vendor, url, user, "pw1001", options={**account, "ssl_context": wrong})


@pytest.mark.parametrize("vendor", VENDORS)
async def test_a_context_for_a_plain_url_is_refused(vendor: str, ca: trustme.CA) -> None:
    async with simulator(vendor, None) as (_, plain):
        reason = await refusal(vendor, plain, ssl_context=trusting(ca))
    assert "ssl_context was given for a plain" in reason
    assert ("use wss://" if vendor == "csta-ws" else "use tls://") in reason


async def test_open_tls_completes_the_handshake_before_returning(ca: trustme.CA) -> None:
    """The handshake's outcome is known when ``open_tls`` returns: a server that accepts
    TCP but never answers the handshake is refused after the timeout, naming TLS."""
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    async with trio.open_nursery() as nursery:

        async def silent(stream: trio.SocketStream) -> None:
            await trio.sleep_forever()

        nursery.start_soon(trio.serve_listeners, silent, listeners)
        with trio.fail_after(AT_ONCE), pytest.raises(Disconnected) as refused:
            await open_tls("127.0.0.1", port, name="AMI", ssl_context=trusting(ca), timeout=0.2)
        assert refused.value.reason == (
            f"TLS with AMI at 127.0.0.1:{port} failed: no handshake within 0.2 s"
        )
        nursery.cancel_scope.cancel()


def test_the_default_context_verifies() -> None:
    context = client_context(None)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


async def test_an_unreachable_tls_server_is_named_as_unreachable() -> None:
    with trio.socket.socket() as s:
        await s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: connections are refused
        with trio.fail_after(AT_ONCE), pytest.raises(Disconnected) as refused:
            await open_tls("127.0.0.1", port, name="AMI")
    assert refused.value.reason == f"cannot reach AMI at 127.0.0.1:{port}: Connection refused"
