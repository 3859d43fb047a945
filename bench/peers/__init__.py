"""Runners a benchmark starts as a separate process (a peer's interpreter, or ours without an engine)."""
