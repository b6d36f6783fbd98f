"""The IDX file format that MNIST, Fashion-MNIST, KMNIST and EMNIST ship in (LeCun et al., 1998).

An IDX file is a 4-byte magic number (two zero bytes, a dtype code, the number of dimensions), one
big-endian uint32 per dimension, then the values in C order. Files may be gzip-compressed
(``*.gz``, told apart by their content, not their name). Each set is four files in one directory::

    train-images-idx3-ubyte[.gz]  train-labels-idx1-ubyte[.gz]
    t10k-images-idx3-ubyte[.gz]   t10k-labels-idx1-ubyte[.gz]

EMNIST prefixes the names (``emnist-balanced-train-images-idx3-ubyte``) and stores images transposed;
:func:`load_idx_split` takes both as arguments.
"""

from __future__ import annotations

import gzip
import os
from typing import Optional

import numpy as np

__all__ = ["read_idx", "write_idx", "idx_paths", "load_idx_split", "IdxError", "SPLIT_STEMS"]

_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"

SPLIT_STEMS = {"train": "train", "test": "t10k"}
"""The file-name stem of each split."""


class IdxError(ValueError):
    """A file that is not a well-formed IDX file (the message names the file and what is wrong)."""


def _read_bytes(path: str) -> bytes:
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == _GZIP_MAGIC:
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError) as err:  # a cut-off download ends mid-stream
            raise IdxError(f"{path}: damaged gzip stream ({err})") from err
    return raw


def read_idx(path: str) -> np.ndarray:
    """Reads one IDX file (raw or gzip).

    Args:
      path: the file.

    Returns:
      The array in its stored dtype (native byte order), shape as the header gives it.

    Raises:
      FileNotFoundError: when ``path`` does not exist.
      IdxError: a wrong magic number, an unknown dtype code, or a size that differs from the header's
        (a truncated file or trailing bytes), naming the file.
    """
    raw = _read_bytes(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise IdxError(
            f"{path}: not an IDX file (magic number {raw[:4].hex() or 'empty'}; expected 0000 then a "
            "dtype code and the number of dimensions)"
        )
    code, ndim = raw[2], raw[3]
    if code not in _DTYPES:
        raise IdxError(f"{path}: unknown IDX dtype code 0x{code:02x} (known: {sorted(_DTYPES)})")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise IdxError(f"{path}: truncated header ({len(raw)} bytes, {ndim} dimensions need {header})")
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    dtype = _DTYPES[code]
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        what = "truncated" if len(raw) < expected else "has trailing bytes"
        raise IdxError(
            f"{path}: {what}: {len(raw)} bytes, the header's shape {shape} of {dtype.name} needs {expected}"
        )
    values = np.frombuffer(raw, dtype, offset=header).reshape(shape)
    return values.astype(dtype.newbyteorder("="), copy=True)


def write_idx(path: str, values: np.ndarray, compress: Optional[bool] = None) -> None:
    """Writes ``values`` as an IDX file (gzip when ``compress`` or, by default, ``path`` ends in .gz).

    Raises:
      ValueError: for a dtype the format cannot hold.
    """
    values = np.asarray(values)
    codes = {dt.newbyteorder("="): c for c, dt in _DTYPES.items()}
    native = values.dtype.newbyteorder("=")
    if native not in codes:
        raise ValueError(f"IDX cannot store dtype {values.dtype} (storable: {sorted(str(d) for d in codes)})")
    stored = _DTYPES[codes[native]]
    body = bytes([0, 0, codes[native], values.ndim]) + np.asarray(values.shape, ">u4").tobytes()
    body += np.ascontiguousarray(values, stored).tobytes()
    compress = path.endswith(".gz") if compress is None else compress
    with open(path, "wb") as f:
        f.write(gzip.compress(body, compresslevel=1) if compress else body)


def idx_paths(directory: str, split: str, prefix: str = "") -> Optional[tuple[str, str]]:
    """The ``(images, labels)`` files of ``split`` in ``directory`` (raw or ``.gz``), or ``None``
    when either is missing.

    Raises:
      ValueError: for an unknown split.
    """
    if split not in SPLIT_STEMS:
        raise ValueError(f"unknown IDX split {split!r}; valid splits: {list(SPLIT_STEMS)}")
    stem = f"{prefix}{SPLIT_STEMS[split]}"
    found = []
    for kind, rank in (("images", 3), ("labels", 1)):
        name = os.path.join(directory, f"{stem}-{kind}-idx{rank}-ubyte")
        hits = [p for p in (name, name + ".gz") if os.path.isfile(p)]
        if not hits:
            return None
        found.append(hits[0])
    return found[0], found[1]


def missing_files(directory: str, prefix: str = "") -> list[str]:
    """The names of the four IDX files (train and test, images and labels) that ``directory``
    lacks, raw or ``.gz``: empty for a complete set."""
    missing = []
    for stem in SPLIT_STEMS.values():
        for kind, rank in (("images", 3), ("labels", 1)):
            name = f"{prefix}{stem}-{kind}-idx{rank}-ubyte"
            if not any(os.path.isfile(os.path.join(directory, n)) for n in (name, name + ".gz")):
                missing.append(name + "[.gz]")
    return missing


def load_idx_split(
    directory: str,
    split: str,
    *,
    prefix: str = "",
    transpose: bool = False,
    max_examples: Optional[int] = None,
) -> dict[str, np.ndarray]:
    """One split of an IDX image set.

    Args:
      directory: holds the four files (see the module docstring).
      split: ``'train'`` or ``'test'``.
      prefix: file-name prefix (``'emnist-balanced-'`` for EMNIST).
      transpose: swap each image's axes (EMNIST stores images column-major).
      max_examples: keep at most the first this many examples.

    Returns:
      ``{'image': uint8 [N, H, W, 1] in 0..255, 'label': int32 [N]}``.

    Raises:
      FileNotFoundError: when the split's files are not in ``directory`` (naming the files looked for).
      IdxError: a malformed file, images that are not uint8 ``[N, H, W]``, labels that are not
        ``[N]``, or image and label counts that differ (naming both files).
    """
    paths = idx_paths(directory, split, prefix)
    if paths is None:
        stem = f"{prefix}{SPLIT_STEMS[split]}"
        raise FileNotFoundError(
            f"no {stem}-images-idx3-ubyte[.gz] and {stem}-labels-idx1-ubyte[.gz] in {directory}"
        )
    image_path, label_path = paths
    images, labels = read_idx(image_path), read_idx(label_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise IdxError(f"{image_path}: expected uint8 images [N, H, W], got {images.dtype} {images.shape}")
    if labels.ndim != 1:
        raise IdxError(f"{label_path}: expected labels [N], got shape {labels.shape}")
    if len(images) != len(labels):
        raise IdxError(
            f"{image_path} holds {len(images)} images but {label_path} holds {len(labels)} labels"
        )
    if max_examples is not None:
        if max_examples < 1:
            raise ValueError(f"max_examples must be >= 1 or None, got {max_examples}")
        images, labels = images[:max_examples], labels[:max_examples]
    if transpose:
        images = images.transpose(0, 2, 1)
    return {"image": np.ascontiguousarray(images[..., None]), "label": labels.astype(np.int32)}
