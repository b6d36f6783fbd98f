"""tfds sets by name (the only genjax module that imports ``tensorflow_datasets``, lazily).

Reads through ``tfds.data_source`` (array_record files, random access, no TensorFlow needed) and
never downloads: prepare a set once on a machine with network (``tfds build mnist --data_dir DIR``)
and pass ``data_dir``.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

__all__ = ["load_tfds", "TFDS_SETS"]

TFDS_SETS = ("mnist", "fashion_mnist", "cifar10", "binarized_mnist", "emnist", "kmnist", "svhn_cropped", "celeb_a")
"""Image sets known to work; any tfds image set with an ``image`` feature can be named."""


def load_tfds(
    name: str, split: str, data_dir: Optional[str] = None, max_examples: Optional[int] = None
) -> dict[str, np.ndarray]:
    """Loads a prepared tfds image set into memory.

    Args:
      name: a tfds name (``'mnist'``, ``'cifar10'``, ...).
      split: a tfds split (``'train'``, ``'test'``, ``'train[:90%]'``).
      data_dir: where the prepared set lives (tfds' default when ``None``).
      max_examples: read at most this many examples.

    Returns:
      ``{'image': uint8 [N, H, W, C], 'label': int32 [N]}`` (``label`` is zeros for unlabelled sets).

    Raises:
      ValueError: when the set is not prepared (the message says how to prepare it), or the split
        is unknown.
    """
    import tensorflow_datasets as tfds  # heavy; only when a tfds set is asked for

    try:
        source = tfds.data_source(name, split=split, data_dir=data_dir, download=False)
    except Exception as err:  # tfds raises several types for "not there"; all mean the same here
        msg = str(err).splitlines()[0] if str(err) else type(err).__name__
        if "split" in msg.lower() and "unknown" in msg.lower():
            raise ValueError(f"unknown split {split!r} of tfds set {name!r}: {msg}") from err
        raise ValueError(
            f"tfds set {name!r} (split {split!r}) is not prepared in {data_dir or 'the default tfds data_dir'} "
            f"and genjax never downloads. On a machine with network run `tfds build {name} --data_dir DIR` "
            f"(or tfds.builder({name!r}, data_dir=DIR).download_and_prepare()) and pass data_dir=DIR. ({msg})"
        ) from err
    n = len(source) if max_examples is None else min(len(source), max_examples)
    first = source[0]
    if "image" not in first:
        raise ValueError(f"tfds set {name!r} has no 'image' feature (features: {sorted(first)})")
    images = np.stack([np.asarray(source[i]["image"]) for i in range(n)]).astype(np.uint8)
    if images.ndim == 3:
        images = images[..., None]
    labels = np.array([source[i].get("label", 0) for i in range(n)], np.int32)
    return {"image": images, "label": labels}
