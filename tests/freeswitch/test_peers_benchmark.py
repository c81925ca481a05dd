"""``benchmarks/peers.py --vendor freeswitch-esl`` runs end to end with tiny parameters and
prints its last line in the agreed format. No timing is asserted: only that the figures
are positive, that they agree with each other, and that the peer is the faster of the two
ESL clients it measured."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NUMBER = r"([0-9]+(?:\.[0-9]+)?(?:e[-+]?[0-9]+)?)"
LINE = re.compile(
    rf"agent_per_peer={NUMBER} agent_rt_per_s={NUMBER} peer_rt_per_s={NUMBER}"
    r" peer=(python-esl|greenswitch)"
)
ROW = re.compile(r"^(esl-agent|python-esl|greenswitch)\s+([0-9,]+)\s")


def test_peers_against_the_esl_clients_prints_its_figures() -> None:
    if importlib.util.find_spec("ESL") is None:
        message = "python-ESL is not installed (see .ci/run)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "peers.py"),
            "--vendor",
            "freeswitch-esl",
            "--round-trips",
            "6",
            "--rounds",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    found = LINE.fullmatch(lines[-1])
    assert found, lines[-1]
    ratio, agent, peer = (float(x) for x in found.groups()[:3])
    assert ratio == pytest.approx(agent / peer, rel=0.02)
    best = {m.group(1): float(m.group(2).replace(",", "")) for m in map(ROW.match, lines) if m}
    assert set(best) == {"esl-agent", "python-esl", "greenswitch"}
    name = found.group(4)
    assert best[name] == max(best["python-esl"], best["greenswitch"])
    assert best[name] == pytest.approx(peer, rel=0.01)
