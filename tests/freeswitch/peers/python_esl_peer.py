"""FreeSWITCH's own client (python-ESL, SWIG over libesl) against an ESL server.

Usage: python python_esl_peer.py HOST PORT PASSWORD AGENT

Authenticates, subscribes to callcenter::info and BACKGROUND_JOB in JSON, runs
``api callcenter_config agent set status AGENT Available``, reads the events that follow,
then ``bgapi ... agent get status AGENT`` and its BACKGROUND_JOB; prints one JSON object
of what libesl parsed (headers read with getHeader, bodies with getBody).
"""

from __future__ import annotations

import json
import sys

import ESL


def main() -> int:
    host, port, password, agent = sys.argv[1:5]
    con = ESL.ESLconnection(host, port, password)
    if not con.connected():
        print(json.dumps({"error": "not connected"}))
        return 1
    subscribed = con.sendRecv("event json CUSTOM callcenter::info BACKGROUND_JOB")
    api = con.api("callcenter_config", f"agent set status {agent} Available")
    events = []
    while len(events) < 2:
        e = con.recvEventTimed(3000)
        if e is None:
            break
        events.append(
            {
                h: e.getHeader(h)
                for h in (
                    "Event-Name",
                    "Event-Subclass",
                    "CC-Agent",
                    "CC-Action",
                    "CC-Agent-Status",
                    "CC-Agent-State",
                )
            }
        )
    job = con.bgapi("callcenter_config", f"agent get status {agent}")
    job_uuid = job.getHeader("Job-UUID")
    result = None
    while result is None:
        e = con.recvEventTimed(3000)
        if e is None:
            break
        if e.getHeader("Event-Name") == "BACKGROUND_JOB" and e.getHeader("Job-UUID") == job_uuid:
            result = e.getBody()
    out = {
        "subscribed": subscribed.getHeader("Reply-Text"),
        "api": api.getBody(),
        "events": events,
        "job_uuid": job_uuid,
        "job_result": result,
    }
    print(json.dumps(out))
    con.disconnect()
    return 0


if __name__ == "__main__":
    sys.exit(main())
