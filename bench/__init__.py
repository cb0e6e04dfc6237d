"""Benchmarks against the alternatives; `make bench` runs them (not part of `make test`)."""
