"""Runs every benchmark at full size (``make bench``); each prints its table and JSON line."""

from __future__ import annotations

import importlib
import sys

SCRIPTS = ("engine", "gibbs", "conv", "train_step", "sampling", "config_steps")


def main(argv=None) -> None:
    for name in SCRIPTS:
        print(f"== {name} ==", flush=True)
        importlib.import_module(f"experiments.benchmarks.{name}").main(list(argv or []))


if __name__ == "__main__":
    main(sys.argv[1:])
