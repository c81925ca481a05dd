"""The edges of a simulator's control (``cti_fsm.simulator_control``): JSON over HTTP, and
one command a line (standard input). Both only move requests to
``SimulatorControl.handle`` and its answers back.

HTTP (h11 over trio, on 127.0.0.1 by default)::

    GET  /            the operations, as {"op": "help"} answers
    POST /<op>        a JSON object of the operation's parameters (or no body)
    POST /            a JSON object with "op"

Status: 200 done; 400 ``bad_request``; 404 ``unknown_op`` or another path; 409 the switch
refused (its code in ``error``); 413 a body over 64 KiB; 405 another method. The body is
always the control's JSON answer.

Lines: each line is ``op key=value ...`` or a JSON object; each answer is one JSON line.
"""

from __future__ import annotations

import http
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import h11
import trio

from .simulator_control import SimulatorControl, parse_line

__all__ = ["MAX_BODY", "serve_http", "serve_lines", "status_of"]

log = logging.getLogger("cti_fsm.simulator_control")

#: The largest request body read, in bytes.
MAX_BODY = 64 * 1024
#: Seconds a connection may stay silent before it is closed.
IDLE_TIMEOUT = 30.0

#: The HTTP status of an answer, by its error code (others: 409, the switch refused).
_STATUS = {None: 200, "bad_request": 400, "unknown_op": 404, "unavailable": 501}


def status_of(answer: dict[str, Any]) -> int:
    """The HTTP status for one of the control's answers."""
    if answer.get("ok"):
        return 200
    return _STATUS.get(answer.get("error"), 409)


async def serve_http(
    control: SimulatorControl,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``control`` over HTTP on ``host:port`` until cancelled; started with the
    bound port.

    Raises:
        OSError: the address cannot be listened on.
    """
    listeners = await trio.open_tcp_listeners(port, host=host)
    task_status.started(listeners[0].socket.getsockname()[1])

    async def serve_connection(stream: trio.SocketStream) -> None:
        try:
            await _http_connection(control, stream)
        except (trio.BrokenResourceError, trio.ClosedResourceError, h11.ProtocolError):
            pass  # the client went away or spoke no HTTP: nothing to answer
        finally:
            await stream.aclose()

    await trio.serve_listeners(serve_connection, listeners)


async def _http_connection(control: SimulatorControl, stream: trio.SocketStream) -> None:
    conn = h11.Connection(h11.SERVER)
    while True:
        request, body = await _read_request(conn, stream)
        if request is None:
            return
        status, answer = _answer(control, request, body)
        data = json.dumps(answer).encode()
        headers = [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(data))),
        ]
        await stream.send_all(
            (
                conn.send(h11.Response(status_code=status, headers=headers, reason=_reason(status)))
                or b""
            )
            + (conn.send(h11.Data(data=data)) or b"")
            + (conn.send(h11.EndOfMessage()) or b"")
        )
        if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
            return
        try:
            conn.start_next_cycle()
        except h11.LocalProtocolError:
            return


async def _read_request(
    conn: h11.Connection, stream: trio.SocketStream
) -> tuple[h11.Request | None, bytes | None]:
    """The next request and its body (None if over ``MAX_BODY``); (None, None) at the end."""
    request: h11.Request | None = None
    body = bytearray()
    too_big = False
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            with trio.move_on_after(IDLE_TIMEOUT) as idle:
                data = await stream.receive_some(65536)
            if idle.cancelled_caught:
                return None, None
            conn.receive_data(data)
            continue
        if isinstance(event, h11.Request):
            request = event
        elif isinstance(event, h11.Data):
            if len(body) + len(event.data) > MAX_BODY:
                too_big = True
            else:
                body += event.data
        elif isinstance(event, h11.EndOfMessage):
            return request, None if too_big else bytes(body)
        elif isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
            return None, None


def _answer(
    control: SimulatorControl, request: h11.Request, body: bytes | None
) -> tuple[int, dict[str, Any]]:
    path = request.target.decode("latin-1").split("?", 1)[0].strip("/")
    method = request.method.decode("latin-1")
    if body is None:
        return 413, _error("bad_request", f"request body over {MAX_BODY} bytes")
    if method == "GET" and path == "":
        return 200, control.handle({"op": "help"})
    if method != "POST":
        return 405, _error("bad_request", f"{method} /{path}: use POST /<op> or GET /")
    if "/" in path:
        return 404, _error("unknown_op", f"no such path /{path}")
    params: Any = {}
    if body.strip():
        try:
            params = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return 400, _error("bad_request", f"the body is not JSON: {exc}")
        if not isinstance(params, dict):
            return 400, _error("bad_request", "the body is a JSON object of parameters")
    if path:
        if "op" in params and params["op"] != path:
            return 400, _error("bad_request", f"'op' {params['op']!r} disagrees with /{path}")
        params = {**params, "op": path}
    answer = control.handle(params)
    return status_of(answer), answer


def _reason(status: int) -> bytes:
    return http.HTTPStatus(status).phrase.encode()


def _error(code: str, message: str) -> dict[str, Any]:
    return {"ok": False, "op": None, "error": code, "message": message}


async def serve_lines(
    control: SimulatorControl,
    read_line: Callable[[], Awaitable[str]],
    write: Callable[[str], object],
) -> None:
    """Answer one request per line until ``read_line`` returns "" (end of input).

    ``write`` gets each answer as one JSON line (a line that is no request answers
    ``bad_request``; blank lines are skipped).
    """
    while True:
        line = await read_line()
        if not line:
            return
        if not line.strip():
            continue
        try:
            request = parse_line(line)
        except ValueError as exc:
            answer = _error("bad_request", str(exc))
        else:
            answer = control.handle(request)
        write(json.dumps(answer) + "\n")
