"""What a conformance run says: a ``ConformanceReport`` when the adapter passes (with the
steps it skipped and the gaps it hit), a ``ConformanceError`` at the first check it fails.
"""

from __future__ import annotations

import attrs


@attrs.frozen
class Skip:
    """A step not run, and why (the vendor cannot do it)."""

    scenario: str
    step: str
    reason: str

    def __str__(self) -> str:
        return f"{self.scenario}: {self.step}: {self.reason}"


@attrs.frozen
class GapHit:
    """A declared gap that explained a difference at one step."""

    gap: str
    scenario: str
    step: str
    role: str

    def __str__(self) -> str:
        return f"{self.scenario}: {self.step}: gap {self.gap!r} ({self.role})"


@attrs.frozen
class ConformanceReport:
    """What ``check_adapter`` did.

    Attributes:
        adapter: the adapter's name.
        scenarios: the scripted scenarios run, in order.
        steps_checked: steps after which every agent was compared with the switch.
        commands: commands sent (and resolved).
        refusals_checked: refused commands checked to send nothing and change nothing.
        skipped: steps not run because the vendor cannot do them.
        phone: steps done on the phone because the vendor cannot do them.
        gaps_hit: differences explained by a declared gap.
        unused_gaps: declared gaps never needed (the adapter may have outgrown them).
        walks: random walks run (hypothesis examples, shrinking included).
        walk_steps: steps taken by the random walks.
    """

    adapter: str
    scenarios: tuple[str, ...]
    steps_checked: int
    commands: int
    refusals_checked: int
    skipped: tuple[Skip, ...]
    phone: tuple[Skip, ...]
    gaps_hit: tuple[GapHit, ...]
    unused_gaps: tuple[str, ...]
    walks: int
    walk_steps: int

    def __str__(self) -> str:
        lines = [
            f"adapter {self.adapter!r}: {len(self.scenarios)} scenarios, {self.walks} random"
            f" walks ({self.walk_steps} steps); {self.steps_checked} steps checked,"
            f" {self.commands} commands, {self.refusals_checked} refusals",
        ]
        for title, items in (
            ("done on the phone", self.phone),
            ("skipped", self.skipped),
            ("known gaps hit", self.gaps_hit),
        ):
            if items:
                lines.append(f"{title} ({len(items)}):")
                lines.extend(f"  {item}" for item in items)
        if self.unused_gaps:
            lines.append(f"declared gaps never hit: {', '.join(self.unused_gaps)}")
        return "\n".join(lines)


class ConformanceError(AssertionError):
    """An adapter failed a check. The message names the scenario, the step, the role,
    the agent's state and the switch's truth, and the agent's last steps.

    Attributes:
        adapter, scenario, step: where it failed.
        role: the agent concerned (None if not about one agent).
        agent_state, switch_state: the two states (None if not about a state).
    """

    def __init__(
        self,
        message: str,
        *,
        adapter: str,
        scenario: str,
        step: str,
        role: str | None = None,
        agent_state: str | None = None,
        switch_state: str | None = None,
    ) -> None:
        self.adapter = adapter
        self.scenario = scenario
        self.step = step
        self.role = role
        self.agent_state = agent_state
        self.switch_state = switch_state
        super().__init__(f"{adapter}: scenario {scenario!r}, step {step}: {message}")
