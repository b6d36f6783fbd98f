"""Benchmarks: our code against a peer on identical work, in one process, as ratios."""
