"""Deterministic, step-indexed batching: the batch of step ``s`` is a function of ``(seed, s)``, so
the data position of a resumed run is its step and nothing else needs saving."""

from __future__ import annotations

import functools
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
        ``batch_size / process_count`` slice of every global batch (disjoint across processes);
        pass ``jax.process_index()`` and ``jax.process_count()``.

    Returns:
      ``batch(step)`` for any step >= 0: ``{name: array [batch_size / process_count, ...]}``. Step
      ``s`` is batch ``s % (N // batch_size)`` of epoch ``s // (N // batch_size)``, whose order is
      ``numpy.random.default_rng((seed, epoch)).permutation(N)``.

    Raises:
      ValueError: for no arrays, arrays of different lengths, a batch larger than the data, a
        batch that does not divide among the processes, a process index out of range, or (from
        ``batch``) a negative step.
    """
    if not arrays:
        raise ValueError("arrays is empty; pass at least one array, e.g. {'image': ...}")
    if not 0 <= process_index < process_count:
        raise ValueError(f"process_index must be in 0..{process_count - 1}, got {process_index}")
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

    @functools.lru_cache(maxsize=2)  # consecutive steps share an epoch's permutation
    def permutation(epoch: int) -> np.ndarray:
        return np.random.default_rng((seed, epoch)).permutation(n)

    def batch(step: int) -> dict[str, np.ndarray]:
        step = int(step)  # also accepts a concrete jax scalar such as TrainState.step
        if step < 0:
            raise ValueError(f"step must be >= 0, got {step}")
        epoch, i = divmod(step, per_epoch)
        start = i * batch_size + process_index * local
        idx = permutation(epoch)[start : start + local]
        return {k: v[idx] for k, v in arrays.items()}

    return batch


def shard(batch: Mapping[str, np.ndarray], num_devices: int) -> dict[str, np.ndarray]:
    """Reshapes every array's leading axis ``[B, ...]`` to ``[num_devices, B / num_devices, ...]``.

    Args:
      batch: arrays with a common leading batch axis (numpy or jax; the type is kept, so a jax
        batch stays on its device).
      num_devices: number of devices (``jax.local_device_count()`` for a pmap step).

    Returns:
      The batch with every array shaped ``[num_devices, B / num_devices, ...]``.

    Raises:
      ValueError: when ``num_devices < 1`` or some ``B`` is not divisible by ``num_devices``.
    """
    if num_devices < 1:
        raise ValueError(f"num_devices must be >= 1, got {num_devices}")
    out = {}
    for k, v in batch.items():
        v = v if hasattr(v, "reshape") else np.asarray(v)
        if v.ndim == 0 or v.shape[0] % num_devices:
            raise ValueError(
                f"batch[{k!r}] with shape {v.shape} does not split over {num_devices} devices"
            )
        out[k] = v.reshape((num_devices, v.shape[0] // num_devices) + v.shape[1:])
    return out
