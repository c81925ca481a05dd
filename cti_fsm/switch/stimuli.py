"""The stimuli tests drive: the world outside the agents' phones (customers calling and
hanging up, far ends answering or busy, a consulted party, an agent not answering).

Each is an operation like an agent's: it validates, changes the model and returns (and
publishes) the events it caused, or raises ``SwitchError`` changing nothing.
"""

from __future__ import annotations

from .changes import _SwitchChanges
from .checks import _SwitchChecks
from .errors import SwitchError
from .events import SwitchEvent
from .records import _Leg


class _Stimuli(_SwitchChanges, _SwitchChecks):
    """What happens to the agents from outside, for tests and simulators to trigger."""

    def inbound_call(
        self, group_id: str, caller: str = "13800000000", *, call_id: str | None = None
    ) -> str:
        """A customer calls a group: offered to its longest-free ready agent, else queued.

        Returns:
            the call id.

        Raises:
            SwitchError: ``unknown_group``; ``invalid_parameter`` (call id in use).
        """
        if group_id not in self._groups:
            raise SwitchError("unknown_group", f"no group {group_id!r}")
        if call_id is not None and call_id in self._calls:
            raise SwitchError("invalid_parameter", f"call id {call_id!r} is in use")
        with self._publishing() as out:
            call = self._new_call("inbound", calling=caller, called=group_id, call_id=call_id)
            call.legs.append(_Leg(caller, None, "connected"))
            self._enqueue(out, call, group_id)
            self._distribute(out)
        return call.id

    def customer_answers(self, call_id: str) -> list[SwitchEvent]:
        """The external party ringing in the call (far end, consulted number) answers.

        Raises:
            SwitchError: ``unknown_call``, ``invalid_call_state`` (nobody external rings).
        """
        call, leg = self._external(call_id, ("alerting",))
        with self._publishing() as out:
            self._connect(out, call, leg)
        return out

    def customer_busy(self, call_id: str) -> list[SwitchEvent]:
        """The ringing external party is busy: the call fails.

        Raises:
            SwitchError: ``unknown_call``, ``invalid_call_state``.
        """
        return self._fail_external(call_id, "busy")

    def customer_no_answer(self, call_id: str) -> list[SwitchEvent]:
        """The ringing external party does not answer: the call fails.

        Raises:
            SwitchError: ``unknown_call``, ``invalid_call_state``.
        """
        return self._fail_external(call_id, "no_answer")

    def customer_hangs_up(self, call_id: str) -> list[SwitchEvent]:
        """The external party (customer, far end) hangs up; a queued call is abandoned.

        Raises:
            SwitchError: ``unknown_call``, ``invalid_call_state`` (no external party).
        """
        call, leg = self._external(call_id, ("alerting", "connected", "held"))
        with self._publishing() as out:
            self._clear_leg(out, call, leg, "normal")
            self._distribute(out)
        return out

    def third_party_answers(self, agent_id: str) -> list[SwitchEvent]:
        """The party the agent consults answers (an agent's phone or a number).

        Raises:
            SwitchError: ``unknown_agent``, ``no_call_to_complete``, ``invalid_call_state``.
        """
        consult, leg = self._third_party(agent_id, ("alerting",))
        with self._publishing() as out:
            self._connect(out, consult, leg)
        return out

    def third_party_rejects(self, agent_id: str) -> list[SwitchEvent]:
        """The consulted party rejects the call (busy): the consultation fails.

        Raises:
            SwitchError: ``unknown_agent``, ``no_call_to_complete``, ``invalid_call_state``.
        """
        consult, leg = self._third_party(agent_id, ("alerting",))
        with self._publishing() as out:
            self._fail(out, consult, leg.device, "busy", leg)
            self._distribute(out)
        return out

    def third_party_hangs_up(self, agent_id: str) -> list[SwitchEvent]:
        """The consulted party hangs up; the agent keeps the held party.

        Raises:
            SwitchError: ``unknown_agent``, ``no_call_to_complete``, ``invalid_call_state``.
        """
        consult, leg = self._third_party(agent_id, ("connected",))
        with self._publishing() as out:
            self._clear_leg(out, consult, leg, "normal")
            self._distribute(out)
        return out

    def agent_no_answer(self, agent_id: str) -> list[SwitchEvent]:
        """Ring-no-answer: the ACD call ringing at the agent goes back to the queue (cause
        ``ring_no_answer``) and the agent is made not ready (reason ``no_answer``).

        Raises:
            SwitchError: ``unknown_agent``, ``no_call_to_answer``.
        """
        a = self._agent(agent_id)
        call, leg = self._my_leg(a, None, ("alerting",), "no_call_to_answer")
        if call.group is None or call.origin == "consultation":
            raise SwitchError("no_call_to_answer", f"no ACD call rings at agent {a.id!r}")
        with self._publishing() as out:
            self._rang_out(out, call, leg, a)
            self._distribute(out)
        return out

    def tick(self, now: float | None = None) -> list[SwitchEvent]:
        """Time passes: fire the switch's timers due at ``now`` (default: ``clock()``), in
        the order they fell due: after-call work ends (``AgentReady``), an ACD call that
        rang too long is taken back (``ring_no_answer``). See ``wake_at``."""
        when = self.clock() if now is None else now
        due = sorted((at, key) for key, at in self._due.items() if at <= when)
        with self._publishing() as out:
            for _, key in due:
                if self._due.pop(key, None) is None:
                    continue  # an earlier timer of this tick made it moot
                if key[0] == "wrap_up":
                    self._end_wrap_up(out, self._agents[key[1]], by=None)
                    continue
                call, a = self._calls.get(key[1]), self._agents[key[2]]
                leg = call.leg(a.device) if call is not None else None
                if call is not None and leg is not None and leg.state == "alerting":
                    self._rang_out(out, call, leg, a)
            self._distribute(out)
        return out

    def _fail_external(self, call_id: str, cause: str) -> list[SwitchEvent]:
        """The external party ringing in ``call_id`` cannot be reached (``cause``)."""
        call, leg = self._external(call_id, ("alerting",))
        with self._publishing() as out:
            self._fail(out, call, leg.device, cause, leg)
            self._distribute(out)
        return out
