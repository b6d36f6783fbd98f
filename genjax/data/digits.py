"""scikit-learn's handwritten digits: 1,797 images of 8x8 pixels with 17 grey levels, offline.

The split is fixed: a permutation drawn once from ``numpy.random.default_rng(0)`` puts 1,437 images
(80%) in ``'train'`` and 360 in ``'test'``, the same on every machine and every run.
"""

from __future__ import annotations

import numpy as np

__all__ = ["load_digits", "NUM_LEVELS", "IMAGE_SHAPE", "NUM_CLASSES", "SPLITS", "NUM_TRAIN"]

NUM_LEVELS = 17
"""Pixel values are integers 0..16."""
IMAGE_SHAPE = (8, 8, 1)
"""One image: 8x8 pixels, one channel."""
NUM_CLASSES = 10
"""Labels are the digits 0..9."""
SPLITS = ("train", "test", "all")
"""The split names ``load_digits`` accepts."""
NUM_TRAIN = 1437
"""Images in ``'train'``; the other 360 of the 1,797 are ``'test'``."""
_SPLIT_SEED = 0


def load_digits(split: str = "train") -> dict[str, np.ndarray]:
    """Loads a split of the digits.

    Args:
      split: ``'train'`` (1,437 images), ``'test'`` (360) or ``'all'`` (1,797, in sklearn's order).

    Returns:
      ``{'image': uint8 [N, 8, 8, 1] in 0..16, 'label': int32 [N] in 0..9}``.

    Raises:
      ValueError: for an unknown split.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown digits split {split!r}; valid splits: {list(SPLITS)}")
    from sklearn.datasets import load_digits as _sk_load  # bundled with scikit-learn: no download

    raw = _sk_load()
    images = raw.images.astype(np.uint8).reshape(-1, *IMAGE_SHAPE)
    labels = raw.target.astype(np.int32)
    if split != "all":
        perm = np.random.default_rng(_SPLIT_SEED).permutation(len(labels))
        idx = np.sort(perm[:NUM_TRAIN] if split == "train" else perm[NUM_TRAIN:])
        images, labels = images[idx], labels[idx]
    return {"image": images, "label": labels}
