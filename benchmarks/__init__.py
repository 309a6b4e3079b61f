"""Benchmark suites, the on-disk story data format, and the synthetic story world."""
