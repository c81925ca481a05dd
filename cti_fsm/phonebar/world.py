"""The demo's "world" panel: what happens outside the agent's phone, as a table of the
switch model's stimuli (``cti_fsm.switch.stimuli``) and the simulator's link drop.

Each action is aimed at the agent logged in at the bar that asks: "the customer hangs up"
hangs up that agent's call. A thin table on purpose: a simulator control module shared with
other front ends is to replace it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs

from ..switch import Switch, SwitchError

__all__ = ["ACTIONS", "World", "WorldAction"]


@attrs.frozen
class WorldAction:
    """One thing the world can do: its label, its text arguments, and the doing."""

    name: str
    label: str
    args: tuple[str, ...]
    run: Callable[[World, str, Mapping[str, str]], object]

    def describe(self) -> dict[str, Any]:
        """The action as the page draws it."""
        return {"name": self.name, "label": self.label, "args": list(self.args)}


@attrs.define
class World:
    """The simulated world around the bars: the switch and the simulator serving it."""

    switch: Switch
    simulator: Any  # a SimulatorServer (its drop_link)

    def call(self, agent_id: str) -> str:
        """The agent's current call.

        Raises:
            SwitchError: the agent has no call.
        """
        call = self.switch.call_of(agent_id)
        if call is None:
            raise SwitchError("no_call", f"agent {agent_id!r} has no call")
        return call

    def act(self, action: str, agent_id: str, args: Mapping[str, str]) -> None:
        """Do ``action`` for the bar of ``agent_id``.

        Raises:
            KeyError: no such action (the message lists them).
            SwitchError: the switch refused it (nothing changed).
            ValueError: an argument is missing.
        """
        found = ACTIONS.get(action)
        if found is None:
            raise KeyError(f"no world action {action!r}; actions: {', '.join(ACTIONS)}")
        for name in found.args:
            if not args.get(name):
                raise ValueError(f"world action {action!r} needs argument {name!r}")
        found.run(self, agent_id, args)


def _drop(world: World, agent_id: str, _: Mapping[str, str]) -> object:
    if not world.simulator.drop_link(agent_id):
        raise SwitchError("not_logged_in", f"agent {agent_id!r} has no link to drop")
    return None


ACTIONS: Mapping[str, WorldAction] = {
    a.name: a
    for a in (
        WorldAction(
            "customer_calls",
            "A customer calls a group",
            ("group", "caller"),
            lambda w, _, a: w.switch.inbound_call(a["group"], caller=a["caller"]),
        ),
        WorldAction(
            "customer_hangs_up",
            "The customer hangs up",
            (),
            lambda w, me, _: w.switch.customer_hangs_up(w.call(me)),
        ),
        WorldAction(
            "far_end_answers",
            "The far end answers",
            (),
            lambda w, me, _: w.switch.customer_answers(w.call(me)),
        ),
        WorldAction(
            "far_end_busy",
            "The far end is busy",
            (),
            lambda w, me, _: w.switch.customer_busy(w.call(me)),
        ),
        WorldAction(
            "consulted_answers",
            "The consulted party answers",
            (),
            lambda w, me, _: w.switch.third_party_answers(me),
        ),
        WorldAction(
            "consulted_hangs_up",
            "The consulted party hangs up",
            (),
            lambda w, me, _: w.switch.third_party_hangs_up(me),
        ),
        WorldAction(
            "no_answer",
            "I do not answer (ring-no-answer)",
            (),
            lambda w, me, _: w.switch.agent_no_answer(me),
        ),
        WorldAction("link_drops", "The link drops", (), _drop),
    )
}
