"""``cti-fsm simulate`` in a process of its own (``cti_fsm.testing.simulator_process``), for
tests of programs that use the library (an asyncio web app, a Django view, a script): the
simulator and its HTTP control on 127.0.0.1, on ports the OS picks, stopped when the block
ends.

::

    with simulator_process("csta-ws") as sim:
        run_my_program(sim.url)             # ws://127.0.0.1:PORT/
        sim.control("call", group="sales")  # {"ok": True, "call": "c1", ...}
"""

from __future__ import annotations

import contextlib
import json
import re
import signal
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import IO, Any

import attrs

__all__ = ["SimulatorProcess", "simulator_process"]

_LISTENING = re.compile(r" simulator listening on (\S+)$")
_CONTROL = re.compile(r"^control listening on (\S+)$")


@attrs.frozen
class SimulatorProcess:
    """A running ``cti-fsm simulate``.

    Attributes:
        url: where agents connect.
        control_url: the HTTP control's base URL.
        process: the process.
    """

    url: str
    control_url: str
    process: subprocess.Popen[str] = attrs.field(repr=False)

    def control(self, op: str, /, **params: Any) -> dict[str, Any]:
        """Send one control request (``POST /<op>``) and return its JSON answer, refused
        or not (``answer["ok"]`` says which)."""
        request = urllib.request.Request(
            f"{self.control_url}/{op}",
            data=json.dumps(params).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                answer: dict[str, Any] = json.load(response)
        except urllib.error.HTTPError as exc:
            answer = json.load(exc)
        return answer


@contextlib.contextmanager
def simulator_process(
    vendor: str = "csta-ws", *, timeout: float = 10.0
) -> Iterator[SimulatorProcess]:
    """Start ``cti-fsm simulate --vendor VENDOR --port 0 --control-port 0`` and yield it
    once it listens; interrupt it (as Ctrl-C does) on exit, and kill it if it has not
    stopped ``timeout`` seconds later.

    Raises:
        RuntimeError: the simulator exited before it listened (its stderr attached).
    """
    command = [sys.executable, "-m", "cti_fsm.cli", "simulate", "--vendor", vendor]
    command += ["--port", "0", "--control-port", "0"]
    # stderr to a file, not a pipe: a simulator logging warnings must never block on it
    with (
        tempfile.TemporaryFile("w+") as errors,
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, text=True) as process,
    ):
        try:
            yield _listening(process, errors)
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(timeout)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def _listening(process: subprocess.Popen[str], errors: IO[str]) -> SimulatorProcess:
    """The addresses the simulator prints once it listens.

    Raises:
        RuntimeError: it exited first.
    """
    url = control_url = None
    assert process.stdout is not None
    while url is None or control_url is None:
        line = process.stdout.readline().rstrip("\n")
        if not line and process.poll() is not None:
            process.wait()
            errors.seek(0)
            raise RuntimeError(f"cti-fsm simulate exited: {errors.read()}")
        if found := _LISTENING.search(line):
            url = found.group(1)
        elif found := _CONTROL.match(line):
            control_url = found.group(1)
    return SimulatorProcess(url, control_url, process)
