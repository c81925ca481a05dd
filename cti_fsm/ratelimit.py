"""Warnings that cannot flood a log: the first of a kind at once, then one per interval
saying how many were held back.

A peer sending a million malformed frames, or a consumer that stopped reading, must not
write a million log records: each kind of warning (its ``key``) is written when first seen,
then at most once every ``interval`` seconds with the count of those not written since.
The caller gives the time (``now``), so a sans-IO object can use its own clock.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Any

__all__ = ["DEFAULT_INTERVAL", "RateLimitedLog"]

#: Seconds between two records of the same kind.
DEFAULT_INTERVAL = 10.0
#: Kinds remembered at once; the oldest is forgotten beyond (its next record is written).
_MAX_KINDS = 256


class RateLimitedLog:
    """Write warnings to ``logger``, each kind at most once per ``interval`` seconds.

    Args:
        logger: where records go.
        interval: seconds between two records of one kind.
    """

    __slots__ = ("_kinds", "interval", "logger")

    def __init__(self, logger: logging.Logger, interval: float = DEFAULT_INTERVAL) -> None:
        self.logger = logger
        self.interval = interval
        #: key -> [time of the last record written, records held back since]
        self._kinds: OrderedDict[str, list[float]] = OrderedDict()

    def log(self, level: int, now: float, key: str, message: str, *args: Any) -> bool:
        """Write ``message % args`` at ``level`` unless one of kind ``key`` was written
        less than ``interval`` seconds ago; True if written. A record written after some
        were held back ends with how many."""
        kind = self._kinds.get(key)
        if kind is not None and now - kind[0] < self.interval:
            kind[1] += 1
            return False
        held = int(kind[1]) if kind is not None else 0
        if kind is None:
            self._kinds[key] = [now, 0]
            while len(self._kinds) > _MAX_KINDS:
                self._kinds.popitem(last=False)
        else:
            kind[0], kind[1] = now, 0
        if held:
            message += " (%d more like this in the last %.0fs not logged)"
            args = (*args, held, self.interval)
        self.logger.log(level, message, *args)
        return True

    def warning(self, now: float, key: str, message: str, *args: Any) -> bool:
        """``log`` at WARNING."""
        return self.log(logging.WARNING, now, key, message, *args)
