"""Early stopping by a validation score: an ``eval_fn`` for ``genjax.training.fit`` that keeps the best
params seen."""

from __future__ import annotations

import math
from typing import Any, Callable

import jax


class BestParams:
    """Scores ``state.params`` each time ``fit`` evaluates (lower is better) and keeps a host copy of
    the best params, since the compiled train step donates its state.

    Attributes:
      name: the metric name ``fit`` logs the score under.
      value, step, params: the best score, its step and its params (``None`` before a call).
      curve: every ``(step, score)`` seen, in order.
    """

    def __init__(self, score: Callable[[Any], float], name: str):
        self.score, self.name = score, name
        self.value, self.step, self.params = math.inf, 0, None
        self.curve: list[tuple[int, float]] = []

    def __call__(self, state) -> dict[str, float]:
        value = float(self.score(state.params))
        self.curve.append((int(state.step), round(value, 4)))
        if value < self.value:
            self.value, self.step, self.params = value, int(state.step), jax.device_get(state.params)
        return {self.name: value}
