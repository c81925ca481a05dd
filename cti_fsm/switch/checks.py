"""The checks an operation makes before it changes anything: each finds what the operation
acts on (an agent in the right state, a call, a leg, a destination) or raises
``SwitchError`` naming what is wrong.

Nothing here writes, so a refused operation leaves the model as it was. (Who is asking and
whether they may, ``_agent``/``_session``/``_need_rights``, live in ``state``: queries need
them too.)
"""

from __future__ import annotations

import re

from .errors import ERROR_CODES, SwitchError
from .records import _Agent, _Call, _Leg, _Target
from .state import _SwitchState

#: DTMF digits an agent may send.
_DTMF = re.compile(r"[0-9*#A-Da-d]+")
#: What dials as an external number (not an agent, device or group).
_NUMBER = re.compile(r"\+?[0-9*#]{1,32}")


class _SwitchChecks(_SwitchState):
    """Lookups that validate: each returns the agent, call or leg to act on, or raises."""

    def _checked_in(self, agent_id: str) -> _Agent:
        a = self._session(agent_id)
        if not a.checked_in:
            raise SwitchError("invalid_agent_state", f"agent {agent_id!r} is not signed in")
        return a

    def _need_free(self, a: _Agent) -> None:
        if a.calls:
            raise SwitchError("busy", f"agent {a.id!r} is in a call")

    def _acting(self, by: str | None, agent_id: str) -> None:
        """``by`` acting on ``agent_id``: another agent needs supervisor rights."""
        self._agent(agent_id)
        if by is not None and by != agent_id:
            self._need_rights(self._session(by))

    def _my_leg(
        self,
        a: _Agent,
        call_id: str | None,
        states: tuple[str, ...],
        missing: str,
        *,
        silent_ok: bool = True,
    ) -> tuple[_Call, _Leg]:
        candidates = [call_id] if call_id is not None else list(a.calls)
        if call_id is not None and call_id not in a.calls:
            raise SwitchError("unknown_call", f"agent {a.id!r} is not in call {call_id!r}")
        for cid in candidates:
            call = self._calls[cid]
            leg = call.leg(a.device)
            if leg is not None and leg.state in states and (silent_ok or not leg.silent):
                return call, leg
        raise SwitchError(missing, f"agent {a.id!r}: {ERROR_CODES[missing]}")

    def _consultation_pair(self, a: _Agent) -> tuple[_Call, _Call]:
        consult_id = self.consultation_of(a.id)
        if consult_id is None:
            raise SwitchError("no_call_to_complete", f"agent {a.id!r} is not consulting")
        consult = self._calls[consult_id]
        assert consult.consultation_of is not None
        return self._calls[consult.consultation_of], consult

    def _supervised_call(
        self, sup: _Agent, agent_id: str | None, *, silent: bool | None
    ) -> tuple[_Call, _Leg]:
        for cid in sup.calls:
            call = self._calls[cid]
            mine = call.leg(sup.device)
            if mine is None or (silent is not None and mine.silent != silent):
                continue
            if agent_id is not None:
                target = self._agent(agent_id)
                if call.leg(target.device) is None:
                    raise SwitchError(
                        "invalid_call_state", f"agent {agent_id!r} is not in call {call.id!r}"
                    )
            return call, mine
        what = "listening to" if silent else "in"
        raise SwitchError("no_active_call", f"supervisor {sup.id!r} is not {what} a call")

    def _external(self, call_id: str, states: tuple[str, ...]) -> tuple[_Call, _Leg]:
        call = self._calls.get(call_id)
        if call is None:
            raise SwitchError("unknown_call", f"no call {call_id!r}")
        for leg in call.legs:
            if leg.agent is None and leg.state in states:
                return call, leg
        raise SwitchError(
            "invalid_call_state", f"no external party {'/'.join(states)} in call {call_id!r}"
        )

    def _third_party(self, agent_id: str, states: tuple[str, ...]) -> tuple[_Call, _Leg]:
        a = self._agent(agent_id)
        _, consult = self._consultation_pair(a)
        for leg in consult.legs:
            if leg.device != a.device and leg.state in states:
                return consult, leg
        raise SwitchError(
            "invalid_call_state",
            f"the party agent {a.id!r} consults is not {'/'.join(states)}",
        )

    def _target(self, target: str, *, allow_group: bool, exclude: str | None = None) -> _Target:
        """Resolve a dial/transfer target: agent id, agent device, group id, or a number."""
        if not isinstance(target, str) or not target:
            raise SwitchError("invalid_destination", "empty destination")
        agent_id = target if target in self._agents else self._device_owner.get(target)
        if agent_id is not None:
            if agent_id == exclude:
                raise SwitchError("invalid_destination", "an agent cannot call itself")
            return _Target(self._agents[agent_id].device, agent=agent_id)
        if target in self._groups:
            if not allow_group:
                raise SwitchError("invalid_destination", f"{target!r} is a group; dial a number")
            return _Target(target, group=target)
        if _NUMBER.fullmatch(target):
            return _Target(target)
        raise SwitchError("invalid_destination", f"{target!r} is not an agent, group or number")
