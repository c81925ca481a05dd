"""``cti-fsm simulate --vendor V --port N``: run one adapter's simulator on its own.

Generic over adapters: the adapter's ``simulator(switch)`` over the demo population
(``cti_fsm.switch.demo_switch``), printed at start (user names, devices, groups, rights:
never passwords), until Ctrl-C. ``--control-port`` serves the simulator's control
(``cti_fsm.simulator_control``: make a call arrive, have the customer answer or hang up,
drop a link, send a malformed frame) as JSON over HTTP; ``--control-stdin`` reads the same
commands from standard input, one a line, and answers each with a JSON line.
``--wrap-up S`` and ``--ring-timeout S`` turn on the switch's after-call work and ring
timeout for every group (off by default).
"""

from __future__ import annotations

import argparse
import errno
import functools
import signal
import sys
from typing import Any, TextIO

import trio

from ..adapter import AdapterNotFound, adapter_names, load_adapter
from ..simulator_control import OPERATIONS, SimulatorControl
from ..simulator_control_io import serve_http, serve_lines
from ..simulator_server import SimulatorServer
from ..switch import Switch, demo_switch
from ._args import port, refuse, sole

HELP = "run an adapter's simulator (a vendor server over the switch model) until Ctrl-C"


def _epilog() -> str:
    ops = "\n".join(f"  {op.usage()}\n      {op.summary}" for op in OPERATIONS.values())
    return f"""\
control (--control-port N: JSON over HTTP on HOST:N; --control-stdin: a command a line):
{ops}

over HTTP, POST /<op> with the parameters as a JSON object; GET / lists the operations:
  curl -s -X POST http://127.0.0.1:8766/call -d '{{"group": "sales"}}'
  -> {{"ok": true, "op": "call", "call": "c1", "ringing": "1001", "queued": false}}
  status 200 done, 400 bad request, 404 unknown operation, 409 refused by the switch
  (its code in "error", e.g. unknown_call), 501 not available for this simulator.
on standard input, the same as words or as a JSON object; each answer is a JSON line:
  call group=sales caller=5550100
  hangup agent=1001
demo accounts: agents 1001, 1002, 1003 and supervisor 9001, password pw<id> (pw1001).
"""


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the subcommand's arguments."""
    parser.add_argument(
        "--vendor",
        required=True,
        help=f"adapter whose simulator to run (installed: {', '.join(adapter_names()) or 'none'})",
    )
    parser.add_argument("--port", type=port, default=0, help="port to listen on (0: any free one)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument(
        "--control-port",
        type=int,
        metavar="N",
        help="serve the control as JSON over HTTP on HOST:N (0: any free port; printed)",
    )
    parser.add_argument(
        "--control-stdin",
        action="store_true",
        help="read control commands from standard input, one a line (answers on stdout)",
    )
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
    parser.epilog = _epilog()
    parser.formatter_class = argparse.RawDescriptionHelpFormatter


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
    control_port: int | None = None,
    control_stdin: TextIO | None = None,
    wrap_up: float = 0.0,
    ring_timeout: float = 0.0,
    task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run ``vendor``'s simulator over the demo population until cancelled; started with
    the simulator once it listens. ``wrap_up``, ``ring_timeout``: seconds of the switch's
    after-call work and ring timeout, for every group (0: off).

    Args:
        control_port: serve the control over HTTP on ``host:control_port`` (0: any port),
            printed as ``control listening on http://HOST:PORT``.
        control_stdin: read control commands from this file, one a line; answers go to
            ``out``, one JSON line each.

    Raises:
        AdapterNotFound: no such adapter.
        OSError: an address cannot be listened on.
    """
    adapter = load_adapter(vendor)
    switch = demo_switch()
    for group in switch.group_ids:
        switch.set_wrap_up(group, wrap_up)
        switch.set_ring_timeout(group, ring_timeout)
    simulator = adapter.simulator(switch)
    # link drops and malformed frames need the shared server shell; a simulator of
    # another build still gets the switch's stimuli
    server = simulator if isinstance(simulator, SimulatorServer) else None
    control = SimulatorControl(switch, server)
    async with trio.open_nursery() as nursery:
        bound = await nursery.start(simulator.serve, host, port)
        where = getattr(simulator, "url", f"{host}:{bound}")
        out.write(f"{vendor} simulator listening on {where}\n")
        if control_port is not None:
            try:
                control_bound = await nursery.start(serve_http, control, host, control_port)
            except OSError as exc:
                raise ControlPortUnusable(exc.errno, exc.strerror) from exc
            out.write(f"control listening on http://{host}:{control_bound}\n")
        describe(switch, out)
        if wrap_up or ring_timeout:
            out.write(
                f"  after-call work: {wrap_up:g} s after ACD calls;"
                f" ring timeout: {ring_timeout:g} s (0: off)\n"
            )
        out.write("passwords: see cti_fsm.switch.demo_switch (demo accounts); Ctrl-C stops\n")
        out.flush()
        if control_stdin is not None:
            source = control_stdin

            async def read_line() -> str:
                # abandoned on Ctrl-C: a thread blocked reading a terminal must not hold
                # the simulator open until Enter is pressed
                return await trio.to_thread.run_sync(source.readline, abandon_on_cancel=True)

            def write(text: str) -> None:
                out.write(text)
                out.flush()

            nursery.start_soon(serve_lines, control, read_line, write)
        task_status.started(simulator)


async def _until_stopped(
    vendor: str,
    host: str,
    port: int,
    *,
    control_port: int | None = None,
    control_stdin: TextIO | None = None,
    wrap_up: float = 0.0,
    ring_timeout: float = 0.0,
) -> None:
    """``serve`` until Ctrl-C or SIGTERM, then stop it (its clients' links closed)."""
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            await nursery.start(
                functools.partial(
                    serve,
                    vendor,
                    host,
                    port,
                    control_port=control_port,
                    control_stdin=control_stdin,
                )
            )
            async for _ in signals:
                nursery.cancel_scope.cancel()
                break


class ControlPortUnusable(OSError):
    """The control's port cannot be listened on (the simulator's own port could)."""


#: listen errors that are the port's fault (taken, or privileged); others are the host's
_PORT_ERRORS = frozenset({errno.EADDRINUSE, errno.EACCES})


def run(args: argparse.Namespace) -> int:
    """Serve until Ctrl-C or SIGTERM (0); 2 if the adapter is unknown or the address is
    unusable, naming the argument."""
    try:
        trio.run(
            functools.partial(
                _until_stopped,
                args.vendor,
                args.host,
                args.port,
                control_port=args.control_port,
                control_stdin=sys.stdin if args.control_stdin else None,
                wrap_up=args.wrap_up,
                ring_timeout=args.ring_timeout,
            )
        )
    except BaseException as exc:
        error = sole(exc)
        if isinstance(error, KeyboardInterrupt):  # before the signal receiver was set up
            return 0
        if isinstance(error, AdapterNotFound):
            return refuse("simulate", "--vendor", str(error))
        if isinstance(error, OSError):
            which = "--port" if error.errno in _PORT_ERRORS else "--host"
            bound = args.port
            if isinstance(error, ControlPortUnusable):
                which, bound = "--control-port", args.control_port
            reason = error.strerror or str(error)
            return refuse("simulate", which, f"cannot listen on {args.host}:{bound}: {reason}")
        raise
    return 0
