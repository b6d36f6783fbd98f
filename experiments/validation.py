"""Early stopping by a validation score: :class:`BestParams`, an ``eval_fn`` for
``genjax.training.fit`` that keeps the best params seen, and :func:`fit_early_stopped`, ``fit`` with
it attached."""

from __future__ import annotations

import math
from typing import Any, Callable

import jax

from genjax import training

__all__ = ["BestParams", "fit_early_stopped"]


class BestParams:
    """Scores ``state.params`` each time ``fit`` evaluates (lower is better) and keeps a host copy of
    the best params, since the compiled train step donates its state. Ties keep the earlier step.

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


def fit_early_stopped(
    model,
    optimizer,
    data: Callable[[int], Any],
    *,
    key,
    num_steps: int,
    eval_every: int,
    score: Callable[[Any], float],
    name: str,
    **fit_kwargs,
) -> tuple[training.TrainState, BestParams]:
    """``genjax.training.fit`` for ``num_steps`` in memory, scoring the params every ``eval_every``
    steps (the last step included) with ``score`` (lower is better, e.g. a validation NLL).

    Args:
      model, optimizer, data, key, num_steps: as for ``fit``.
      eval_every: steps between scores; divides ``num_steps`` (and is a multiple of
        ``fit_kwargs['steps_per_call']`` when that is given).
      score: ``params -> float``.
      name: the logged name of the score.
      **fit_kwargs: other ``fit`` arguments (``steps_per_call``, ``ema_decay``, ...).

    Returns:
      The final train state and the :class:`BestParams` (best params, their step and score, and the
      whole validation curve).

    Raises:
      ValueError: when ``eval_every`` is not in ``1..num_steps`` or does not divide ``num_steps``
        (the final params would go unscored).
    """
    if not 1 <= eval_every <= num_steps or num_steps % eval_every:
        raise ValueError(f"eval_every={eval_every} must divide num_steps={num_steps}")
    best = BestParams(score, name)
    fit_kwargs.setdefault("progress", False)
    state = training.fit(
        model,
        optimizer,
        data,
        key=key,
        num_steps=num_steps,
        log_every=eval_every,
        checkpoint_every=num_steps,
        eval_fn=best,
        eval_every=eval_every,
        **fit_kwargs,
    )
    return state, best
