"""Experiments: configs, the CLI, the seven-family comparison and benchmarks."""
