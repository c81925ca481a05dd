"""``cti-fsm simulate --vendor V --port N``: run one adapter's simulator on its own.

Generic over adapters: the adapter's ``simulator(switch)`` over the demo population
(``cti_fsm.switch.demo_switch``), printed at start (user names, devices, groups, rights:
never passwords), until Ctrl-C. ``--wrap-up S`` and ``--ring-timeout S`` turn on the
switch's after-call work and ring timeout for every group (off by default).
"""

from __future__ import annotations

import argparse
import functools
import sys
from typing import Any, TextIO

import trio

from ..adapter import AdapterNotFound, adapter_names, load_adapter
from ..switch import Switch, demo_switch

HELP = "run an adapter's simulator (a vendor server over the switch model) until Ctrl-C"


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the subcommand's arguments."""
    parser.add_argument(
        "--vendor",
        required=True,
        help=f"adapter whose simulator to run (installed: {', '.join(adapter_names()) or 'none'})",
    )
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0: any free one)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument(
        "--wrap-up",
        type=_seconds,
        default=0.0,
        metavar="SECONDS",
        help="after-call work after every ACD call an agent talked on (0: none, the default)",
    )
    parser.add_argument(
        "--ring-timeout",
        type=_seconds,
        default=0.0,
        metavar="SECONDS",
        help="an ACD call ringing this long is taken back, the agent not ready (0: never)",
    )


def _seconds(text: str) -> float:
    """A number of seconds >= 0 (argparse names the argument in its error)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: seconds must be a finite number >= 0")
    return value


def describe(switch: Switch, out: TextIO) -> None:
    """Print the population: agents with their devices, groups and rights; the groups."""
    for group in switch.transfer_groups():
        out.write(f"  group {group.id:<10} {group.name:<12} DTMF {group.dtmf or '-'}\n")
    for agent_id in switch.agent_ids:
        info = switch.agent_info(agent_id)
        rights = f"  rights: {', '.join(info.rights)}" if info.rights else ""
        out.write(
            f"  agent {info.agent:<6} device {info.device:<6}"
            f" groups: {', '.join(info.groups)}{rights}\n"
        )


async def serve(
    vendor: str,
    host: str,
    port: int,
    out: TextIO = sys.stdout,
    *,
    wrap_up: float = 0.0,
    ring_timeout: float = 0.0,
    task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run ``vendor``'s simulator over the demo population until cancelled; started with
    the simulator once it listens. ``wrap_up``, ``ring_timeout``: seconds of the switch's
    after-call work and ring timeout, for every group (0: off).

    Raises:
        AdapterNotFound: no such adapter.
        OSError: the address cannot be listened on.
    """
    adapter = load_adapter(vendor)
    switch = demo_switch()
    for group in switch.group_ids:
        switch.set_wrap_up(group, wrap_up)
        switch.set_ring_timeout(group, ring_timeout)
    simulator = adapter.simulator(switch)
    async with trio.open_nursery() as nursery:
        bound = await nursery.start(simulator.serve, host, port)
        where = getattr(simulator, "url", f"{host}:{bound}")
        out.write(f"{vendor} simulator listening on {where}\n")
        describe(switch, out)
        if wrap_up or ring_timeout:
            out.write(
                f"  after-call work: {wrap_up:g} s after ACD calls;"
                f" ring timeout: {ring_timeout:g} s (0: off)\n"
            )
        out.write("passwords: see cti_fsm.switch.demo_switch (demo accounts); Ctrl-C stops\n")
        out.flush()
        task_status.started(simulator)


def run(args: argparse.Namespace) -> int:
    """Serve until Ctrl-C (0); 2 if the adapter is unknown or the address is unusable."""
    try:
        trio.run(
            functools.partial(
                serve,
                args.vendor,
                args.host,
                args.port,
                wrap_up=args.wrap_up,
                ring_timeout=args.ring_timeout,
            )
        )
    except KeyboardInterrupt:
        return 0
    except AdapterNotFound as exc:
        print(f"cti-fsm simulate: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"cti-fsm simulate: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2
    return 0
