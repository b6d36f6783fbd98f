"""Deterministic, step-indexed batching: the batch of step ``s`` is a function of ``(seed, s)``, so
the data position of a resumed run is its step and nothing else needs saving."""

from __future__ import annotations

from typing import Callable, Mapping

import numpy as np

__all__ = ["epoch_batches", "shard"]


def epoch_batches(
    arrays: Mapping[str, np.ndarray],
    batch_size: int,
    seed: int,
    *,
    process_index: int = 0,
    process_count: int = 1,
) -> Callable[[int], dict[str, np.ndarray]]:
    """Returns ``batch(step)``: shuffled per epoch by ``(seed, epoch)``, remainder dropped, epochs
    without end.

    Args:
      arrays: equally long arrays keyed by name (``{'image': ..., 'label': ...}``).
      batch_size: the global batch size (over all processes).
      seed: shuffling seed.
      process_index, process_count: in a multi-host run each process receives its own contiguous
        ``batch_size / process_count`` slice of every global batch (disjoint across processes).

    Raises:
      ValueError: for arrays of different lengths, a batch larger than the data, or a batch that
        does not divide among the processes.
    """
    lengths = {k: len(v) for k, v in arrays.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"arrays must have equal lengths, got {lengths}")
    n = next(iter(lengths.values()))
    if not 0 < batch_size <= n:
        raise ValueError(f"batch_size must be in 1..{n} (the number of examples), got {batch_size}")
    if batch_size % process_count:
        raise ValueError(f"batch_size {batch_size} does not divide among {process_count} processes")
    per_epoch = n // batch_size
    local = batch_size // process_count
    arrays = {k: np.asarray(v) for k, v in arrays.items()}

    def batch(step: int) -> dict[str, np.ndarray]:
        epoch, i = divmod(int(step), per_epoch)
        perm = np.random.default_rng((seed, epoch)).permutation(n)
        idx = perm[i * batch_size + process_index * local:i * batch_size + (process_index + 1) * local]
        return {k: v[idx] for k, v in arrays.items()}

    return batch


def shard(batch: Mapping[str, np.ndarray], num_devices: int) -> dict[str, np.ndarray]:
    """Reshapes every array's leading axis ``[B, ...]`` to ``[num_devices, B / num_devices, ...]``.

    Raises:
      ValueError: when ``B`` is not divisible by ``num_devices``.
    """
    out = {}
    for k, v in batch.items():
        v = np.asarray(v)
        if v.ndim == 0 or v.shape[0] % num_devices:
            raise ValueError(f"batch[{k!r}] with shape {v.shape} does not split over {num_devices} devices")
        out[k] = v.reshape((num_devices, v.shape[0] // num_devices) + v.shape[1:])
    return out
