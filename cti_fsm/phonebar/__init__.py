"""The phone bar: a browser agent desktop driven by the chart.

``cti-fsm phonebar --vendor V --url URL`` serves it; ``cti-fsm phonebar --demo`` also runs
the embedded simulator and a "world" panel to drive it. The server (``server``) is an ASGI
app on hypercorn's trio worker with one websocket per open bar; its rules are sans-IO in
``protocol``; the page and the ``<cti-phone-bar>`` custom element are plain HTML, CSS and
JavaScript in ``static/`` (no build step). Needs the ``phonebar`` extra
(``pip install 'cti-fsm[phonebar]'``: Starlette and hypercorn).
"""

from __future__ import annotations

__all__ = ["BarConfig", "create_app", "serve"]

try:
    from .server import BarConfig, create_app, serve
except ImportError as exc:  # the extra is not installed: say which
    raise ImportError(
        f"cti_fsm.phonebar needs {exc.name}: pip install 'cti-fsm[phonebar]'", name=exc.name
    ) from exc
