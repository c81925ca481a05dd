"""Asterisk AMI adapter for cti-fsm (work in progress)."""
