"""Secrets held as secrets: a value that never shows itself.

A password (or a token) handed to ``open_agent`` is wrapped in a ``Secret`` at once and
stays wrapped down to the one place that must write it on the wire, the vendor protocol's
encoding of the login. Everything that only holds it on the way (the agent, its session,
the session's tickets) holds the ``Secret``, so the value is in no ``repr``, ``str``,
``vars()``, log record or exception message::

    >>> s = Secret("hunter2")
    >>> s
    Secret('***')
    >>> f"{s}"
    '***'
    >>> s.reveal()
    'hunter2'

``reveal()`` is the one way back to the value; call it where the value is sent, nowhere
else. ``revealed(args)`` unwraps every secret of a command's arguments for that call;
``hidden(args, names)`` wraps the arguments a chart calls ``secret`` (a session does so
for every command it is given, so a token passed as a plain string is held wrapped too).
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping
from typing import Any, NoReturn

__all__ = ["REDACTED", "Secret", "hidden", "revealed", "secret", "stand_ins"]

#: What a secret shows instead of its value.
REDACTED = "***"


class Secret:
    """A string that hides itself: its repr, str and format are ``***``.

    Two secrets are equal when their values are (compared in constant time); a secret is
    never equal to a plain string, so ``secret == "guess"`` cannot be used to probe it.
    It cannot be pickled or copied into a ``__dict__``: it has no ``__dict__`` of its own
    (its one slot is name-mangled away from ``vars()``) and refuses ``pickle``.

    Args:
        value: the secret value.

    Raises:
        TypeError: ``value`` is not a string (a secret of another secret is refused too:
            say ``secret(value)`` to accept either).
    """

    __slots__ = ("__value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            # the value is not shown: it may be the secret in the wrong wrapper
            raise TypeError(f"a Secret holds a string, not {type(value).__name__}")
        self.__value = value

    def reveal(self) -> str:
        """The value itself: call this only where it is sent."""
        return self.__value

    def __repr__(self) -> str:
        return f"Secret({REDACTED!r})"

    def __str__(self) -> str:
        return REDACTED

    def __format__(self, spec: str) -> str:
        return format(REDACTED, spec)

    def __bool__(self) -> bool:
        return bool(self.__value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self.__value.encode(), other.__value.encode())

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    # a hash of the value would let a dict lookup probe it
    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Secret cannot be pickled")


def secret(value: str | Secret) -> Secret:
    """``value`` as a ``Secret`` (itself if it is one already).

    Raises:
        TypeError: ``value`` is neither a string nor a ``Secret``.
    """
    return value if isinstance(value, Secret) else Secret(value)


def hidden(args: Mapping[str, Any], names: Iterable[str]) -> Mapping[str, Any]:
    """``args`` with the string values of the arguments ``names`` wrapped as ``Secret``
    (``args`` itself, not a copy, when there is nothing to wrap)."""
    wrap = [n for n in names if isinstance(args.get(n), str)]
    if not wrap:
        return args
    return {k: Secret(v) if k in wrap else v for k, v in args.items()}


def revealed(args: Mapping[str, Any]) -> Mapping[str, Any]:
    """``args`` with every ``Secret`` value replaced by the value itself (``args`` itself,
    not a copy, when it holds none): for the protocol that writes them on the wire."""
    if not any(isinstance(v, Secret) for v in args.values()):
        return args
    return {k: v.reveal() if isinstance(v, Secret) else v for k, v in args.items()}


def stand_ins(args: Mapping[str, Any]) -> Mapping[str, Any]:
    """``args`` with every ``Secret`` value replaced by ``REDACTED`` (a string, as the
    value is): for checks that need an argument's presence and type, never its value."""
    if not any(isinstance(v, Secret) for v in args.values()):
        return args
    return {k: REDACTED if isinstance(v, Secret) else v for k, v in args.items()}
