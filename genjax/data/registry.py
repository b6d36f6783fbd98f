"""``load(name, split)``: one entry point over the built-in digits, IDX files and tfds sets.

``fashion_mnist`` and ``mnist`` are read from their original IDX files when they are on disk (the
config's ``data_dir``, then the set's system directory: ``apt-get install dataset-fashion-mnist`` puts
Fashion-MNIST in ``/usr/share/datasets/fashion-mnist``), else from a prepared tfds directory. Both
paths give the same arrays (60,000 train / 10,000 test, in the files' order).
"""

from __future__ import annotations

import os
from typing import Optional

import numpy as np

from genjax.data import digits, idx, tfds

__all__ = ["load", "DATASETS", "IDX_SETS", "num_levels", "idx_directory"]

DATASETS = ("digits",) + tfds.TFDS_SETS
"""The names ``load`` accepts: digits and every tfds set."""

IDX_SETS = {
    "fashion_mnist": ("/usr/share/datasets/fashion-mnist",),
    "mnist": (),
}
"""Sets read from IDX files, with the system directories searched after ``data_dir``."""

_APT_PACKAGES = {"fashion_mnist": "dataset-fashion-mnist"}


def num_levels(name: str) -> int:
    """Grey levels of a dataset's stored pixels (17 for digits, 2 for binarized_mnist, else 256)."""
    return {"digits": digits.NUM_LEVELS, "binarized_mnist": 2}.get(name, 256)


def idx_directory(name: str, data_dir: Optional[str] = None) -> Optional[str]:
    """``data_dir`` when it holds the set's four IDX files; without a ``data_dir``, the first of
    ``name``'s system directories that does; else ``None``. A directory the user named is never
    passed over for the system copy.

    Raises:
      ValueError: when ``data_dir`` holds some of the set's IDX files but not all (naming the
        missing ones).
    """
    if data_dir:
        missing = idx.missing_files(data_dir)
        if not missing:
            return data_dir
        if len(missing) < 4:
            raise ValueError(f"data_dir {data_dir} holds only some of {name}'s IDX files: missing {', '.join(missing)}")
        return None
    for directory in IDX_SETS.get(name, ()):
        if all(idx.idx_paths(directory, split) for split in idx.SPLIT_STEMS):
            return directory
    return None


def load(
    name: str, split: str, data_dir: Optional[str] = None, max_examples: Optional[int] = None
) -> dict[str, np.ndarray]:
    """Raw arrays ``{'image': uint8 [N, H, W, C] levels, 'label': int32 [N]}`` of a named set.

    Args:
      name: ``'digits'`` or one of :data:`genjax.data.tfds.TFDS_SETS`.
      split: ``'train'``, ``'test'`` or ``'all'`` for digits; ``'train'`` or ``'test'`` for a set
        read from IDX files; a tfds split otherwise.
      data_dir: a directory with the set's IDX files, or where a tfds set is prepared (ignored for
        digits).
      max_examples: keep at most the first this many examples.

    Returns:
      Pixels as integer levels ``0..num_levels(name) - 1``; scale them with
      :mod:`genjax.data.transforms`.

    Raises:
      ValueError: for an unknown dataset (listing the valid names), an unknown split, or a set that
        is neither on disk as IDX files nor prepared for tfds (one line naming both ways to get it).
      genjax.data.idx.IdxError: an IDX file that is damaged (naming the file).
    """
    if name == "digits":
        out = digits.load_digits(split)
        return out if max_examples is None else {k: v[:max_examples] for k, v in out.items()}
    if name not in tfds.TFDS_SETS:
        raise ValueError(f"unknown dataset {name!r}; valid choices: {list(DATASETS)}")
    if name not in IDX_SETS:
        return tfds.load_tfds(name, split, data_dir, max_examples)
    directory = idx_directory(name, data_dir)
    if directory is not None:
        if split not in idx.SPLIT_STEMS:
            raise ValueError(f"unknown split {split!r} of {name} IDX files; valid splits: {list(idx.SPLIT_STEMS)}")
        return idx.load_idx_split(directory, split, max_examples=max_examples)
    try:
        return tfds.load_tfds(name, split, data_dir, max_examples)
    except tfds.NotPreparedError as err:
        raise ValueError(_missing_message(name, data_dir)) from err


def _missing_message(name: str, data_dir: Optional[str]) -> str:
    looked = [d for d in ((data_dir,) if data_dir else ()) + IDX_SETS[name]]
    where = " or ".join(looked) if looked else "data_dir (none given)"
    ways = []
    if name in _APT_PACKAGES:
        ways.append(f"`apt-get install {_APT_PACKAGES[name]}` (IDX files in {IDX_SETS[name][0]})")
    else:
        ways.append("put its four IDX files (train-images-idx3-ubyte.gz, ...) in a directory and pass data_dir=DIR")
    ways.append(
        f"`tfds build {name} --data_dir DIR --file_format=array_record` on a machine with network, then data_dir=DIR"
    )
    hint = os.path.join(data_dir, "") if data_dir else "the default tfds data_dir"
    return (
        f"dataset {name!r} not found: no IDX files in {where} and no tfds set prepared in {hint}; "
        f"get it with {' or '.join(ways)}"
    )
