"""Helpers shared by the benchmarks (standard library only at import time: peers import it too)."""
