"""A CSTA-over-websocket server backed by the switch model, with fault injection (trio).

Each websocket connection logs in as one agent (StartApplicationSession). Its requests act
on the ``Switch``; a refused operation becomes a CSTA error response; every switch event
goes out, rendered from each concerned agent's point of view, to that agent's
connections: after the response when a request caused it, at once when a test drove the
switch directly (``switch.inbound_call(...)``). A dropped link leaves the switch as it was
(a CTI server keeps the agent's state), so the agent can log in again and resynchronise.

Fault injection, per agent (every connection it has; each returns how many it reached)::

    sim.drop_link(agent, abrupt=True)     # TCP closed without a close frame (False: code 1001)
    sim.send_garbage(agent, data=...)     # a frame that is not JSON
    sim.send_truncated(agent)             # a valid event cut in half
    sim.send_oversized(agent, size=None)  # a valid JSON event bigger than the codec limit
    sim.duplicate_next_event(agent)       # the next event is sent twice
    sim.delay_next_event(agent, seconds)  # the next event is sent late; later ones overtake

and ``sim.requests(agent)`` lists what the server received (passwords shown as ``***``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, wrap_server_stream

from cti_fsm.adapter import Malformed
from cti_fsm.ratelimit import RateLimitedLog
from cti_fsm.simulator_server import Client, ClientLink, SimulatorServer
from cti_fsm.switch import (
    AgentCheckedIn,
    AgentCheckedOut,
    AgentInfo,
    AgentNotReady,
    AgentReady,
    AgentSnapshot,
    AgentWorkingAfterCall,
    CallConferenced,
    CallFailed,
    CallInitiated,
    CallOriginated,
    CallTransferred,
    LegAlerting,
    LegAnswered,
    LegCleared,
    LegHeld,
    LegRetrieved,
    Switch,
    SwitchError,
    SwitchEvent,
)

from .codec import DEFAULT_MAX_FRAME, JsonCodec

__all__ = ["CSTA_CAUSES", "CSTA_ERRORS", "CstaSimulator"]

log = logging.getLogger("cti_fsm_csta_ws.simulator")

PROTOCOL_VERSION = "csta-json-1"
#: How many received requests ``requests()`` remembers (the oldest are forgotten).
REQUEST_LOG = 100_000
#: How many frames may wait for a client that does not read before it is disconnected
#: (a few MB of events; a client reading at all drains them long before).
BACKLOG = 10_000

#: Switch error code -> ECMA-269 error (category, value).
CSTA_ERRORS: Mapping[str, tuple[str, str]] = {
    "unknown_agent": ("operation", "invalidAgentIdentifier"),
    "bad_password": ("operation", "invalidAgentPassword"),
    "not_logged_in": ("security", "generic"),
    "no_rights": ("operation", "privilegeViolationSpecifiedDevice"),
    "unknown_group": ("operation", "invalidAgentGroup"),
    "invalid_agent_state": ("operation", "invalidAgentState"),
    "busy": ("stateIncompatibility", "invalidDeviceState"),
    "no_active_call": ("stateIncompatibility", "noActiveCall"),
    "no_held_call": ("stateIncompatibility", "noHeldCall"),
    "no_call_to_answer": ("stateIncompatibility", "noCallToAnswer"),
    "no_call_to_clear": ("stateIncompatibility", "noCallToClear"),
    "no_call_to_complete": ("stateIncompatibility", "noCallToComplete"),
    "invalid_call_state": ("stateIncompatibility", "invalidObjectState"),
    "unknown_call": ("operation", "invalidCallID"),
    "invalid_destination": ("operation", "invalidDestination"),
    "destination_busy": ("stateIncompatibility", "invalidCalledDeviceState"),
    "invalid_parameter": ("operation", "invalidParameterValue"),
}
#: Switch cause -> ECMA-269 EventCause (``takeOver`` is this dialect's own).
CSTA_CAUSES: Mapping[str, str] = {
    "normal": "normalClearing",
    "busy": "busy",
    "no_answer": "callNotAnswered",
    "rejected": "normalClearing",
    "take_over": "takeOver",
    "forced_logout": "forcedTransition",
    "logout": "normalClearing",
    "ring_no_answer": "callNotAnswered",
}
#: How a call reached the ringing device -> EventCause of the delivered event.
_DELIVERY_CAUSES: Mapping[str, str] = {
    "group": "distributed",
    "direct": "newCall",
    "consultation": "consultation",
    "transfer": "singleStepTransfer",
}
_CONFERENCE_CAUSES: Mapping[str, str] = {
    "conference": "conference",
    "listen": "silentParticipation",
    "barge_in": "intrude",
}
_LOCAL_STATES: Mapping[str, str] = {
    "initiated": "initiated",
    "alerting": "alerting",
    "connected": "connected",
    "held": "hold",
}


class _BadRequest(Exception):
    """A request this server cannot carry out as written (not a switch refusal)."""

    def __init__(self, category: str, value: str, message: str) -> None:
        super().__init__(message)
        self.category, self.value, self.message = category, value, message


@attrs.define(eq=False)
class _WebSocketLink:
    """A server-side websocket as a ``ClientLink`` of messages."""

    ws: WebSocketConnection
    stream: trio.abc.Stream

    async def receive(self) -> str | bytes | None:
        try:
            return await self.ws.get_message()
        except ConnectionClosed:
            return None

    async def send(self, frame: str | bytes) -> None:
        try:
            await self.ws.send_message(frame)
        except ConnectionClosed as exc:
            raise trio.BrokenResourceError("the websocket is closed") from exc

    async def close(self, *, dropped: bool) -> None:
        # 1001 (going away) when the server ended it, 1000 when the client left or the
        # server stopped
        await self.ws.aclose(1001 if dropped else 1000)

    async def abort(self) -> None:
        # the TCP connection ends without a close frame: the client sees 1006
        await self.stream.aclose()


@attrs.define(eq=False)
class _Connection(Client[str | bytes]):
    session: str | None = None
    monitor: str | None = None
    device: str | None = None


def _cid(call: str, device: str) -> dict[str, str]:
    return {"callID": call, "deviceID": device}


class CstaSimulator(SimulatorServer[str | bytes, _Connection]):
    """The ``csta-ws`` server over a ``Switch`` (``cti_fsm.adapter.Simulator``), in the
    shell every simulator runs in (``cti_fsm.simulator_server``).

    Args:
        switch: the switch the requests act on and whose events are sent.
        secrets: request fields shown as ``***`` in ``requests()`` and logs.
        max_frame: frames from clients longer than this are ignored as malformed.
        handshake_timeout: seconds a client has to finish the websocket handshake.

    Attributes:
        port: the port listened on, once serving.
    """

    url_template = "ws://{host}:{port}/"
    tls_url_template = "wss://{host}:{port}/"

    def __init__(
        self,
        switch: Switch,
        *,
        secrets: frozenset[str] = frozenset({"password"}),
        max_frame: int = DEFAULT_MAX_FRAME,
        handshake_timeout: float = 10.0,
    ) -> None:
        # each entry of _received is [agent, request, redacted yet?]: a sign-in is redacted
        # when received, the others (no secrets in this protocol after it) when first asked
        # for: the requests are only read, never changed
        super().__init__(switch, received_kept=REQUEST_LOG, backlog=BACKLOG)
        self.secrets = secrets
        self.max_frame = max_frame
        self.handshake_timeout = handshake_timeout
        self._codec = JsonCodec(max_frame)
        # a client sending garbage gets one warning per interval, not one per frame
        self._warn = RateLimitedLog(log)
        # the events of the request being handled: they go out after its response
        self._holding: list[SwitchEvent] | None = None

    # --- the connection ----------------------------------------------------------------------
    async def _open_link(
        self, stream: trio.SocketStream | trio.SSLStream[trio.SocketStream], nursery: trio.Nursery
    ) -> _WebSocketLink | None:
        with trio.move_on_after(self.handshake_timeout):
            request = await wrap_server_stream(nursery, stream, max_message_size=self.max_frame + 1)
            return _WebSocketLink(await request.accept(), stream)
        return None

    def _new_client(
        self, id: int, link: ClientLink[str | bytes], nursery: trio.Nursery
    ) -> _Connection:
        return _Connection(id, link, nursery)

    def _client_sent(self, conn: _Connection, frame: str | bytes) -> bool:
        for item in self._codec.feed(frame):
            if isinstance(item, Malformed):
                self._warn.warning(
                    time.monotonic(),
                    "malformed",
                    "connection %d: malformed request: %s",
                    conn.id,
                    item.reason,
                )
                continue
            self._handle(conn, item)
        return True

    # --- introspection -----------------------------------------------------------------------
    def requests(self, agent_id: str | None = None) -> list[dict[str, Any]]:
        """The requests received (of one agent's connections, if given), secrets hidden, the
        last ``REQUEST_LOG`` of them. A login counts as its agent's even if it failed."""
        out = []
        for entry in self._received:
            if agent_id is None or entry[0] == agent_id:
                if not entry[2]:
                    entry[1], entry[2] = self._redact(entry[1]), True
                out.append(entry[1])
        return out

    def services(self, agent_id: str | None = None) -> list[str]:
        """The services of ``requests(agent_id)``, in order: what a test usually checks."""
        return [str(m.get("service")) for m in self.requests(agent_id)]

    # --- fault injection (and the shell's drop_link, duplicate_next_event, delay_next_event)
    def _malformed(self) -> str:
        """What ``send_malformed`` sends: a frame that is not JSON."""
        return "this is not JSON {"

    def send_garbage(self, agent_id: str, data: str | bytes = "this is not JSON {") -> int:
        """Send a frame that is not a JSON object (in order with the other frames)."""
        return self._push_raw(agent_id, data)

    def send_truncated(self, agent_id: str) -> int:
        """Send a well-formed event cut in the middle."""
        frame = self._codec.encode(self._filler_event(agent_id, 0))
        assert isinstance(frame, str)
        return self._push_raw(agent_id, frame[: len(frame) // 2])

    def send_oversized(self, agent_id: str, size: int | None = None) -> int:
        """Send a valid JSON event of about ``size`` characters (default: just over the
        client codec's default limit), which the client must refuse without dropping."""
        length = size if size is not None else DEFAULT_MAX_FRAME + 1024
        frame = self._codec.encode(self._filler_event(agent_id, length))
        return self._push_raw(agent_id, frame)

    def _filler_event(self, agent_id: str, padding: int) -> dict[str, Any]:
        conns = self._clients_of(agent_id)
        monitor = conns[0].monitor if conns else None
        return {
            "type": "event",
            "event": "privateEvent",
            "monitorCrossRefId": monitor,
            "params": {"privateData": {"filler": "x" * padding}},
        }

    # --- requests ----------------------------------------------------------------------------
    def _handle(self, conn: _Connection, message: Mapping[str, Any]) -> None:
        if conn.agent is None:
            # signing in: the request carries the password, which is hidden at once
            self._received.append([_login_user(message), self._redact(message), True])
        else:
            self._received.append([conn.agent, message, False])
        invoke_id = message.get("invokeId")
        service = message.get("service")
        if message.get("type") != "request" or invoke_id is None:
            self._warn.warning(
                time.monotonic(),
                "not a request",
                "connection %d: not a request, ignored: %.40r",
                conn.id,
                message.get("type"),
            )
            return
        params = message.get("params")
        if not isinstance(params, Mapping):
            params = {}
        self._holding = []
        try:
            handler = _SERVICES.get(service) if isinstance(service, str) else None
            if handler is None:
                raise _BadRequest(
                    "operation", "serviceNotSupported", f"unknown service {service!r}"
                )
            if conn.agent is None and service != "StartApplicationSession":
                raise _BadRequest("security", "generic", "start a session first")
            result = handler(self, conn, params)
            response: dict[str, Any] = {"type": "response", "invokeId": invoke_id, "result": result}
        except SwitchError as exc:
            category, value = CSTA_ERRORS.get(exc.code, ("unspecified", "generic"))
            response = _error(invoke_id, category, value, exc.message)
        except _BadRequest as exc:
            response = _error(invoke_id, exc.category, exc.value, exc.message)
        except Exception:
            # a simulator bug fails this one request (loudly, in the log), not the server
            log.exception("connection %d: %s failed inside the simulator", conn.id, service)
            response = _error(invoke_id, "unspecified", "generic", "internal simulator error")
        finally:
            held, self._holding = self._holding, None
        self._enqueue(conn, response, is_event=False)
        self._dispatch(held)

    def _redact(self, message: Any) -> Any:
        if isinstance(message, Mapping):
            return {k: "***" if k in self.secrets else self._redact(v) for k, v in message.items()}
        if isinstance(message, list):
            return [self._redact(v) for v in message]
        return message

    def _enqueue(self, conn: _Connection, message: Mapping[str, Any], *, is_event: bool) -> None:
        self._send(conn, self._codec.encode(message), event=is_event)

    def _attach(self, conn: _Connection, agent_id: str) -> None:
        # one counter for connections and sessions, so session numbers never repeat
        n = next(self._client_ids)
        conn.session, conn.monitor = f"session-{n}", f"monitor-{n}"
        conn.device = self.switch.agent_info(agent_id).device
        self._log_in(conn, agent_id)

    def _log_out(self, conn: _Connection) -> None:
        super()._log_out(conn)
        conn.session = conn.monitor = None

    # --- events ------------------------------------------------------------------------------
    def _on_switch_events(self, events: Sequence[SwitchEvent]) -> None:
        if self._holding is not None:
            self._holding.extend(events)  # sent after the response that caused them
        else:
            self._dispatch(events)

    def _dispatch(self, events: Sequence[SwitchEvent]) -> None:
        for event in events:
            render = _RENDER.get(type(event))
            if render is None:
                continue
            for agent_id in event.concerns:
                for conn in self._by_agent.get(agent_id, ()):
                    params = render(event)
                    if params is None:
                        continue
                    name, body = params
                    message = {
                        "type": "event",
                        "event": name,
                        "monitorCrossRefId": conn.monitor,
                        "params": body,
                    }
                    self._enqueue(conn, message, is_event=True)

    # --- services ----------------------------------------------------------------------------
    def _own_connection(self, conn: _Connection, params: Mapping[str, Any], key: str) -> str | None:
        """The callID of the connection ``params[key]``, which must be on the agent's device."""
        connection = params.get(key)
        if connection is None:
            return None
        if not isinstance(connection, Mapping):
            raise _BadRequest("operation", "invalidConnectionID", f"{key} must be an object")
        device = connection.get("deviceID")
        if device is not None and device != conn.device:
            raise _BadRequest(
                "operation", "privilegeViolationSpecifiedDevice", f"{key} is not on your device"
            )
        call = connection.get("callID")
        return str(call) if call is not None else None

    def _agent_named(self, conn: _Connection, params: Mapping[str, Any]) -> str:
        """The agent a SetAgentState names (by agentID or device; default: the caller)."""
        agent = params.get("agentID")
        device = params.get("device")
        if device is not None:
            owner = self.switch.agent_by_device(str(device))
            if owner is None:
                raise _BadRequest("operation", "invalidDeviceID", f"no agent on device {device!r}")
            if agent is not None and str(agent) != owner:
                raise _BadRequest(
                    "operation", "invalidAgentIdentifier", f"agent {agent!r} is not on {device!r}"
                )
            return owner
        return str(agent) if agent is not None else _must(conn.agent)

    def _start_session(self, conn: _Connection, params: Mapping[str, Any]) -> dict[str, Any]:
        if conn.agent is not None:
            raise _BadRequest("stateIncompatibility", "invalidObjectState", "session already open")
        info = _mapping(_mapping(params.get("applicationInfo")).get("applicationSpecificInfo"))
        user, password = info.get("userID"), info.get("password")
        if not isinstance(user, str) or not isinstance(password, str):
            raise _BadRequest("operation", "invalidParameterValue", "userID and password needed")
        self.switch.login(user, password)
        self._attach(conn, user)
        agent = self.switch.agent_info(user)
        return {
            "sessionID": conn.session,
            "actualProtocolVersion": PROTOCOL_VERSION,
            "monitorCrossRefId": conn.monitor,
            "device": agent.device,
            "agentID": agent.agent,
            "rights": list(agent.rights),
        }

    def _stop_session(self, conn: _Connection, params: Mapping[str, Any]) -> dict[str, Any]:
        self.switch.logout(_must(conn.agent))
        self._log_out(conn)
        return {}

    def _monitor_start(self, conn: _Connection, params: Mapping[str, Any]) -> dict[str, Any]:
        device = _mapping(params.get("monitorObject")).get("deviceObject")
        if device != conn.device:
            raise _BadRequest(
                "operation", "invalidMonitorObject", "only your own device can be monitored"
            )
        return {"monitorCrossRefId": conn.monitor}

    def _set_agent_state(self, conn: _Connection, params: Mapping[str, Any]) -> dict[str, Any]:
        me = _must(conn.agent)
        agent = self._agent_named(conn, params)
        by = me if agent != me else None
        wanted = params.get("requestedAgentState")
        if wanted == "loggedOn":
            if by is not None:
                raise _BadRequest(
                    "operation", "privilegeViolationSpecifiedDevice", "log on yourself only"
                )
            groups = params.get("agentGroup") or ()
            self.switch.check_in(agent, [groups] if isinstance(groups, str) else list(groups))
        elif wanted == "loggedOff":
            if by is None:
                self.switch.check_out(agent)
            else:
                self.switch.force_logout(me, agent)
        elif wanted == "notReady":
            reason = params.get("reasonCode")
            self.switch.pause(agent, None if reason is None else str(reason), by=by)
        elif wanted == "ready":
            ending_wrap_up = _mapping(params.get("privateData")).get("endWrapUp") is True
            if ending_wrap_up and self.switch.situation(agent) != "wrap_up":
                # the after-call work to end is the client's own (its chart's timer): the
                # switch has none running, so there is nothing to do, and nothing fails
                return {}
            self.switch.restore(agent, by=by)
        else:
            raise _BadRequest(
                "operation", "invalidAgentState", f"requestedAgentState {wanted!r} not supported"
            )
        return {}

    def _make_call(self, conn: _Connection, params: Mapping[str, Any]) -> dict[str, Any]:
        if params.get("callingDevice", conn.device) != conn.device:
            raise _BadRequest(
                "operation", "privilegeViolationCallingDevice", "call from your own device"
            )
        events = self.switch.dial(_must(conn.agent), str(_needed(params, "calledDirectoryNumber")))
        call = next(e.call for e in events if isinstance(e, CallInitiated))
        return {"callingDevice": _cid(call, _must(conn.device))}

    def _answer_call(self, conn: _Connection, params: Mapping[str, Any]) -> dict[str, Any]:
        call = self._own_connection(conn, params, "callToBeAnswered")
        self.switch.answer(_must(conn.agent), call)
        return {}

    def _clear_connection(self, conn: _Connection, params: Mapping[str, Any]) -> dict[str, Any]:
        call = self._own_connection(conn, params, "connectionToBeCleared")
        self.switch.hangup(_must(conn.agent), call)
        return {}

    def _hold_call(self, conn: _Connection, params: Mapping[str, Any]) -> dict[str, Any]:
        self.switch.hold(_must(conn.agent), self._own_connection(conn, params, "callToBeHeld"))
        return {}

    def _retrieve_call(self, conn: _Connection, params: Mapping[str, Any]) -> dict[str, Any]:
        call = self._own_connection(conn, params, "callToBeRetrieved")
        self.switch.retrieve(_must(conn.agent), call)
        return {}

    def _generate_digits(self, conn: _Connection, params: Mapping[str, Any]) -> dict[str, Any]:
        call = self._own_connection(conn, params, "connectionToSendDigits")
        digits = _needed(params, "charactersToSend")
        self.switch.send_dtmf(_must(conn.agent), str(digits), call)
        return {}

    def _single_step_transfer(self, conn: _Connection, params: Mapping[str, Any]) -> dict[str, Any]:
        call = self._own_connection(conn, params, "activeCall")
        target = str(_needed(params, "transferredTo"))
        events = self.switch.transfer(_must(conn.agent), target, call)
        moved = next(e for e in events if isinstance(e, CallTransferred))
        return {"transferredCall": _cid(moved.call, moved.target)}

    def _consultation_call(self, conn: _Connection, params: Mapping[str, Any]) -> dict[str, Any]:
        call = self._own_connection(conn, params, "existingCall")
        target = str(_needed(params, "consultedDevice"))
        events = self.switch.consult(_must(conn.agent), target, call)
        consult = next(e.call for e in events if isinstance(e, CallInitiated))
        return {"initiatedCall": _cid(consult, _must(conn.device))}

    def _consultation_calls(self, conn: _Connection, params: Mapping[str, Any]) -> None:
        """Check that heldCall/activeCall name the agent's call and its consultation."""
        agent = _must(conn.agent)
        held = self._own_connection(conn, params, "heldCall")
        active = self._own_connection(conn, params, "activeCall")
        consult = self.switch.consultation_of(agent)
        if consult is None:
            raise SwitchError("no_call_to_complete", f"agent {agent!r} is not consulting")
        if held is not None and held != self.switch.call_of(agent):
            raise _BadRequest("operation", "invalidHeldCallID", f"{held!r} is not your held call")
        if active is not None and active != consult:
            raise _BadRequest(
                "operation", "invalidActiveCallID", f"{active!r} is not your consultation"
            )

    def _reconnect_call(self, conn: _Connection, params: Mapping[str, Any]) -> dict[str, Any]:
        self._consultation_calls(conn, params)
        self.switch.cancel_consult(_must(conn.agent))
        return {}

    def _transfer_call(self, conn: _Connection, params: Mapping[str, Any]) -> dict[str, Any]:
        self._consultation_calls(conn, params)
        events = self.switch.complete_transfer(_must(conn.agent))
        moved = next(e for e in events if isinstance(e, CallTransferred))
        return {"transferredCall": _cid(moved.call, moved.target)}

    def _conference_call(self, conn: _Connection, params: Mapping[str, Any]) -> dict[str, Any]:
        self._consultation_calls(conn, params)
        events = self.switch.conference(_must(conn.agent))
        merged = next(e for e in events if isinstance(e, CallConferenced))
        return {"conferenceCall": _cid(merged.call, _must(conn.device))}

    def _single_step_conference(
        self, conn: _Connection, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        if params.get("participationType", "active") != "silent":
            raise _BadRequest(
                "operation", "invalidParticipationType", "only silent participation (listening)"
            )
        if params.get("deviceToJoin", conn.device) != conn.device:
            raise _BadRequest("operation", "privilegeViolationSpecifiedDevice", "join yourself")
        target = params.get("agentID")
        if target is None:
            device = _mapping(params.get("activeCall")).get("deviceID")
            target = self.switch.agent_by_device(str(device)) if device is not None else None
        if target is None:
            raise _BadRequest("operation", "invalidParameterValue", "agentID or activeCall needed")
        events = self.switch.listen(_must(conn.agent), str(target))
        joined = next(e for e in events if isinstance(e, CallConferenced))
        return {"conferencedCall": _cid(joined.call, _must(conn.device))}

    def _intrude_call(self, conn: _Connection, params: Mapping[str, Any]) -> dict[str, Any]:
        self._own_connection(conn, params, "callToBeIntruded")
        target = params.get("agentID")
        self.switch.barge_in(_must(conn.agent), None if target is None else str(target))
        return {}

    def _snapshot_device(self, conn: _Connection, params: Mapping[str, Any]) -> dict[str, Any]:
        device = params.get("snapshotObject", conn.device)
        agent = params.get("agentID", conn.agent)
        if device != conn.device or agent != conn.agent:
            raise _BadRequest(
                "operation", "privilegeViolationSpecifiedDevice", "snapshot your own device"
            )
        return _render_snapshot(self.switch.snapshot(_must(conn.agent)))

    def _escape(self, conn: _Connection, params: Mapping[str, Any]) -> dict[str, Any]:
        private = _mapping(params.get("privateData"))
        request = private.get("request")
        me = _must(conn.agent)
        if request == "GetTransferGroups":
            return {"groups": [_group(g) for g in self.switch.transfer_groups()]}
        if request == "GetAgentGroups":
            return {"groups": [_group(g) for g in self.switch.agent_groups(me)]}
        if request == "GetAllAgents":
            return {"agents": [_agent(a) for a in self.switch.all_agents(me)]}
        if request == "GetAgentRights":
            return {"rights": list(self.switch.rights(me))}
        if request == "TakeOverCall":
            target = private.get("agentID")
            self.switch.take_over(me, None if target is None else str(target))
            return {}
        raise _BadRequest("operation", "privateDataNotSupported", f"unknown request {request!r}")


_Service = Callable[[CstaSimulator, _Connection, Mapping[str, Any]], dict[str, Any]]

#: ECMA-269 service name -> the simulator's handler.
_SERVICES: Mapping[str, _Service] = {
    "StartApplicationSession": CstaSimulator._start_session,
    "StopApplicationSession": CstaSimulator._stop_session,
    "MonitorStart": CstaSimulator._monitor_start,
    "SetAgentState": CstaSimulator._set_agent_state,
    "MakeCall": CstaSimulator._make_call,
    "AnswerCall": CstaSimulator._answer_call,
    "ClearConnection": CstaSimulator._clear_connection,
    "HoldCall": CstaSimulator._hold_call,
    "RetrieveCall": CstaSimulator._retrieve_call,
    "GenerateDigits": CstaSimulator._generate_digits,
    "SingleStepTransfer": CstaSimulator._single_step_transfer,
    "ConsultationCall": CstaSimulator._consultation_call,
    "ReconnectCall": CstaSimulator._reconnect_call,
    "TransferCall": CstaSimulator._transfer_call,
    "ConferenceCall": CstaSimulator._conference_call,
    "SingleStepConferenceCall": CstaSimulator._single_step_conference,
    "IntrudeCall": CstaSimulator._intrude_call,
    "SnapshotDevice": CstaSimulator._snapshot_device,
    "Escape": CstaSimulator._escape,
}


# --- rendering switch events as CSTA events -----------------------------------------------------
_Rendered = tuple[str, dict[str, Any]] | None


def _agent_event(name: str, **extra: Any) -> Callable[[Any], _Rendered]:
    def render(e: Any) -> _Rendered:
        body = {"agentDevice": e.device, "agentID": e.agent}
        body.update({k: f(e) for k, f in extra.items()})
        return name, {k: v for k, v in body.items() if v is not None}

    return render


def _transferred(e: CallTransferred) -> _Rendered:
    body: dict[str, Any] = {
        "primaryOldCall": _cid(e.primary, e.transferring),
        "transferringDevice": e.transferring,
        "transferredToDevice": e.target,
        "transferredConnections": [
            {"oldConnection": _cid(old, device), "newConnection": _cid(new, device)}
            for device, old, new in e.moved
        ],
        "cause": "singleStepTransfer" if e.kind == "single_step" else "transfer",
    }
    if e.secondary is not None:
        body["secondaryOldCall"] = _cid(e.secondary, e.transferring)
    return "transferred", body


def _cleared(e: LegCleared) -> _Rendered:
    if e.cause == "ring_no_answer" and e.agent is not None:
        # the ACD takes back a call the agent let ring out: ECMA-269's Diverted, away from
        # the agent's device (back to its queue)
        return "diverted", {
            "connection": _cid(e.call, e.device),
            "divertingDevice": e.device,
            "localConnectionInfo": "null",
            "cause": CSTA_CAUSES[e.cause],
        }
    return "connectionCleared", {
        "droppedConnection": _cid(e.call, e.device),
        "releasingDevice": e.device,
        "cause": CSTA_CAUSES.get(e.cause, "normalClearing"),
    }


def _conferenced(e: CallConferenced) -> _Rendered:
    body: dict[str, Any] = {
        "primaryOldCall": _cid(e.primary, e.controller),
        "conferencingDevice": e.controller,
        "addedParty": e.added,
        "conferenceConnections": [_cid(e.call, device) for device, _ in e.parties],
        "cause": _CONFERENCE_CAUSES[e.kind],
    }
    if e.secondary is not None:
        body["secondaryOldCall"] = _cid(e.secondary, e.controller)
    return "conferenced", body


_RENDER: Mapping[type, Callable[[Any], _Rendered]] = {
    AgentCheckedIn: _agent_event("agentLoggedOn", agentGroup=lambda e: list(e.groups)),
    AgentCheckedOut: _agent_event(
        "agentLoggedOff",
        agentGroup=lambda e: list(e.groups),
        cause=lambda e: CSTA_CAUSES.get(e.cause) if e.by is not None else None,
    ),
    AgentReady: _agent_event("agentReady"),
    AgentWorkingAfterCall: _agent_event("agentWorkingAfterCall"),
    AgentNotReady: _agent_event("agentNotReady", reasonCode=lambda e: e.reason),
    CallInitiated: lambda e: (
        "serviceInitiated",
        {
            "initiatedConnection": _cid(e.call, e.device),
            "initiatingDevice": e.device,
            "cause": "consultation" if e.consultation_of else "makeCall",
        },
    ),
    CallOriginated: lambda e: (
        "originated",
        {
            "originatedConnection": _cid(e.call, e.device),
            "callingDevice": e.calling,
            "calledDevice": e.called,
            "cause": "consultation" if e.consultation_of else "makeCall",
        },
    ),
    LegAlerting: lambda e: (
        "delivered",
        {
            "connection": _cid(e.call, e.device),
            "alertingDevice": e.device,
            "callingDevice": e.calling,
            "calledDevice": e.called,
            "cause": _DELIVERY_CAUSES[e.via],
        },
    ),
    LegAnswered: lambda e: (
        "established",
        {
            "establishedConnection": _cid(e.call, e.device),
            "answeringDevice": e.device,
            "callingDevice": e.calling,
            "calledDevice": e.called,
        },
    ),
    LegHeld: lambda e: (
        "held",
        {
            "heldConnection": _cid(e.call, e.device),
            "holdingDevice": e.device,
            **({"cause": "consultation"} if e.consultation else {}),
        },
    ),
    LegRetrieved: lambda e: (
        "retrieved",
        {"retrievedConnection": _cid(e.call, e.device), "retrievingDevice": e.device},
    ),
    LegCleared: _cleared,
    CallFailed: lambda e: (
        "failed",
        {
            "failedConnection": _cid(e.call, e.device),
            "failingDevice": e.device,
            "callingDevice": e.calling,
            "calledDevice": e.called,
            "cause": CSTA_CAUSES.get(e.cause, e.cause),
        },
    ),
    CallTransferred: _transferred,
    CallConferenced: _conferenced,
}


def _render_snapshot(snap: AgentSnapshot) -> dict[str, Any]:
    agent = snap.agent
    if not agent.checked_in:
        state = "agentNull"
    elif agent.situation == "wrap_up":
        state = "agentWorkingAfterCall"
    else:
        state = "agentReady" if agent.ready else "agentNotReady"
    calls = []
    for call in snap.calls:
        mine = next(leg for leg in call.legs if leg.device == agent.device)
        calls.append(
            {
                "connectionIdentifier": _cid(call.call, agent.device),
                "localConnectionState": _LOCAL_STATES[mine.state],
                "participation": "silent" if mine.silent else "active",
                "consultationOf": call.consultation_of,
                "callingDevice": call.calling,
                "calledDevice": call.called,
                "endpoints": [
                    {
                        "deviceID": leg.device,
                        "connectionState": _LOCAL_STATES[leg.state],
                        "participation": "silent" if leg.silent else "active",
                    }
                    for leg in call.legs
                ],
            }
        )
    return {
        "device": agent.device,
        "agentState": {
            "agentID": agent.agent,
            "state": state,
            "reasonCode": agent.reason,
            "agentGroup": list(agent.checked_in),
        },
        "snapshotData": calls,
    }


def _group(g: Any) -> dict[str, Any]:
    return {"id": g.id, "name": g.name, "dtmf": g.dtmf}


def _agent(a: AgentInfo) -> dict[str, Any]:
    return {
        "agentID": a.agent,
        "device": a.device,
        "situation": a.situation,
        "loggedIn": a.logged_in,
        "agentGroup": list(a.checked_in),
        "reasonCode": a.reason,
    }


def _error(invoke_id: Any, category: str, value: str, message: str) -> dict[str, Any]:
    return {
        "type": "error",
        "invokeId": invoke_id,
        "error": {"category": category, "value": value, "message": message},
    }


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _needed(params: Mapping[str, Any], key: str) -> Any:
    value = params.get(key)
    if value is None:
        raise _BadRequest("operation", "invalidParameterValue", f"{key} is missing")
    return value


def _must(value: str | None) -> str:
    # services other than StartApplicationSession only run on a logged-in connection
    assert value is not None
    return value


def _login_user(message: Mapping[str, Any]) -> str | None:
    if message.get("service") != "StartApplicationSession":
        return None
    info = _mapping(_mapping(message.get("params")).get("applicationInfo"))
    user = _mapping(info.get("applicationSpecificInfo")).get("userID")
    return user if isinstance(user, str) else None
