"""A phone bar's back end in FastAPI: one agent over ``cti_fsm.asyncio``, its chart commands
as REST endpoints and its notifications as a server-sent event stream.

Run it against the simulator::

    cti-fsm simulate --vendor csta-ws --port 8765 --control-port 8766 &
    CTI_URL=ws://127.0.0.1:8765/ CTI_USER=1001 CTI_PASSWORD=pw1001 \\
        uvicorn --app-dir examples fastapi_app:app --port 8000

    curl -N localhost:8000/notifications &                   # the event stream
    curl -X POST localhost:8000/commands/check_in -d '{"group_ids": "sales"}'
    curl -X POST localhost:8766/call -d '{"group": "sales"}'  # a customer calls
    curl -X POST localhost:8000/commands/answer
    curl -X POST localhost:8000/commands/check_out            # 409: not while talking

Endpoints:

- ``GET /agent``: state, connected, the commands allowed now;
- ``GET /commands``: every chart command with its arguments;
- ``POST /commands/{name}``: send it; the JSON body holds its arguments. 200 with the step
  the confirming signal took; refused by the chart 409 (``IllegalCommand``, ``Busy``,
  ``MissingContext``), 403 ``PermissionDenied``, 422 ``InvalidArguments``, 501
  ``Unsupported``, 404 no such command; after sending, 502 ``CommandFailed`` (the vendor's
  reason), 504 ``CommandTimeout``, 503 ``Disconnected``. The body names the error and
  carries the chart's message;
- ``GET /notifications``: ``text/event-stream``, one event per notification (its name as
  the event, its payload as JSON data); the stream opens with a ``subscribed`` event.

Configuration from the environment: ``CTI_VENDOR`` (csta-ws), ``CTI_URL``, ``CTI_USER``,
``CTI_PASSWORD`` (never logged or returned), ``CTI_RIGHTS`` (comma-separated),
``CTI_OPTIONS`` (the adapter's options as a JSON object: ``{"username": "1001"}`` for
asterisk-ami).
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Body, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, StreamingResponse

import cti_fsm.asyncio
from cti_fsm import (
    Busy,
    CommandFailed,
    CommandTimeout,
    CtiError,
    Disconnected,
    IllegalCommand,
    InvalidArguments,
    MissingContext,
    PermissionDenied,
    Step,
    Unsupported,
)

#: The HTTP status of each error a command can raise, most specific first.
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


def status_of(error: CtiError) -> int:
    """The HTTP status for a command's error (500 for one this table does not know)."""
    return next((status for kind, status in STATUS if isinstance(error, kind)), 500)


def error_body(error: CtiError) -> dict[str, Any]:
    """What the client is told: the error's kind, the chart's message and its details."""
    body: dict[str, Any] = {"error": type(error).__name__, "message": str(error)}
    for field in ("command", "state", "allowed", "missing", "reason"):
        value = getattr(error, field, None)
        if value is not None:
            body[field] = list(value) if isinstance(value, tuple) else value
    return body


def step_body(step: Step | None) -> dict[str, Any] | None:
    if step is None:
        return None
    return {
        "source": step.source,
        "target": step.target,
        "signal": step.signal,
        "notifications": [n.name for n in step.notifications],
    }


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    rights = [r for r in os.environ.get("CTI_RIGHTS", "").split(",") if r]
    async with cti_fsm.asyncio.open_agent(
        os.environ.get("CTI_VENDOR", "csta-ws"),
        os.environ["CTI_URL"],
        os.environ["CTI_USER"],
        os.environ["CTI_PASSWORD"],
        rights=rights,
        options=json.loads(os.environ.get("CTI_OPTIONS", "{}")),
    ) as agent:
        app.state.agent = agent
        yield


app = FastAPI(title="cti-fsm phone bar", lifespan=lifespan)


def _agent(request: Request) -> cti_fsm.asyncio.Agent:
    agent: cti_fsm.asyncio.Agent = request.app.state.agent
    return agent


@app.get("/agent")
async def agent_view(request: Request) -> dict[str, Any]:
    agent = _agent(request)
    return {
        "user": agent.user,
        "state": agent.state,
        "connected": agent.connected,
        "allowed": list(agent.allowed()),
    }


@app.get("/commands")
async def commands(request: Request) -> dict[str, Any]:
    chart = _agent(request).chart
    return {
        name: {
            "description": spec.description,
            "args": [{"name": a.name, "type": a.type, "required": a.required} for a in spec.args],
        }
        for name, spec in chart.commands.items()
    }


@app.post("/commands/{name}")
async def command(
    name: str, request: Request, args: Annotated[dict[str, Any] | None, Body()] = None
) -> JSONResponse:
    agent = _agent(request)
    if name not in agent.chart.commands:
        raise HTTPException(404, f"chart {agent.chart.name!r} has no command {name!r}")
    try:
        step = await agent.command(name, **(args or {}))
    except CtiError as error:
        return JSONResponse(error_body(error), status_code=status_of(error))
    return JSONResponse({"state": agent.state, "step": step_body(step)})


@app.get("/notifications")
async def notifications(request: Request) -> StreamingResponse:
    agent = _agent(request)

    async def events() -> AsyncIterator[str]:
        async with agent.subscribe() as notes:
            # subscribed before the first byte: a client that saw this misses nothing
            yield f"event: subscribed\ndata: {json.dumps({'state': agent.state})}\n\n"
            async for note in notes:
                data = json.dumps(dict(note.payload), default=str)
                yield f"event: {note.name}\ndata: {data}\n\n"

    return StreamingResponse(events(), media_type="text/event-stream")
