"""A chart's commands as attributes of an agent: ``agent.finish_wrap_up()`` for a chart of
your own, whose commands no typed class declares.

The trio agent, ``cti_fsm.asyncio``'s and ``cti_fsm.sync``'s all answer an unknown
attribute that names a chart command with a method that maps its positional arguments in
the chart's order and calls the agent's ``command``. The lookup is hidden from type
checkers (``agent.hodl()`` stays an error in your code); typed methods for a chart come
from ``cti-fsm stubs``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from .chart import CommandSpec
from .events import Step

__all__ = ["AsyncCommandLookup", "SyncCommandLookup", "command_arguments", "command_spec"]


def command_spec(owner: object, name: str) -> CommandSpec:
    """The spec of command ``name`` in ``owner.chart`` (an agent's ``__getattr__``).

    Raises:
        AttributeError: the owner has no chart yet, or its chart has no such command.
    """
    chart = vars(owner).get("chart")
    if chart is None or name not in chart.commands:
        raise AttributeError(f"{type(owner).__name__!r} has no attribute or command {name!r}")
    spec: CommandSpec = chart.commands[name]
    return spec


def command_arguments(
    spec: CommandSpec, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> dict[str, Any]:
    """``kwargs`` with ``args`` added under the names of the chart's arguments, in order.

    Raises:
        TypeError: more positional arguments than the command has, or one given twice.
    """
    name = spec.name
    if len(args) > len(spec.args):
        raise TypeError(f"{name}() takes at most {len(spec.args)} positional arguments")
    for arg, value in zip(spec.args, args, strict=False):
        if arg.name in kwargs:
            raise TypeError(f"{name}() got argument {arg.name!r} twice")
        kwargs[arg.name] = value
    return kwargs


def _remember(owner: object, spec: CommandSpec, method: Callable[..., Any]) -> None:
    method.__name__ = spec.name
    method.__doc__ = spec.description
    # found in the instance from now on: not built again on every call
    vars(owner)[spec.name] = method


class AsyncCommandLookup:
    """Mixin: a chart command as an awaitable attribute, sent with ``await self.command``."""

    __slots__ = ()

    if not TYPE_CHECKING:

        def __getattr__(self, name: str) -> Callable[..., Awaitable[Step | None]]:
            spec = command_spec(self, name)

            async def command(*args: Any, **kwargs: Any) -> Step | None:
                return await self.command(name, **command_arguments(spec, args, kwargs))

            _remember(self, spec, command)
            return command


class SyncCommandLookup:
    """Mixin: a chart command as a blocking attribute, sent with ``self.command``."""

    __slots__ = ()

    if not TYPE_CHECKING:

        def __getattr__(self, name: str) -> Callable[..., Step | None]:
            spec = command_spec(self, name)

            def command(*args: Any, **kwargs: Any) -> Step | None:
                return self.command(name, **command_arguments(spec, args, kwargs))

            _remember(self, spec, command)
            return command
