"""Our agent against a peer library, panoramisk (asyncio AMI client), doing the same AMI
round trips against the same Asterisk AMI simulator; with ``--vendor freeswitch-esl``, against
the Python ESL clients on the FreeSWITCH Event Socket simulator.

    python benchmarks/peers.py [--vendor asterisk-ami|freeswitch-esl] [--round-trips N]
                               [--rounds R] [--profile]

Three processes besides this one, all on 127.0.0.1:

1. The AMI simulator (``_ami_server.py``: ``AmiSimulator`` over the demo switch) in a
   process of its own, on port 0.
2. Three client processes (``_peer_client.py``), one per client, so that each one's CPU
   time (``time.process_time``, user + system, within its own process) is its own:
   - **panoramisk** logs in as demo agent 1001, joins queue ``sales`` (``QueueAdd``) and
     sends ``QueuePause`` for member ``PJSIP/8001`` with ``Paused`` true and false
     alternately, each awaited until its response and the ``QueueMemberPause`` event with
     the new ``Paused`` value have arrived;
   - **our agent**: ``async with open_agent("asterisk-ami", url, "PJSIP/8001", ...)``,
     ``check_in`` if needed, then ``await agent.pause()`` / ``await agent.restore()``
     alternately, which return on that same event;
   - **bare trio**: the same round trips written straight on ``trio.SocketStream``, a
     reply found by searching the bytes (no codec, protocol or chart): the floor for any
     trio client, which splits the agent's distance from panoramisk into trio's and ours.

The two take turns, ``--rounds`` times (the order swapped every round), so a burst of load
from elsewhere hits both alike; only one client is connected at a time, so the simulator
does the same work for either and neither reads the other's events. Each turn connects,
logs in, warms up, times ``--round-trips`` round trips and logs off. Figures are each
client's best turn (the least disturbed): round trips per second by the wall clock, and
microseconds of the client process's CPU per round trip. ``--profile`` adds two more turns
of our agent, reported on standard error in microseconds per round trip, the simulator
process profiled over each as well: one under cProfile (own time by area and the top 25
functions by own time; cProfile's per-call cost inflates call-heavy code, and its clock
counts waiting in ``epoll`` and in a ``send`` that hands the CPU to the simulator), and
one of ``--sample-round-trips`` under a CPU-weighted sampler (``_bench.CpuSampler``: no
per-call cost, waiting costs nothing, scaled to the CPU measured). The last line is::

    agent_per_panoramisk=R agent_rt_per_s=N panoramisk_rt_per_s=M agent_cpu_us=C
    panoramisk_cpu_us=D bare_trio_per_panoramisk=T bare_trio_cpu_us=E

(one line, wrapped here)
with R = N / M and T the bare trio client's rate over panoramisk's.

``--vendor freeswitch-esl``: the ESL simulator (``EslSimulator`` over the demo switch) in
its own process, and three clients, each in its own: **our agent** (``open_agent
("freeswitch-esl", ...)``, ``pause()``/``restore()``), **python-ESL** (FreeSWITCH's own
libesl, C behind SWIG) and **greenswitch** (gevent), each logged in with ``userauth`` as
agent 1001 and sending ``bgapi callcenter_config agent set status 1001@default`` with
``'On Break'`` and ``Available`` alternately, each awaited until the ``agent-status-change``
event with that status. The peer is the faster of the two in the same run; the last line::

    agent_per_peer=R agent_rt_per_s=N peer_rt_per_s=M peer=NAME
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress

import attrs
from _bench import key_values

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = os.path.join(HERE, "_ami_server.py")
CLIENT = os.path.join(HERE, "_peer_client.py")
CLIENTS = ("agent", "panoramisk", "bare-trio")
#: The clients of each vendor's run: our agent first, then the peers.
VENDOR_CLIENTS = {
    "asterisk-ami": CLIENTS,
    "freeswitch-esl": ("esl-agent", "python-esl", "greenswitch"),
}
#: Untimed round trips at the start of each turn (after connecting).
WARMUP = 200
#: Seconds a child process has to start, and to end once told to.
START_TIMEOUT = 30.0


@attrs.define
class Child:
    """A child process spoken to in lines over its standard input and output."""

    name: str
    process: subprocess.Popen[str]

    def line(self) -> str:
        """Its next line of output.

        Raises:
            RuntimeError: it ended instead.
        """
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            code = self.process.wait(timeout=START_TIMEOUT)
            raise RuntimeError(f"the {self.name} process ended (exit code {code})")
        return line.strip()

    def ask(self, command: str) -> str:
        """Send one line; the answer line.

        Raises:
            RuntimeError: the child answered with an error or ended.
        """
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        answer = self.line()
        if not answer.startswith(("ok", "done", "ready")):
            raise RuntimeError(f"the {self.name} process: {answer}")
        return answer


@contextmanager
def child(name: str, argv: Sequence[str]) -> Iterator[Child]:
    """Start a child process; on the way out close its stdin (it ends by itself when it
    sees that), and kill it if it has not ended soon after."""
    process = subprocess.Popen(
        [sys.executable, *argv],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=HERE,
    )
    try:
        yield Child(name, process)
    finally:
        if process.stdin is not None:
            with suppress(OSError):  # it is gone already
                process.stdin.close()
        try:
            process.wait(timeout=START_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def figures(answer: str) -> dict[str, str]:
    """``done a=1 b=2`` as ``{"a": "1", "b": "2"}``."""
    return dict(word.split("=", 1) for word in answer.split()[1:] if "=" in word)


@attrs.frozen
class Turns:
    """One client's timed turns: (round trips, wall seconds, CPU seconds) each."""

    name: str
    runs: tuple[tuple[int, float, float], ...]

    @property
    def rates(self) -> list[float]:
        return [n / wall for n, wall, _ in self.runs]

    @property
    def cpu_us(self) -> list[float]:
        return [1e6 * cpu / n for n, _, cpu in self.runs]

    @property
    def best(self) -> float:
        return max(self.rates)

    @property
    def best_cpu_us(self) -> float:
        return min(self.cpu_us)


def run(args: argparse.Namespace) -> tuple[dict[str, Turns], str]:
    """Start the simulator and the clients, take the turns, stop them all."""
    names = VENDOR_CLIENTS[args.vendor]
    with ExitStack() as stack:
        server = stack.enter_context(child("simulator", [SERVER, "--vendor", args.vendor]))
        ready = figures(server.line())
        if "port" not in ready:
            raise RuntimeError(f"the simulator process said {ready!r}, not ready")
        url = f"tcp://127.0.0.1:{ready['port']}"
        clients = {
            name: stack.enter_context(
                child(f"{name} client", [CLIENT, "--client", name, "--url", url])
            )
            for name in names
        }
        warmup = min(WARMUP, args.round_trips)
        runs: dict[str, list[tuple[int, float, float]]] = {name: [] for name in names}
        for i in range(args.rounds):
            for name in names if i % 2 == 0 else names[::-1]:
                done = figures(clients[name].ask(f"run {args.round_trips} {warmup}"))
                runs[name].append((int(done["n"]), float(done["wall"]), float(done["cpu"])))
        if args.profile:
            # the simulator's profiles also cover each turn's login, warm-up and logoff
            for probe, n in (("profile", args.round_trips), ("sample", args.sample_round_trips)):
                server.ask(probe)
                clients[names[0]].ask(f"run {n} {warmup} {probe}")
                server.ask(f"report {n + warmup}")
    return {name: Turns(name, tuple(r)) for name, r in runs.items()}, url


def report_esl(turns: dict[str, Turns], url: str, args: argparse.Namespace) -> None:
    """The ESL run's table and last line: our agent against the faster peer."""
    agent = turns["esl-agent"]
    peer = max((turns["python-esl"], turns["greenswitch"]), key=lambda t: t.best)
    print(
        "peers benchmark: ESL callcenter_config agent set status round trips,"
        f" Python {sys.version.split()[0]}"
    )
    print(
        f"simulator at {url} in its own process; each client in its own; {args.rounds}"
        f" turns each of {args.round_trips} round trips (+{min(WARMUP, args.round_trips)}"
        " warm-up), in turns"
    )
    print(f"{'':12} {'best rt/s':>10} {'median':>8} {'cpu us/rt':>10} {'median':>8}  turns rt/s")
    for t in (agent, turns["python-esl"], turns["greenswitch"]):
        print(
            f"{t.name:12} {t.best:10,.0f} {statistics.median(t.rates):8,.0f}"
            f" {t.best_cpu_us:10.1f} {statistics.median(t.cpu_us):8.1f} "
            + " ".join(f"{r:,.0f}" for r in t.rates)
        )
    print(
        f"agent / {peer.name} (the faster peer): {agent.best / peer.best:.2f} by rate,"
        f" {peer.best_cpu_us / agent.best_cpu_us:.2f} by CPU per round trip"
    )
    if args.profile:
        print("profiles (agent client process, simulator process): on standard error")
    figures = key_values(
        agent_per_peer=agent.best / peer.best,
        agent_rt_per_s=agent.best,
        peer_rt_per_s=peer.best,
    )
    print(f"{figures} peer={peer.name}")


def report(turns: dict[str, Turns], url: str, args: argparse.Namespace) -> None:
    if args.vendor == "freeswitch-esl":
        report_esl(turns, url, args)
        return
    agent, peer, bare = turns["agent"], turns["panoramisk"], turns["bare-trio"]
    print(f"peers benchmark: AMI QueuePause round trips, Python {sys.version.split()[0]}")
    print(
        f"simulator at {url} in its own process; each client in its own; {args.rounds}"
        f" turns each of {args.round_trips} round trips (+{min(WARMUP, args.round_trips)}"
        " warm-up), in turns"
    )
    print(f"{'':12} {'best rt/s':>10} {'median':>8} {'cpu us/rt':>10} {'median':>8}  turns rt/s")
    for t in (agent, peer, bare):
        print(
            f"{t.name:12} {t.best:10,.0f} {statistics.median(t.rates):8,.0f}"
            f" {t.best_cpu_us:10.1f} {statistics.median(t.cpu_us):8.1f} "
            + " ".join(f"{r:,.0f}" for r in t.rates)
        )
    print(
        f"agent / panoramisk: {agent.best / peer.best:.2f} by rate,"
        f" {peer.best_cpu_us / agent.best_cpu_us:.2f} by CPU per round trip"
    )
    if args.profile:
        print("profiles (agent client process, simulator process): on standard error")
    print(
        key_values(
            agent_per_panoramisk=agent.best / peer.best,
            agent_rt_per_s=agent.best,
            panoramisk_rt_per_s=peer.best,
            agent_cpu_us=agent.best_cpu_us,
            panoramisk_cpu_us=peer.best_cpu_us,
            bare_trio_per_panoramisk=bare.best / peer.best,
            bare_trio_cpu_us=bare.best_cpu_us,
        )
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0],
        epilog="The last line: agent_per_panoramisk=R agent_rt_per_s=N panoramisk_rt_per_s=M"
        " agent_cpu_us=C panoramisk_cpu_us=D bare_trio_per_panoramisk=T bare_trio_cpu_us=E",
    )
    parser.add_argument(
        "--vendor",
        choices=sorted(VENDOR_CLIENTS),
        default="asterisk-ami",
        help="asterisk-ami: against panoramisk; freeswitch-esl: against python-ESL and"
        " greenswitch (the last line then: agent_per_peer=R agent_rt_per_s=N"
        " peer_rt_per_s=M peer=NAME)",
    )
    parser.add_argument(
        "--round-trips", type=int, default=2000, help="timed round trips per turn (even)"
    )
    parser.add_argument("--rounds", type=int, default=5, help="turns of each client")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="one more turn of our agent under cProfile (top 25 by own time, to stderr),"
        " the simulator process profiled alongside",
    )
    parser.add_argument(
        "--sample-round-trips",
        type=int,
        default=20000,
        help="round trips of the sampled --profile turn (the sampler ticks at the kernel's"
        " 250 Hz or so: it needs seconds of CPU)",
    )
    args = parser.parse_args(argv)
    if args.round_trips < 2 or args.rounds < 1 or args.sample_round_trips < 2:
        parser.error("--round-trips and --sample-round-trips must be at least 2, --rounds 1")
    args.round_trips += args.round_trips & 1  # even: each turn ends where it began
    args.sample_round_trips += args.sample_round_trips & 1
    turns, url = run(args)
    report(turns, url, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
