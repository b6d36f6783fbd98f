"""Diffusion models: discrete-time VP (DDPM, Ho et al., 2020) and EDM (Karras et al., 2022), with
class conditioning through label dropout for classifier-free guidance (Ho & Salimans, 2022).

Data: ``batch['image']`` float32 [B, H, W, C] in [-1, 1] (or ``batch['x']`` [B, D] for 2-D toys
with the MLP network), optional ``batch['label']`` int32 [B].

Plain callables for the samplers: :func:`eps_fn` (VP: ``(x, t) -> eps``) and :func:`denoiser`
(EDM: ``(x, sigma) -> D(x; sigma)``, and for VP models the equivalent denoiser in sigma space), so
``genjax.samplers.diffusion`` / ``genjax.samplers.ode`` and consistency distillation reuse them.
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
from genjax.samplers import diffusion as dsamp
from genjax.samplers import ode
from genjax.samplers.guidance import guided
from genjax.samplers.schedules import edm_scalings, karras_sigmas, make_vp_schedule
from genjax.typing import Array, Batch, Params, PRNGKey

__all__ = [
    "DiffusionConfig",
    "make_diffusion",
    "make_network",
    "eps_fn",
    "denoiser",
    "q_sample",
    "q_posterior",
    "vb_term",
    "prior_kl",
    "edm_loss_weight",
    "likelihood_sigmas",
    "dequantize",
    "ode_likelihood",
    "ode_likelihood_reference",
]


@dataclasses.dataclass(frozen=True)
class DiffusionConfig:
    """Hyperparameters of a diffusion model (VP or EDM).

    Attributes:
      kind: ``'vp'`` (DDPM / DDIM) or ``'edm'``.
      data_shape: one example's shape, ``(H, W, C)`` for images or ``(D,)`` for vectors.
      network: ``'unet'`` or ``'mlp'``; widths below.
      base_channels, channel_mults, num_res_blocks, attention_resolutions, dropout: UNet settings.
      mlp_hidden, mlp_depth: MLP denoiser settings.
      num_classes: > 0 for class-conditional models (label ``num_classes`` is the null label).
      label_dropout: probability of training on the null label (classifier-free guidance).
      num_timesteps, schedule, prediction: VP: T, ``'linear' | 'cosine'``, ``'eps' | 'v'``.
      vb_weight: VP: weight of the variational-bound term ``T L_t`` added to the simple loss (0: the
        simple loss alone; the bound is reported as the metric ``nelbo_per_dim`` either way).
      sigma_data, sigma_min, sigma_max, p_mean, p_std, rho: EDM (and the sigma grid of samplers).
      sample_steps: DDIM steps (VP) or Heun steps (EDM; ``2 N - 1`` evaluations) of
        ``Model.sample``.
      guidance_scale: classifier-free guidance weight of ``Model.sample`` (conditional models).
      likelihood_steps: Heun steps (``2 N`` evaluations) of the probability-flow ODE in
        ``log_prob``; even, so that :func:`ode_likelihood` can estimate its error from the grid of
        half the steps. Calibrate it against :func:`ode_likelihood_reference`
        (``experiments/studies/diffusion_quality.py``).
      levels: grey levels of the discrete data (dequantization and bits/dim); 0 for continuous data.
    """

    kind: str = "edm"
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
    num_timesteps: int = 1000
    schedule: str = "cosine"
    prediction: str = "eps"
    vb_weight: float = 0.0
    sigma_data: float = 0.5
    sigma_min: float = 0.002
    sigma_max: float = 80.0
    p_mean: float = -1.2
    p_std: float = 1.2
    rho: float = 7.0
    sample_steps: int = 18
    guidance_scale: float = 1.0
    likelihood_steps: int = 128
    levels: int = 17

    def __post_init__(self):
        if self.kind not in ("vp", "edm"):
            raise ValueError(f"kind must be 'vp' or 'edm', got {self.kind!r}")
        if self.network not in ("unet", "mlp"):
            raise ValueError(f"network must be 'unet' or 'mlp', got {self.network!r}")
        if self.prediction not in ("eps", "v"):
            raise ValueError(f"prediction must be 'eps' or 'v', got {self.prediction!r}")
        if self.likelihood_steps < 2 or self.likelihood_steps % 2:
            raise ValueError(f"likelihood_steps must be even and >= 2, got {self.likelihood_steps}")


def make_network(config: DiffusionConfig):
    """The Flax network ``(x, t, label) -> output`` of this config."""
    if config.network == "mlp":
        return MLPDenoiser(config.mlp_hidden, config.mlp_depth, config.num_classes)
    return UNet(
        base_channels=config.base_channels,
        channel_mults=config.channel_mults,
        num_res_blocks=config.num_res_blocks,
        attention_resolutions=config.attention_resolutions,
        num_classes=config.num_classes,
        dropout=config.dropout,
        embedding="sinusoidal" if config.kind == "vp" else "fourier",
    )


def _data(batch: Batch) -> Array:
    return batch["image"] if "image" in batch else batch["x"]


def q_sample(key: PRNGKey, x0: Array, t: Array, alphas_cumprod: Array) -> tuple[Array, Array]:
    """Forward process ``x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps``; ``t`` int32 [B].
    Returns ``(x_t, eps)``."""
    eps = jax.random.normal(key, x0.shape, x0.dtype)
    a = alphas_cumprod[t].reshape((-1,) + (1,) * (x0.ndim - 1))
    return jnp.sqrt(a) * x0 + jnp.sqrt(1.0 - a) * eps, eps


def _abar_prev(alphas_cumprod: Array, t: Array) -> Array:
    return jnp.where(t > 0, alphas_cumprod[jnp.maximum(t - 1, 0)], 1.0)


def q_posterior(
    x0: Array, xt: Array, t: Array, betas: Array, alphas_cumprod: Array
) -> tuple[Array, Array]:
    """``q(x_{t-1} | x_t, x_0) = N(mean, var)`` (Ho et al., 2020, eqs. 6-7):
    ``mean = sqrt(abar_{t-1}) beta_t / (1 - abar_t) x_0 + sqrt(1 - beta_t) (1 - abar_{t-1}) / (1 - abar_t) x_t``,
    ``var = beta_t (1 - abar_{t-1}) / (1 - abar_t)`` (0 at t = 0).

    Args:
      x0, xt: float [B, ...].
      t: int32 [B] in 0..T-1.

    Returns:
      ``(mean [B, ...], var [B, 1, ...])``.
    """
    shape = (-1,) + (1,) * (x0.ndim - 1)
    beta, a = betas[t].reshape(shape), alphas_cumprod[t].reshape(shape)
    a_prev = _abar_prev(alphas_cumprod, t).reshape(shape)
    mean = (
        jnp.sqrt(a_prev) * beta / (1.0 - a) * x0
        + jnp.sqrt(1.0 - beta) * (1.0 - a_prev) / (1.0 - a) * xt
    )
    return mean, beta * (1.0 - a_prev) / (1.0 - a)


def _discretized_gaussian_log_prob(x: Array, mean: Array, std: Array, levels: int) -> Array:
    """Per-pixel log-probability of the bin of ``x`` in [-1, 1] (``levels`` bins, outer bins open)."""
    half = 1.0 / (levels - 1)
    cdf = jax.scipy.stats.norm.cdf
    upper = jnp.where(x > 1.0 - half, 1.0, cdf((x + half - mean) / std))
    lower = jnp.where(x < -1.0 + half, 0.0, cdf((x - half - mean) / std))
    return jnp.log(jnp.maximum(upper - lower, 1e-12))


def vb_term(
    x0: Array, xt: Array, t: Array, eps: Array, betas: Array, alphas_cumprod: Array, levels: int = 0
) -> Array:
    """One term of the variational bound of Ho et al. (2020), eq. 5, in nats per example, for the
    reverse model ``p(x_{t-1} | x_t) = N(mu_theta(x_t, eps), beta~_t)`` (the posterior variance):

    * t > 0: ``L_{t-1} = KL(q(x_{t-1} | x_t, x_0) || p(x_{t-1} | x_t)) = ||mu_q - mu_theta||^2 / (2 beta~_t)``;
    * t = 0: ``L_0 = -log p(x_0 | x_1)`` with variance ``beta_0``: a Gaussian density, or for data of
      ``levels`` grey levels in [-1, 1] the discretized Gaussian of the paper's decoder.

    ``mu_theta = (x_t - beta_t / sqrt(1 - abar_t) eps) / sqrt(1 - beta_t)``, as in
    :func:`genjax.samplers.diffusion.ddpm_step`. ``sum_t L_t + prior_kl`` bounds ``-log p(x_0)``.

    Args:
      x0, xt, eps: float [B, ...] (data, noisy data at ``t``, the predicted noise).
      t: int32 [B] in 0..T-1.
      levels: grey levels of discrete data for the decoder (0: continuous).

    Returns:
      float32 [B].
    """
    shape = (-1,) + (1,) * (x0.ndim - 1)
    beta, a = betas[t].reshape(shape), alphas_cumprod[t].reshape(shape)
    mu = (xt - beta / jnp.sqrt(1.0 - a) * eps) / jnp.sqrt(1.0 - beta)
    mean_q, var_q = q_posterior(x0, xt, t, betas, alphas_cumprod)
    kl = jnp.sum(
        (jnp.square(mean_q - mu) / (2.0 * jnp.maximum(var_q, 1e-20))).reshape(x0.shape[0], -1), -1
    )
    std0 = jnp.sqrt(beta)
    if levels:
        decoder = _discretized_gaussian_log_prob(x0, mu, std0, levels)
    else:
        decoder = jax.scipy.stats.norm.logpdf(x0, mu, std0)
    nll0 = -jnp.sum(jnp.broadcast_to(decoder, x0.shape).reshape(x0.shape[0], -1), -1)
    return jnp.where(t > 0, kl, nll0)


def prior_kl(x0: Array, alphas_cumprod: Array) -> Array:
    """``L_T = KL(q(x_T | x_0) || N(0, I))`` in nats per example, float32 [B]."""
    a = alphas_cumprod[-1]
    per_dim = 0.5 * (a * jnp.square(x0) + (1.0 - a) - 1.0 - jnp.log(1.0 - a))
    return jnp.sum(per_dim.reshape(x0.shape[0], -1), -1)


def edm_loss_weight(sigma: Array, sigma_data: float) -> Array:
    """``lambda(sigma) = (sigma^2 + sd^2) / (sigma sd)^2`` (Karras et al., 2022, table 1)."""
    return (sigma**2 + sigma_data**2) / (sigma * sigma_data) ** 2


def eps_fn(
    config: DiffusionConfig, params: Params, label: Optional[Array] = None
) -> Callable[[Array, Array], Array]:
    """VP models: the plain callable ``(x_t, t int32 [B]) -> eps`` (v-prediction converted), with
    classifier-free guidance at ``config.guidance_scale`` when ``label`` is given."""
    net = make_network(config)
    schedule = make_vp_schedule(config.schedule, config.num_timesteps)

    def raw(x, t, y):
        out = net.apply({"params": params}, x, t.astype(jnp.float32), y)
        if config.prediction == "v":
            a = schedule.alphas_cumprod[t].reshape((-1,) + (1,) * (x.ndim - 1))
            out = jnp.sqrt(a) * out + jnp.sqrt(1.0 - a) * x  # eps = sqrt(a) v + sqrt(1 - a) x_t
        return out

    return _with_label(raw, config, label)


def _with_label(raw, config: DiffusionConfig, label: Optional[Array]):
    if label is None or not config.num_classes:
        return lambda x, t: raw(x, t, None)
    fn = (
        guided(raw, config.guidance_scale, config.num_classes)
        if config.guidance_scale != 1.0
        else raw
    )
    return lambda x, t: fn(x, t, label)


def denoiser(
    config: DiffusionConfig, params: Params, label: Optional[Array] = None
) -> Callable[[Array, Array], Array]:
    """The plain callable ``(x, sigma float [B]) -> D(x; sigma)`` of the EDM parameterisation.

    EDM: ``c_skip x + c_out F(c_in x, c_noise)``. VP: the same denoiser through
    ``x_vp = sqrt(abar) x`` at the timestep whose ``sigma = sqrt((1 - abar) / abar)`` is nearest.
    """
    if config.kind == "edm":
        net = make_network(config)

        def raw(x, sigma, y):
            c = edm_scalings(sigma.reshape((-1,) + (1,) * (x.ndim - 1)), config.sigma_data)
            return c.c_skip * x + c.c_out * net.apply(
                {"params": params}, c.c_in * x, jnp.log(sigma) / 4.0, y
            )

        return _with_label(raw, config, label)
    schedule = make_vp_schedule(config.schedule, config.num_timesteps)
    vp_sigmas = jnp.sqrt((1.0 - schedule.alphas_cumprod) / schedule.alphas_cumprod)
    eps = eps_fn(config, params, label)

    def vp_denoise(x, sigma):
        t = jnp.argmin(jnp.abs(vp_sigmas[None, :] - sigma[:, None]), axis=1).astype(jnp.int32)
        a = schedule.alphas_cumprod[t].reshape((-1,) + (1,) * (x.ndim - 1))
        return x - jnp.sqrt((1.0 - a) / a) * eps(jnp.sqrt(a) * x, t)

    return vp_denoise


def likelihood_sigmas(config: DiffusionConfig, steps: Optional[int] = None) -> Array:
    """The increasing EDM grid from ``sigma_min`` to ``sigma_max`` (Karras et al., 2022, eq. 5) of
    ``steps`` (default ``config.likelihood_steps``) intervals: float32 [steps + 1]. Grids of ``N``
    and ``N / 2`` steps nest, so the half grid is every other sigma."""
    steps = config.likelihood_steps if steps is None else steps
    return jnp.flip(karras_sigmas(steps + 1, config.sigma_min, config.sigma_max, config.rho)[:-1])


def dequantize(config: DiffusionConfig, key: PRNGKey, x0: Array) -> tuple[Array, float]:
    """:func:`genjax.distributions.uniform_dequantize` at ``config.levels``: ``(x0 + w (u - 1/2),
    D log w)`` with bin width ``w = 2 / (levels - 1)``; continuous data (``levels = 0``) pass
    unchanged with offset 0."""
    return uniform_dequantize(key, x0, config.levels)


def ode_likelihood(
    config: DiffusionConfig,
    params: Params,
    batch: Batch,
    key: PRNGKey,
    *,
    steps: Optional[int] = None,
    error_estimate: bool = False,
    exact_trace: bool = False,
) -> ode.LogLikelihood:
    """The probability-flow ODE likelihood (Song et al., 2021) of the unconditional model in nats of
    the discrete data: dequantized (:func:`dequantize`), Heun steps over :func:`likelihood_sigmas`,
    Hutchinson's trace with one Rademacher probe (or the exact trace).

    Args:
      batch: ``{'image': float [B, H, W, C]}`` (or ``'x'``) on the data's levels in [-1, 1].
      key: split into the dequantization noise and the probes, as in
        :func:`ode_likelihood_reference`, so the two solve the same ODE with the same noise.
      steps: Heun steps (default ``config.likelihood_steps``).
      error_estimate: also solve on the half grid and fill ``error`` (nats, per example):
        1.5 times the work (:func:`genjax.samplers.ode.ode_log_likelihood`).
      exact_trace: the divergence from the full Jacobian (``D`` network calls per evaluation).

    Returns:
      :class:`genjax.samplers.ode.LogLikelihood`; ``log_prob`` float32 [B] in nats.
    """
    k_u, k_o = jax.random.split(key)
    y, offset = dequantize(config, k_u, _data(batch))
    out = ode.ode_log_likelihood(
        k_o, denoiser(config, params), y, likelihood_sigmas(config, steps),
        exact_trace=exact_trace, error_estimate=error_estimate,
    )
    return out._replace(log_prob=out.log_prob + offset)


def ode_likelihood_reference(
    config: DiffusionConfig,
    params: Params,
    batch: Batch,
    key: PRNGKey,
    *,
    rtol: float = 1e-5,
    atol: float = 1e-5,
    exact_trace: bool = False,
) -> ode.LogLikelihood:
    """:func:`ode_likelihood` by the adaptive Dormand-Prince 5(4) solve
    (:func:`genjax.samplers.ode.ode_log_likelihood_adaptive`): the reference a step count is
    calibrated against. Same key, same dequantization noise and probes."""
    k_u, k_o = jax.random.split(key)
    y, offset = dequantize(config, k_u, _data(batch))
    out = ode.ode_log_likelihood_adaptive(
        k_o, denoiser(config, params), y, config.sigma_min, config.sigma_max,
        rtol=rtol, atol=atol, exact_trace=exact_trace,
    )
    return out._replace(log_prob=out.log_prob + offset)


def make_diffusion(config: DiffusionConfig) -> Model:
    """Builds the diffusion :class:`~genjax.base.Model`.

    * VP loss: the simple loss ``||eps - eps_theta(x_t, t)||^2`` (or ``||v - v_theta||^2``) summed
      over pixels, averaged over the batch, with t uniform (Ho et al., 2020), plus ``vb_weight``
      times the bound term ``T L_t`` (:func:`vb_term`); the metric ``nelbo_per_dim`` is the unbiased
      estimate ``(T L_t + L_T) / D`` of the negative ELBO in nats per dimension.
    * EDM loss: ``lambda(sigma) ||D(x + sigma n; sigma) - x||^2`` with ``log sigma ~ N(p_mean,
      p_std^2)``.
    * ``sample``: DDIM (VP, eta 0, ``sample_steps``, x0 clipped to [-1, 1] for image data) or Heun (EDM, ``sample_steps``) from the prior;
      class-conditional models sample labels ``i mod num_classes``.
    * ``log_prob``: :func:`ode_likelihood` at ``likelihood_steps``: the probability-flow ODE
      likelihood of the uniformly dequantized data with Hutchinson's trace
      (:data:`~genjax.base.Likelihood.ESTIMATE`), in nats of the discrete data, with its solver error.
    """
    net = make_network(config)
    schedule = (
        make_vp_schedule(config.schedule, config.num_timesteps) if config.kind == "vp" else None
    )

    def init(key: PRNGKey, batch: Batch) -> dict:
        x = _data(batch)[:1]
        label = jnp.zeros((1,), jnp.int32) if config.num_classes else None
        return {"params": net.init(key, x, jnp.ones((1,)), label)["params"], "state": {}}

    def labels(key, batch):
        if not config.num_classes:
            return None
        return drop_labels(key, batch["label"], config.label_dropout, config.num_classes)

    def loss(params, state, batch, key):
        x0 = _data(batch)
        dims = math.prod(x0.shape[1:])
        metrics = {}
        k_t, k_n, k_l, k_d = jax.random.split(key, 4)
        y = labels(k_l, batch)
        apply = lambda x, t: net.apply(
            {"params": params}, x, t, y, train=True, rngs={"dropout": k_d}
        )
        if config.kind == "vp":
            t = jax.random.randint(k_t, (x0.shape[0],), 0, config.num_timesteps)
            xt, eps = q_sample(k_n, x0, t, schedule.alphas_cumprod)
            out = apply(xt, t.astype(jnp.float32))
            a = schedule.alphas_cumprod[t].reshape((-1,) + (1,) * (x0.ndim - 1))
            if config.prediction == "v":
                target = jnp.sqrt(a) * eps - jnp.sqrt(1.0 - a) * x0
                eps_hat = jnp.sqrt(a) * out + jnp.sqrt(1.0 - a) * xt
            else:
                target, eps_hat = eps, out
            per_example = jnp.sum(jnp.square(out - target).reshape(x0.shape[0], -1), -1)
            # T L_t + L_T is an unbiased estimate of the negative ELBO for t uniform on 0..T-1.
            vb = config.num_timesteps * vb_term(
                x0, xt, t, eps_hat, schedule.betas, schedule.alphas_cumprod, config.levels
            )
            metrics["nelbo_per_dim"] = jnp.mean(vb + prior_kl(x0, schedule.alphas_cumprod)) / dims
            if config.vb_weight:
                per_example = per_example + config.vb_weight * vb
        else:
            sigma = jnp.exp(config.p_mean + config.p_std * jax.random.normal(k_t, (x0.shape[0],)))
            s = sigma.reshape((-1,) + (1,) * (x0.ndim - 1))
            c = edm_scalings(s, config.sigma_data)
            x = x0 + s * jax.random.normal(k_n, x0.shape)
            d = c.c_skip * x + c.c_out * apply(c.c_in * x, jnp.log(sigma) / 4.0)
            per_example = edm_loss_weight(sigma, config.sigma_data) * jnp.sum(
                jnp.square(d - x0).reshape(x0.shape[0], -1), -1
            )
        value = jnp.mean(per_example)
        metrics["loss_per_dim"] = value / dims
        return value, (metrics, state)

    def sample(params, state, key, n):
        k_x, k_s = jax.random.split(key)
        label = jnp.arange(n, dtype=jnp.int32) % config.num_classes if config.num_classes else None
        shape = (n,) + tuple(config.data_shape)
        if config.kind == "vp":
            return dsamp.sample_ddim(
                k_s,
                eps_fn(config, params, label),
                jax.random.normal(k_x, shape),
                schedule,
                config.sample_steps,
                clip_x0=1.0 if config.levels else None,
            )
        sigmas = karras_sigmas(config.sample_steps, config.sigma_min, config.sigma_max, config.rho)
        x_T = sigmas[0] * jax.random.normal(k_x, shape)
        return ode.sample_heun(k_s, denoiser(config, params, label), x_T, sigmas)

    def log_prob(params, state, batch, key):
        return ode_likelihood(config, params, batch, key).log_prob

    return Model(init, loss, sample, log_prob, Likelihood.ESTIMATE)
