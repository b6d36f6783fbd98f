"""The weight average that evaluation samples: an EMA whose length grows with the run.

A fixed-decay average started at step 0 is biased towards the initial weights: after ``n`` steps a
share ``decay**n`` of them remains (45% after 800 steps at 0.999), and its samples are worse than the
raw weights' at any short budget. Here the half-life of the average is at most a fraction
``rampup`` of the steps taken (Karras et al., 2022, ``ema_rampup_ratio``), capped by ``decay``:

    decay_t = min(decay, 0.5 ** (1 / (rampup * t)))     after the t-th update, t = 1, 2, ...

so the first update keeps ``0.5 ** (1 / rampup)`` of the initial weights (1e-6 at 0.05) and every
later one shrinks that share further; the average of a long run is the fixed-decay EMA again once
``rampup * t`` exceeds the cap's half-life (13,860 steps for 0.999 at 0.05).
"""

from __future__ import annotations

import math
from typing import Literal, Optional

import jax
import jax.numpy as jnp

from genjax.base import Model
from genjax.training.train_state import TrainState
from genjax.typing import Array, Params, PRNGKey

__all__ = ["EMA_RAMPUP", "ema_decay_at", "update_ema", "initial_weight_share", "weights_for_evaluation", "WEIGHTS"]

EMA_RAMPUP = 0.05
"""The half-life of the average as a fraction of the steps taken (EDM's ``ema_rampup_ratio``)."""
WEIGHTS = ("ema", "raw")
"""The weights a train state can be evaluated with: the average, or the trained params."""


def ema_decay_at(step: Array, decay: float, rampup: Optional[float] = EMA_RAMPUP) -> Array:
    """The decay of the ``step``-th update (``step >= 1``, int or int32 array): ``decay`` when
    ``rampup`` is ``None`` (the fixed-decay EMA), else ``min(decay, 0.5 ** (1 / (rampup * step)))``.

    Raises:
      ValueError: for a ``decay`` outside [0, 1) or a ``rampup`` that is not positive.
    """
    if not 0.0 <= decay < 1.0:
        raise ValueError(f"ema decay must be in [0, 1), got {decay}")
    if rampup is None:
        return jnp.asarray(decay, jnp.float32)
    if not rampup > 0.0:
        raise ValueError(f"ema rampup must be > 0 (a fraction of the steps taken), got {rampup}")
    t = jnp.maximum(jnp.asarray(step, jnp.float32), 1.0)
    return jnp.minimum(decay, jnp.exp2(-1.0 / (rampup * t)))


def update_ema(ema: Params, params: Params, decay: Array) -> Params:
    """``decay * ema + (1 - decay) * params`` leaf by leaf, in each leaf's dtype."""
    return jax.tree.map(lambda e, p: (decay * e + (1.0 - decay) * p).astype(e.dtype), ema, params)


def initial_weight_share(num_steps: int, decay: float, rampup: Optional[float] = EMA_RAMPUP) -> float:
    """The share of the initial weights left in the average after ``num_steps`` updates,
    ``prod_t decay_t`` over the float32 decays the train step uses (summed in float64 logs, so a
    share far below float32's range is still a number)."""
    log_share = sum(math.log(float(ema_decay_at(t, decay, rampup))) for t in range(1, num_steps + 1))
    return math.exp(log_share)


def weights_for_evaluation(
    model: Model, state: TrainState, weights: Literal["ema", "raw"], key: PRNGKey
) -> TrainState:
    """``state`` as evaluation must see it for ``weights``: ``'raw'`` drops the average (so
    ``eval_params`` are the trained params, with the model state they were trained with); ``'ema'``
    keeps it and, for a model with ``recompute_state`` (BatchNorm statistics), replaces the model
    state by the one that belongs to the averaged weights. A state without an average is returned
    as is for either.

    Raises:
      ValueError: for ``weights`` outside :data:`WEIGHTS`.
    """
    if weights not in WEIGHTS:
        raise ValueError(f"unknown weights {weights!r}; valid choices: {list(WEIGHTS)}")
    if state.ema_params is None:
        return state
    if weights == "raw":
        return state.replace(ema_params=None)
    if model.recompute_state is None:
        return state
    return state.replace(model_state=model.recompute_state(state.ema_params, state.model_state, key))
