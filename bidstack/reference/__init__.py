"""Slow, obvious references written from SPEC.md, that tests and benchmarks compare with."""
