"""Train steps per second of each family against the same architecture in PyTorch (CPU, eager).

``python -m experiments.benchmarks.train_step [--quick]``; the cases live in ``cases/<family>.py``.
"""

from __future__ import annotations

import functools
import sys

from experiments.benchmarks import harness

FAMILIES = ("vae", "gan", "flows", "diffusion", "pixelcnn")


def main(argv=None):
    return harness.main(functools.partial(harness.family_cases, FAMILIES, "train_step"), argv, title="train_step")


if __name__ == "__main__":
    main(sys.argv[1:])
