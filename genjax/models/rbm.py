"""Restricted Boltzmann machines trained by contrastive divergence (Hinton, 2002; Tieleman, 2008).

Energy of a Bernoulli-Bernoulli RBM with visible ``v in {0,1}^D`` and hidden ``h in {0,1}^H``:

    E(v, h) = -v.b_v - h.b_h - v W h,        F(v) = -v.b_v - sum_j softplus(b_h + v W)_j,

and of a Gaussian-Bernoulli RBM with unit variance (for standardized real data, Hinton 2010, 13.2):

    E(v, h) = ||v - b_v||^2 / 2 - h.b_h - v W h,   F(v) = ||v - b_v||^2 / 2 - sum_j softplus(b_h + v
    W)_j.

``p(h_j = 1 | v) = sigmoid(b_h + v W)_j``; ``p(v | h)`` is ``Bernoulli(sigmoid(b_v + W h))`` or
``N(b_v + W h, I)``. Params are a plain dict ``{'W': [D, H], 'b_v': [D], 'b_h': [H]}``; the
functions below take ``v`` as ``[..., D]`` and ``h`` as ``[..., H]`` (one example or a batch).

Training: the loss is ``genjax.losses.cd_surrogate`` of the free energies, whose gradient is the
contrastive-divergence gradient. CD-k restarts the negative chains at the data; persistent CD (PCD)
keeps ``num_chains`` chains in the model state. Weight decay and momentum come from optax, e.g.
``optax.chain(optax.add_decayed_weights(2e-4), optax.sgd(0.05, momentum=0.5))`` (Hinton, 2010).
Likelihoods are AIS estimates (Salakhutdinov & Murray, 2008): see :func:`ais_log_z`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Optional

import jax
import jax.numpy as jnp

from genjax.base import Likelihood, Model
from genjax.losses import cd_surrogate
from genjax.samplers import ais, gibbs
from genjax.typing import Array, Batch, Metrics, Params, PRNGKey, State

__all__ = [
    "RBMConfig",
    "make_rbm",
    "init_params",
    "energy",
    "free_energy",
    "hidden_logits",
    "visible_mean",
    "sample_hidden",
    "sample_visible",
    "conditionals",
    "sample_chain",
    "pseudo_log_likelihood",
    "reconstruction_error",
    "ais_log_z",
    "base_log_partition",
    "base_logits_from_data",
    "log_likelihood",
]

VISIBLE_KINDS = ("bernoulli", "gaussian")


@dataclasses.dataclass(frozen=True)
class RBMConfig:
    """Hyperparameters of an RBM.

    Attributes:
      image_shape: ``(H, W, C)`` of one data image (flattened to ``D = H * W * C`` visible units).
      num_hidden: hidden units.
      visible: ``'bernoulli'`` (data in {0, 1}) or ``'gaussian'`` (standardized real data, unit
        variance).
      cd_steps: Gibbs sweeps per update (the k of CD-k / PCD-k).
      persistent: keep ``num_chains`` negative chains in the model state (PCD) instead of restarting
        them at the data (CD-k).
      num_chains: persistent chains (PCD only).
      init_scale: std of the initial weights (Hinton, 2010: 0.01).
      sample_steps: Gibbs sweeps of ``Model.sample`` from the data marginal.
      ais_intermediate: K, the AIS transitions of ``Model.log_prob``.
      ais_runs: M, the AIS runs of ``Model.log_prob``.
      train_metrics: compute the reconstruction error and pseudo-log-likelihood of every training
        batch (three more products per step); off, the loss returns no metrics, as scikit-learn's
        ``BernoulliRBM.fit`` computes none, and small-batch PCD runs faster.
    """

    image_shape: tuple[int, ...] = (8, 8, 1)
    num_hidden: int = 64
    visible: str = "bernoulli"
    cd_steps: int = 1
    persistent: bool = True
    num_chains: int = 100
    init_scale: float = 0.01
    sample_steps: int = 1000
    ais_intermediate: int = 1000
    ais_runs: int = 100
    train_metrics: bool = True

    def __post_init__(self):
        if self.visible not in VISIBLE_KINDS:
            raise ValueError(f"visible must be one of {VISIBLE_KINDS}, got {self.visible!r}")
        for name in ("num_hidden", "cd_steps", "num_chains", "sample_steps", "ais_runs"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.ais_intermediate < 3:
            raise ValueError(f"ais_intermediate must be >= 3, got {self.ais_intermediate}")

    @property
    def num_visible(self) -> int:
        return math.prod(self.image_shape)


def init_params(
    key: PRNGKey,
    num_visible: int,
    num_hidden: int,
    visible_mean: Optional[Array] = None,
    *,
    scale: float = 0.01,
    visible: str = "bernoulli",
) -> Params:
    """Small random weights, zero hidden biases, visible biases from the data (Hinton, 2010, 8.1).

    Args:
      key: PRNG key.
      num_visible, num_hidden: D and H.
      visible_mean: float [D], the data mean (Bernoulli: biases ``logit(mean)``; Gaussian:
        ``mean``); ``None`` gives zero biases.
      scale: std of ``W``.
      visible: ``'bernoulli'`` or ``'gaussian'``.

    Returns:
      ``{'W': float32 [D, H], 'b_v': float32 [D], 'b_h': float32 [H]}``.
    """
    if visible_mean is None:
        b_v = jnp.zeros((num_visible,), jnp.float32)
    elif visible == "gaussian":
        b_v = jnp.asarray(visible_mean, jnp.float32)
    else:
        b_v = base_logits_from_data(visible_mean)
    return {
        "W": scale * jax.random.normal(key, (num_visible, num_hidden), jnp.float32),
        "b_v": b_v,
        "b_h": jnp.zeros((num_hidden,), jnp.float32),
    }


def base_logits_from_data(visible_mean: Array, eps: float = 1e-3) -> Array:
    """``logit(clip(mean, eps, 1 - eps))``: the biases of the independent-units model matching the
    data
    marginals, the AIS base model of Salakhutdinov & Murray (2008). float [D] -> float32 [D]."""
    p = jnp.clip(jnp.asarray(visible_mean, jnp.float32), eps, 1.0 - eps)
    return jnp.log(p) - jnp.log1p(-p)


def _visible_term(params: Params, v: Array, visible: str) -> Array:
    if visible == "gaussian":
        return -0.5 * jnp.sum(jnp.square(v - params["b_v"]), axis=-1)
    return v @ params["b_v"]


def hidden_logits(params: Params, v: Array) -> Array:
    """Total input of the hidden units ``b_h + v W``: [..., D] -> [..., H]."""
    return v @ params["W"] + params["b_h"]


def visible_mean(params: Params, h: Array, visible: str = "bernoulli") -> Array:
    """``E[v | h]``: ``sigmoid(b_v + W h)`` (Bernoulli) or ``b_v + W h`` (Gaussian).
    [..., H] -> [..., D]."""
    a = h @ params["W"].T + params["b_v"]
    return a if visible == "gaussian" else jax.nn.sigmoid(a)


def energy(params: Params, v: Array, h: Array, visible: str = "bernoulli") -> Array:
    """``E(v, h)`` (module docstring): v [..., D], h [..., H] -> [...]."""
    return (
        -_visible_term(params, v, visible)
        - h @ params["b_h"]
        - jnp.sum((v @ params["W"]) * h, axis=-1)
    )


def free_energy(params: Params, v: Array, visible: str = "bernoulli") -> Array:
    """``F(v) = -log sum_h exp(-E(v, h))``, so ``p(v) = exp(-F(v)) / Z``: [..., D] -> [...]."""
    return -_visible_term(params, v, visible) - jnp.sum(
        jax.nn.softplus(hidden_logits(params, v)), axis=-1
    )


def sample_hidden(key: PRNGKey, params: Params, v: Array) -> Array:
    """``h ~ p(h | v)``: float32 [..., H] in {0, 1}."""
    return gibbs.bernoulli(key, hidden_logits(params, v))


def sample_visible(key: PRNGKey, params: Params, h: Array, visible: str = "bernoulli") -> Array:
    """``v ~ p(v | h)``: float32 [..., D], binary or real."""
    if visible == "gaussian":
        mean = visible_mean(params, h, visible)
        return mean + jax.random.normal(key, mean.shape, mean.dtype)
    return gibbs.bernoulli(key, h @ params["W"].T + params["b_v"])


def conditionals(
    params: Params, visible: str = "bernoulli"
) -> tuple[gibbs.Conditional, gibbs.Conditional]:
    """The two conditional samplers of the layers ``(v, h)`` for :mod:`genjax.samplers.gibbs`."""
    return (
        lambda key, layers: sample_visible(key, params, layers[1], visible),
        lambda key, layers: sample_hidden(key, params, layers[0]),
    )


def sample_chain(
    key: PRNGKey,
    params: Params,
    v0: Array,
    num_steps: int,
    every: int = 1,
    *,
    visible: str = "bernoulli",
    mean: bool = False,
) -> Array:
    """Gibbs chains seeded with ``v0`` (noise, or existing images), frame by frame.

    One sweep draws ``h ~ p(h | v)`` then ``v ~ p(v | h)``; frame ``j`` is the visible state after
    ``(j + 1) * every`` sweeps (``v0`` itself is not a frame), or with ``mean`` the mean
    ``E[v | h]`` of that sweep's ``h``, the grey-level image most papers show (its average over the
    chain is the Rao-Blackwellised estimate of ``E[v]``).

    Args:
      key: PRNG key (chain ``c`` uses ``random.split(key, C)[c]``).
      params: RBM params.
      v0: float [C, D] initial visible states: binary noise (``gibbs.noise_init``), draws from the
        data marginal (``gibbs.marginal_init``), or flattened seed images.
      num_steps: sweeps (static).
      every: sweeps per frame (static, divides ``num_steps``).
      visible: ``'bernoulli'`` or ``'gaussian'``.
      mean: frames are ``E[v | h]`` instead of samples of ``v``.

    Returns:
      float32 [C, num_steps // every, D]: binary samples (Bernoulli, ``mean=False``), or means in
      [0, 1] (Bernoulli) / real values.

    Raises:
      ValueError: when ``v0`` is not ``[C, D]`` with the params' D, or for bad step counts.
    """
    num_visible = params["W"].shape[0]
    if v0.ndim != 2 or v0.shape[1] != num_visible:
        raise ValueError(f"v0 must be [C, {num_visible}] (flattened seeds), got shape {v0.shape}")
    h0 = jnp.zeros((v0.shape[0], params["b_h"].shape[0]), jnp.float32)
    frame_fn = (lambda s: visible_mean(params, s[1], visible)) if mean else None
    return gibbs.sample_chain(
        key,
        (jnp.asarray(v0, jnp.float32), h0),
        conditionals(params, visible),
        num_steps,
        every,
        frame_fn=frame_fn,
    )


def _negative_chains(key: PRNGKey, params: Params, v0: Array, num_steps: int, visible: str) -> Array:
    """Gibbs sweeps of the training negatives ``v0 [C, D]``: one key per sweep draws the whole batched
    block at once, which saves :func:`sample_chain`'s per-chain key splitting inside a training
    step."""
    h0 = jnp.zeros(v0.shape[:-1] + (params["b_h"].shape[0],), v0.dtype)
    (v, _), _ = gibbs.run_chain(key, (v0, h0), conditionals(params, visible), num_steps)
    return v


def pseudo_log_likelihood(key: PRNGKey, params: Params, v: Array) -> Array:
    """Stochastic pseudo-log-likelihood of binary data (as scikit-learn's
    ``BernoulliRBM.score_samples``).

    ``D * log sigmoid(F(v~) - F(v))`` with ``v~`` equal to ``v`` with one unit, drawn uniformly per
    example, flipped: an unbiased estimate of ``sum_i log p(v_i | v_-i)`` (Besag, 1975).

    Args:
      key: PRNG key for the flipped units.
      params: RBM params.
      v: float [B, D] in {0, 1}.

    Returns:
      float32 [B], nats.
    """
    return _pseudo_log_likelihood(key, params, v, free_energy(params, v))


def _pseudo_log_likelihood(key: PRNGKey, params: Params, v: Array, free_energy_v: Array) -> Array:
    num_visible = v.shape[-1]
    idx = jax.random.randint(key, v.shape[:-1], 0, num_visible)
    flip = jax.nn.one_hot(idx, num_visible, dtype=v.dtype)
    v_flip = v + flip - 2.0 * v * flip
    return num_visible * jax.nn.log_sigmoid(free_energy(params, v_flip) - free_energy_v)


def reconstruction_error(params: Params, v: Array, visible: str = "bernoulli") -> Array:
    """``||v - E[v | h = E[h | v]]||^2`` per example, a rough monitor of training. [B, D] -> [B]."""
    recon = visible_mean(params, jax.nn.sigmoid(hidden_logits(params, v)), visible)
    return jnp.sum(jnp.square(v - recon), axis=-1)


def base_log_partition(base: Array, num_hidden: int, visible: str = "bernoulli") -> Array:
    """``log Z_0`` of the AIS base model: independent visible units with logits (Bernoulli) or means
    (Gaussian, unit variance) ``base``, and ``num_hidden`` free hidden units (a factor ``2^H``)."""
    if visible == "gaussian":
        return num_hidden * math.log(2.0) + 0.5 * base.shape[-1] * math.log(2.0 * math.pi)
    return num_hidden * math.log(2.0) + jnp.sum(jax.nn.softplus(base))


def _ais_path(params: Params, base: Array, visible: str):
    """The geometric path ``f_beta = f_0^(1 - beta) f_1^beta`` with the hidden units summed out."""

    def log_f(v: Array, beta: Array) -> Array:
        if visible == "gaussian":
            vis = -0.5 * (1.0 - beta) * jnp.sum(jnp.square(v - base), -1) - 0.5 * beta * jnp.sum(
                jnp.square(v - params["b_v"]), -1
            )
        else:
            vis = (1.0 - beta) * (v @ base) + beta * (v @ params["b_v"])
        return vis + jnp.sum(jax.nn.softplus(beta * hidden_logits(params, v)), axis=-1)

    def transition(key: PRNGKey, v: Array, beta: Array) -> Array:
        k_h, k_v = jax.random.split(key)
        h = gibbs.bernoulli(k_h, beta * hidden_logits(params, v))
        a = (1.0 - beta) * base + beta * (h @ params["W"].T + params["b_v"])
        if visible == "gaussian":
            return a + jax.random.normal(k_v, a.shape, a.dtype)
        return gibbs.bernoulli(k_v, a)

    return log_f, transition


def ais_log_z(
    key: PRNGKey,
    params: Params,
    base: Array,
    *,
    num_intermediate: int = 1000,
    num_runs: int = 100,
    visible: str = "bernoulli",
) -> tuple[Array, Array]:
    """AIS estimate of ``log Z`` of an RBM (Salakhutdinov & Murray, 2008).

    Base model: independent visible units with logits ``base`` (from the data marginals, see
    :func:`base_logits_from_data`; Gaussian: means), ``M = num_runs`` runs, the geometric path of
    :func:`genjax.samplers.ais.betas` with ``K = num_intermediate`` transitions, each a Gibbs sweep
    of the intermediate RBM (weights and hidden biases scaled by ``beta``).

    Returns:
      ``(log_z, log_z_std)``: the estimate and its standard error across runs (see
      :func:`genjax.samplers.ais.log_z_estimate`). AIS tends to underestimate ``log Z`` when K is
      too small, which overestimates log-likelihoods.
    """
    log_f, transition = _ais_path(params, base, visible)
    k0, k_run = jax.random.split(key)
    shape = (num_runs, base.shape[-1])
    if visible == "gaussian":
        v0 = base + jax.random.normal(k0, shape, jnp.float32)
    else:
        v0 = gibbs.bernoulli(k0, jnp.broadcast_to(base, shape))
    log_w = ais.ais_log_weights(k_run, v0, log_f, transition, ais.betas(num_intermediate))
    return ais.log_z_estimate(log_w, base_log_partition(base, params["b_h"].shape[0], visible))


def log_likelihood(params: Params, v: Array, log_z: Array, visible: str = "bernoulli") -> Array:
    """``log p(v) = -F(v) - log Z`` for a given (estimated) ``log Z``: [B, D] -> [B] nats."""
    return -free_energy(params, v, visible) - log_z


def _flatten(batch: Batch, config: RBMConfig) -> Array:
    image = batch["image"]
    if tuple(image.shape[1:]) != tuple(config.image_shape):
        raise ValueError(
            f"batch['image'] has shape {image.shape}, "
            f"expected [B, {', '.join(map(str, config.image_shape))}]"
        )
    return image.reshape(image.shape[0], -1).astype(jnp.float32)


def make_rbm(config: RBMConfig) -> Model:
    """Builds the RBM :class:`~genjax.base.Model`.

    * ``init``: params by :func:`init_params` from the batch mean; state ``{'base': [D]}`` (the AIS
      base model from the init batch's marginals) and, for PCD, ``'chains': float32 [num_chains,
      D]`` started from that marginal.
    * ``loss``: ``cd_surrogate(F(v_data), F(stop_gradient(v_neg)))`` after ``cd_steps`` sweeps;
      metrics ``pseudo_log_likelihood`` (Bernoulli only, nats per example) and ``recon_error``
      (none when ``train_metrics`` is off).
    * ``sample``: ``sample_steps`` sweeps of :func:`sample_chain` from the data marginal; binary
      samples (Bernoulli: the data space, what a binarized test set is compared with) or the last
      sweep's ``E[v | h]`` (Gaussian), shaped ``[n, *image_shape]``.
    * ``log_prob``: ``-F(v) - log Z_AIS`` (:data:`~genjax.base.Likelihood.ESTIMATE`); the spread of ``log Z`` is
      returned by :func:`ais_log_z`.
    """
    visible = config.visible

    def init(key: PRNGKey, batch: Batch) -> dict:
        v = _flatten(batch, config)
        mean = jnp.mean(v, axis=0)
        k_w, k_c = jax.random.split(key)
        params = init_params(
            k_w,
            config.num_visible,
            config.num_hidden,
            mean,
            scale=config.init_scale,
            visible=visible,
        )
        base = mean if visible == "gaussian" else base_logits_from_data(mean)
        state: dict = {"base": base}
        if config.persistent:
            shape = (config.num_chains, config.num_visible)
            if visible == "gaussian":
                state["chains"] = mean + jax.random.normal(k_c, shape, jnp.float32)
            else:
                state["chains"] = gibbs.bernoulli(k_c, jnp.broadcast_to(base, shape))
        return {"params": params, "state": state}

    def loss(
        params: Params, state: State, batch: Batch, key: PRNGKey
    ) -> tuple[Array, tuple[Metrics, State]]:
        v = _flatten(batch, config)
        k_neg, k_pll = jax.random.split(key)
        v0 = state["chains"] if config.persistent else v
        frozen = jax.lax.stop_gradient(params)
        v_neg = jax.lax.stop_gradient(
            _negative_chains(k_neg, frozen, v0, config.cd_steps, visible)
        )
        fe_data = free_energy(params, v, visible)
        value = cd_surrogate(fe_data, free_energy(params, v_neg, visible))
        new_state = {**state, "chains": v_neg} if config.persistent else state
        if not config.train_metrics:
            return value, ({}, new_state)
        metrics = {"recon_error": jnp.mean(reconstruction_error(frozen, v, visible))}
        if visible == "bernoulli":
            pll = _pseudo_log_likelihood(k_pll, frozen, v, jax.lax.stop_gradient(fe_data))
            metrics["pseudo_log_likelihood"] = jnp.mean(pll)
        return value, (metrics, new_state)

    def sample(params: Params, state: State, key: PRNGKey, n: int) -> Array:
        k0, k_run = jax.random.split(key)
        if visible == "gaussian":
            v0 = state["base"] + jax.random.normal(k0, (n, config.num_visible), jnp.float32)
        else:
            v0 = gibbs.marginal_init(k0, n, jax.nn.sigmoid(state["base"]))
        steps = config.sample_steps
        frames = sample_chain(
            k_run, params, v0, steps, steps, visible=visible, mean=visible == "gaussian"
        )
        return frames[:, -1].reshape((n, *config.image_shape))

    def log_prob(params: Params, state: State, batch: Batch, key: PRNGKey) -> Array:
        log_z, _ = ais_log_z(
            key,
            params,
            state["base"],
            num_intermediate=config.ais_intermediate,
            num_runs=config.ais_runs,
            visible=visible,
        )
        return log_likelihood(params, _flatten(batch, config), log_z, visible)

    return Model(
        init=init, loss=loss, sample=sample, log_prob=log_prob, likelihood=Likelihood.ESTIMATE
    )
