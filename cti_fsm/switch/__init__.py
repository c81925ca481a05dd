"""A vendor-neutral telephone switch with an ACD: the ground truth behind every simulator.

API at a glance (for simulator authors; every name below is public and documented)::

    sw = Switch()                                     # or demo_switch(): a small population
    sw.add_group("sales", name="Sales", dtmf="1")
    sw.add_agent("1001", "secret", device="8001", groups=["sales"], rights=["supervisor"])
    unsubscribe = sw.subscribe(listener)              # listener(events) after every change

    # operations (mirror the chart's commands); each validates, then changes the model and
    # returns the events it emitted (listeners get them too), or raises
    # SwitchError(code, message) changing nothing (codes: ERROR_CODES)
    sw.login(agent, password)  sw.logout(agent)
    sw.check_in(agent, groups) sw.check_out(agent)
    sw.pause(agent, reason=None, by=None)  sw.restore(agent, by=None)
    sw.dial(agent, number)     sw.answer(agent, call=None)   sw.hangup(agent, call=None)
    sw.hold(agent, call=None)  sw.retrieve(agent, call=None)
    sw.transfer(agent, target, call=None)   sw.consult(agent, target, call=None)
    sw.cancel_consult(agent)   sw.complete_transfer(agent)   sw.conference(agent)
    sw.send_dtmf(agent, digits, call=None)
    sw.listen(supervisor, agent)  sw.barge_in(supervisor, agent=None)
    sw.take_over(supervisor, agent=None)  sw.force_logout(supervisor, agent)

    # queries (no events)
    sw.transfer_groups()  sw.agent_groups(agent)  sw.all_agents(supervisor)  sw.rights(agent)
    sw.snapshot(agent) -> AgentSnapshot   sw.agent_info(agent) -> AgentInfo
    sw.call_of(agent) / sw.consultation_of(agent) -> call id or None
    sw.call(call) -> CallInfo   sw.calls() -> every call   sw.agent_ids  sw.group_ids
    sw.agent_by_device(device) -> agent id or None   sw.check_password(agent, password)

    # stimuli tests drive (the world outside the agents' phones)
    sw.inbound_call(group, caller="...") -> call id      # offered to a ready agent, or queued
    sw.customer_answers(call)  sw.customer_busy(call)  sw.customer_no_answer(call)
    sw.customer_hangs_up(call)
    sw.third_party_answers(agent)  sw.third_party_rejects(agent)  sw.third_party_hangs_up(agent)
    sw.agent_no_answer(agent)                            # ring-no-answer: re-queued, not ready

    # the switch's own timers (off by default; a simulator runs them on its loop's clock)
    sw.set_wrap_up(agent_or_group, seconds)    # after-call work after an ACD call it talked on
    sw.set_ring_timeout(agent_or_group, seconds)  # an ACD call ringing longer is taken back
    sw.clock = time_function   sw.wake_at -> when the next is due   sw.tick(now=None) -> events

    # ground truth for conformance tests
    sw.situation(agent) -> "ready" | "talking" | ...      (see SITUATIONS)
    sw.chart_state(agent) -> "checked_in.talking"         (DEFAULT_CHART_STATES)

The model. Agents have an id, a password (never shown), a device (their extension), the
groups they may sign in to and rights. An agent's *session* is its login to the CTI server;
signed in to groups it is *ready* or *not ready* (with a reason code). A call is one bridge
with *legs*, one per party: an agent's device or an external number (the customer, a far
end). A leg is ``initiated`` (dialling), ``alerting`` (ringing), ``connected`` or ``held``
(the holding party's own leg is held, as the telephony standards model it); a
supervisor's leg may be *silent*. A
consultation is a second call of the same agent, tied to its first (``consultation_of``).
Inbound calls arrive for a group: offered at once to the group's ready, free agent that has
been free longest, else queued (first in, first out) until one becomes free. A call ends
when fewer than two non-silent parties remain (a queued call waits with one).

The event stream is channel-level, so any vendor's simulator can render it: agent facts
(``AgentLoggedIn`` ... ``AgentNotReady``, ``AgentWorkingAfterCall``) and call facts per
leg (``CallInitiated``,
``CallOriginated``, ``LegAlerting`` = ringing, ``LegAnswered`` = the leg joined the bridge,
``LegHeld``, ``LegRetrieved``, ``LegCleared`` = hung up, ``CallFailed``, ``CallQueued``,
``CallTransferred``, ``CallConferenced``, ``DigitsSent``). Every event is a frozen value and
names in ``concerns`` the agents whose links should hear of it (the parties of the call at
that moment, the agent whose state changed). Causes use the neutral ``CAUSES`` vocabulary.

Policies worth knowing (each keeps the model inside what the default chart can express):
a customer hanging up during a consultation also ends the consultation; pausing an agent
in a call is refused (no pending not-ready: the chart's next state does that); hanging up
a ringing ACD call re-queues it and the call is not offered to that agent again, as does
a ring timeout (cause ``ring_no_answer``; the agent is made not ready); after-call work
(``AgentWorkingAfterCall``) follows only an ACD call the agent was connected on, and ends
with ``AgentReady`` (``ended_wrap_up``) when its time runs out or the agent sets itself
ready, or with the agent's not ready; signing out ends it; a barge-in on a held agent
retrieves it; a take-over needs the supervisor to end up in a two-party call.

Where things live (one job per module)::

    vocabulary   LegState, CAUSES, SITUATIONS, DEFAULT_CHART_STATES: the neutral words
    errors       SwitchError and ERROR_CODES
    events       SwitchEvent and every event class; Listener
    views        GroupInfo, LegInfo, CallInfo, AgentInfo, AgentSnapshot: what queries return
    records      the internal, mutable agents, calls and legs
    state        the state, configuration and queries (no events)
    checks       validation: find what an operation acts on, or raise SwitchError
    changes      the primitive changes operations are built from, and ``_publishing``
    operations   what agents and supervisors do
    stimuli      what the outside world does (tests drive it)
    switch       ``Switch``: the one class gathering all of the above
    demo         ``demo_switch``: a small population
"""

from __future__ import annotations

from .demo import demo_switch
from .errors import ERROR_CODES, SwitchError
from .events import (
    AgentCheckedIn,
    AgentCheckedOut,
    AgentLoggedIn,
    AgentLoggedOut,
    AgentNotReady,
    AgentReady,
    AgentWorkingAfterCall,
    CallConferenced,
    CallFailed,
    CallInitiated,
    CallOriginated,
    CallQueued,
    CallTransferred,
    DigitsSent,
    LegAlerting,
    LegAnswered,
    LegCleared,
    LegHeld,
    LegRetrieved,
    SwitchEvent,
)
from .events import Listener as Listener  # a type in signatures; not in __all__, as before
from .switch import Switch
from .views import AgentInfo, AgentSnapshot, CallInfo, GroupInfo, LegInfo
from .vocabulary import CAUSES, DEFAULT_CHART_STATES, SITUATIONS
from .vocabulary import LegState as LegState  # a type in signatures; not in __all__, as before

__all__ = [
    "CAUSES",
    "DEFAULT_CHART_STATES",
    "ERROR_CODES",
    "SITUATIONS",
    "AgentCheckedIn",
    "AgentCheckedOut",
    "AgentInfo",
    "AgentLoggedIn",
    "AgentLoggedOut",
    "AgentNotReady",
    "AgentReady",
    "AgentSnapshot",
    "AgentWorkingAfterCall",
    "CallConferenced",
    "CallFailed",
    "CallInfo",
    "CallInitiated",
    "CallOriginated",
    "CallQueued",
    "CallTransferred",
    "DigitsSent",
    "GroupInfo",
    "LegAlerting",
    "LegAnswered",
    "LegCleared",
    "LegHeld",
    "LegInfo",
    "LegRetrieved",
    "Switch",
    "SwitchError",
    "SwitchEvent",
    "demo_switch",
]
