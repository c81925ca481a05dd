"""What agents and supervisors do: the operations that mirror the chart's commands.

Each validates first (``checks``), then changes the model inside ``self._publishing()``
(``changes``) and returns the events it caused, which listeners get too; a refusal raises
``SwitchError`` and changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

from .changes import _SwitchChanges
from .checks import _DTMF, _SwitchChecks
from .errors import SwitchError
from .events import (
    AgentCheckedIn,
    AgentLoggedIn,
    AgentLoggedOut,
    AgentNotReady,
    AgentReady,
    CallConferenced,
    CallTransferred,
    DigitsSent,
    SwitchEvent,
)
from .records import _Agent, _Call, _reachable, _unique


class _AgentOperations(_SwitchChanges, _SwitchChecks):
    """The agents' own operations (session, groups, calls) and the supervisors'."""

    # --- session and groups ---------------------------------------------------------------------
    def login(self, agent_id: str, password: str) -> list[SwitchEvent]:
        """Start the agent's session; a second login (after a dropped link) resumes it as is.

        Raises:
            SwitchError: ``unknown_agent``, ``bad_password``.
        """
        a = self._agent(agent_id)
        if a.password != password:
            raise SwitchError("bad_password", f"wrong password for agent {agent_id!r}")
        with self._publishing() as out:
            a.logged_in = True
            out.append(AgentLoggedIn(concerns=(a.id,), agent=a.id, device=a.device))
        return out

    def logout(self, agent_id: str) -> list[SwitchEvent]:
        """End the session: the agent leaves its calls and its groups.

        Raises:
            SwitchError: ``unknown_agent``, ``not_logged_in``.
        """
        a = self._session(agent_id)
        with self._publishing() as out:
            self._leave_everything(out, a, "logout", by=None)
            a.logged_in = False
            out.append(
                AgentLoggedOut(concerns=(a.id,), agent=a.id, device=a.device, cause="logout")
            )
            self._distribute(out)
        return out

    def check_in(self, agent_id: str, groups: Iterable[str]) -> list[SwitchEvent]:
        """Sign in to groups (the agent becomes ready).

        Raises:
            SwitchError: ``not_logged_in``, ``invalid_agent_state`` (already signed in),
                ``unknown_group`` (unknown, not allowed, or none given).
        """
        a = self._session(agent_id)
        wanted = tuple(dict.fromkeys(groups))
        if a.checked_in:
            raise SwitchError("invalid_agent_state", f"agent {a.id!r} is already signed in")
        if not wanted:
            raise SwitchError("unknown_group", "no group given")
        for g in wanted:
            if g not in self._groups or g not in a.groups:
                raise SwitchError("unknown_group", f"agent {a.id!r} may not sign in to {g!r}")
        with self._publishing() as out:
            a.checked_in, a.ready, a.reason = wanted, True, None
            out.append(AgentCheckedIn(concerns=(a.id,), agent=a.id, device=a.device, groups=wanted))
            out.append(AgentReady(concerns=(a.id,), agent=a.id, device=a.device, by=None))
            self._refresh(a)
            self._distribute(out)
        return out

    def check_out(self, agent_id: str) -> list[SwitchEvent]:
        """Sign out of the groups; only when signed in and free.

        Raises:
            SwitchError: ``not_logged_in``, ``invalid_agent_state``, ``busy``.
        """
        a = self._checked_in(agent_id)
        self._need_free(a)
        with self._publishing() as out:
            self._sign_out(out, a, by=None, cause="normal")
        return out

    def pause(
        self, agent_id: str, reason: str | None = None, *, by: str | None = None
    ) -> list[SwitchEvent]:
        """Not ready (with a reason code), also ending after-call work; ``by`` another agent
        needs supervisor rights.

        Raises:
            SwitchError: ``unknown_agent``, ``not_logged_in``, ``no_rights``,
                ``invalid_agent_state`` (not signed in), ``busy`` (in a call).
        """
        self._acting(by, agent_id)
        a = self._checked_in(agent_id)
        self._need_free(a)
        with self._publishing() as out:
            self._stop_wrap_up(a)  # not ready ends after-call work too
            a.ready, a.reason = False, reason
            self._refresh(a)
            out.append(
                AgentNotReady(concerns=(a.id,), agent=a.id, device=a.device, reason=reason, by=by)
            )
        return out

    def restore(self, agent_id: str, *, by: str | None = None) -> list[SwitchEvent]:
        """Ready again, from not ready or from after-call work (which it ends); ``by``
        another agent needs supervisor rights.

        Raises:
            SwitchError: ``unknown_agent``, ``not_logged_in``, ``no_rights``,
                ``invalid_agent_state`` (not signed in, or already ready), ``busy``.
        """
        self._acting(by, agent_id)
        a = self._checked_in(agent_id)
        if a.wrap_up_until is not None:
            with self._publishing() as out:
                self._end_wrap_up(out, a, by=by)
                self._distribute(out)
            return out
        if a.ready:
            raise SwitchError("invalid_agent_state", f"agent {a.id!r} is already ready")
        self._need_free(a)
        with self._publishing() as out:
            a.ready, a.reason = True, None
            out.append(AgentReady(concerns=(a.id,), agent=a.id, device=a.device, by=by))
            self._refresh(a)
            self._distribute(out)
        return out

    def force_logout(self, supervisor_id: str, agent_id: str) -> list[SwitchEvent]:
        """Supervisor: sign an agent out of its groups, ending its calls.

        Raises:
            SwitchError: ``unknown_agent``, ``not_logged_in``, ``no_rights``,
                ``invalid_agent_state`` (the agent is not signed in).
        """
        self._need_rights(self._session(supervisor_id))
        a = self._checked_in(agent_id)
        with self._publishing() as out:
            self._leave_everything(out, a, "forced_logout", by=supervisor_id)
            self._distribute(out)
        return out

    # --- calls: the agent's own ----------------------------------------------------------------
    def dial(self, agent_id: str, number: str) -> list[SwitchEvent]:
        """Place an outbound call to a number, an agent id or an agent's device.

        Raises:
            SwitchError: ``not_logged_in``, ``invalid_agent_state``, ``busy``,
                ``invalid_destination``.
        """
        a = self._checked_in(agent_id)
        self._need_free(a)
        target = self._target(number, allow_group=False, exclude=a.id)
        with self._publishing() as out:
            call = self._new_call("outbound", calling=a.device, called=target.device)
            self._originate(out, a, call, target, via="direct")
            self._distribute(out)
        return out

    def answer(self, agent_id: str, call_id: str | None = None) -> list[SwitchEvent]:
        """Answer the call ringing at the agent.

        Raises:
            SwitchError: ``not_logged_in``, ``no_call_to_answer``, ``unknown_call``.
        """
        a = self._session(agent_id)
        call, leg = self._my_leg(a, call_id, ("alerting",), "no_call_to_answer")
        with self._publishing() as out:
            self._connect(out, call, leg)
        return out

    def hangup(self, agent_id: str, call_id: str | None = None) -> list[SwitchEvent]:
        """Leave one call (``call_id``) or, without it, every call the agent is in.

        Hanging up a ringing ACD call declines it: it goes back to the queue and is not
        offered to this agent again.

        Raises:
            SwitchError: ``not_logged_in``, ``no_call_to_clear``, ``unknown_call``.
        """
        a = self._session(agent_id)
        if not a.calls:
            raise SwitchError("no_call_to_clear", f"agent {a.id!r} has no call")
        if call_id is not None and call_id not in a.calls:
            raise SwitchError("unknown_call", f"agent {a.id!r} is not in call {call_id!r}")
        with self._publishing() as out:
            targets = [call_id] if call_id is not None else self._calls_consultation_first(a)
            for cid in targets:
                call = self._calls.get(cid)
                leg = call.leg(a.device) if call else None
                if call is None or leg is None:
                    continue  # already ended with an earlier one
                if (
                    leg.state == "alerting"
                    and call.group is not None
                    and call.origin != "consultation"
                ):
                    self._decline(out, call, leg, a)
                else:
                    self._clear_leg(out, call, leg, "normal")
            self._distribute(out)
        return out

    def hold(self, agent_id: str, call_id: str | None = None) -> list[SwitchEvent]:
        """Put the other party on hold.

        Raises:
            SwitchError: ``not_logged_in``, ``no_active_call``, ``unknown_call``,
                ``invalid_call_state`` (nobody else is connected).
        """
        a = self._session(agent_id)
        call, leg = self._my_leg(a, call_id, ("connected",), "no_active_call", silent_ok=False)
        if not any(x is not leg and x.state == "connected" for x in call.active()):
            raise SwitchError("invalid_call_state", f"nobody is connected in call {call.id!r}")
        with self._publishing() as out:
            self._hold(out, call, leg, a, consultation=False)
        return out

    def retrieve(self, agent_id: str, call_id: str | None = None) -> list[SwitchEvent]:
        """Take the held party back.

        Raises:
            SwitchError: ``not_logged_in``, ``no_held_call``, ``unknown_call``,
                ``invalid_call_state`` (a consultation is in progress).
        """
        a = self._session(agent_id)
        call, leg = self._my_leg(a, call_id, ("held",), "no_held_call")
        if len(a.calls) > 1:
            raise SwitchError(
                "invalid_call_state", f"agent {a.id!r} is consulting; end the consultation first"
            )
        with self._publishing() as out:
            self._retrieve(out, call, leg, a)
        return out

    def send_dtmf(
        self, agent_id: str, digits: str, call_id: str | None = None
    ) -> list[SwitchEvent]:
        """Send DTMF digits into the agent's connected call (the consultation, if any).

        Raises:
            SwitchError: ``not_logged_in``, ``invalid_parameter``, ``no_active_call``,
                ``unknown_call``.
        """
        a = self._session(agent_id)
        if not isinstance(digits, str) or not _DTMF.fullmatch(digits):
            raise SwitchError("invalid_parameter", "DTMF digits must be 0-9, *, #, A-D")
        if call_id is None:
            call_id = self.consultation_of(a.id) or self.call_of(a.id)
        call, _ = self._my_leg(a, call_id, ("connected",), "no_active_call", silent_ok=False)
        with self._publishing() as out:
            out.append(
                DigitsSent(
                    concerns=self._concerns(call),
                    call=call.id,
                    device=a.device,
                    agent=a.id,
                    digits=digits,
                )
            )
        return out

    def transfer(self, agent_id: str, target: str, call_id: str | None = None) -> list[SwitchEvent]:
        """Single-step transfer to an agent, group, device or number; the agent leaves.

        Raises:
            SwitchError: ``not_logged_in``, ``no_active_call``, ``unknown_call``,
                ``invalid_call_state``, ``invalid_destination``, ``destination_busy``.
        """
        a = self._session(agent_id)
        call, leg = self._my_leg(a, call_id, ("connected", "held"), "no_active_call")
        if len(a.calls) > 1:
            raise SwitchError("invalid_call_state", f"agent {a.id!r} is consulting")
        if not [x for x in call.active() if x is not leg and x.state == "connected"]:
            raise SwitchError("invalid_call_state", f"nobody to transfer in call {call.id!r}")
        dest = self._target(target, allow_group=True, exclude=a.id)
        if dest.agent is not None and not _reachable(self._agents[dest.agent]):
            raise SwitchError("destination_busy", f"agent {dest.agent!r} cannot take a call")
        with self._publishing() as out:
            out.append(
                CallTransferred(
                    concerns=self._concerns(call),
                    call=call.id,
                    primary=call.id,
                    secondary=None,
                    transferring=a.device,
                    target=dest.device,
                    moved=(),
                    kind="single_step",
                )
            )
            self._remove_leg(call, leg)
            self._refresh(a)
            call.called = dest.device
            self._route(out, call, dest, via="transfer")
            self._distribute(out)
        return out

    def consult(self, agent_id: str, target: str, call_id: str | None = None) -> list[SwitchEvent]:
        """Hold the call (if not held) and call a third party on a second call.

        Raises:
            SwitchError: ``not_logged_in``, ``no_active_call``, ``unknown_call``,
                ``invalid_call_state`` (already consulting), ``invalid_destination``.
        """
        a = self._session(agent_id)
        call, leg = self._my_leg(a, call_id, ("connected", "held"), "no_active_call")
        if len(a.calls) > 1:
            raise SwitchError("invalid_call_state", f"agent {a.id!r} is already consulting")
        if len(call.active()) != 2:
            raise SwitchError("invalid_call_state", f"call {call.id!r} is not a two-party call")
        dest = self._target(target, allow_group=True, exclude=a.id)
        with self._publishing() as out:
            if leg.state == "connected":
                self._hold(out, call, leg, a, consultation=True)
            consult = self._new_call("consultation", calling=a.device, called=dest.device)
            consult.consultation_of = call.id
            self._originate(out, a, consult, dest, via="consultation")
            self._distribute(out)
        return out

    def cancel_consult(self, agent_id: str) -> list[SwitchEvent]:
        """Drop the consultation and take the held party back (a reconnect).

        Raises:
            SwitchError: ``not_logged_in``, ``no_call_to_complete``.
        """
        a = self._session(agent_id)
        primary, consult = self._consultation_pair(a)
        with self._publishing() as out:
            mine = consult.leg(a.device)
            assert mine is not None
            self._clear_leg(out, consult, mine, "normal")
            held = primary.leg(a.device)
            if held is not None and held.state == "held":
                self._retrieve(out, primary, held, a)
            self._distribute(out)
        return out

    def complete_transfer(self, agent_id: str) -> list[SwitchEvent]:
        """Join the held party to the consulted one and leave both calls.

        Raises:
            SwitchError: ``not_logged_in``, ``no_call_to_complete``.
        """
        a = self._session(agent_id)
        primary, consult = self._consultation_pair(a)
        if len(consult.legs) < 2:
            raise SwitchError(
                "invalid_call_state", f"the consultation {consult.id!r} has reached nobody yet"
            )
        with self._publishing() as out:
            moved = self._merge(primary, consult, a)
            target = moved[0][0]
            out.append(
                CallTransferred(
                    concerns=_unique((a.id, *self._concerns(primary))),
                    call=primary.id,
                    primary=primary.id,
                    secondary=consult.id,
                    transferring=a.device,
                    target=target,
                    moved=moved,
                    kind="consultation",
                )
            )
            mine = primary.leg(a.device)
            assert mine is not None
            self._remove_leg(primary, mine)
            self._refresh(a)
            if len(primary.active()) < 2:
                self._end_call(out, primary, "normal")
            self._distribute(out)
        return out

    def conference(self, agent_id: str) -> list[SwitchEvent]:
        """Merge the consultation into the held call: three parties in one call.

        Raises:
            SwitchError: ``not_logged_in``, ``no_call_to_complete``, ``invalid_call_state``
                (the consulted party has not answered).
        """
        a = self._session(agent_id)
        primary, consult = self._consultation_pair(a)
        third = [x for x in consult.legs if x.device != a.device]
        if not third or third[0].state != "connected":
            raise SwitchError(
                "invalid_call_state", f"the consulted party in {consult.id!r} has not answered"
            )
        with self._publishing() as out:
            moved = self._merge(primary, consult, a)
            mine = primary.leg(a.device)
            assert mine is not None
            mine.state = "connected"
            out.append(
                CallConferenced(
                    concerns=self._concerns(primary),
                    call=primary.id,
                    primary=primary.id,
                    secondary=consult.id,
                    controller=a.device,
                    added=moved[0][0],
                    silent=False,
                    kind="conference",
                    parties=tuple((x.device, x.silent) for x in primary.legs),
                )
            )
        return out

    # --- supervisor ---------------------------------------------------------------------------
    def listen(self, supervisor_id: str, agent_id: str) -> list[SwitchEvent]:
        """Supervisor: join an agent's call silently.

        Raises:
            SwitchError: ``unknown_agent``, ``not_logged_in``, ``no_rights``,
                ``invalid_agent_state``, ``busy`` (the supervisor is in a call),
                ``no_active_call`` / ``invalid_call_state`` (the agent's call).
        """
        sup = self._checked_in(supervisor_id)
        self._need_rights(sup)
        self._need_free(sup)
        target = self._session(agent_id)
        if len(target.calls) != 1:
            raise SwitchError("no_active_call", f"agent {target.id!r} has no single call")
        call = self._calls[target.calls[0]]
        leg = call.leg(target.device)
        assert leg is not None
        if leg.silent or leg.state not in ("connected", "held") or len(call.active()) < 2:
            raise SwitchError(
                "invalid_call_state", f"agent {target.id!r} is not talking in {call.id!r}"
            )
        with self._publishing() as out:
            self._add_leg(call, sup, "connected", silent=True)
            out.append(self._supervisor_joined(call, sup, "listen"))
        return out

    def barge_in(self, supervisor_id: str, agent_id: str | None = None) -> list[SwitchEvent]:
        """Supervisor: turn a silent listen into a three-party call (the agent is retrieved
        if it had the customer on hold).

        Raises:
            SwitchError: ``not_logged_in``, ``no_rights``, ``no_active_call`` (not
                listening), ``unknown_agent`` / ``invalid_call_state`` (``agent_id`` is not
                in that call).
        """
        sup = self._session(supervisor_id)
        self._need_rights(sup)
        call, mine = self._supervised_call(sup, agent_id, silent=True)
        with self._publishing() as out:
            for leg in call.legs:
                if leg.state == "held" and leg.agent is not None:
                    self._retrieve(out, call, leg, self._agents[leg.agent])
            mine.silent = False
            out.append(self._supervisor_joined(call, sup, "barge_in"))
        return out

    def _supervisor_joined(self, call: _Call, sup: _Agent, kind: str) -> CallConferenced:
        """The event for a supervisor's leg joining ``call`` (silent while listening)."""
        return CallConferenced(
            concerns=self._concerns(call),
            call=call.id,
            primary=call.id,
            secondary=None,
            controller=sup.device,
            added=sup.device,
            silent=kind == "listen",
            kind=kind,
            parties=tuple((x.device, x.silent) for x in call.legs),
        )

    def take_over(self, supervisor_id: str, agent_id: str | None = None) -> list[SwitchEvent]:
        """Supervisor: drop the agent from the call the supervisor listens to or joined.

        Raises:
            SwitchError: ``not_logged_in``, ``no_rights``, ``no_active_call``,
                ``unknown_agent``, ``invalid_call_state`` (no agent to drop, or more than
                two parties would remain).
        """
        sup = self._session(supervisor_id)
        self._need_rights(sup)
        call, mine = self._supervised_call(sup, agent_id, silent=None)
        victims = [
            x
            for x in call.active()
            if x is not mine and x.agent is not None and (agent_id is None or x.agent == agent_id)
        ]
        if len(victims) != 1:
            raise SwitchError("invalid_call_state", f"no single agent to take over in {call.id!r}")
        victim = victims[0]
        remaining = [x for x in call.active() if x is not victim and x is not mine]
        if len(remaining) != 1:
            raise SwitchError(
                "invalid_call_state", f"a take-over must leave a two-party call in {call.id!r}"
            )
        with self._publishing() as out:
            mine.silent = False
            self._clear_leg(out, call, victim, "take_over")
            self._distribute(out)
        return out
