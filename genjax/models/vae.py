"""Variational autoencoders (Kingma & Welling, 2013) with the importance-weighted likelihood bound
(Burda et al., 2015).

* ``q(z | x) = N(mean(x), diag(exp(log_var(x))))``, sampled by reparameterization
  ``z = mean + exp(log_var / 2) * eps``; ``p(z) = N(0, I)`` (``prior='standard'``) or a fitted
  ``N(mu, Sigma)`` (``prior='gaussian'``). For a given encoder the ELBO's prior term is the
  cross-entropy ``E_{q(z)}[log p(z)]`` of the aggregate posterior ``q(z) = E_x q(z | x)`` (Hoffman &
  Johnson, 2016), which among Gaussians the one with ``q(z)``'s mean and covariance maximizes. So
  the fitted prior is not trained by gradient: the model state carries an exponential moving average
  (decay ``prior_decay``) of the batches' aggregate-posterior moments, and the loss, the bound and
  the samples use it (coordinate ascent on the ELBO; the bound stays a bound). A standard prior that
  the aggregate posterior has not filled has holes that prior samples decode to nonsense.
* ``p(x | z)`` (``likelihood``): ``'bernoulli'`` for binary data in {0, 1} (the decoder gives
  logits); ``'gaussian'`` for data in [-1, 1] with a learned per-pixel log-variance (or a fixed
  ``fixed_log_var``); ``'logistic'``, the logistic discretized to the grid of ``levels`` values in
  [-1, 1] (Salimans et al., 2017), for quantized images.
* Loss per example: the negative ELBO ``E_q[-log p(x | z)] + beta_t KL(q(z | x) || p(z))`` with one
  reparameterized draw and the analytic KL; ``beta_t = beta * min(1, t / kl_warmup_steps)`` ramps
  from 0 (Bowman et al., 2016). The loss has no step argument, so ``t`` is the model state
  ``{'step': int32}``, which the loss increments on every call (it equals the train step).
* ``log_prob``: the IWAE bound ``log (1/K) sum_k p(x | z_k) p(z_k) / q(z_k | x)``, ``z_k ~ q``, a
  lower bound on ``log p(x)`` that does not decrease in expectation as K grows and equals the ELBO
  at K = 1. The K draws are made ``iwae_chunk`` at a time (``lax.map`` over chunks), so memory holds
  one chunk of decoder outputs and K = 5,000 fits.
* ``Model.sample`` decodes ``z ~ p(z)`` and returns, by ``sample_output``, the decoder's mean
  ``E[x | z]`` (``'mean'``: Bernoulli probabilities, the analytic mean of the discretized logistic,
  the Gaussian's location; what VAE papers show) or a draw ``x ~ p(x | z)`` (``'draw'``: pixels
  independent given z, so a logistic or Gaussian draw is the mean plus per-pixel speckle). Either
  way ``log_prob`` is unchanged: it scores data, not samples.
* :func:`active_units` and :func:`kl_per_dimension` tell how many latent dimensions the posterior
  uses (Burda et al., 2015).
* A conditional VAE (``num_classes > 0``) feeds one-hot labels to the encoder (as extra input
  channels) and the decoder (appended to z); its batches carry ``'label'``. ``Model.sample`` cycles
  the labels ``0, 1, ..., num_classes - 1``; :func:`sample_conditional` takes them explicitly.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from genjax.base import Likelihood, Model
from genjax.distributions import (
    bernoulli_log_prob,
    diag_gaussian_log_prob,
    discretized_logistic_log_prob,
    discretized_logistic_mean,
    discretized_logistic_mode,
    sample_discretized_logistic_mixture,
)
from genjax.losses import gaussian_kl, gaussian_kl_full_prior
from genjax.nn.conv import ConvDecoder, ConvEncoder, MLPDecoder, MLPEncoder, check_divisible
from genjax.typing import Array, Batch, Params, PRNGKey, State

__all__ = [
    "VAEConfig",
    "make_vae",
    "encode",
    "decode_params",
    "log_likelihood",
    "elbo_terms",
    "iwae_bound",
    "kl_weight",
    "reconstruct",
    "interpolate",
    "sample_conditional",
    "observation_mean",
    "observation_mode",
    "observation_draw",
    "active_units",
    "kl_per_dimension",
    "prior_params",
    "LIKELIHOODS",
    "PRIORS",
    "SAMPLE_OUTPUTS",
    "ARCHITECTURES",
]

LIKELIHOODS = ("bernoulli", "gaussian", "logistic")
"""The decoder likelihoods ``VAEConfig.likelihood`` accepts."""
ARCHITECTURES = ("mlp", "conv")
"""The encoder/decoder pairs ``VAEConfig.architecture`` accepts."""
PRIORS = ("standard", "gaussian")
"""The latent priors ``VAEConfig.prior`` accepts: ``N(0, I)`` or a fitted full-covariance Gaussian."""
SAMPLE_OUTPUTS = ("mean", "mode", "draw")
"""What ``Model.sample`` returns for a decoded ``z``: ``E[x | z]``, the most probable ``x`` of each
value given ``z``, or a draw from ``p(x | z)``."""
_MIN_LOG_SCALE = -7.0  # the logistic's scale floor of PixelCNN++: keeps bins from collapsing to NaN


@dataclasses.dataclass(frozen=True)
class VAEConfig:
    """Hyperparameters of a VAE.

    Attributes:
      data_shape: one example's shape ``(H, W, C)``; the MLP also takes ``(D,)``.
      architecture: ``'mlp'`` (ReLU) or ``'conv'`` (SiLU, see :mod:`genjax.nn.conv`).
      latent_dim: Z.
      hidden: MLP hidden widths of the encoder (reversed for the decoder); ``()`` is linear.
      channels: conv widths of the encoder (reversed for the decoder).
      likelihood: ``'bernoulli'``, ``'gaussian'`` or ``'logistic'``.
      fixed_log_var: the Gaussian decoder's log-variance; ``None`` learns one per pixel.
      levels: grid size of the logistic likelihood (17 for the digits, 256 for 8-bit images).
      beta: KL weight after warm-up.
      kl_warmup_steps: length of the linear ramp of the KL weight from 0 (0: none).
      num_classes: > 0 for a conditional VAE on ``batch['label']``.
      iwae_samples: K of ``Model.log_prob``.
      iwae_chunk: draws per chunk of the IWAE bound; divides ``iwae_samples``.
      prior: ``'standard'`` (``N(0, I)``) or ``'gaussian'`` (``N(mu, Sigma)`` fitted to the
        aggregate posterior, carried in the model state).
      prior_decay: decay of the fitted prior's moving average of the batch moments.
      sample_output: ``'mean'`` (the decoder's mean ``E[x | z]``) or ``'draw'`` (``x ~ p(x | z)``),
        what ``Model.sample`` returns; binary data judged against binarized images wants ``'draw'``.
    """

    data_shape: tuple[int, ...] = (8, 8, 1)
    architecture: str = "mlp"
    latent_dim: int = 16
    hidden: tuple[int, ...] = (256,)
    channels: tuple[int, ...] = (32, 64)
    likelihood: str = "bernoulli"
    fixed_log_var: Optional[float] = None
    levels: int = 17
    beta: float = 1.0
    kl_warmup_steps: int = 0
    num_classes: int = 0
    iwae_samples: int = 1000
    iwae_chunk: int = 250
    prior: str = "standard"
    prior_decay: float = 0.99
    sample_output: str = "mean"

    def __post_init__(self):
        if self.likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {self.likelihood!r}")
        if self.architecture not in ARCHITECTURES:
            raise ValueError(
                f"architecture must be one of {ARCHITECTURES}, got {self.architecture!r}"
            )
        if self.prior not in PRIORS:
            raise ValueError(f"prior must be one of {PRIORS}, got {self.prior!r}")
        if not 0.0 <= self.prior_decay < 1.0:
            raise ValueError(f"prior_decay must be in [0, 1), got {self.prior_decay}")
        if self.sample_output not in SAMPLE_OUTPUTS:
            raise ValueError(
                f"sample_output must be one of {SAMPLE_OUTPUTS}, got {self.sample_output!r}"
            )
        if self.architecture == "conv":
            check_divisible(self.data_shape, len(self.channels))
        if self.latent_dim < 1:
            raise ValueError(f"latent_dim must be >= 1, got {self.latent_dim}")
        if self.likelihood == "logistic" and self.levels < 2:
            raise ValueError(f"levels must be >= 2 for the logistic likelihood, got {self.levels}")
        if self.beta < 0 or self.kl_warmup_steps < 0:
            raise ValueError(
                f"beta and kl_warmup_steps must be >= 0, got {self.beta}, {self.kl_warmup_steps}"
            )
        if self.iwae_chunk < 1 or self.iwae_samples % self.iwae_chunk:
            raise ValueError(
                f"iwae_chunk={self.iwae_chunk} must divide iwae_samples={self.iwae_samples}"
            )


def _params_per_value(config: VAEConfig) -> int:
    learned_scale = config.likelihood == "logistic" or (
        config.likelihood == "gaussian" and config.fixed_log_var is None
    )
    return 2 if learned_scale else 1


def _networks(config: VAEConfig) -> tuple[nn.Module, nn.Module]:
    per_value = _params_per_value(config)
    if config.architecture == "mlp":
        hidden = tuple(config.hidden)
        encoder = MLPEncoder(config.latent_dim, hidden)
        decoder = MLPDecoder(config.data_shape, hidden[::-1], per_value)
    else:
        channels = tuple(config.channels)
        encoder = ConvEncoder(config.latent_dim, channels)
        decoder = ConvDecoder(config.data_shape, channels[::-1], per_value)
    return encoder, decoder


def _with_label_channels(config: VAEConfig, x: Array, label: Optional[Array]) -> Array:
    if not config.num_classes:
        return x
    onehot = jax.nn.one_hot(label, config.num_classes, dtype=x.dtype)
    onehot = onehot.reshape((x.shape[0],) + (1,) * (x.ndim - 2) + (config.num_classes,))
    return jnp.concatenate([x, jnp.broadcast_to(onehot, x.shape[:-1] + (config.num_classes,))], -1)


def _labels(config: VAEConfig, batch: Batch) -> Optional[Array]:
    if not config.num_classes:
        return None
    if "label" not in batch:
        raise ValueError("a conditional VAE (num_classes > 0) needs batch['label']")
    return batch["label"]


def encode(
    config: VAEConfig, params: Params, x: Array, label: Optional[Array] = None
) -> tuple[Array, Array]:
    """``(mean, log_var)`` of ``q(z | x)``, each float32 [B, Z].

    Args:
      config: the model's config.
      params: ``{'encoder', 'decoder'}``.
      x: float32 ``[B, *data_shape]``.
      label: int32 [B] for a conditional VAE, else ``None``.
    """
    encoder, _ = _networks(config)
    return encoder.apply({"params": params["encoder"]}, _with_label_channels(config, x, label))


def decode_params(
    config: VAEConfig, params: Params, z: Array, label: Optional[Array] = None
) -> Array:
    """The decoder's raw output for ``z`` float32 [B, Z]: ``[B, *data_shape[:-1], C * P]`` with
    P = 1 (Bernoulli logits; Gaussian mean with a fixed variance) or 2 (location, then the
    log-variance of the Gaussian or the log-scale of the logistic, C channels each)."""
    _, decoder = _networks(config)
    if config.num_classes:
        z = jnp.concatenate([z, jax.nn.one_hot(label, config.num_classes, dtype=z.dtype)], -1)
    return decoder.apply({"params": params["decoder"]}, z)


def _location_and_scale(config: VAEConfig, out: Array) -> tuple[Array, Optional[Array]]:
    c = config.data_shape[-1]
    if _params_per_value(config) == 2:
        return out[..., :c], out[..., c:]
    if config.likelihood == "gaussian":
        return out, jnp.asarray(config.fixed_log_var, out.dtype)
    return out, None


def log_likelihood(config: VAEConfig, out: Array, x: Array) -> Array:
    """``log p(x | z)`` in nats, float32 [B], from the decoder output ``out`` of
    :func:`decode_params` and ``x [B, *data_shape]`` ({0, 1} or the [-1, 1] grid)."""
    loc, scale = _location_and_scale(config, out)
    if config.likelihood == "bernoulli":
        return bernoulli_log_prob(loc, x)
    if config.likelihood == "gaussian":
        return diag_gaussian_log_prob(loc, scale, x)
    return discretized_logistic_log_prob(loc, jnp.maximum(scale, _MIN_LOG_SCALE), x, config.levels)


def observation_mean(config: VAEConfig, out: Array) -> Array:
    """``E[x | z]`` from the decoder output ``out`` of :func:`decode_params`: ``[B, *data_shape]``,
    Bernoulli probabilities in [0, 1], the discretized logistic's analytic mean in [-1, 1]
    (:func:`genjax.distributions.discretized_logistic_mean`), or the Gaussian's location clipped to
    [-1, 1]."""
    loc, scale = _location_and_scale(config, out)
    if config.likelihood == "bernoulli":
        return jax.nn.sigmoid(loc)
    if config.likelihood == "gaussian":
        return jnp.clip(loc, -1.0, 1.0)
    return discretized_logistic_mean(loc, jnp.maximum(scale, _MIN_LOG_SCALE), config.levels)


def observation_mode(config: VAEConfig, out: Array) -> Array:
    """The most probable value of each pixel under ``p(x | z)`` from the decoder output ``out``:
    ``[B, *data_shape]``, {0, 1} (Bernoulli), a level of the [-1, 1] grid (the discretized
    logistic, :func:`genjax.distributions.discretized_logistic_mode`) or the Gaussian's location
    clipped to [-1, 1]."""
    loc, scale = _location_and_scale(config, out)
    if config.likelihood == "bernoulli":
        return (loc > 0).astype(loc.dtype)
    if config.likelihood == "gaussian":
        return jnp.clip(loc, -1.0, 1.0)
    return discretized_logistic_mode(loc, jnp.maximum(scale, _MIN_LOG_SCALE), config.levels)


def observation_draw(config: VAEConfig, key: PRNGKey, out: Array) -> Array:
    """``x ~ p(x | z)``, every value drawn independently given the decoder output ``out``:
    ``[B, *data_shape]``, {0, 1} (Bernoulli), the [-1, 1] grid of ``levels`` values (logistic) or a
    Gaussian draw clipped to [-1, 1]."""
    loc, scale = _location_and_scale(config, out)
    if config.likelihood == "bernoulli":
        return jax.random.bernoulli(key, jax.nn.sigmoid(loc)).astype(jnp.float32)
    if config.likelihood == "gaussian":
        noise = jnp.exp(0.5 * scale) * jax.random.normal(key, loc.shape, loc.dtype)
        return jnp.clip(loc + noise, -1.0, 1.0)
    one = lambda a: a[..., None]  # a mixture of one component
    return sample_discretized_logistic_mixture(
        key, jnp.zeros_like(one(loc)), one(loc), one(jnp.maximum(scale, _MIN_LOG_SCALE)),
        config.levels,
    )


def active_units(mean: Array, threshold: float = 0.01) -> Array:
    """Which latent dimensions the encoder uses: ``Cov_x(E_q[z_d | x]) > threshold``, the variance
    of the posterior mean over the data (Burda et al., 2015, section 5.2, threshold 0.01).

    Args:
      mean: float [N, Z], posterior means ``E_q[z | x_n]`` of N data points (N >= 2).
      threshold: the variance above which a unit counts as active.

    Returns:
      bool [Z].

    Raises:
      ValueError: when ``mean`` is not ``[N >= 2, Z]``.
    """
    if mean.ndim != 2 or mean.shape[0] < 2:
        raise ValueError(f"active_units needs posterior means [N >= 2, Z], got shape {mean.shape}")
    return jnp.var(mean, axis=0, ddof=1) > threshold


def kl_per_dimension(mean: Array, log_var: Array) -> Array:
    """``KL(q(z_d | x) || N(0, 1))`` of each latent dimension, averaged over the batch: float [Z]
    nats, summing to the batch mean of the ELBO's KL term.

    Args:
      mean, log_var: float [B, Z], the posterior parameters of B data points.
    """
    return gaussian_kl(mean.T, log_var.T) / mean.shape[0]


def prior_params(config: VAEConfig, params: Params) -> tuple[Array, Array]:
    """``(mu [Z], L [Z, Z])`` of the prior ``N(mu, L L^T)``: zeros and the identity for the standard
    prior; for the fitted one ``params['prior'] = {'mean': [Z], 'cov': [Z, Z]}`` (the model state's,
    which ``Model`` merges into the params) and ``L`` its Cholesky factor. Gradients do not reach
    it."""
    if config.prior == "standard":
        return jnp.zeros((config.latent_dim,)), jnp.eye(config.latent_dim)
    prior = jax.lax.stop_gradient(params["prior"])
    return prior["mean"], jnp.linalg.cholesky(prior["cov"])


def _aggregate_moments(mean: Array, log_var: Array) -> dict:
    # The mixture mean_b N(m_b, diag(v_b)) has covariance Cov_b(m_b) + diag(mean_b v_b).
    centred = mean - jnp.mean(mean, 0)
    cov = centred.T @ centred / mean.shape[0] + jnp.diag(jnp.mean(jnp.exp(log_var), 0))
    return jax.lax.stop_gradient({"mean": jnp.mean(mean, 0), "cov": cov})


def _kl_to_prior(config: VAEConfig, params: Params, mean: Array, log_var: Array) -> Array:
    if config.prior == "standard":
        return gaussian_kl(mean, log_var)
    return gaussian_kl_full_prior(mean, log_var, *prior_params(config, params))


def elbo_terms(
    config: VAEConfig, params: Params, key: PRNGKey, x: Array, label: Optional[Array] = None
) -> tuple[Array, Array]:
    """One-draw reconstruction ``log p(x | z)``, ``z ~ q(z | x)``, and the analytic
    ``KL(q(z | x) || p(z))``, each float32 [B] nats; the ELBO is their difference. ``params`` holds
    ``'prior'`` for a fitted prior (see :func:`prior_params`)."""
    log_px, kl, _ = _elbo_and_moments(config, params, key, x, label)
    return log_px, kl


def _elbo_and_moments(config: VAEConfig, params: Params, key: PRNGKey, x: Array, label):
    mean, log_var = encode(config, params, x, label)
    z = mean + jnp.exp(0.5 * log_var) * jax.random.normal(key, mean.shape, mean.dtype)
    log_px = log_likelihood(config, decode_params(config, params, z, label), x)
    kl = _kl_to_prior(config, params, mean, log_var)
    return log_px, kl, _aggregate_moments(mean, log_var)


def iwae_bound(
    config: VAEConfig,
    params: Params,
    key: PRNGKey,
    x: Array,
    num_samples: int,
    chunk: int,
    label: Optional[Array] = None,
) -> Array:
    """The importance-weighted bound ``log (1/K) sum_k p(x | z_k) p(z_k) / q(z_k | x)``.

    Args:
      config, params: the model.
      key: PRNG key of the K draws.
      x: float32 ``[B, *data_shape]``.
      num_samples: K.
      chunk: draws decoded at once (one batch of ``chunk * B``); must divide K.
      label: int32 [B] for a conditional VAE.

    Returns:
      float32 [B] nats, ``<= log p(x)``.

    Raises:
      ValueError: when ``chunk`` does not divide ``num_samples``.
    """
    if chunk < 1 or num_samples % chunk:
        raise ValueError(f"chunk={chunk} must divide num_samples={num_samples}")
    mean, log_var = encode(config, params, x, label)
    std = jnp.exp(0.5 * log_var)
    prior_mean, prior_tril = prior_params(config, params)
    prior_log_det = jnp.sum(jnp.log(jnp.diagonal(prior_tril)))
    b = x.shape[0]
    x_rep = jnp.broadcast_to(x, (chunk,) + x.shape).reshape((chunk * b,) + x.shape[1:])
    label_rep = None if label is None else jnp.tile(label, chunk)

    def chunk_log_mean_exp(k: PRNGKey) -> Array:
        eps = jax.random.normal(k, (chunk,) + mean.shape, mean.dtype)
        z = mean + std * eps  # [chunk, B, Z]
        out = decode_params(config, params, z.reshape(chunk * b, -1), label_rep)
        log_px = log_likelihood(config, out, x_rep).reshape(chunk, b)
        # log p(z) - log q(z | x) with q's density written in eps and p's in u = L^-1 (z - mu):
        # the 2 pi constants cancel.
        u = jax.scipy.linalg.solve_triangular(
            prior_tril, (z - prior_mean).reshape(-1, z.shape[-1]).T, lower=True
        ).T.reshape(z.shape)
        log_pz_over_qz = 0.5 * jnp.sum(jnp.square(eps) + log_var - jnp.square(u), -1) - prior_log_det
        return jax.scipy.special.logsumexp(log_px + log_pz_over_qz, axis=0)

    per_chunk = jax.lax.map(chunk_log_mean_exp, jax.random.split(key, num_samples // chunk))
    return jax.scipy.special.logsumexp(per_chunk, axis=0) - math.log(num_samples)


def kl_weight(config: VAEConfig, step: Array) -> Array:
    """``beta_t = beta * min(1, t / kl_warmup_steps)`` (``beta`` without warm-up): float32 []."""
    if not config.kl_warmup_steps:
        return jnp.asarray(config.beta, jnp.float32)
    return config.beta * jnp.minimum(1.0, jnp.asarray(step, jnp.float32) / config.kl_warmup_steps)


def reconstruct(
    config: VAEConfig, params: Params, x: Array, label: Optional[Array] = None
) -> Array:
    """The decoder's mean at the posterior mean, shaped like ``x [B, *data_shape]``: probabilities
    in [0, 1] (Bernoulli) or locations clipped to [-1, 1]."""
    mean, _ = encode(config, params, x, label)
    return observation_mean(config, decode_params(config, params, mean, label))


def interpolate(
    config: VAEConfig, params: Params, x0: Array, x1: Array, num: int, label: Optional[Array] = None
) -> Array:
    """Decoder means along the segment between the posterior means of ``x0`` and ``x1`` (each
    ``[1, *data_shape]``, endpoints included): ``[num, *data_shape]``. A conditional VAE takes one
    ``label`` int32 [1] for the whole path."""
    m0 = encode(config, params, x0, label)[0]
    m1 = encode(config, params, x1, label)[0]
    t = jnp.linspace(0.0, 1.0, num)[:, None]
    labels = None if label is None else jnp.broadcast_to(label, (num,))
    return observation_mean(config, decode_params(config, params, (1 - t) * m0 + t * m1, labels))


def _sample(
    config: VAEConfig, params: Params, key: PRNGKey, labels: Optional[Array], n: int
) -> Array:
    k_z, k_x = jax.random.split(key)
    prior_mean, prior_tril = prior_params(config, params)
    z = prior_mean + jax.random.normal(k_z, (n, config.latent_dim)) @ prior_tril.T
    out = decode_params(config, params, z, labels)
    if config.sample_output == "draw":
        return observation_draw(config, k_x, out)
    if config.sample_output == "mode":
        return observation_mode(config, out)
    return observation_mean(config, out)


def sample_conditional(config: VAEConfig, params: Params, key: PRNGKey, labels: Array) -> Array:
    """Draws ``z ~ p(z)`` and decodes it under ``labels`` int32 [n] (a conditional VAE):
    ``[n, *data_shape]``, the decoder's mean or a draw as ``config.sample_output`` says.

    Raises:
      ValueError: for an unconditional config.
    """
    if not config.num_classes:
        raise ValueError("sample_conditional needs a conditional VAE (num_classes > 0)")
    return _sample(config, params, key, labels, labels.shape[0])


def make_vae(config: VAEConfig) -> Model:
    """Builds the VAE :class:`~genjax.base.Model`.

    Batches are ``{'image': float32 [B, *data_shape]}`` in {0, 1} (Bernoulli) or [-1, 1], plus
    ``'label'`` int32 [B] for a conditional VAE. Params ``{'encoder', 'decoder'}``; state
    ``{'step': int32}`` (the warm-up clock), plus ``'prior': {'mean' [Z], 'cov' [Z, Z]}`` for the
    fitted prior (``N(0, I)`` at init). Metrics, batch means in nats: ``recon``
    (``-log p(x | z)``), ``kl``, ``neg_elbo`` (``recon + kl``, what the bound reports whatever the
    weight) and ``beta`` (the KL weight used). ``sample`` decodes prior draws to the decoder's
    mean or to draws from ``p(x | z)`` (``config.sample_output``; conditional: labels cycle
    ``0..num_classes-1``).
    ``log_prob`` is the IWAE-``iwae_samples`` bound (``Likelihood.LOWER_BOUND``).
    """
    encoder, decoder = _networks(config)

    def init(key: PRNGKey, batch: Batch) -> dict:
        k_enc, k_dec = jax.random.split(key)
        x = jnp.asarray(batch["image"][:1], jnp.float32)
        label = jnp.zeros((1,), jnp.int32) if config.num_classes else None
        z = jnp.zeros((1, config.latent_dim + config.num_classes))
        params = {
            "encoder": encoder.init(k_enc, _with_label_channels(config, x, label))["params"],
            "decoder": decoder.init(k_dec, z)["params"],
        }
        state = {"step": jnp.zeros((), jnp.int32)}
        if config.prior == "gaussian":
            z_dim = config.latent_dim
            state["prior"] = {"mean": jnp.zeros((z_dim,)), "cov": jnp.eye(z_dim)}
        return {"params": params, "state": state}

    def with_prior(params: Params, state: State) -> Params:
        return {**params, "prior": state["prior"]} if config.prior == "gaussian" else params

    def loss(params: Params, state: State, batch: Batch, key: PRNGKey):
        log_px, kl, moments = _elbo_and_moments(
            config, with_prior(params, state), key, batch["image"], _labels(config, batch)
        )
        beta = kl_weight(config, state["step"])
        recon, kl_mean = -jnp.mean(log_px), jnp.mean(kl)
        metrics = {"recon": recon, "kl": kl_mean, "neg_elbo": recon + kl_mean, "beta": beta}
        new_state = {"step": state["step"] + 1}
        if config.prior == "gaussian":
            d = config.prior_decay
            new_state["prior"] = jax.tree.map(lambda a, b: d * a + (1 - d) * b, state["prior"], moments)
        return recon + beta * kl_mean, (metrics, new_state)

    def sample(params: Params, state: State, key: PRNGKey, n: int) -> Array:
        labels = jnp.arange(n, dtype=jnp.int32) % config.num_classes if config.num_classes else None
        return _sample(config, with_prior(params, state), key, labels, n)

    def log_prob(params: Params, state: State, batch: Batch, key: PRNGKey) -> Array:
        return iwae_bound(
            config,
            with_prior(params, state),
            key,
            batch["image"],
            config.iwae_samples,
            config.iwae_chunk,
            _labels(config, batch),
        )

    return Model(init, loss, sample, log_prob, Likelihood.LOWER_BOUND)
