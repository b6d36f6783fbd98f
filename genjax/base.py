"""The model contract shared by every family, and the sampler contract shared by every sampler.

A family is a :class:`Model`: a NamedTuple of pure functions built by ``make_<family>(config)``,
which closes over the hyperparameters (the pattern of optax's ``GradientTransformation``). One train
step, one fit loop and one evaluation serve every family through it.
"""

from __future__ import annotations

import enum
from typing import Callable, NamedTuple, Optional

from genjax.typing import Array, Batch, Loss, Metrics, Params, PRNGKey, State, Variables

__all__ = ["Likelihood", "Model", "Sampler", "InitFn", "LossFn", "SampleFn", "LogProbFn"]


class Likelihood(str, enum.Enum):
    """What ``Model.log_prob`` returns, so that numbers from different families are read correctly."""

    EXACT = "exact"
    """log p(x) exactly (flows, autoregressive models, probability-flow ODE with exact trace)."""
    LOWER_BOUND = "lower_bound"
    """A bound log p(x) >= value (VAE ELBO / IWAE, DBM variational bound)."""
    ESTIMATE = "estimate"
    """A stochastic estimate (AIS for RBMs, Hutchinson-trace ODE likelihood)."""
    NONE = "none"
    """The family has no tractable likelihood (GANs)."""


InitFn = Callable[[PRNGKey, Batch], Variables]
"""``init(key, batch) -> {'params': ..., 'state': ...}``; the batch gives shapes (and data-dependent
initialisation such as ActNorm or data-marginal biases)."""

LossFn = Callable[[Params, State, Batch, PRNGKey], tuple[Loss, tuple[Metrics, State]]]
"""``loss(params, state, batch, key) -> (loss, (metrics, new_state))``.

``loss`` is a scalar, or, for a model with several players, a dict keyed by the top-level params
groups named in ``Model.update_order``. ``new_state`` replaces the model state after the step.
"""

SampleFn = Callable[[Params, State, PRNGKey, int], Array]
"""``sample(params, state, key, n) -> x`` with ``x`` shaped like a batch of ``n`` data points."""

LogProbFn = Callable[[Params, State, Batch, PRNGKey], Array]
"""``log_prob(params, state, batch, key) -> float32 [B]``: per-example log-likelihood in nats of the
data as the family models it (see ``Model.likelihood`` for exact / bound / estimate)."""


class Model(NamedTuple):
    """A generative model as pure functions.

    Attributes:
      init: ``(key, batch) -> {'params', 'state'}``.
      loss: ``(params, state, batch, key) -> (loss, (metrics, state))``. Energy models return a
        surrogate whose gradient is the contrastive-divergence gradient.
      sample: ``(params, state, key, n) -> x``.
      log_prob: ``(params, state, batch, key) -> [B]`` nats, or ``None`` when intractable.
      likelihood: what ``log_prob`` returns.
      update_order: for several players, the top-level params groups in the order the train step
        updates them; a name may repeat (``('disc',) * 5 + ('gen',)`` is five critic steps per
        generator step). Each update sees the params as already updated by the previous ones.
        ``None`` means one group: all params updated at once against the scalar loss.
      recompute_state: ``(params, state, key) -> state``: the model state that belongs to
        ``params`` when they are not the weights the state was trained with, e.g. the BatchNorm
        statistics of an averaged generator (evaluation calls it for the EMA weights,
        ``genjax.training.weights_for_evaluation``); ``None`` when the state does not depend on
        the weights.
    """

    init: InitFn
    loss: LossFn
    sample: SampleFn
    log_prob: Optional[LogProbFn] = None
    likelihood: Likelihood = Likelihood.NONE
    update_order: Optional[tuple[str, ...]] = None
    recompute_state: Optional[Callable[[Params, State, PRNGKey], State]] = None


class Sampler(NamedTuple):
    """A Markov-chain or integration sampler at the builder level (blackjax's ``SamplingAlgorithm``).

    Attributes:
      init: ``(key, x0) -> state``; the initial sampler state from an initial point.
      step: ``(key, state, i) -> (state, info)``; one transition, ``i`` the step index (int32).
    """

    init: Callable[..., object]
    step: Callable[[PRNGKey, object, Array], tuple[object, object]]
