"""Experiments: configs, the CLI, the comparison of the seven families, and
benchmarks."""
