"""Shortest signal paths through a chart, for resynchronising and for test generation.

Search runs on copies of a machine, so it follows the compiled tables exactly (parent
transitions, history) without knowing any state by name.
"""

from __future__ import annotations

import collections

from .machine import Machine

__all__ = ["shortest_signal_path"]


def shortest_signal_path(
    machine: Machine, origin: str, target: str, *, limit: int = 10_000
) -> list[str] | None:
    """The fewest signals that move a machine from ``origin`` into ``target`` (any leaf at
    or below it), trying signals in chart order, those whose step sends no chart command
    first (a walk replays what happened; it should not pick a path that acts, as a
    ring-no-answer's pause, when a plain one is as short); None if none do within
    ``limit`` visits.

    ``machine`` is not changed: the search runs on copies that keep its history and rights.

    Raises:
        KeyError: ``origin`` or ``target`` is not a state of the chart.
    """
    chart = machine.chart
    goal = chart.resolve(target)
    start = machine.copy()
    start.jump(origin)
    if chart.contains(goal, start.state):
        return []
    seen = {(start.state, start.history)}
    queue = collections.deque([(start, list[str]())])
    while queue and len(seen) < limit:
        current, path = queue.popleft()
        moves = []
        for signal in current.handled():
            nxt = current.copy()
            step = nxt.apply(signal)
            if step.changed:
                moves.append((bool(step.commands), signal, nxt))
        # stable: chart order among the quiet moves, then among those that send
        moves.sort(key=lambda move: move[0])
        for _, signal, nxt in moves:
            key = (nxt.state, nxt.history)
            if key in seen:
                continue
            if chart.contains(goal, nxt.state):
                return [*path, signal]
            seen.add(key)
            queue.append((nxt, [*path, signal]))
    return None
