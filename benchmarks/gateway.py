"""The gateway over NATS JetStream, end to end: a csta-ws simulator with N agents, G
``cti-fsm gateway`` processes sharing them, one subscriber following every agent's stream.

    python benchmarks/gateway.py --agents N --gateways G [--rate R] [--lease S]

1. A real nats-server with JetStream (``cti_fsm.testing.nats_server``) and the simulator
   of ``scale.py`` (``_scale_server.py``) start; G gateways start together and split the
   agents by their leases; the subscriber checks every agent in by request/reply.
2. Baseline: the same number of bare JetStream messages, published at the same rate from
   this process and received by the same kind of subscriber: the broker's own floor.
3. Offer: the simulator offers each agent one inbound call, R a second; the subscriber
   stamps each agent's ``onCallInRing`` event on arrival. ``p99_offer_to_subscriber_ms``
   is the 99th percentile of offer (the simulator's monotonic stamp) to arrival: through
   the vendor protocol, the gateway's agent, the crossing to its NATS client, the stream.
4. Failover: the gateway holding the most agents is killed (SIGKILL); ``failover_s`` is
   the time from the kill until every one of its agents has announced, from another
   gateway, that its link is back (a lease lapses after ``--lease`` seconds).
5. The subscriber's stream, per agent: ``lost`` counts sequence numbers skipped,
   ``doubled`` those seen twice.

Last line::

    agents=N gateways=G p99_offer_to_subscriber_ms=P failover_s=F lost=0 doubled=0 \
baseline_p99_ms=B p99_per_baseline=X
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import nats
from nats.js.api import DeliverPolicy, StreamConfig

from cti_fsm.gateway.wire import decode_event
from cti_fsm.testing.nats_server import nats_server

HERE = Path(__file__).resolve().parent
TENANT = "bench"
#: how long any one phase may take before the run is called failed
PHASE_TIMEOUT = 300.0


def agent_id(i: int) -> str:
    """The simulator's ``i``-th agent (as ``_scale_server.py`` names them)."""
    return f"a{i:05d}"


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile of ``values`` (nearest rank)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Subscriber:
    """Every agent's events, as a business service following the stream sees them."""

    def __init__(self) -> None:
        self.seqs: dict[str, list[int]] = {}
        self.rang: dict[str, float] = {}
        self.back: dict[str, tuple[str, float]] = {}
        self.holder: dict[str, str] = {}
        self.events = 0

    async def on_msg(self, msg: nats.aio.msg.Msg) -> None:
        now = time.monotonic()
        event = decode_event(msg.data)
        self.events += 1
        self.seqs.setdefault(event.agent, []).append(event.seq)
        self.holder[event.agent] = event.gateway
        note = event.notification
        if note is None:
            return
        if note.name == "onCallInRing":
            self.rang.setdefault(event.agent, now)
        elif note.name == "onConnect":
            self.back[event.agent] = (event.gateway, now)

    def lost_and_doubled(self) -> tuple[int, int]:
        lost = doubled = 0
        for seqs in self.seqs.values():
            doubled += len(seqs) - len(set(seqs))
            unique = sorted(set(seqs))
            lost += (unique[-1] - unique[0] + 1) - len(unique)
        return lost, doubled


async def until(check: object, timeout: float, what: str) -> None:
    """Wait until ``check()`` is true.

    Raises:
        RuntimeError: not within ``timeout`` seconds (``what`` says what was awaited).
    """
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


class Control:
    """The simulator's line control channel."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def ask(self, line: str) -> str:
        self.writer.write(line.encode() + b"\n")
        await self.writer.drain()
        answer = await asyncio.wait_for(self.reader.readline(), PHASE_TIMEOUT)
        return answer.decode().strip()


def start_gateways(config: Path, count: int) -> list[subprocess.Popen[str]]:
    """Start ``count`` gateways at once; wait until each is serving."""
    command = [sys.executable, "-m", "cti_fsm.cli", "gateway", "--config", str(config)]
    procs = [
        subprocess.Popen(
            [*command, "--name", f"gw-{i}"],
            stdout=subprocess.PIPE,
            text=True,
            stdin=subprocess.DEVNULL,
        )
        for i in range(count)
    ]
    for proc in procs:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if "serving" not in line:
            raise RuntimeError(f"a gateway did not start: {line!r}")
    return procs


async def baseline(nc: nats.NATS, count: int, rate: float) -> float:
    """p99 of bare JetStream publish -> subscriber, ``count`` messages at ``rate``, ms."""
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name="BASELINE", subjects=["baseline.*"]))
    got: dict[int, float] = {}
    sent: dict[int, float] = {}

    async def received(msg: nats.aio.msg.Msg) -> None:
        got[int(msg.data)] = time.monotonic()

    sub = await js.subscribe(
        "baseline.*", cb=received, ordered_consumer=True, deliver_policy=DeliverPolicy.NEW
    )
    start = time.monotonic()
    for i in range(count):
        due = start + i / rate
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        sent[i] = time.monotonic()
        await js.publish_async(
            f"baseline.{i % 100}", str(i).encode(), headers={"Nats-Msg-Id": str(i)}
        )
    await until(lambda: len(got) >= count, PHASE_TIMEOUT, "the baseline messages")
    await sub.unsubscribe()
    return percentile([1e3 * (got[i] - sent[i]) for i in sent], 0.99)


async def run(args: argparse.Namespace) -> str:
    n, g = args.agents, args.gateways
    work = Path(tempfile.mkdtemp(prefix="cti-gateway-bench-"))
    with nats_server(work / "js") as url:
        sim = subprocess.Popen(
            [sys.executable, str(HERE / "_scale_server.py"), "--agents", str(n)],
            stdout=subprocess.PIPE,
            stdin=subprocess.PIPE,
            text=True,
        )
        gateways: list[subprocess.Popen[str]] = []
        try:
            assert sim.stdout is not None
            ready = dict(w.split("=") for w in sim.stdout.readline().split()[1:])
            secrets = work / "secrets.yaml"
            secrets.write_text("".join(f'"{agent_id(i)}": "pw{i:05d}"\n' for i in range(n)))
            os.chmod(secrets, 0o600)
            config = work / "gateway.yaml"
            config.write_text(
                f"nats: {url}\ntenant: {TENANT}\nvendor: csta-ws\n"
                f"url: ws://127.0.0.1:{ready['ws_port']}/\nlease_seconds: {args.lease}\n"
                "secrets_file: secrets.yaml\nagents:\n"
                + "".join(f'  - id: "{agent_id(i)}"\n' for i in range(n))
            )
            # the offer times come back as one JSON line of every agent's stamp
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", int(ready["control_port"]), limit=64 * 1024 * 1024
            )
            control = Control(reader, writer)

            nc = await nats.connect(url)
            js = nc.jetstream()
            sub = Subscriber()
            t0 = time.monotonic()
            gateways = start_gateways(config, g)
            await until(lambda: js is not None, 1, "")
            # the stream exists once a gateway has connected
            follow = await js.subscribe(
                f"cti.{TENANT}.agent.*.evt",
                cb=sub.on_msg,
                ordered_consumer=True,
                deliver_policy=DeliverPolicy.ALL,
                pending_msgs_limit=10 * n + 1000,
            )
            await until(lambda: len(sub.back) >= n, PHASE_TIMEOUT, "every agent to log in")
            connect_s = time.monotonic() - t0
            shares = sorted(
                sum(1 for gw in sub.holder.values() if gw == f"gw-{i}") for i in range(g)
            )
            print(
                f"{n} agents logged in through {g} gateways in {connect_s:.2f}s (shares {shares})",
                flush=True,
            )

            limit = asyncio.Semaphore(256)

            async def check_in(agent: str) -> None:
                async with limit:
                    body = json.dumps(
                        {"command": "check_in", "args": {"group_ids": "sales"}}
                    ).encode()
                    reply = json.loads(
                        (await nc.request(f"cti.{TENANT}.agent.{agent}.cmd", body, timeout=60)).data
                    )
                    if not reply.get("ok"):
                        raise RuntimeError(f"{agent}: check_in refused: {reply}")

            t1 = time.monotonic()
            await asyncio.gather(*(check_in(agent_id(i)) for i in range(n)))
            print(f"checked in by request/reply in {time.monotonic() - t1:.2f}s", flush=True)

            base = await baseline(nc, n, args.rate)
            print(f"baseline: bare JetStream publish -> subscriber p99 {base:.2f} ms", flush=True)

            answer = await control.ask(f"offer {args.rate:g}")
            offered = json.loads(await control.ask("offers"))
            await until(lambda: all(a in sub.rang for a in offered), PHASE_TIMEOUT, "every ring")
            latencies = [1e3 * (sub.rang[a] - t) for a, t in offered.items()]
            p99 = percentile(latencies, 0.99)
            print(
                f"offer ({answer}): p50 {percentile(latencies, 0.5):.2f} ms"
                f"  p99 {p99:.2f} ms  max {max(latencies):.2f} ms",
                flush=True,
            )

            counts = {f"gw-{i}": 0 for i in range(g)}
            for gw in sub.holder.values():
                counts[gw] = counts.get(gw, 0) + 1
            victim = max(counts, key=lambda k: counts[k])
            theirs = [a for a, gw in sub.holder.items() if gw == victim]
            index = int(victim.split("-")[1])
            killed_at = time.monotonic()
            gateways[index].send_signal(signal.SIGKILL)
            gateways[index].wait()

            def taken_over() -> bool:
                return all(
                    a in sub.back and sub.back[a][0] != victim and sub.back[a][1] > killed_at
                    for a in theirs
                )

            await until(taken_over, PHASE_TIMEOUT, "the killed gateway's agents to come back")
            failover = max(sub.back[a][1] for a in theirs) - killed_at
            print(
                f"killed {victim} holding {len(theirs)} agents: all back in {failover:.2f}s",
                flush=True,
            )
            await asyncio.sleep(1.0)  # the last events of the takeover arrive
            lost, doubled = sub.lost_and_doubled()
            print(f"subscriber: {sub.events} events", flush=True)
            del follow  # closed with the connection
            await nc.close()
            await control.ask("quit")
            writer.close()
        finally:
            for proc in gateways:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            for proc in gateways:
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            if sim.poll() is None:
                sim.kill()
            sim.wait()
    return (
        f"agents={n} gateways={g} p99_offer_to_subscriber_ms={p99:.2f} failover_s={failover:.2f}"
        f" lost={lost} doubled={doubled} baseline_p99_ms={base:.2f}"
        f" p99_per_baseline={p99 / base:.2f}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--agents", type=int, default=1000, help="agents in the simulator")
    parser.add_argument("--gateways", type=int, default=4, help="gateway processes")
    parser.add_argument("--rate", type=float, default=1000.0, help="calls offered a second")
    parser.add_argument("--lease", type=float, default=3.0, help="the gateways' lease seconds")
    args = parser.parse_args(argv)
    if args.agents < 1 or args.gateways < 2:
        parser.error("--agents must be 1 or more, --gateways 2 or more (one is killed)")
    print(asyncio.run(run(args)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
