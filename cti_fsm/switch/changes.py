"""The changes every operation is built from: ring, connect, hold, clear, queue, offer...

Each primitive assumes its operation validated already (``checks``), changes the records and
appends the events it causes to ``out``, in the order they happen. ``_publishing`` collects
one operation's events and hands them to the listeners when it is done.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from .events import (
    AgentCheckedOut,
    AgentNotReady,
    AgentReady,
    AgentWorkingAfterCall,
    CallFailed,
    CallInitiated,
    CallOriginated,
    CallQueued,
    LegAlerting,
    LegAnswered,
    LegCleared,
    LegHeld,
    LegRetrieved,
    SwitchEvent,
)
from .records import _Agent, _Call, _Leg, _reachable, _Target, _unique
from .state import _SwitchState
from .vocabulary import LegState


class _SwitchChanges(_SwitchState):
    """The primitive changes to the model, and the publishing of what they caused."""

    @contextlib.contextmanager
    def _publishing(self) -> Iterator[list[SwitchEvent]]:
        """Collect the events of one operation; publish them when the block ends.

        Listeners get them all at once, as one tuple, and only if there are any. A
        ``SwitchError`` raised inside the block publishes nothing: operations validate
        before they change anything, so a refusal has caused no event.
        """
        out: list[SwitchEvent] = []
        try:
            yield out
        except BaseException:
            self._wrap_started.clear()  # no stale announcement for the next operation
            raise
        # after-call work that began in this operation (and was not cancelled in it)
        for agent_id, seconds in self._wrap_started.items():
            a = self._agents[agent_id]
            out.append(
                AgentWorkingAfterCall(
                    concerns=(a.id,), agent=a.id, device=a.device, seconds=seconds
                )
            )
        self._wrap_started.clear()
        if out:
            for listener in list(self._listeners):  # a copy: a listener may unsubscribe
                listener(tuple(out))

    def _new_call(
        self, origin: str, *, calling: str, called: str, call_id: str | None = None
    ) -> _Call:
        if call_id is None:
            call_id = f"c{next(self._ids)}"
            while call_id in self._calls:
                call_id = f"c{next(self._ids)}"
        call = _Call(call_id, origin, calling, called)
        self._calls[call_id] = call
        return call

    def _concerns(self, call: _Call) -> tuple[str, ...]:
        return _unique(leg.agent for leg in call.legs if leg.agent is not None)

    def _add_leg(self, call: _Call, a: _Agent, state: LegState, *, silent: bool = False) -> _Leg:
        leg = _Leg(a.device, a.id, state, silent)
        call.legs.append(leg)
        a.calls.append(call.id)
        self._refresh(a)
        return leg

    def _remove_leg(self, call: _Call, leg: _Leg) -> None:
        call.legs.remove(leg)
        if leg.agent is not None:
            owner = self._agents[leg.agent]
            if call.id in owner.calls:
                owner.calls.remove(call.id)
            self._due.pop(("ring", call.id, owner.id), None)
            talked = leg.state in ("connected", "held") and not leg.silent
            if talked and call.group is not None and call.origin != "consultation":
                # an ACD call the agent talked on: after-call work, once it has no call left
                owner.wrap_up_owed = call.group

    def _refresh(self, a: _Agent) -> None:
        """Keep the per-group free lists right after any change to ``a``; start the
        after-call work it owes once it has no call left."""
        if a.wrap_up_owed is not None and not a.calls:
            group, a.wrap_up_owed = a.wrap_up_owed, None
            seconds = self._seconds(a.wrap_up_seconds, self._group_wrap_up, group)
            if seconds > 0 and a.logged_in and a.checked_in:
                a.wrap_up_until = self.clock() + seconds
                self._due[("wrap_up", a.id)] = a.wrap_up_until
                self._wrap_started[a.id] = seconds
        free = a.logged_in and a.ready and not a.calls and a.wrap_up_until is None
        for group, members in self._free.items():
            if free and group in a.checked_in:
                if a.id not in members:
                    members[a.id] = None
            else:
                members.pop(a.id, None)

    def _originate(
        self, out: list[SwitchEvent], a: _Agent, call: _Call, dest: _Target, via: str
    ) -> None:
        mine = self._add_leg(call, a, "initiated")
        out.append(
            CallInitiated(
                concerns=(a.id,),
                call=call.id,
                device=a.device,
                agent=a.id,
                consultation_of=call.consultation_of,
            )
        )
        mine.state = "connected"
        out.append(
            CallOriginated(
                concerns=(a.id,),
                call=call.id,
                device=a.device,
                calling=a.device,
                called=dest.device,
                consultation_of=call.consultation_of,
            )
        )
        self._route(out, call, dest, via=via)

    def _route(self, out: list[SwitchEvent], call: _Call, dest: _Target, *, via: str) -> None:
        """Deliver the call to ``dest``: ring an agent or a number, or queue it for a group."""
        if dest.group is not None:
            self._enqueue(out, call, dest.group)
            return
        if dest.agent is not None:
            target = self._agents[dest.agent]
            if not _reachable(target):
                self._fail(out, call, dest.device, "busy")
                return
            self._ring(out, call, target.device, target, via=via)
            return
        self._ring(out, call, dest.device, None, via=via)

    def _ring(
        self, out: list[SwitchEvent], call: _Call, device: str, agent: _Agent | None, *, via: str
    ) -> None:
        if agent is not None:
            self._add_leg(call, agent, "alerting")
            if via == "group":
                seconds = self._seconds(
                    agent.ring_timeout_seconds, self._group_ring_timeout, call.group
                )
                if seconds > 0:
                    self._due[("ring", call.id, agent.id)] = self.clock() + seconds
        else:
            call.legs.append(_Leg(device, None, "alerting"))
        out.append(
            LegAlerting(
                concerns=self._concerns(call),
                call=call.id,
                device=device,
                agent=agent.id if agent else None,
                calling=call.calling,
                called=call.called,
                via=via,
                group=call.group,
            )
        )

    def _enqueue(self, out: list[SwitchEvent], call: _Call, group: str) -> None:
        call.group, call.queued = group, True
        self._queue[call.id] = None
        out.append(CallQueued(concerns=(), call=call.id, group=group, calling=call.calling))

    def _distribute(self, out: list[SwitchEvent]) -> None:
        """Offer queued calls, oldest first, to each group's longest-free ready agent."""
        for call_id in list(self._queue):
            call = self._calls.get(call_id)
            if call is None or not call.queued:
                self._queue.pop(call_id, None)
                continue
            assert call.group is not None
            members = self._free[call.group]
            agent_id = next((x for x in members if x not in call.declined_by), None)
            if agent_id is None:
                continue
            call.queued = False
            del self._queue[call_id]
            self._ring(
                out, call, self._agents[agent_id].device, self._agents[agent_id], via="group"
            )

    def _connect(self, out: list[SwitchEvent], call: _Call, leg: _Leg) -> None:
        leg.state = "connected"
        if leg.agent is not None:
            self._due.pop(("ring", call.id, leg.agent), None)
        out.append(
            LegAnswered(
                concerns=self._concerns(call),
                call=call.id,
                device=leg.device,
                agent=leg.agent,
                calling=call.calling,
                called=call.called,
            )
        )

    def _hold(
        self, out: list[SwitchEvent], call: _Call, leg: _Leg, a: _Agent, *, consultation: bool
    ) -> None:
        leg.state = "held"
        out.append(
            LegHeld(
                concerns=self._concerns(call),
                call=call.id,
                device=leg.device,
                agent=a.id,
                consultation=consultation,
            )
        )

    def _retrieve(self, out: list[SwitchEvent], call: _Call, leg: _Leg, a: _Agent) -> None:
        leg.state = "connected"
        out.append(
            LegRetrieved(concerns=self._concerns(call), call=call.id, device=leg.device, agent=a.id)
        )

    def _clear_leg(self, out: list[SwitchEvent], call: _Call, leg: _Leg, cause: str) -> None:
        """``leg`` leaves; the call ends if fewer than two non-silent parties remain."""
        out.append(
            LegCleared(
                concerns=self._concerns(call),
                call=call.id,
                device=leg.device,
                agent=leg.agent,
                cause=cause,
            )
        )
        self._remove_leg(call, leg)
        if leg.agent is not None:
            self._refresh(self._agents[leg.agent])
        if call.queued and not call.legs:
            self._queue.pop(call.id, None)
            del self._calls[call.id]
        elif not call.queued and len(call.active()) < 2:
            self._end_call(out, call, "normal")

    def _end_call(self, out: list[SwitchEvent], call: _Call, cause: str) -> None:
        if call.id not in self._calls:
            return
        # a consultation belongs to the call it was placed from: it ends first
        for other in list(self._calls.values()):
            if other.consultation_of == call.id:
                self._end_call(out, other, cause)
        del self._calls[call.id]
        self._queue.pop(call.id, None)
        for leg in sorted(call.legs, key=lambda x: (x.silent, x.agent is None)):
            out.append(
                LegCleared(
                    concerns=_unique((*self._concerns(call), *([leg.agent] if leg.agent else []))),
                    call=call.id,
                    device=leg.device,
                    agent=leg.agent,
                    cause=cause,
                )
            )
            self._remove_leg(call, leg)
            if leg.agent is not None:
                self._refresh(self._agents[leg.agent])

    def _fail(
        self, out: list[SwitchEvent], call: _Call, device: str, cause: str, leg: _Leg | None = None
    ) -> None:
        """The called ``device`` cannot be reached: the caller hears of it, then the call
        ends. A ringing agent leg that gave up is cleared for its own agent only."""
        failing = leg.agent if leg is not None else None
        out.append(
            CallFailed(
                concerns=tuple(x for x in self._concerns(call) if x != failing),
                call=call.id,
                device=device,
                calling=call.calling,
                called=call.called,
                cause=cause,
            )
        )
        if leg is not None:
            if leg.agent is not None:
                out.append(
                    LegCleared(
                        concerns=(leg.agent,),
                        call=call.id,
                        device=device,
                        agent=leg.agent,
                        cause=cause,
                    )
                )
            self._remove_leg(call, leg)
            if leg.agent is not None:
                self._refresh(self._agents[leg.agent])
        self._end_call(out, call, cause)

    def _decline(
        self, out: list[SwitchEvent], call: _Call, leg: _Leg, a: _Agent, cause: str = "rejected"
    ) -> None:
        """A ringing ACD call leaves the agent and goes back to the front of the queue."""
        assert call.group is not None
        out.append(
            LegCleared(concerns=(a.id,), call=call.id, device=a.device, agent=a.id, cause=cause)
        )
        self._remove_leg(call, leg)
        self._refresh(a)
        call.declined_by.add(a.id)
        call.queued = True
        self._queue = {call.id: None, **self._queue}
        out.append(CallQueued(concerns=(), call=call.id, group=call.group, calling=call.calling))

    def _merge(self, primary: _Call, consult: _Call, a: _Agent) -> tuple[tuple[str, str, str], ...]:
        """Move the consultation's other legs into the primary call; the consultation ends
        without clearing anyone. Returns the moved legs as ``(device, old, new)``."""
        moved = []
        for leg in list(consult.legs):
            self._remove_leg(consult, leg)
            if leg.device == a.device:
                continue
            primary.legs.append(leg)
            if leg.agent is not None:
                self._agents[leg.agent].calls.append(primary.id)
            moved.append((leg.device, consult.id, primary.id))
        del self._calls[consult.id]
        self._queue.pop(consult.id, None)
        self._refresh(a)
        return tuple(moved)

    def _calls_consultation_first(self, a: _Agent) -> list[str]:
        consult = self.consultation_of(a.id)
        rest = [c for c in a.calls if c != consult]
        return ([consult] if consult else []) + rest

    def _leave_everything(
        self, out: list[SwitchEvent], a: _Agent, cause: str, *, by: str | None
    ) -> None:
        for call_id in self._calls_consultation_first(a):
            call = self._calls.get(call_id)
            leg = call.leg(a.device) if call else None
            if call is not None and leg is not None:
                if (
                    leg.state == "alerting"
                    and call.group is not None
                    and call.origin != "consultation"
                ):
                    self._decline(out, call, leg, a, cause=cause)
                else:
                    self._clear_leg(out, call, leg, cause)
        if a.checked_in:
            self._sign_out(out, a, by=by, cause=cause)

    def _rang_out(self, out: list[SwitchEvent], call: _Call, leg: _Leg, a: _Agent) -> None:
        """Ring-no-answer: the ACD call ringing at ``a`` goes back to the queue (not to be
        offered to ``a`` again) and ``a`` is made not ready, reason ``no_answer``."""
        self._decline(out, call, leg, a, cause="ring_no_answer")
        a.ready, a.reason = False, "no_answer"
        self._refresh(a)
        out.append(
            AgentNotReady(
                concerns=(a.id,), agent=a.id, device=a.device, reason="no_answer", by=None
            )
        )

    def _end_wrap_up(self, out: list[SwitchEvent], a: _Agent, *, by: str | None) -> None:
        """``a``'s after-call work is over: it is ready again (``AgentReady``)."""
        self._stop_wrap_up(a)
        a.ready, a.reason = True, None
        out.append(
            AgentReady(concerns=(a.id,), agent=a.id, device=a.device, by=by, ended_wrap_up=True)
        )
        self._refresh(a)

    def _stop_wrap_up(self, a: _Agent) -> None:
        """Forget ``a``'s after-call work, owed or running, and its timer (no event)."""
        a.wrap_up_owed = a.wrap_up_until = None
        self._due.pop(("wrap_up", a.id), None)
        self._wrap_started.pop(a.id, None)

    def _sign_out(self, out: list[SwitchEvent], a: _Agent, *, by: str | None, cause: str) -> None:
        self._stop_wrap_up(a)
        groups = a.checked_in
        a.checked_in, a.ready, a.reason = (), False, None
        self._refresh(a)
        out.append(
            AgentCheckedOut(
                concerns=(a.id,),
                agent=a.id,
                device=a.device,
                groups=groups,
                by=by,
                cause=cause,
            )
        )
