"""Benchmarks of DESIGN.md §7: each script prints one JSON line of figures (see docs/performance.md)."""
