"""tfds sets by name (the only genjax module that imports ``tensorflow_datasets``, lazily).

Reads through ``tfds.data_source`` (array_record files, random access, no TensorFlow needed) and
never downloads. Prepare a set once on a machine with network, in the array_record format::

    pip install tensorflow tensorflow-datasets   # building (not reading) needs TensorFlow
    tfds build mnist --data_dir DIR --file_format=array_record

and pass ``data_dir=DIR``. A set prepared in tfds' default tfrecord format is read with
``tfds.load`` instead, which needs TensorFlow installed.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

import numpy as np

__all__ = ["load_tfds", "TFDS_SETS", "NotPreparedError"]

TFDS_SETS = (
    "mnist",
    "fashion_mnist",
    "cifar10",
    "binarized_mnist",
    "emnist",
    "kmnist",
    "svhn_cropped",
    "celeb_a",
)
"""Image sets known to work; :func:`load_tfds` accepts any tfds set with an ``image`` feature."""


class NotPreparedError(ValueError):
    """The set is not prepared in the data directory (the message says how to prepare it)."""


def load_tfds(
    name: str, split: str, data_dir: Optional[str] = None, max_examples: Optional[int] = None
) -> dict[str, np.ndarray]:
    """Loads a prepared tfds image set into memory.

    Args:
      name: a tfds name (``'mnist'``, ``'cifar10'``, ...).
      split: a tfds split (``'train'``, ``'test'``, ``'train[:90%]'``).
      data_dir: where the prepared set lives (tfds' default when ``None``).
      max_examples: read at most this many examples (the first ones of the split).

    Returns:
      ``{'image': uint8 [N, H, W, C], 'label': int32 [N]}`` (``label`` is zeros for sets without
      labels, e.g. ``binarized_mnist``).

    Raises:
      NotPreparedError: when the set is not prepared in ``data_dir`` (the message says how to
        prepare it).
      ValueError: when the split is unknown (the message lists the set's splits), the set is prepared as
        tfrecord and TensorFlow is missing, or it has no ``image`` feature.
    """
    if max_examples is not None and max_examples < 1:
        raise ValueError(f"max_examples must be >= 1 or None, got {max_examples}")
    import tensorflow_datasets as tfds  # heavy; only when a tfds set is asked for

    where = data_dir or "the default tfds data_dir"
    try:
        source = tfds.data_source(name, split=split, data_dir=data_dir, download=False)
    except Exception as err:  # tfds raises several types for "not there"; sorted out below
        msg = _first_line(err)
        if "unknown split" in msg.lower():
            raise ValueError(f"unknown split {split!r} of tfds set {name!r}: {msg}") from err
        if not _is_prepared(tfds, name, data_dir):
            raise NotPreparedError(
                f"tfds set {name!r} (split {split!r}) is not prepared in {where} and genjax never "
                f"downloads. On a machine with network (and tensorflow installed) run "
                f"`tfds build {name} --data_dir DIR --file_format=array_record`, copy DIR here and "
                f"pass data_dir=DIR. (tfds said: {msg})"
            ) from err
        return _load_with_tensorflow(tfds, name, split, data_dir, max_examples)
    n = len(source) if max_examples is None else min(len(source), max_examples)
    return _to_arrays(name, [source[i] for i in range(n)])


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _is_prepared(tfds: Any, name: str, data_dir: Optional[str]) -> bool:
    try:
        return bool(tfds.builder(name, data_dir=data_dir).is_prepared())
    except Exception:  # an unknown name or an unreadable directory: not prepared either way
        return False


def _load_with_tensorflow(
    tfds: Any, name: str, split: str, data_dir: Optional[str], max_examples: Optional[int]
) -> dict[str, np.ndarray]:
    """``tfds.load`` for sets prepared in a format ``data_source`` cannot read (tfrecord)."""
    try:
        dataset = tfds.load(name, split=split, data_dir=data_dir, download=False, batch_size=-1)
    except ImportError as err:
        raise ValueError(
            f"tfds set {name!r} in {data_dir or 'the default tfds data_dir'} is prepared in a "
            f"format only TensorFlow reads (tfrecord) and tensorflow is not installed. Install "
            f"tensorflow, or rebuild the set with "
            f"`tfds build {name} --data_dir DIR --file_format=array_record`."
        ) from err
    columns = tfds.as_numpy(dataset)
    total = len(columns["image"])
    count = total if max_examples is None else min(max_examples, total)
    return _to_arrays(name, [{k: v[i] for k, v in columns.items()} for i in range(count)])


def _to_arrays(name: str, examples: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    if not examples:
        raise ValueError(f"tfds set {name!r}: the split is empty")
    if "image" not in examples[0]:
        raise ValueError(
            f"tfds set {name!r} has no 'image' feature (features: {sorted(examples[0])})"
        )
    images = np.stack([np.asarray(e["image"]) for e in examples]).astype(np.uint8)
    if images.ndim == 3:  # grey sets stored without a channel axis
        images = images[..., None]
    labels = np.array([e.get("label", 0) for e in examples], np.int32)
    return {"image": images, "label": labels}
