"""Metric sinks of the fit loop: ``metrics.jsonl`` and TensorBoard event files in the workdir."""

from __future__ import annotations

import json
import math
import os
from typing import Mapping, Optional

__all__ = ["MetricWriter"]


class MetricWriter:
    """Appends one JSON line per logged step and mirrors the scalars to TensorBoard.

    Args:
      workdir: the run's directory; ``None`` writes nothing (notebooks, tests).
      tensorboard: also write TensorBoard event files under ``workdir/tensorboard``.
    """

    def __init__(self, workdir: Optional[str], *, tensorboard: bool = True):
        self._jsonl = None
        self._tb = None
        if workdir is None:
            return
        os.makedirs(workdir, exist_ok=True)
        self._jsonl = open(os.path.join(workdir, "metrics.jsonl"), "a", encoding="utf-8")
        if tensorboard:
            from tensorboardX import SummaryWriter  # optional sink, imported only when used

            self._tb = SummaryWriter(os.path.join(workdir, "tensorboard"))

    def write(self, step: int, metrics: Mapping[str, float]) -> None:
        """Writes scalars for ``step``; non-finite values are written as strings (valid JSON)."""
        if self._jsonl is not None:
            row = {"step": step, **{k: (v if math.isfinite(v) else str(v)) for k, v in metrics.items()}}
            self._jsonl.write(json.dumps(row) + "\n")
            self._jsonl.flush()
        if self._tb is not None:
            for k, v in metrics.items():
                self._tb.add_scalar(k, v, step)

    def close(self) -> None:
        if self._jsonl is not None:
            self._jsonl.close()
        if self._tb is not None:
            self._tb.close()
