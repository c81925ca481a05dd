"""Testing tools for cti-fsm users: coverage, hypothesis strategies, adapter conformance."""
