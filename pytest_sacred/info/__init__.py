"""Facts about the host and the experiment's code, gathered once per session."""
