"""The adapter conformance suite: the same call flows against any adapter and its simulator.

As ``trio.testing`` ships checks every stream implementation must pass, this module ships
the checks every cti-fsm adapter must pass. ``check_adapter`` plays scripted scenarios
(``SCENARIOS``) and a hypothesis-driven random walk against the adapter's simulator over a
real loopback socket, with two real ``Agent`` objects (an agent and a supervisor), and
compares each agent's chart state with the switch's ground truth
(``Switch.chart_state``) after **every** step::

    from cti_fsm.testing import check_adapter

    async def test_my_adapter_conforms():
        report = await check_adapter(my_adapter)          # my_adapter.simulator(switch)
        print(report)

    # or, outside trio:
    check_adapter_sync(my_adapter, walk_examples=20)

    # an adapter whose agents log in by extension, with a difference it cannot avoid:
    report = await check_adapter(
        my_adapter,
        login=lambda account: Login(
            f"ext-{account.device}", account.password, {"username": account.id}
        ),
        gaps=[
            Gap(
                "barge-in unseen",
                "the protocol tells the spied agent nothing when the supervisor barges in",
                agent_state="talking",
                switch_state="three_party",
                role="agent",
            )
        ],
    )

What is checked, step by step:

- after each command, stimulus, phone action or link drop, once the agents are quiet
  (no step for ``settle`` seconds), each agent's state equals the switch's truth, unless
  a ``Gap`` the caller declared explains the difference (the report lists every gap hit);
- every awaited command resolved: it returned (or raised ``CommandFailed`` where the
  scenario expects the switch to refuse it) within the chart's timeout, and no command is
  left pending;
- after each step, every command the chart refuses in the current state raises
  ``IllegalCommand`` or ``PermissionDenied``, every command the vendor cannot do raises
  ``Unsupported``, the state does not change, and **not one byte** reaches the simulator
  (each agent talks to the simulator through a ``LoopbackRelay`` that counts the bytes);
- each scripted step's ``expect`` holds on the switch, so a scenario cannot pass by
  doing nothing (a simulator that ignores a request fails here);
- a link drop (the relay closes the TCP connection) ends with the agent reconnected,
  logged in again and resynchronised to the switch.

Steps a vendor cannot do are not failures: a command in ``adapter.unsupported`` is first
checked to raise ``Unsupported`` having sent nothing, then done on the phone instead when
a phone can do it (``PHONE_ACTIONS``: answering, holding, a conference key, ...), or
skipped, with the rest of its scenario if the scenario depended on it. The report lists
every skip with its reason. A difference between agent and switch that an adapter cannot
avoid (its protocol does not say so) must be declared as a ``Gap``: never silently ignored.

The population is ``cti_fsm.switch.demo_switch()``: groups ``sales`` and ``support``;
role ``agent`` is agent ``1001`` (device ``8001``), role ``supervisor`` is ``9001``
(device ``8901``, right ``supervisor``); ``1002`` is never logged in (an unreachable
agent). ``login`` says how the adapter logs each one in (``Login``).

Writing a scenario: a ``Scenario`` is a name and a tuple of steps made with ``do``
(a command), ``world`` (a stimulus: the customer, a third party), ``refused`` (a command
that must be refused) and ``drop`` (the link drops); pass ``scenarios=`` to run your own.
"""


# One job per module, as trio.testing keeps its checks apart from its plumbing:
#   _scenario_language  roles, Login, Gap, Scenario and its steps (do, world, refused, drop)
#   _shipped_scenarios  SCENARIOS, and the world they act on (STIMULI, PHONE_ACTIONS)
#   _loopback_relay     LoopbackRelay, the byte-counting TCP relay
#   _checker            check_adapter, check_adapter_sync: scenarios and random walks
#   _report             ConformanceReport and ConformanceError, what a run says

from __future__ import annotations

from types import FunctionType as _FunctionType

from ._checker import check_adapter, check_adapter_sync
from ._loopback_relay import LoopbackRelay
from ._report import ConformanceError, ConformanceReport, GapHit, Skip
from ._scenario_language import (
    AGENT,
    ROLE_IDS,
    SUPERVISOR,
    Account,
    Command,
    Gap,
    LinkDrop,
    Login,
    Ref,
    Refused,
    Scenario,
    Stimulus,
    default_login,
    do,
    drop,
    refused,
    world,
)
from ._shipped_scenarios import PHONE_ACTIONS, SCENARIOS, STIMULI

__all__ = [
    "AGENT",
    "PHONE_ACTIONS",
    "ROLE_IDS",
    "SCENARIOS",
    "STIMULI",
    "SUPERVISOR",
    "Account",
    "Command",
    "ConformanceError",
    "ConformanceReport",
    "Gap",
    "GapHit",
    "LinkDrop",
    "Login",
    "LoopbackRelay",
    "Ref",
    "Refused",
    "Scenario",
    "Skip",
    "Stimulus",
    "check_adapter",
    "check_adapter_sync",
    "default_login",
    "do",
    "drop",
    "refused",
    "world",
]

# Name the public classes and functions after this package, as before the split into
# modules: tracebacks (cti_fsm.testing.conformance.ConformanceError), pickles and
# generated docs keep the one public path.
for _name in __all__:
    _value = globals()[_name]
    if isinstance(_value, (type, _FunctionType)):
        _value.__module__ = __name__
del _name, _value
