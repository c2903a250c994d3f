"""Benchmarks (`make bench`): figures measured side by side in one run, written to bench-results.json."""
