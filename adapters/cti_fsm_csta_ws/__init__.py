"""CSTA-style JSON over websocket: the first cti-fsm adapter (work in progress)."""
