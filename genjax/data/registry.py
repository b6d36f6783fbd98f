"""``load(name, split)``: one entry point over the built-in digits and tfds sets."""

from __future__ import annotations

from typing import Optional

import numpy as np

from genjax.data import digits, tfds

__all__ = ["load", "DATASETS", "num_levels"]

DATASETS = ("digits",) + tfds.TFDS_SETS
"""The names ``load`` accepts: digits and every tfds set."""


def num_levels(name: str) -> int:
    """Grey levels of a dataset's stored pixels (17 for digits, 2 for binarized_mnist, else 256)."""
    return {"digits": digits.NUM_LEVELS, "binarized_mnist": 2}.get(name, 256)


def load(
    name: str, split: str, data_dir: Optional[str] = None, max_examples: Optional[int] = None
) -> dict[str, np.ndarray]:
    """Raw arrays ``{'image': uint8 [N, H, W, C] levels, 'label': int32 [N]}`` of a named set.

    Args:
      name: ``'digits'`` or one of :data:`genjax.data.tfds.TFDS_SETS`.
      split: ``'train'``, ``'test'`` or ``'all'`` for digits; a tfds split otherwise.
      data_dir: where a tfds set is prepared (ignored for digits).
      max_examples: keep at most the first this many examples.

    Returns:
      Pixels as integer levels ``0..num_levels(name) - 1``; scale them with
      :mod:`genjax.data.transforms`.

    Raises:
      ValueError: for an unknown dataset (listing the valid names), an unknown split, or a tfds set
        that is not prepared.
    """
    if name == "digits":
        out = digits.load_digits(split)
        return out if max_examples is None else {k: v[:max_examples] for k, v in out.items()}
    if name not in tfds.TFDS_SETS:
        raise ValueError(f"unknown dataset {name!r}; valid choices: {list(DATASETS)}")
    return tfds.load_tfds(name, split, data_dir, max_examples)
