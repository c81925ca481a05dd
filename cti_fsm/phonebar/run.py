"""Running the phone bar: against a CTI server, or (``demo``) against the embedded simulator
with the world panel."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from typing import Any, TextIO

import attrs
import trio

from ..adapter import load_adapter
from ..chart import Chart
from ..demo import choose_adapter
from ..switch import Switch, demo_switch
from .server import DEFAULT_REASONS, BarConfig, create_app, serve
from .world import World

__all__ = ["Running", "run_phonebar"]


@attrs.frozen
class Running:
    """A phone bar that is serving: where, its app, and in demo mode its world."""

    url: str
    app: Any
    world: World | None


async def run_phonebar(
    *,
    vendor: str | None,
    url: str | None,
    host: str = "127.0.0.1",
    port: int = 0,
    demo: bool = False,
    allow_origins: Iterable[str] = (),
    allow_hosts: Iterable[str] = (),
    reasons: Iterable[str] = DEFAULT_REASONS,
    team_every: float = 3.0,
    chart: Chart | None = None,
    options: Mapping[str, Any] | None = None,
    out: TextIO = sys.stdout,
    task_status: trio.TaskStatus[Running] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the phone bar until cancelled; started with the ``Running`` bar.

    With ``demo`` the adapter's simulator runs too (on 127.0.0.1, demo accounts) and the
    page shows the world panel; ``url`` is then the simulator's. ``allow_hosts``: host names
    besides loopback and ``host`` that requests may name (a server bound to 0.0.0.0 and
    reached as ``bar.example.com``). ``chart``: the agents'
    chart (default: the adapter's). ``options``: vendor options for every agent.

    Raises:
        AdapterNotFound: no such adapter.
        ValueError: neither ``demo`` nor a ``url`` was given.
        OSError: the address cannot be listened on.
    """
    async with trio.open_nursery() as nursery:
        world: World | None = None
        if demo:
            adapter = choose_adapter(vendor)
            switch: Switch = demo_switch()
            simulator = adapter.simulator(switch)
            await nursery.start(simulator.serve, "127.0.0.1", 0)
            url = simulator.url
            world = World(switch, simulator)
        else:
            if vendor is None or url is None:
                raise ValueError("give --vendor and --url, or --demo")
            adapter = load_adapter(vendor)
        # the host names the server answers to (DNS rebinding): loopback, the bound address
        # and the names given
        hosts = tuple(dict.fromkeys(["127.0.0.1", "localhost", host, *allow_hosts]))
        config = BarConfig(
            adapter,
            url,
            reasons=tuple(reasons),
            allow_origins=frozenset(allow_origins),
            allowed_hosts=hosts,
            team_every=team_every,
            world=world,
            chart=chart,
            options=dict(options or {}),
        )
        app = create_app(config)
        base = await nursery.start(serve, app, host, port)
        out.write(f"phone bar for {adapter.name} at {base}/ (CTI server {url})\n")
        if demo:
            out.write(
                "demo accounts: agents 1001, 1002, 1003 (passwords pw1001 ...),"
                " supervisor 9001 (pw9001); Ctrl-C stops\n"
            )
        out.write(f'embed it: <script src="{base}/phone-bar.js"></script> <cti-phone-bar>\n')
        out.flush()
        task_status.started(Running(base, app, world))
