"""The phone bar's server: a Starlette (ASGI) app serving the page, the ``<cti-phone-bar>``
element and one websocket per open bar, each bar driving one ``Agent``.

``create_app(BarConfig(adapter, url))`` builds it; ``serve(app, host, port)`` runs it on
hypercorn's trio worker. The rules live in ``cti_fsm.phonebar.protocol`` (sans-IO); this
module moves frames between the websocket and the agent:

- the websocket's ``Origin`` must be the server's own (on an allowed host name) or in
  ``BarConfig.allow_origins``, else the handshake is refused (HTTP 403); requests for a
  ``Host`` not in ``allowed_hosts`` are refused (DNS rebinding);
- the first accepted login opens the bar's agent with that user and password; the password
  goes to the agent and nowhere else (not logged, not echoed, not kept by the bar); a bar
  drives only the agent that logged in on it;
- every command is checked against the chart, the vendor and the agent's rights
  (``protocol.check_command``) before the agent is asked to send it, so a command the
  chart refuses reaches nothing;
- every notification goes to the browser (as the page's ``CustomEvent``), and after every
  step a fresh view (state, when it began, what is allowed, the call, the choices);
- every HTTP response carries a Content-Security-Policy allowing only the server's own
  scripts, styles and websocket.
"""

from __future__ import annotations

import collections
import logging
import pathlib
import shutil
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from typing import Any

import attrs
import trio
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from ..adapter import Adapter
from ..agent import Agent, Backoff
from ..chart import Chart
from ..diagrams import diagram
from ..errors import CtiError
from ..events import Notification, Step
from ..session import Lifecycle
from ..switch import SwitchError
from . import protocol
from .world import ACTIONS, World

__all__ = ["DEFAULT_REASONS", "QUERIES", "Bar", "BarConfig", "create_app", "serve"]

log = logging.getLogger("cti_fsm.phonebar")

STATIC = pathlib.Path(__file__).with_name("static")
_MEDIA_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}
#: not-ready reason codes offered when the server is given none
DEFAULT_REASONS = ("break", "lunch", "meeting", "training", "after_call_work")
#: queries the bar makes for its agent when the chart has them and they are allowed:
#: command -> (the answer's payload field, what the bar keeps it as, refreshed regularly)
QUERIES: Mapping[str, tuple[str, str, bool]] = {
    "get_transfer_groups": ("groups", "targets", False),
    "get_agent_groups": ("groups", "groups", False),
    "get_all_agents": ("agents", "team", True),
}
#: frames a bar may owe its browser before it is cut off as too slow
MAX_BACKLOG = 1000
#: commands of one bar that may wait for their answers at once
MAX_IN_FLIGHT = 16
#: websocket close code for a policy violation (RFC 6455)
POLICY_VIOLATION = 1008


@attrs.frozen
class BarConfig:
    """How the bar's server reaches the CTI server and whom it serves.

    Attributes:
        adapter: the vendor adapter every bar's agent uses.
        url: the CTI server's address (the browser never chooses it).
        reasons: the not-ready reason codes offered.
        allow_origins: origins (``https://crm.example.com``) besides the server's own whose
            pages may open a bar: those that embed ``<cti-phone-bar>``.
        allowed_hosts: host names the server answers to (its bind address is added).
        team_every: seconds between refreshes of a supervisor's team view.
        world: the simulated world (``cti-fsm phonebar --demo``), or None.
        reconnect: the agents' reconnect policy.
        chart: the chart the agents run (default: the adapter's); the page draws its
            commands, so a chart of your own gets its buttons with no code change.
        options: vendor options for every bar's agent (``Agent``'s ``options``: an AMI
            manager account, say); the server's, never the browser's.
    """

    adapter: Adapter
    url: str
    reasons: tuple[str, ...] = DEFAULT_REASONS
    allow_origins: frozenset[str] = frozenset()
    allowed_hosts: tuple[str, ...] = ("127.0.0.1", "localhost")
    team_every: float = 3.0
    world: World | None = None
    reconnect: Backoff = attrs.field(factory=lambda: Backoff(base=0.2, cap=5.0))
    chart: Chart | None = None
    options: Mapping[str, Any] = attrs.field(factory=dict)

    @property
    def agent_chart(self) -> Chart:
        """The chart every bar's agent runs."""
        return self.chart or self.adapter.chart


def origin_allowed(origin: str | None, server_port: int | None, config: BarConfig) -> bool:
    """True if a page from ``origin`` may open a bar on a server at ``server_port``.

    A websocket without an Origin is refused: every browser sends one, and a client
    that leaves it out has nothing to prove.
    """
    if origin is None:
        return False
    if origin in config.allow_origins:
        return True
    own = {
        f"{scheme}://{host}:{server_port}"
        for scheme in ("http", "https")
        for host in config.allowed_hosts
    }
    return origin in own


def _csp(config: BarConfig) -> str:
    ancestors = " ".join(["'self'", *sorted(config.allow_origins)])
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "connect-src 'self'",
            "base-uri 'none'",
            "form-action 'none'",
            f"frame-ancestors {ancestors}",
        ]
    )


class _SecurityHeaders:
    """ASGI middleware: the CSP and its companions on every HTTP response."""

    def __init__(self, app: Any, csp: str) -> None:
        self.app = app
        self.headers = [
            (b"content-security-policy", csp.encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
            (b"cache-control", b"no-store"),
        ]

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[MutableMapping[str, Any]]],
        send: Callable[[MutableMapping[str, Any]], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *self.headers]
            await send(message)

        await self.app(scope, receive, with_headers)


def _drawing(chart: Chart) -> tuple[str | None, str]:
    """The chart as SVG (when Graphviz is installed) and as mermaid text."""
    svg = None
    if shutil.which("dot") is not None:
        try:
            svg = diagram(chart, "svg")
        except RuntimeError as exc:  # a broken Graphviz: the page shows the mermaid text
            log.warning("phone bar: cannot draw the chart as SVG: %s", exc)
    return svg, diagram(chart, "mermaid")


class Bar:
    """One open bar: its websocket and, once logged in, its agent."""

    def __init__(self, config: BarConfig, ws: WebSocket, hello: str) -> None:
        self.config = config
        self.ws = ws
        self.hello = hello
        self.agent: Agent | None = None
        self.user: str | None = None
        self.lifecycle = Lifecycle.of(config.agent_chart)
        self.state = protocol.BarState(reasons=config.reasons)
        self._out: collections.deque[str] = collections.deque()
        self._dirty = False
        self._wake = trio.Event()
        self._logged_out = trio.Event()
        self._overflow = False
        self._in_flight = 0

    def __repr__(self) -> str:
        return f"<Bar user={self.user!r} agent={self.agent!r}>"

    # --- sending ---------------------------------------------------------------------------------
    def _queue(self, frame: str) -> None:
        if len(self._out) >= MAX_BACKLOG:
            # a browser that stopped reading must not grow memory without bound: the
            # writer closes its websocket
            self._overflow = True
        else:
            self._out.append(frame)
        self._wake.set()

    def _changed(self) -> None:
        self._dirty = True
        self._wake.set()

    def _view(self) -> str:
        agent = self.agent
        assert agent is not None
        return protocol.view_frame(
            agent.machine,
            agent.adapter.unsupported,
            self.state,
            user=agent.user,
            connected=agent.connected,
            now=trio.current_time(),
            wall=time.time(),
            login_command=self.lifecycle.connect,
            allowed=agent.allowed(),
        )

    async def _writer(self) -> None:
        while True:
            await self._wake.wait()
            self._wake = trio.Event()
            if self._overflow:
                log.warning("phone bar: %s's browser stopped reading; closing its bar", self.user)
                await self.ws.close(code=POLICY_VIOLATION)
                raise WebSocketDisconnect(POLICY_VIOLATION, "too many unread frames")
            while self._out:
                await self.ws.send_text(self._out.popleft())
            if self._dirty and self.agent is not None:
                self._dirty = False
                await self.ws.send_text(self._view())

    # --- the bar's life --------------------------------------------------------------------------
    async def run(self) -> None:
        """Serve the bar until the browser goes: hello, then login, agent, logout, again."""
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._writer)
                self._queue(self.hello)
                while True:
                    login = await self._await_login()
                    await self._logged_in(login)
        except* WebSocketDisconnect:
            pass  # the browser went (or was cut off): its agent is closed already

    async def _receive(self) -> str:
        message = await self.ws.receive()
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000))
        text = message.get("text")
        if text is None:
            self._queue(protocol.error_frame("binary frames are not understood; send JSON text"))
            return ""
        return str(text)

    async def _await_login(self) -> protocol.Login:
        while True:
            text = await self._receive()
            if not text:
                continue
            try:
                request = protocol.parse(text)
            except protocol.BadFrame as exc:
                self._queue(protocol.error_frame(str(exc), exc.id))
                continue
            if isinstance(request, protocol.Login):
                return request
            self._queue(protocol.result_frame(request.id, CtiError("log in first")))

    async def _logged_in(self, login: protocol.Login) -> None:
        config = self.config
        adapter = config.adapter
        lifecycle = self.lifecycle
        asks_server = lifecycle.rights is not None and lifecycle.rights not in adapter.unsupported
        self.state = protocol.BarState(reasons=config.reasons, since=trio.current_time())
        self._logged_out = trio.Event()
        user, password = login.user, login.password
        agent = Agent(
            adapter,
            config.url,
            user,
            password,
            rights="server" if asks_server else (),
            reconnect=config.reconnect,
            chart=config.agent_chart,
            options=config.options,
        )
        # listening before the login, so the browser hears onConnect too
        agent.on_step(self._on_step)
        agent.on("*", self._on_note)
        failed: CtiError | None = None
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(agent.run)
                self.agent, self.user = agent, user
                log.info("phone bar: %s logged in", user)
                self._changed()
                try:
                    async with trio.open_nursery() as work:
                        work.start_soon(self._queries)
                        work.start_soon(self._commands, work)
                        await self._logged_out.wait()
                        work.cancel_scope.cancel()
                finally:
                    with trio.CancelScope(shield=True):
                        await agent.aclose()
                    nursery.cancel_scope.cancel()
        except* CtiError as group:
            # a login refused, or reconnecting given up: back to the login form
            first = group.exceptions[0]
            failed = first if isinstance(first, CtiError) else CtiError(str(first))
        finally:
            self.agent = None
            self._dirty = False
        if failed is not None:
            log.info("phone bar: %s: %s", user, type(failed).__name__)
            self._queue(protocol.logged_out_frame(_without(str(failed), password)))
        else:
            log.info("phone bar: %s logged out", user)
            self._queue(protocol.logged_out_frame("logged out"))

    def _on_step(self, step: Step) -> None:
        self.state.observe_step(step, trio.current_time())
        self._changed()

    def _on_note(self, note: Notification) -> None:
        self.state.observe(note, trio.current_time())
        self._queue(protocol.event_frame(note))
        self._changed()

    async def _query(self, agent: Agent, command: str) -> None:
        try:
            step = await agent.command(command)
        except CtiError as exc:
            log.info("phone bar: %s: %s failed: %s", agent.user, command, exc)
            return
        self._record(command, step)

    def _record(self, command: str, step: Step | None) -> None:
        """Keep what a query answered (groups, the team) for the pickers."""
        if step is None or self.user is None:
            return
        field, key, _ = QUERIES[command]
        value = step.payload.get(field)
        if key == "team":
            self.state.set_team(value, self.user)
        else:
            self.state.set_groups(key, value)
        self._changed()

    async def _queries(self) -> None:
        """Ask once for what the pickers offer; keep a supervisor's team view fresh."""
        agent = self.agent
        assert agent is not None
        chart = agent.chart
        first = True
        while True:
            for command, (_, _, refresh) in QUERIES.items():
                wanted = command in chart.commands and (first or refresh)
                if wanted and command in agent.allowed():
                    await self._query(agent, command)
            first = False
            await trio.sleep(self.config.team_every)

    async def _commands(self, nursery: trio.Nursery) -> None:
        """Read the browser's frames; each command runs as its own task."""
        while True:
            text = await self._receive()
            if not text:
                continue
            try:
                request = protocol.parse(text)
            except protocol.BadFrame as exc:
                self._queue(protocol.error_frame(str(exc), exc.id))
                continue
            if isinstance(request, protocol.Login):
                self._queue(
                    protocol.error_frame(f"already logged in as {self.user!r}; log out first")
                )
            elif isinstance(request, protocol.WorldRequest):
                self._world(request)
            elif self._in_flight >= MAX_IN_FLIGHT:
                # a page flooding commands must not queue them without bound
                busy = CtiError(f"{MAX_IN_FLIGHT} commands are waiting for answers; try later")
                self._queue(protocol.result_frame(request.id, busy))
            else:
                self._in_flight += 1
                nursery.start_soon(self._command, request)

    async def _command(self, request: protocol.CommandRequest) -> None:
        try:
            await self._checked_command(request)
        finally:
            self._in_flight -= 1

    async def _checked_command(self, request: protocol.CommandRequest) -> None:
        agent = self.agent
        assert agent is not None
        try:
            args = protocol.check_command(
                agent.machine,
                agent.adapter.unsupported,
                request,
                vendor=agent.adapter.name,
                login_command=self.lifecycle.connect,
            )
        except CtiError as exc:
            log.info("phone bar: %s: refused %s: %s", agent.user, request.name, exc)
            self._queue(protocol.result_frame(request.id, exc))
            return
        try:
            step = await agent.command(request.name, **args)
        except CtiError as exc:
            self._queue(protocol.result_frame(request.id, exc))
        else:
            self._queue(protocol.result_frame(request.id))
            if request.name == self.lifecycle.disconnect:
                self._logged_out.set()
            elif request.name in QUERIES:
                # the browser asked for a query itself: keep what it answered
                self._record(request.name, step)
        self._changed()

    def _world(self, request: protocol.WorldRequest) -> None:
        world = self.config.world
        if world is None or self.user is None:
            error: Exception | None = CtiError("there is no simulated world here")
        else:
            try:
                world.act(request.action, self.user, request.args)
                error = None
            except (KeyError, ValueError, SwitchError) as exc:
                error = CtiError(str(exc).strip("'\""))
        self._queue(protocol.result_frame(request.id, error))


def _without(text: str, secret: str) -> str:
    """``text`` with ``secret`` blotted out (a vendor's error might quote it)."""
    return text.replace(secret, "***") if secret else text


def create_app(config: BarConfig) -> Starlette:
    """The phone bar's ASGI app for ``config``. ``app.state.bars`` holds the open bars.

    Routes: ``/`` the bar page, ``/phone-bar.js`` the ``<cti-phone-bar>`` element, ``/static``
    its style sheet, ``/ws`` the bars' websocket.
    """
    chart = config.agent_chart
    svg, mermaid = _drawing(chart)
    world = [a.describe() for a in ACTIONS.values()] if config.world is not None else None
    hello = protocol.hello_frame(
        chart,
        vendor=config.adapter.name,
        unsupported=config.adapter.unsupported,
        login_command=Lifecycle.of(chart).connect,
        svg=svg,
        mermaid=mermaid,
        demo=world,
    )
    bars: set[Bar] = set()

    # the assets are small and fixed: read once, served from memory
    assets = {
        path.name: (path.read_bytes(), _MEDIA_TYPES[path.suffix])
        for path in STATIC.iterdir()
        if path.suffix in _MEDIA_TYPES
    }

    def asset(name: str) -> Response:
        found = assets.get(name)
        if found is None:
            return Response("not found\n", status_code=404, media_type="text/plain")
        return Response(found[0], media_type=found[1])

    async def page(_: Request) -> Response:
        return asset("index.html")

    async def script(_: Request) -> Response:
        return asset("phone-bar.js")

    async def static(request: Request) -> Response:
        return asset(str(request.path_params["name"]))

    async def no_icon(_: Request) -> Response:
        return Response(status_code=204)

    async def websocket(ws: WebSocket) -> None:
        server = ws.scope.get("server")
        port = server[1] if server else None
        origin = ws.headers.get("origin")
        if not origin_allowed(origin, port, config):
            log.warning("phone bar: websocket from origin %r refused", origin)
            await ws.close(code=POLICY_VIOLATION)
            return
        await ws.accept()
        bar = Bar(config, ws, hello)
        bars.add(bar)
        try:
            await bar.run()
        finally:
            bars.discard(bar)
            if bar.agent is not None:
                log.info("phone bar: %s's browser went away", bar.user)

    app = Starlette(
        routes=[
            Route("/", page),
            Route("/phone-bar.js", script),
            Route("/favicon.ico", no_icon),
            Route("/static/{name}", static),
            WebSocketRoute("/ws", websocket),
        ],
        middleware=[
            Middleware(TrustedHostMiddleware, allowed_hosts=list(config.allowed_hosts)),
            Middleware(_SecurityHeaders, csp=_csp(config)),
        ],
    )
    app.state.bars = bars
    app.state.config = config
    return app


async def serve(
    app: Starlette,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``app`` on hypercorn's trio worker until cancelled; started with its base URL
    (``http://127.0.0.1:PORT``).

    Raises:
        OSError: the address cannot be listened on.
    """
    from hypercorn.config import Config
    from hypercorn.trio import serve as hypercorn_serve

    hc = Config()
    hc.bind = [f"{host}:{port}"]
    hc.accesslog = None
    hc.graceful_timeout = 0.5
    hc.websocket_max_message_size = protocol.MAX_FRAME * 4
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(_serve_with, hypercorn_serve, app, hc)
        task_status.started(_base_url(binds))


async def _serve_with(
    hypercorn_serve: Any,
    app: Starlette,
    hc: Any,
    *,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    await hypercorn_serve(app, hc, task_status=task_status)


def _base_url(binds: Iterable[str]) -> str:
    return next(iter(binds)).rstrip("/")
