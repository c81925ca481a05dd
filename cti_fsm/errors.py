"""Every exception cti-fsm raises, in one place so callers can catch by family.

``CtiError`` is the root. Errors about a spec file (``SpecError``) are raised at load
time; errors about a command (``IllegalCommand``, ``PermissionDenied``, ``InvalidArguments``,
``Unsupported``) are raised before anything is sent and leave the machine unchanged;
errors about a sent command (``CommandFailed``, ``CommandTimeout``, ``Disconnected``)
are raised by the trio agent layer.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import attrs

__all__ = [
    "AdapterNotFound",
    "Busy",
    "CommandError",
    "CommandFailed",
    "CommandTimeout",
    "CtiError",
    "Disconnected",
    "IllegalCommand",
    "InvalidArguments",
    "MissingContext",
    "PermissionDenied",
    "Problem",
    "SpecError",
    "UnexpectedSignal",
    "Unsupported",
]


class CtiError(Exception):
    """Root of every error raised by cti-fsm."""


@attrs.frozen(order=True)
class Problem:
    """One mistake found in a spec file, with where it is.

    Attributes:
        file: the path (or name) of the spec file.
        line: 1-based line of the offending node.
        col: 1-based column of the offending node.
        message: what is wrong, in one sentence.
    """

    file: str
    line: int
    col: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.message}"


class SpecError(CtiError):
    """A chart or vendor map has mistakes; ``problems`` lists every one of them.

    The message is one ``FILE:LINE:COL: message`` line per problem, sorted by position.
    """

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(sorted(set(problems)))
        super().__init__("\n".join(str(p) for p in self.problems))


class CommandError(CtiError):
    """A command was refused before anything was sent; the machine is unchanged.

    Attributes:
        command: the command that was refused.
        state: the machine's full state path when it was refused.
    """

    def __init__(self, message: str, *, command: str, state: str) -> None:
        self.command = command
        self.state = state
        super().__init__(message)


class IllegalCommand(CommandError):
    """The command is not allowed in the current state (or the chart has no such command).

    Attributes:
        allowed: the commands that are allowed now, sorted.

    ``hint`` adds a clause to the message (which arguments would make it allowed).
    """

    def __init__(self, *, command: str, state: str, allowed: Sequence[str], hint: str = "") -> None:
        self.allowed = tuple(sorted(allowed))
        self.hint = hint
        listed = ", ".join(self.allowed) or "none"
        super().__init__(
            f"command {command!r} cannot be sent in state {state!r}; allowed now: {listed}"
            + (f"; {hint}" if hint else ""),
            command=command,
            state=state,
        )


class PermissionDenied(CommandError):
    """The command (or one of its arguments) needs rights this agent does not have.

    Attributes:
        missing: the rights that are missing, sorted.
    """

    def __init__(self, *, command: str, state: str, missing: Sequence[str], why: str) -> None:
        self.missing = tuple(missing)
        super().__init__(
            f"command {command!r} {why} needs rights {', '.join(self.missing)} (state {state!r})",
            command=command,
            state=state,
        )


class InvalidArguments(CommandError):
    """The command's arguments do not match the chart (missing, unknown or mistyped)."""


class Busy(CommandError):
    """The command's chart entry says ``pending: reject`` and another command is awaiting
    its answer; nothing was sent.

    Attributes:
        waiting: the command that is still waiting.
    """

    def __init__(self, *, command: str, state: str, waiting: str) -> None:
        self.waiting = waiting
        super().__init__(
            f"command {command!r} refused: {waiting!r} is still awaiting its answer"
            f" (state {state!r})",
            command=command,
            state=state,
        )


class Unsupported(CommandError):
    """The vendor cannot do this command; nothing was sent."""

    def __init__(self, *, command: str, state: str, vendor: str) -> None:
        self.vendor = vendor
        super().__init__(
            f"command {command!r} is not supported by vendor {vendor!r}",
            command=command,
            state=state,
        )


class MissingContext(CommandError):
    """A command needs a value that is not known now (``hold`` with no current call, say);
    nothing was sent. Raised by a vendor map's templates and by protocols; the session
    fills in the command and the state before it reaches the caller."""

    def __init__(self, message: str, *, command: str = "", state: str = "") -> None:
        super().__init__(message, command=command, state=state)


class UnexpectedSignal(CtiError):
    """In strict mode: the current state has no transition for the signal.

    Attributes:
        signal: the signal that arrived.
        state: the machine's full state path (unchanged).
    """

    def __init__(self, *, signal: str, state: str, known: bool) -> None:
        self.signal = signal
        self.state = state
        what = "is not handled in" if known else "is not declared in the chart; state"
        super().__init__(f"signal {signal!r} {what} {state!r}")


class CommandFailed(CtiError):
    """The vendor reported that a sent command failed.

    Attributes:
        command: the command.
        reason: the vendor's reason, as given.
        signal: the failure signal that reported it, if any.
    """

    def __init__(self, command: str, reason: str, signal: str | None = None) -> None:
        self.command = command
        self.reason = reason
        self.signal = signal
        super().__init__(f"command {command!r} failed: {reason}")


class CommandTimeout(CtiError):
    """No confirming or failure signal arrived within the command's timeout."""

    def __init__(self, command: str, timeout: float) -> None:
        self.command = command
        self.timeout = timeout
        super().__init__(f"command {command!r} got no answer within {timeout:g} s")


class Disconnected(CtiError):
    """The link to the CTI server dropped (or was closed) before the command was answered.

    Attributes:
        reason: why the link is gone.
        command: the command it cut, if any.
        sent: True if the command had been sent when the link dropped: the server may have
            carried it out, and its outcome is unknown until the resync after the reconnect
            says where the agent is (its notifications report what changed). False: it
            was never sent, so it did not happen.
    """

    def __init__(self, reason: str, command: str | None = None, *, sent: bool = False) -> None:
        self.reason = reason
        self.command = command
        self.sent = sent
        what = f"command {command!r}: " if command else ""
        unknown = (
            "; it had been sent, its outcome is unknown: the resync will report what changed"
            if sent
            else ""
        )
        super().__init__(f"{what}disconnected: {reason}{unknown}")


class AdapterNotFound(CtiError):
    """No adapter is registered under that name (entry-point group ``cti_fsm.adapters``)."""
