"""What unanswered requests cost each event: the AMI and csta-ws protocols with a few
requests waiting (the baseline, measured in the same run) and with 100k never answered.

An Asterisk that stops answering must not make every later event slower (the protocol
once walked every waiting action per event) nor grow memory (it forgot none). Prints a
table, then one line::

    ami_per_event_ratio=R ami_us=U ami_base_us=B ami_pending=N csta_per_event_ratio=...

``*_per_event_ratio`` is the cost of one event with ``--pending`` requests waiting over
its cost with 10 waiting (1.0: flat); ``*_pending`` is how many the protocol still holds.

    python benchmarks/bounds.py [--pending 100000] [--events 20000]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from cti_fsm.adapter import load_adapter

USERS = {"asterisk-ami": "PJSIP/1001", "csta-ws": "1001"}


def _event(name: str, n: int) -> dict[str, Any]:
    """An event this agent's protocol maps to a signal (so each one is fully handled)."""
    if name == "asterisk-ami":
        return {
            "Event": "QueueMemberPause",
            "Interface": "PJSIP/1001",
            "Queue": "sales",
            "Paused": "1" if n % 2 else "0",
        }
    return {
        "type": "event",
        "event": "agentNotReady" if n % 2 else "agentReady",
        "params": {"agentDevice": "8001", "agentID": "1001"},
    }


def per_event_us(name: str, pending: int, events: int) -> tuple[float, int]:
    """Microseconds per event with ``pending`` requests never answered; and how many the
    protocol still holds."""
    protocol: Any = load_adapter(name).protocol(user=USERS[name], options={})
    if name == "csta-ws":
        protocol.device = "8001"
    for request_id in range(1, pending + 1):
        protocol.encode_command("pause", {"reason": "x"}, request_id)
    stream = [_event(name, n) for n in range(events)]
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for message in stream:
            protocol.receive(message)
        best = min(best, time.perf_counter() - started)
    held = len(protocol._pending if name == "asterisk-ami" else protocol._outstanding)
    return best / events * 1e6, held


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pending", type=int, default=100_000, help="requests never answered")
    parser.add_argument("--events", type=int, default=20_000, help="events timed per run")
    args = parser.parse_args()
    if args.pending < 10 or args.events < 1:
        parser.error("--pending must be at least 10 and --events at least 1")
    figures = []
    for name, key in (("asterisk-ami", "ami"), ("csta-ws", "csta")):
        base, _ = per_event_us(name, 10, args.events)
        loaded, held = per_event_us(name, args.pending, args.events)
        print(
            f"{name:14} 10 waiting: {base:6.2f} us/event   {args.pending} waiting:"
            f" {loaded:6.2f} us/event   still held: {held}"
        )
        figures += [
            f"{key}_per_event_ratio={loaded / base:.2f}",
            f"{key}_us={loaded:.2f}",
            f"{key}_base_us={base:.2f}",
            f"{key}_pending={held}",
        ]
    print(" ".join(figures))


if __name__ == "__main__":
    main()
