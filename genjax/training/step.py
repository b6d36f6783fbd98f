"""The one train step body, shared by every family and every way of compiling it."""

from __future__ import annotations

from typing import Any, Callable, Mapping, Optional

import jax
import jax.numpy as jnp
import optax

from genjax.base import Model
from genjax.training.averaging import EMA_RAMPUP, ema_decay_at, update_ema
from genjax.training.train_state import Optimizer, TrainState, group_optimizers
from genjax.typing import Batch, Metrics, PRNGKey

__all__ = ["make_train_step", "StepFn", "LOSS_KEY", "GRAD_NORM_KEY"]

StepFn = Callable[[TrainState, Batch, PRNGKey], tuple[TrainState, Metrics]]
"""``(train_state, batch, key) -> (train_state, metrics)``: one compiled or plain step."""
LOSS_KEY = "loss"
"""Metrics key of the total loss (``loss/<group>`` per params group)."""
GRAD_NORM_KEY = "grad_norm"
"""Metrics key of the global gradient norm (``grad_norm/<group>`` per group)."""


def _top_level_norms(grads: Any, prefix: str) -> dict[str, jax.Array]:
    """Gradient norms of each top-level params entry, so a non-finite gradient can be located."""
    if isinstance(grads, Mapping) and len(grads) > 1:
        return {f"{prefix}/{k}": optax.tree.norm(v) for k, v in grads.items()}
    return {}


def make_train_step(
    model: Model,
    optimizer: Optimizer,
    *,
    ema_decay: Optional[float] = None,
    ema_rampup: Optional[float] = EMA_RAMPUP,
    axis_name: Optional[str] = None,
) -> StepFn:
    """Builds ``step(state, batch, key) -> (state, metrics)``, pure and compile-agnostic.

    The step key is ``fold_in(key, state.step)`` (and, with ``axis_name``, folded again with the
    device index), so callers pass one constant base key and a resumed run sees the same randomness.

    One group (``model.update_order is None``): gradient of the scalar loss w.r.t. all params, one
    optimizer update. Several players: for each name in ``update_order`` in turn, the gradient of
    ``loss[name]`` w.r.t. ``params[name]`` at the params as already updated by the previous updates,
    with a fresh key ``fold_in(step_key, i)`` and that group's optimizer; the model state threads
    through the updates.

    Metrics: the model's own metrics, ``loss`` (or ``loss/<group>``), ``grad_norm`` (or
    ``grad_norm/<group>``) and ``grad_norm/<entry>`` for each top-level params entry of a single-group
    model. With ``axis_name`` they and the gradients are averaged with ``lax.pmean``; the model
    state stays per device (persistent chains are not averaged).

    Args:
      model: the family's ``Model``.
      optimizer: one optax transformation, or ``{group: transformation}``.
      ema_decay: when set, ``ema = d * ema + (1 - d) * params`` in the same compiled step, with
        ``d = genjax.training.ema_decay_at(step, ema_decay, ema_rampup)``: ``ema_decay`` caps a
        decay that ramps up with the steps taken, so the initial weights never linger in the average.
      ema_rampup: the average's half-life as a fraction of the steps taken (Karras et al., 2022);
        ``None`` is the fixed-decay EMA (biased towards the initial weights in short runs).
      axis_name: the mapped axis name under ``pmap``; ``None`` for jit and sharded jit.

    Returns:
      The step function; its ``axis_name`` attribute records how it must be compiled.
    """
    groups = group_optimizers(model, optimizer)

    def reduce(tree):
        return tree if axis_name is None else jax.lax.pmean(tree, axis_name)

    def single(state: TrainState, batch: Batch, key: PRNGKey):
        def loss_fn(params):
            return model.loss(params, state.model_state, batch, key)

        (loss, (metrics, model_state)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        grads = reduce(grads)
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        metrics = {**metrics, LOSS_KEY: loss, GRAD_NORM_KEY: optax.tree.norm(grads)}
        metrics.update(_top_level_norms(grads, GRAD_NORM_KEY))
        return params, opt_state, model_state, metrics

    def multi(state: TrainState, batch: Batch, key: PRNGKey):
        params, opt_state, model_state = dict(state.params), dict(state.opt_state), state.model_state
        metrics: dict[str, jax.Array] = {}
        for i, group in enumerate(model.update_order):
            update_key = jax.random.fold_in(key, i)

            def loss_fn(group_params, params=params, model_state=model_state, update_key=update_key, group=group):
                losses, aux = model.loss({**params, group: group_params}, model_state, batch, update_key)
                return losses[group], (losses, aux)

            (_, (losses, (group_metrics, model_state))), grads = jax.value_and_grad(loss_fn, has_aux=True)(
                params[group]
            )
            grads = reduce(grads)
            updates, opt_state[group] = groups[group].update(grads, opt_state[group], params[group])
            params[group] = optax.apply_updates(params[group], updates)
            metrics.update(group_metrics)
            metrics[f"{LOSS_KEY}/{group}"] = losses[group]
            metrics[f"{GRAD_NORM_KEY}/{group}"] = optax.tree.norm(grads)
        return params, opt_state, model_state, metrics

    body = single if groups is None else multi

    def step(state: TrainState, batch: Batch, key: PRNGKey) -> tuple[TrainState, Metrics]:
        key = jax.random.fold_in(key, state.step)
        if axis_name is not None:
            key = jax.random.fold_in(key, jax.lax.axis_index(axis_name))
        params, opt_state, model_state, metrics = body(state, batch, key)
        ema = state.ema_params
        if ema_decay is not None:
            ema = update_ema(ema, params, ema_decay_at(state.step + 1, ema_decay, ema_rampup))
        metrics = reduce({k: jnp.asarray(v, jnp.float32) for k, v in metrics.items()})
        new_state = state.replace(
            step=state.step + 1, params=params, opt_state=opt_state, model_state=model_state, ema_params=ema
        )
        return new_state, metrics

    step.axis_name = axis_name
    return step
