"""Flow matching on the linear path (rectified flow, Liu et al., 2023; conditional flow matching
with the optimal-transport path, Lipman et al., 2023): a velocity network trained by plain
regression, sampled and scored by integrating its ODE.

The path joins a data point ``x0`` (``t = 0``) to standard-normal noise ``x1`` (``t = 1``) by a
straight line, ``x_t = (1 - t) x0 + t x1``, whose velocity is ``x1 - x0``. The network
``v_theta(x_t, t)`` regresses it; the minimiser is ``E[x1 - x0 | x_t]``, the velocity of an ODE
whose marginal at every ``t`` is the path's (Lipman et al., 2023, thm. 2). Samples integrate the
ODE from noise at ``t = 1`` to ``t = 0`` (Euler, midpoint or Heun steps of
:func:`genjax.samplers.ode.solve`); the likelihood integrates it the other way with the divergence
(:func:`genjax.samplers.ode.field_log_likelihood`, the solver and Richardson check the diffusion
family's probability-flow likelihood uses), and the prior at ``t = 1`` is exactly ``N(0, I)``.

Data: ``batch['image']`` float32 [B, H, W, C] in [-1, 1] (or ``batch['x']`` [B, D] with the MLP
network), optional ``batch['label']`` int32 [B] for class-conditional models with classifier-free
guidance (Ho & Salimans, 2022; the guided velocity is affine in the score, as the noise prediction).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable, Optional

import jax
import jax.numpy as jnp

from genjax.base import Likelihood, Model
from genjax.distributions import uniform_dequantize
from genjax.losses import drop_labels
from genjax.nn.unet import MLPDenoiser, UNet
from genjax.samplers import ode
from genjax.samplers.guidance import guided
from genjax.samplers.schedules import per_example
from genjax.typing import Array, Batch, Params, PRNGKey

__all__ = [
    "FlowMatchingConfig",
    "make_flow_matching",
    "make_network",
    "TIME_SAMPLINGS",
    "sample_times",
    "linear_path",
    "flow_matching_loss",
    "velocity",
    "time_grid",
    "generate",
    "field_likelihood",
    "ode_likelihood",
    "ode_likelihood_reference",
]

TIME_SAMPLINGS = ("uniform", "logit_normal")
"""Training distributions of ``t``: ``U(0, 1)`` (Lipman et al., 2023; Liu et al., 2023), or
``sigmoid(N(m, s^2))`` (Esser et al., 2024, sec. 3.1), which weights the middle of the path."""

VelocityNet = Callable[[Array, Array], Array]
"""``(x_t [B, ...], t float [B] in [0, 1]) -> v [B, ...]``."""


@dataclasses.dataclass(frozen=True)
class FlowMatchingConfig:
    """Hyperparameters of a flow-matching model.

    Attributes:
      data_shape: one example's shape, ``(H, W, C)`` for images or ``(D,)`` for vectors.
      network: ``'unet'`` (the shared :class:`genjax.nn.unet.UNet`) or ``'mlp'``; widths below.
      base_channels, channel_mults, num_res_blocks, attention_resolutions, dropout: UNet settings.
      mlp_hidden, mlp_depth: MLP settings.
      num_classes: > 0 for class-conditional models (label ``num_classes`` is the null label).
      label_dropout: probability of training on the null label (classifier-free guidance).
      time_sampling: one of :data:`TIME_SAMPLINGS`.
      logit_mean, logit_std: ``m, s`` of the logit-normal times.
      time_scale: the network sees ``time_scale * t`` (the sinusoidal embedding's frequencies are
        made for timesteps up to 1,000).
      sampler: ``'euler' | 'midpoint' | 'heun'`` (:data:`genjax.samplers.ode.ODE_METHODS`).
      sample_steps: steps of ``Model.sample`` from ``t = 1`` to 0 (Euler: as many network
        evaluations; midpoint and Heun: twice as many).
      sample_grid_power, likelihood_grid_power: the time grids are ``t_i = (i / N)^power``; a power
        above 1 puts more steps near the data (see :func:`time_grid`).
      guidance_scale: classifier-free guidance weight of ``Model.sample`` (conditional models).
      likelihood_steps: Heun steps (``2 N`` evaluations) of the likelihood ODE; even, so that the
        error is estimated from the grid of half the steps.
      levels: grey levels of the discrete data (dequantization and bits/dim); 0 for continuous data.
    """

    data_shape: tuple[int, ...] = (8, 8, 1)
    network: str = "unet"
    base_channels: int = 32
    channel_mults: tuple[int, ...] = (1, 2)
    num_res_blocks: int = 1
    attention_resolutions: tuple[int, ...] = ()
    dropout: float = 0.0
    mlp_hidden: int = 128
    mlp_depth: int = 3
    num_classes: int = 0
    label_dropout: float = 0.1
    time_sampling: str = "uniform"
    logit_mean: float = 0.0
    logit_std: float = 1.0
    time_scale: float = 1000.0
    sampler: str = "heun"
    sample_steps: int = 18
    sample_grid_power: float = 1.0
    likelihood_grid_power: float = 1.0
    guidance_scale: float = 1.0
    likelihood_steps: int = 128
    levels: int = 17

    def __post_init__(self):
        if self.network not in ("unet", "mlp"):
            raise ValueError(f"network must be 'unet' or 'mlp', got {self.network!r}")
        if self.time_sampling not in TIME_SAMPLINGS:
            raise ValueError(
                f"time_sampling must be one of {list(TIME_SAMPLINGS)}, got {self.time_sampling!r}"
            )
        if self.sampler not in ode.ODE_METHODS:
            raise ValueError(f"sampler must be one of {list(ode.ODE_METHODS)}, got {self.sampler!r}")
        if self.sample_steps < 1:
            raise ValueError(f"sample_steps must be >= 1, got {self.sample_steps}")
        if self.likelihood_steps < 2 or self.likelihood_steps % 2:
            raise ValueError(f"likelihood_steps must be even and >= 2, got {self.likelihood_steps}")
        if self.logit_std <= 0:
            raise ValueError(f"logit_std must be > 0, got {self.logit_std}")
        if self.sample_grid_power <= 0 or self.likelihood_grid_power <= 0:
            raise ValueError(
                "grid powers must be > 0, got "
                f"{self.sample_grid_power} and {self.likelihood_grid_power}"
            )


def make_network(config: FlowMatchingConfig):
    """The Flax network ``(x, time_scale * t, label) -> v`` of this config."""
    if config.network == "mlp":
        return MLPDenoiser(config.mlp_hidden, config.mlp_depth, config.num_classes)
    return UNet(
        base_channels=config.base_channels,
        channel_mults=config.channel_mults,
        num_res_blocks=config.num_res_blocks,
        attention_resolutions=config.attention_resolutions,
        num_classes=config.num_classes,
        dropout=config.dropout,
        embedding="sinusoidal",
    )


def _data(batch: Batch) -> Array:
    return batch["image"] if "image" in batch else batch["x"]


def sample_times(key: PRNGKey, n: int, config: FlowMatchingConfig) -> Array:
    """``n`` training times in (0, 1) from ``config.time_sampling``: float32 [n]."""
    if config.time_sampling == "logit_normal":
        return jax.nn.sigmoid(config.logit_mean + config.logit_std * jax.random.normal(key, (n,)))
    return jax.random.uniform(key, (n,))


def linear_path(x0: Array, x1: Array, t: Array) -> tuple[Array, Array]:
    """The straight path and its velocity: ``(x_t, u) = ((1 - t) x0 + t x1, x1 - x0)``.

    Args:
      x0: float [B, ...] data; x1: float [B, ...] noise; t: float [B] in [0, 1].

    Returns:
      ``(x_t [B, ...], u [B, ...])``.
    """
    s = t.reshape((-1,) + (1,) * (x0.ndim - 1))
    return (1.0 - s) * x0 + s * x1, x1 - x0


def flow_matching_loss(
    key: PRNGKey, v: VelocityNet, x0: Array, config: FlowMatchingConfig
) -> Array:
    """The conditional flow-matching loss ``||v(x_t, t) - (x1 - x0)||^2`` summed over dimensions,
    with ``x1 ~ N(0, I)`` and ``t`` from :func:`sample_times` (Lipman et al., 2023, eq. 23 with
    ``sigma_min = 0``; Liu et al., 2023, eq. 1). Its expectation exceeds that of
    ``||v - v*||^2`` by a constant, so it is minimised by ``v* = E[x1 - x0 | x_t]``.

    Args:
      key: PRNG key (times and noise).
      v: the velocity ``(x_t, t [B]) -> [B, ...]``.
      x0: float [B, ...] data.

    Returns:
      float32 [B] per-example losses.
    """
    k_t, k_n = jax.random.split(key)
    t = sample_times(k_t, x0.shape[0], config)
    xt, u = linear_path(x0, jax.random.normal(k_n, x0.shape, x0.dtype), t)
    return jnp.sum(jnp.square(v(xt, t) - u).reshape(x0.shape[0], -1), -1)


def velocity(
    config: FlowMatchingConfig, params: Params, label: Optional[Array] = None
) -> ode.Field:
    """The trained field as the ODE's drift ``(x [B, ...], t float scalar) -> v [B, ...]``, with
    classifier-free guidance at ``config.guidance_scale`` when ``label`` is given."""
    net = make_network(config)
    raw = lambda x, t, y: net.apply({"params": params}, x, config.time_scale * t, y)
    if label is None or not config.num_classes:
        return lambda x, t: raw(x, per_example(x, t), None)
    fn = (
        guided(raw, config.guidance_scale, config.num_classes)
        if config.guidance_scale != 1.0
        else raw
    )
    return lambda x, t: fn(x, per_example(x, t), label)


def time_grid(steps: int, power: float = 1.0) -> Array:
    """``t_i = (i / steps)^power`` for ``i = 0..steps``: float32 [steps + 1], increasing from 0 to 1.
    Grids of ``N`` and ``N / 2`` steps nest (the half grid is every other time)."""
    return jnp.linspace(0.0, 1.0, steps + 1) ** power


def generate(
    field: ode.Field, x1: Array, steps: int, *, method: str = "heun", power: float = 1.0
) -> Array:
    """Integrates ``dx/dt = field(x, t)`` from noise ``x1`` at ``t = 1`` to ``t = 0`` over the
    reversed :func:`time_grid` by :func:`genjax.samplers.ode.solve`.

    Args:
      field: the velocity ``(x, t scalar) -> v``.
      x1: float [B, ...] standard-normal noise.
      steps: ODE steps (Euler: one evaluation each; midpoint and Heun: two).
      method: one of :data:`genjax.samplers.ode.ODE_METHODS`.
      power: the grid's power.

    Returns:
      float [B, ...] samples.
    """
    return ode.solve(field, x1, jnp.flip(time_grid(steps, power)), method=method)


def field_likelihood(
    key: PRNGKey,
    field: ode.Field,
    x0: Array,
    steps: int,
    *,
    power: float = 1.0,
    error_estimate: bool = False,
    exact_trace: bool = False,
) -> ode.LogLikelihood:
    """``log p_0(x0) = log N(x(1); 0, I) + int_0^1 div v dt``, the instantaneous change of variables
    along the flow (Chen et al., 2018), by Heun steps over :func:`time_grid` with Hutchinson's trace
    (:func:`genjax.samplers.ode.field_log_likelihood`).

    Args:
      key: PRNG key of the Rademacher probes.
      field: the velocity ``(x, t scalar) -> v``.
      x0: float [B, ...] continuous data.
      steps: Heun steps (even with ``error_estimate``).
      power: the grid's power.
      error_estimate: also solve on the half grid and fill ``error`` (Richardson, nats).
      exact_trace: the divergence from the full Jacobian (small ``D`` only).

    Returns:
      :class:`genjax.samplers.ode.LogLikelihood`, nats per example.
    """
    return ode.field_log_likelihood(
        key, field, x0, time_grid(steps, power), prior_std=1.0, exact_trace=exact_trace,
        error_estimate=error_estimate,
    )


def ode_likelihood(
    config: FlowMatchingConfig,
    params: Params,
    batch: Batch,
    key: PRNGKey,
    *,
    steps: Optional[int] = None,
    error_estimate: bool = False,
    exact_trace: bool = False,
) -> ode.LogLikelihood:
    """The ODE likelihood of the unconditional model in nats of the discrete data: uniformly
    dequantized (:func:`genjax.distributions.uniform_dequantize`), then :func:`field_likelihood`.

    Args:
      batch: ``{'image': float [B, H, W, C]}`` (or ``'x'``) on the data's levels in [-1, 1].
      key: split into the dequantization noise and the probes, as in
        :func:`ode_likelihood_reference`, so the two solve the same ODE with the same noise.
      steps: Heun steps (default ``config.likelihood_steps``).
      error_estimate: also solve on the half grid and fill ``error`` (1.5 times the work).
      exact_trace: the divergence from the full Jacobian.

    Returns:
      :class:`genjax.samplers.ode.LogLikelihood`; ``log_prob`` float32 [B] in nats.
    """
    k_u, k_o = jax.random.split(key)
    y, offset = uniform_dequantize(k_u, _data(batch), config.levels)
    out = field_likelihood(
        k_o, velocity(config, params), y, config.likelihood_steps if steps is None else steps,
        power=config.likelihood_grid_power, error_estimate=error_estimate, exact_trace=exact_trace,
    )
    return out._replace(log_prob=out.log_prob + offset)


def ode_likelihood_reference(
    config: FlowMatchingConfig,
    params: Params,
    batch: Batch,
    key: PRNGKey,
    *,
    rtol: float = 1e-5,
    atol: float = 1e-5,
    exact_trace: bool = False,
) -> ode.LogLikelihood:
    """:func:`ode_likelihood` by the adaptive Dormand-Prince 5(4) solve from ``t = 0`` to 1
    (:func:`genjax.samplers.ode.field_log_likelihood_adaptive`): the reference a step count is
    calibrated against. Same key, same dequantization noise and probes."""
    k_u, k_o = jax.random.split(key)
    y, offset = uniform_dequantize(k_u, _data(batch), config.levels)
    out = ode.field_log_likelihood_adaptive(
        k_o, velocity(config, params), y, 0.0, 1.0, prior_std=1.0, rtol=rtol, atol=atol,
        exact_trace=exact_trace,
    )
    return out._replace(log_prob=out.log_prob + offset)


def make_flow_matching(config: FlowMatchingConfig) -> Model:
    """Builds the flow-matching :class:`~genjax.base.Model`.

    * ``loss``: :func:`flow_matching_loss` averaged over the batch (metric ``loss_per_dim``); the
      labels of a class-conditional model are dropped to the null label with probability
      ``label_dropout``.
    * ``sample``: :func:`generate` with ``config.sampler`` over ``sample_steps``;
      class-conditional models sample labels ``i mod num_classes`` with guidance.
    * ``log_prob``: :func:`ode_likelihood` at ``likelihood_steps`` with Hutchinson's trace
      (:data:`~genjax.base.Likelihood.ESTIMATE`), in nats of the discrete data.
    """
    net = make_network(config)

    def init(key: PRNGKey, batch: Batch) -> dict:
        x = _data(batch)[:1]
        label = jnp.zeros((1,), jnp.int32) if config.num_classes else None
        return {"params": net.init(key, x, jnp.ones((1,)), label)["params"], "state": {}}

    def loss(params, state, batch, key):
        x0 = _data(batch)
        k_l, k_d, k_fm = jax.random.split(key, 3)
        y = None
        if config.num_classes:
            y = drop_labels(k_l, batch["label"], config.label_dropout, config.num_classes)
        v = lambda x, t: net.apply(
            {"params": params}, x, config.time_scale * t, y, train=True, rngs={"dropout": k_d}
        )
        value = jnp.mean(flow_matching_loss(k_fm, v, x0, config))
        return value, ({"loss_per_dim": value / math.prod(x0.shape[1:])}, state)

    def sample(params, state, key, n):
        label = jnp.arange(n, dtype=jnp.int32) % config.num_classes if config.num_classes else None
        x1 = jax.random.normal(key, (n,) + tuple(config.data_shape))
        return generate(
            velocity(config, params, label), x1, config.sample_steps, method=config.sampler,
            power=config.sample_grid_power,
        )

    def log_prob(params, state, batch, key):
        return ode_likelihood(config, params, batch, key).log_prob

    return Model(init, loss, sample, log_prob, Likelihood.ESTIMATE)
