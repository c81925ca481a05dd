"""greenswitch (gevent) against an ESL server.

Usage: python greenswitch_peer.py HOST PORT PASSWORD AGENT

Authenticates, subscribes to callcenter::info in plain text (greenswitch reads only the
plain format), runs ``api callcenter_config agent set status AGENT Available`` and prints
one JSON object with the api's answer and the headers of the events that followed.
"""

from __future__ import annotations

import json
import sys

import gevent
import greenswitch


def main() -> int:
    host, port, password, agent = sys.argv[1:5]
    esl = greenswitch.InboundESL(host=host, port=int(port), password=password)
    esl.connect()
    events: list[dict[str, str | None]] = []

    def on_event(event: greenswitch.esl.ESLEvent) -> None:
        events.append(
            {
                h: event.headers.get(h)
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

    esl.register_handle("callcenter::info", on_event)
    subscribed = esl.send("event plain CUSTOM callcenter::info")
    api = esl.send(f"api callcenter_config agent set status {agent} Available")
    with gevent.Timeout(3, False):
        while len(events) < 2:
            gevent.sleep(0.01)
    print(json.dumps({"subscribed": subscribed.data, "api": api.data, "events": events}))
    esl.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
