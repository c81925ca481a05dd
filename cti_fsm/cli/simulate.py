"""``cti-fsm simulate --vendor V --port N``: run one adapter's simulator on its own.

Generic over adapters: the adapter's ``simulator(switch)`` over the demo population
(``cti_fsm.switch.demo_switch``), printed at start (user names, devices, groups, rights:
never passwords), until Ctrl-C.
"""

from __future__ import annotations

import argparse
import errno
import signal
import sys
from typing import Any, TextIO

import trio

from ..adapter import AdapterNotFound, adapter_names, load_adapter
from ..switch import Switch, demo_switch
from ._args import port, refuse, sole

HELP = "run an adapter's simulator (a vendor server over the switch model) until Ctrl-C"


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the subcommand's arguments."""
    parser.add_argument(
        "--vendor",
        required=True,
        help=f"adapter whose simulator to run (installed: {', '.join(adapter_names()) or 'none'})",
    )
    parser.add_argument("--port", type=port, default=0, help="port to listen on (0: any free one)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")


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
    task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run ``vendor``'s simulator over the demo population until cancelled; started with
    the simulator once it listens.

    Raises:
        AdapterNotFound: no such adapter.
        OSError: the address cannot be listened on.
    """
    adapter = load_adapter(vendor)
    switch = demo_switch()
    simulator = adapter.simulator(switch)
    async with trio.open_nursery() as nursery:
        bound = await nursery.start(simulator.serve, host, port)
        where = getattr(simulator, "url", f"{host}:{bound}")
        out.write(f"{vendor} simulator listening on {where}\n")
        describe(switch, out)
        out.write("passwords: see cti_fsm.switch.demo_switch (demo accounts); Ctrl-C stops\n")
        out.flush()
        task_status.started(simulator)


async def _until_stopped(vendor: str, host: str, port: int) -> None:
    """``serve`` until Ctrl-C or SIGTERM, then stop it (its clients' links closed)."""
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            await nursery.start(serve, vendor, host, port)
            async for _ in signals:
                nursery.cancel_scope.cancel()
                break


#: listen errors that are the port's fault (taken, or privileged); others are the host's
_PORT_ERRORS = frozenset({errno.EADDRINUSE, errno.EACCES})


def run(args: argparse.Namespace) -> int:
    """Serve until Ctrl-C or SIGTERM (0); 2 if the adapter is unknown or the address is
    unusable, naming the argument."""
    try:
        trio.run(_until_stopped, args.vendor, args.host, args.port)
    except BaseException as exc:
        error = sole(exc)
        if isinstance(error, KeyboardInterrupt):  # before the signal receiver was set up
            return 0
        if isinstance(error, AdapterNotFound):
            return refuse("simulate", "--vendor", str(error))
        if isinstance(error, OSError):
            which = "--port" if error.errno in _PORT_ERRORS else "--host"
            reason = error.strerror or str(error)
            return refuse("simulate", which, f"cannot listen on {args.host}:{args.port}: {reason}")
        raise
    return 0
