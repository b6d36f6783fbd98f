"""The carried state of training: only what changes every step (hyperparameters live in closures)."""

from __future__ import annotations

from typing import Any, Mapping, Optional, Union

import flax.struct
import jax
import jax.numpy as jnp
import optax

from genjax.base import Model
from genjax.typing import Array, Batch, Params, PRNGKey, State

__all__ = ["TrainState", "Optimizer", "group_optimizers", "create_train_state"]

Optimizer = Union[optax.GradientTransformation, Mapping[str, optax.GradientTransformation]]
"""One optax transformation, or for a model with several players one per params group."""


@flax.struct.dataclass
class TrainState:
    """Everything a step changes, as one pytree (checkpointed whole).

    Attributes:
      step: int32 scalar, the number of steps taken; step keys are ``fold_in(base_key, step)``.
      params: trainable parameters.
      opt_state: the optax state, or ``{group: state}`` for several players.
      model_state: the model's non-gradient state (persistent chains, frozen teacher, ...).
      ema_params: exponential moving average of ``params``, or ``None`` when EMA is off.
    """

    step: Array
    params: Params
    opt_state: Any
    model_state: State
    ema_params: Optional[Params] = None

    @property
    def eval_params(self) -> Params:
        """The params to sample and evaluate with: the EMA when kept, else the trained ones."""
        return self.ema_params if self.ema_params is not None else self.params


def group_optimizers(model: Model, optimizer: Optimizer) -> Optional[dict[str, optax.GradientTransformation]]:
    """Returns ``{group: transformation}`` for a multi-player model, ``None`` for a single group.

    A single transformation given for a multi-player model is used (with its own state) by every
    group.

    Raises:
      ValueError: when a dict of optimizers is given for a single-group model, or lacks a group.
    """
    if model.update_order is None:
        if isinstance(optimizer, Mapping):
            raise ValueError(
                "a dict of optimizers was given but the model has one params group "
                "(Model.update_order is None); pass a single optax.GradientTransformation"
            )
        return None
    groups = list(dict.fromkeys(model.update_order))
    if not isinstance(optimizer, Mapping):
        return {g: optimizer for g in groups}
    missing = [g for g in groups if g not in optimizer]
    if missing:
        raise ValueError(f"no optimizer for params group(s) {missing}; got groups {sorted(optimizer)}")
    return {g: optimizer[g] for g in groups}


def create_train_state(
    model: Model,
    optimizer: Optimizer,
    key: PRNGKey,
    init_batch: Batch,
    *,
    ema_decay: Optional[float] = None,
) -> TrainState:
    """Initialises the model on ``init_batch`` and the optimizer(s) on its params.

    Args:
      model: the family's ``Model``.
      optimizer: see :data:`Optimizer`.
      key: PRNG key for ``model.init``.
      init_batch: a batch giving shapes (and data for data-dependent initialisation).
      ema_decay: when set, ``ema_params`` starts as a copy of ``params``.

    Raises:
      ValueError: when ``model.init`` does not return ``{'params', 'state'}``, or the params of a
        multi-player model lack a group named in ``update_order``.
    """
    variables = model.init(key, init_batch)
    if not isinstance(variables, Mapping) or set(variables) != {"params", "state"}:
        raise ValueError(
            "Model.init must return {'params': ..., 'state': ...}, got "
            f"{type(variables).__name__} with keys {sorted(variables) if isinstance(variables, Mapping) else None}"
        )
    params, model_state = variables["params"], variables["state"]
    groups = group_optimizers(model, optimizer)
    if groups is None:
        opt_state = optimizer.init(params)
    else:
        missing = [g for g in groups if g not in params]
        if missing:
            raise ValueError(f"params lack group(s) {missing} named in Model.update_order")
        opt_state = {g: tx.init(params[g]) for g, tx in groups.items()}
    ema = jax.tree.map(jnp.copy, params) if ema_decay is not None else None
    return TrainState(
        step=jnp.zeros((), jnp.int32),
        params=params,
        opt_state=opt_state,
        model_state=model_state,
        ema_params=ema,
    )
