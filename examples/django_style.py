"""``cti_fsm.sync`` in a threaded web app: Django-style views over one agent per process.

A Django (or Flask) project opens the agent once when the app starts and closes it at
exit; its views, run by the server's worker threads, call commands that block until the
switch answers (or ``timeout``). With Django itself, ``PhoneBar.start()`` goes in an
``AppConfig.ready()``, ``JsonResponse`` is ``django.http.JsonResponse`` and the views are
routed as usual::

    # urls.py
    urlpatterns = [
        path("agent", views.agent_view),
        path("commands/<str:name>", views.command_view),
    ]

Here the views take any object with Django's ``body`` attribute and return a small
``JsonResponse`` of the same shape, so the example runs without Django installed:
``python examples/django_style.py URL`` against ``cti-fsm simulate`` works a call.
Statuses are those of ``examples/fastapi_app.py``: 409 refused by the chart, 403 without
the right, 422 bad arguments, 501 the vendor cannot, 502/503/504 after sending.
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
from typing import Any, Protocol

import attrs

import cti_fsm.sync
from cti_fsm import (
    Busy,
    CommandFailed,
    CommandTimeout,
    CtiError,
    Disconnected,
    IllegalCommand,
    InvalidArguments,
    MissingContext,
    Notification,
    PermissionDenied,
    Unsupported,
)

STATUS: tuple[tuple[type[CtiError], int], ...] = (
    (IllegalCommand, 409),
    (Busy, 409),
    (MissingContext, 409),
    (PermissionDenied, 403),
    (InvalidArguments, 422),
    (Unsupported, 501),
    (CommandFailed, 502),
    (Disconnected, 503),
    (CommandTimeout, 504),
)


class HttpRequest(Protocol):
    """What the views read of a request (Django's ``HttpRequest`` has it)."""

    body: bytes


@attrs.frozen
class JsonResponse:
    """Stands in for ``django.http.JsonResponse(data, status=...)``."""

    data: dict[str, Any]
    status: int = 200


class PhoneBar:
    """The process's one agent, opened at start-up and closed at exit, with a call log
    its listener keeps (listeners run in the agent's own listener thread)."""

    def __init__(self) -> None:
        self.agent: cti_fsm.sync.Agent | None = None
        self.call_log: list[str] = []
        self._stack = contextlib.ExitStack()
        self._lock = threading.Lock()

    def start(self, vendor: str, url: str, user: str, password: str, **kwargs: Any) -> None:
        """Open the agent (``AppConfig.ready()`` in Django).

        Raises:
            Disconnected, CommandFailed, CommandTimeout: as ``cti_fsm.sync.open_agent``.
        """
        self.agent = self._stack.enter_context(
            cti_fsm.sync.open_agent(vendor, url, user, password, timeout=10, **kwargs)
        )
        self.agent.on("*", self._log)

    def close(self) -> None:
        """Log out and close (at exit)."""
        self._stack.close()
        self.agent = None

    def _log(self, note: Notification) -> None:
        with self._lock:
            self.call_log.append(note.name)


PHONE_BAR = PhoneBar()


def agent_view(request: HttpRequest) -> JsonResponse:
    """``GET /agent``: the state and the commands allowed now."""
    agent = PHONE_BAR.agent
    if agent is None:
        return JsonResponse({"error": "the agent is not open"}, status=503)
    return JsonResponse({"state": agent.state, "allowed": list(agent.allowed())})


def command_view(request: HttpRequest, name: str) -> JsonResponse:
    """``POST /commands/<name>``: the JSON body holds the command's arguments."""
    agent = PHONE_BAR.agent
    if agent is None:
        return JsonResponse({"error": "the agent is not open"}, status=503)
    if name not in agent.chart.commands:
        return JsonResponse({"error": f"no command {name!r}"}, status=404)
    try:
        args = json.loads(request.body or b"{}")
    except ValueError:
        return JsonResponse({"error": "the body is not JSON"}, status=400)
    try:
        step = agent.command(name, **args)
    except CtiError as error:
        status = next((s for kind, s in STATUS if isinstance(error, kind)), 500)
        return JsonResponse({"error": type(error).__name__, "message": str(error)}, status)
    return JsonResponse({"state": agent.state, "target": step.target if step else None})


@attrs.frozen
class _Request:
    body: bytes = b""


def main(url: str) -> int:
    """Work one inbound call through the views, as a threaded server's workers would."""
    PHONE_BAR.start("csta-ws", url, "1001", "pw1001")
    try:
        agent = PHONE_BAR.agent
        assert agent is not None
        print(command_view(_Request(b'{"group_ids": "sales"}'), "check_in"))
        with agent.subscribe(["onCallInRing"], timeout=30) as rings:
            print("waiting for a call (cti-fsm simulate's control: POST /call)")
            for note in rings:
                print("ringing:", note["phone_number"])
                break
        print(command_view(_Request(), "answer"))
        print(command_view(_Request(), "check_out"))  # 409: not while talking
        print(command_view(_Request(), "hangup"))
        print(agent_view(_Request()))
    finally:
        PHONE_BAR.close()
    print("call log:", ", ".join(PHONE_BAR.call_log))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "ws://127.0.0.1:8765/"))
