"""README's gateway section runs as written: its configuration (pointed at this test's
broker and simulator) served by ``cti-fsm gateway``, its ``cti_fsm.remote`` program run
against it."""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import re
import subprocess
import sys
from pathlib import Path

import nats

from cti_fsm.testing import simulator_process

README = (pathlib.Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


async def until_connected(nats_url: str) -> None:
    """Wait until the gateway's health says it holds its agent, logged in."""
    nc = await nats.connect(nats_url)
    try:
        health = await nc.subscribe("cti.acme.gateway.gw-1.health")
        while True:
            report = json.loads((await health.next_msg(timeout=10)).data)
            if report["connected"] == 1:
                return
    finally:
        await nc.close()


def test_the_readme_gateway_and_remote_program_run(tmp_path: Path, nats_url: str) -> None:
    config = next(
        b for b in re.findall(r"```yaml\n(.*?)\n```", README, re.S) if "# gateway.yaml" in b
    )
    shell = next(
        b for b in re.findall(r"```sh\n(.*?)\n```", README, re.S) if "cti-fsm gateway" in b
    )
    program = next(
        c for c in re.findall(r"```python\n(.*?)\n```", README, re.S) if "open_remote_agent" in c
    )
    assert "nats: nats://127.0.0.1:4222" in config and "url: ws://127.0.0.1:8765/" in config
    assert "CTI_PASSWORD_1001=pw1001 cti-fsm gateway --config gateway.yaml" in shell
    with simulator_process("csta-ws") as sim:
        path = tmp_path / "gateway.yaml"
        path.write_text(
            config.replace("nats://127.0.0.1:4222", nats_url).replace(
                "ws://127.0.0.1:8765/", sim.url
            )
        )
        env = {**os.environ, "CTI_PASSWORD_1001": "pw1001", "NATS_URL": nats_url}
        command = [sys.executable, "-m", "cti_fsm.cli", "gateway", "--config", str(path)]
        with subprocess.Popen(
            [*command, "--name", "gw-1"], stdout=subprocess.PIPE, text=True, env=env
        ) as gateway:
            try:
                assert gateway.stdout is not None
                assert gateway.stdout.readline().startswith("gateway gw-1 serving acme")
                asyncio.run(until_connected(nats_url))
                ran = subprocess.run(
                    [sys.executable, "-c", program],
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=30,
                    check=True,
                )
            finally:
                gateway.terminate()
                gateway.wait(15)
            assert gateway.returncode == 0
    lines = ran.stdout.splitlines()
    assert lines[-3].startswith("connected allows disconnect, check_in"), lines
    assert lines[-2:] == ["heard onCheckIn", "checked_in.available.idle"], lines
