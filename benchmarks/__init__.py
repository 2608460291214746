"""Benchmarks: reproducible with one command each; results are written down in BENCHMARKS.md."""
