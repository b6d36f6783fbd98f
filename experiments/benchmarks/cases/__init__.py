"""Per-family benchmark cases aggregated by train_step.py and sampling.py."""
