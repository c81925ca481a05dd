"""The benchmarks run end to end with tiny parameters and print their last line in
the agreed ``key=value`` format. No timing is asserted: only that each figure is a
positive number, that the figures agree with each other, and that ``scale.py`` leaves no
simulator process behind, whether it finishes or is killed."""

from __future__ import annotations

import os
import pathlib
import re
import signal
import subprocess
import sys
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BENCHMARKS = ROOT / "benchmarks"
NUMBER = r"([0-9]+(?:\.[0-9]+)?(?:e[-+]?[0-9]+)?)"
WIRE_LINE = re.compile(
    rf"wire_per_raw_ws={NUMBER} agent_round_trips_per_s={NUMBER} raw_ws_round_trips_per_s={NUMBER}"
    rf" agent_replay_per_raw_ws={NUMBER}"
)
SCALE_LINE = re.compile(
    rf"agents=([0-9]+) connect_all_s={NUMBER} kib_per_agent={NUMBER} p99_notify_ms={NUMBER}"
    rf" burst_p99_ms={NUMBER} burst_frozen_p99_ms={NUMBER}"
)
PEERS_LINE = re.compile(
    rf"agent_per_panoramisk={NUMBER} agent_rt_per_s={NUMBER} panoramisk_rt_per_s={NUMBER}"
    rf" agent_cpu_us={NUMBER} panoramisk_cpu_us={NUMBER}"
    rf" bare_trio_per_panoramisk={NUMBER} bare_trio_cpu_us={NUMBER}"
)
FLOWS_LINE = re.compile(
    rf"examples_to_full_coverage=([0-9]+) transitions=([0-9]+)/([0-9]+) flows_per_s={NUMBER}"
)
SPEC_LOAD_LINE = re.compile(
    rf"states=([0-9]+) transitions=([0-9]+) spec_load_s={NUMBER} compose_s={NUMBER}"
    rf" load_per_compose={NUMBER} growth_x2={NUMBER}"
)
BRIDGE_LINE = re.compile(
    rf"asyncio_per_trio={NUMBER} sync_per_trio={NUMBER} trio_rt_per_s={NUMBER}"
    rf" asyncio_rt_per_s={NUMBER} sync_rt_per_s={NUMBER}"
)
ENGINE_KEYS = ("engine_per_dict", "engine_per_transitions_hsm", "events_per_s")
STARTED = re.compile(r"simulator process pid ([0-9]+) started")


def run_benchmark(script: str, *args: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()


def gone(pid: int) -> bool:
    """True once ``pid`` has exited (a zombie nobody reaped counts as exited)."""
    try:
        status = pathlib.Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in status


@pytest.mark.parametrize("vendor", ["csta-ws", "asterisk-ami"])
def test_wire_prints_its_figures(vendor: str) -> None:
    lines = run_benchmark("wire.py", "--vendor", vendor, "--seconds", "0.2", "--repeats", "1")
    found = WIRE_LINE.fullmatch(lines[-1])
    assert found, lines[-1]
    ratio, agent, raw, replay = (float(x) for x in found.groups())
    assert ratio > 0 and agent > 0 and raw > 0 and replay > 0
    # the ratio is the two rates' quotient, printed to three significant figures
    assert ratio == pytest.approx(agent / raw, rel=0.02)
    # the table shows the captured round trip it replayed
    assert any(line.strip().startswith(("hold ", "pause ")) for line in lines)


def test_scale_prints_its_figures_and_stops_its_simulator() -> None:
    lines = run_benchmark("scale.py", "--agents", "12", "--concurrency", "4", "--rate", "2000")
    found = SCALE_LINE.fullmatch(lines[-1])
    assert found, lines[-1]
    agents, connect, kib, p99, burst, frozen = found.groups()
    assert int(agents) == 12
    assert all(float(x) > 0 for x in (connect, kib, p99, burst, frozen))
    pid = int(next(m for m in map(STARTED.match, lines) if m).group(1))
    assert f"simulator process pid {pid} ended (exit code 0)" in lines
    assert gone(pid)


def test_peers_prints_its_figures() -> None:
    lines = run_benchmark("peers.py", "--round-trips", "6", "--rounds", "2")
    found = PEERS_LINE.fullmatch(lines[-1])
    assert found, lines[-1]
    ratio, agent, peer, agent_cpu, peer_cpu, bare, bare_cpu = (float(x) for x in found.groups())
    assert all(x > 0 for x in (ratio, agent, peer, agent_cpu, peer_cpu, bare, bare_cpu))
    # the ratio is the two rates' quotient, printed to three significant figures
    assert ratio == pytest.approx(agent / peer, rel=0.02)


def test_peers_profiles_both_processes_on_stderr() -> None:
    args = ["--round-trips", "4", "--rounds", "1", "--profile", "--sample-round-trips", "400"]
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "peers.py"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert PEERS_LINE.fullmatch(done.stdout.strip().splitlines()[-1])
    for title in ("agent client process", "AMI simulator process"):
        assert f"[{title}, cProfile]" in done.stderr
        assert f"[{title}, CPU sampler]" in done.stderr
    assert "top 25 functions by own time" in done.stderr


def test_the_simulator_process_ends_when_scale_is_killed() -> None:
    bench = subprocess.Popen(
        [sys.executable, str(BENCHMARKS / "scale.py"), "--agents", "3000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
    )
    pid = None
    try:
        assert bench.stdout is not None
        started = STARTED.match(bench.stdout.readline())
        assert started, "scale.py did not say which simulator process it started"
        pid = int(started.group(1))
        assert f"simulator process pid {pid} listening" in bench.stdout.readline()
        # no chance to clean up: the child must notice its parent is gone by itself
        os.kill(bench.pid, signal.SIGKILL)
        bench.wait(timeout=10)
        deadline = time.monotonic() + 15
        while not gone(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert gone(pid), f"simulator process {pid} outlived scale.py"
    finally:
        if bench.poll() is None:
            bench.kill()
            bench.wait()
        if pid is not None and not gone(pid):
            os.kill(pid, signal.SIGKILL)  # the test failed; leave nothing running


def test_flows_prints_its_figures() -> None:
    lines = run_benchmark(
        "flows.py", "--examples", "20", "--baseline-examples", "20", "--stock-examples", "3"
    )
    found = FLOWS_LINE.fullmatch(lines[-1])
    assert found, lines[-1]
    at, covered, total, rate = found.groups()
    # the seeded walks take every transition within the first examples, whatever the speed
    assert int(at) <= 50 and covered == total and float(rate) > 0
    seeded = next(line for line in lines if line.strip().startswith("seeded:"))
    assert f"{covered}/{total} transitions" in seeded
    assert any(line.strip().startswith("stock:") for line in lines)


def test_engine_prints_its_figures() -> None:
    lines = run_benchmark("engine.py")
    figures = dict(item.split("=", 1) for item in lines[-1].split())
    assert set(ENGINE_KEYS) <= set(figures), lines[-1]
    assert all(float(figures[k]) > 0 for k in ENGINE_KEYS)


def test_spec_load_builds_the_chart_it_says_and_prints_its_figures() -> None:
    lines = run_benchmark("spec_load.py", "--groups", "10", "--leaves", "9", "--repeats", "1")
    found = SPEC_LOAD_LINE.fullmatch(lines[-1])
    assert found is not None, lines[-1]
    states, transitions, load_s, compose_s, ratio, growth = found.groups()
    # 10 groups of 9 leaves, and a transition per leaf: the chart is what it claims
    assert (int(states), int(transitions)) == (100, 100)
    assert float(load_s) > 0 and float(compose_s) > 0 and float(growth) > 0
    assert abs(float(ratio) - float(load_s) / float(compose_s)) <= 0.05 * float(ratio)


def test_bridge_prints_its_ratios_of_the_three_clients() -> None:
    lines = run_benchmark("bridge.py", "--round-trips", "20", "--rounds", "1")
    found = BRIDGE_LINE.fullmatch(lines[-1])
    assert found, lines[-1]
    asyncio_ratio, sync_ratio, trio_rate, asyncio_rate, sync_rate = map(float, found.groups())
    assert all(x > 0 for x in (trio_rate, asyncio_rate, sync_rate))
    assert asyncio_ratio == pytest.approx(asyncio_rate / trio_rate, rel=0.02)
    assert sync_ratio == pytest.approx(sync_rate / trio_rate, rel=0.02)


BOUNDS_LINE = re.compile(
    rf"ami_per_event_ratio={NUMBER} ami_us={NUMBER} ami_base_us={NUMBER} ami_pending=([0-9]+)"
    rf" csta_per_event_ratio={NUMBER} csta_us={NUMBER} csta_base_us={NUMBER}"
    rf" csta_pending=([0-9]+)"
)


def test_bounds_ends_with_its_figures_and_holds_no_more_than_the_cap() -> None:
    lines = run_benchmark("bounds.py", "--pending", "12000", "--events", "200")
    found = BOUNDS_LINE.fullmatch(lines[-1])
    assert found, lines[-1]
    # 12000 requests never answered: each protocol keeps only its cap of them
    assert int(found.group(4)) == 10_000 and int(found.group(8)) == 10_000


FUZZ_LINE = re.compile(
    r"inputs=([0-9]+) crashes=([0-9]+) undocumented=([0-9]+) split_mismatches=([0-9]+)"
    r" moved_by_malformed=([0-9]+)"
)


def test_a_small_fuzz_run_of_every_adapter_finds_nothing() -> None:
    lines = run_benchmark("fuzz.py", "--inputs", "1500", "--seed", "7")
    found = FUZZ_LINE.fullmatch(lines[-1])
    assert found, lines[-1]
    assert found.groups() == ("1500", "0", "0", "0", "0"), "\n".join(lines)
    # every adapter in the table ran
    assert sum("inputs=1500 " in line for line in lines[:-1]) >= 2


GATEWAY_LINE = re.compile(
    rf"agents=([0-9]+) gateways=([0-9]+) p99_offer_to_subscriber_ms={NUMBER}"
    rf" failover_s={NUMBER} lost=([0-9]+) doubled=([0-9]+) baseline_p99_ms={NUMBER}"
    rf" p99_per_baseline={NUMBER}"
)


def test_gateway_benchmark_runs_tiny() -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(BENCHMARKS / "gateway.py"),
            *["--agents", "6", "--gateways", "2", "--lease", "1.5"],
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    last = result.stdout.strip().splitlines()[-1]
    found = GATEWAY_LINE.fullmatch(last)
    assert found, last
    agents, gateways, p99, failover, lost, doubled, base, ratio = found.groups()
    assert (agents, gateways, lost, doubled) == ("6", "2", "0", "0")
    assert float(p99) > 0 and float(base) > 0
    assert abs(float(ratio) - float(p99) / float(base)) < 0.01 + 0.01 * float(ratio)
    # a lease of 1.5 s lapses, a round (every 0.5 s) claims it, the agent logs back in
    assert 0 < float(failover) < 10
