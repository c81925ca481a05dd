"""A small demo population for demos, ``cti-fsm simulate`` and the conformance suite."""

from __future__ import annotations

from .switch import Switch

__all__ = ["demo_switch"]


def demo_switch() -> Switch:
    """A small population for demos and ``cti-fsm simulate``.

    Groups ``sales`` (DTMF 1) and ``support`` (DTMF 2); agents ``1001`` (device 8001, both
    groups), ``1002`` (8002, support), ``1003`` (8003, sales) and supervisor ``9001``
    (8901, both groups, right ``supervisor``). Each password is ``pw`` followed by the id
    (``pw1001``): demo credentials, never use such a scheme for real accounts.
    """
    sw = Switch()
    sw.add_group("sales", name="Sales", dtmf="1")
    sw.add_group("support", name="Support", dtmf="2")
    sw.add_agent("1001", "pw1001", device="8001", groups=["sales", "support"])
    sw.add_agent("1002", "pw1002", device="8002", groups=["support"])
    sw.add_agent("1003", "pw1003", device="8003", groups=["sales"])
    sw.add_agent(
        "9001", "pw9001", device="8901", groups=["sales", "support"], rights=["supervisor"]
    )
    return sw
