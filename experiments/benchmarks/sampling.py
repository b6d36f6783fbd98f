"""Sampling speed of each family's compiled sampler against Python loops (and PyTorch) over the same network.

``python -m experiments.benchmarks.sampling [--quick]``; the cases live in ``cases/<family>.py``.
"""

from __future__ import annotations

import functools
import sys

from experiments.benchmarks import harness

FAMILIES = ("pixelcnn", "diffusion", "consistency")


def main(argv=None):
    return harness.main(functools.partial(harness.family_cases, FAMILIES, "sampling"), argv, title="sampling")


if __name__ == "__main__":
    main(sys.argv[1:])
