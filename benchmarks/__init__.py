"""Baton's benchmark suite: `python -m benchmarks.run [--quick]` (what `make bench` runs)."""
