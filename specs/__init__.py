"""Charts shipped with cti-fsm: the default agent chart and the vendor maps."""
