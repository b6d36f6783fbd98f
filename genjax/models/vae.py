"""Variational autoencoders (Kingma & Welling, 2013) with importance-weighted likelihood bounds
(Burda et al., 2015).

``q(z | x) = N(mean(x), diag(exp(log_var(x))))`` with the reparameterization ``z = mean + std eps``;
``p(z) = N(0, I)``; ``p(x | z)`` one of:

* ``'bernoulli'``: binary data ``{0, 1}`` (logits from the decoder);
* ``'gaussian'``: data in [-1, 1] with a learned per-pixel log-variance, or a fixed one
  (``fixed_log_var``);
* ``'logistic'``: the discretized logistic on the grid of ``levels`` values in [-1, 1].

Loss: the negative ELBO ``E_q[-log p(x | z)] + beta_t KL(q || p)`` per example (KL analytic), with
``beta_t`` ramped linearly from 0 to ``beta`` over ``kl_warmup_steps`` (the step count is the model
state). ``log_prob`` is the IWAE bound ``log 1/K sum_k p(x, z_k) / q(z_k | x)`` with K samples drawn
in chunks, a *lower bound* on log p(x) that tightens as K grows. Conditional VAEs (``num_classes``)
feed one-hot labels to the encoder and decoder.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Optional

import jax
import jax.numpy as jnp

from genjax.base import Likelihood, Model
from genjax.distributions import bernoulli_log_prob, diag_gaussian_log_prob, discretized_logistic_log_prob
from genjax.losses import gaussian_kl
from genjax.nn.conv import ConvDecoder, ConvEncoder, MLPDecoder, MLPEncoder
from genjax.typing import Array, Batch, Params, PRNGKey

__all__ = ["VAEConfig", "make_vae", "encode", "decode_params", "reconstruct", "interpolate", "sample_conditional",
           "iwae_bound", "elbo_terms"]

LIKELIHOODS = ("bernoulli", "gaussian", "logistic")


@dataclasses.dataclass(frozen=True)
class VAEConfig:
    """Attributes:
    data_shape: one example's shape ``(H, W, C)`` (or ``(D,)`` with the MLP architecture).
    architecture: ``'mlp'`` or ``'conv'``.
    latent_dim: Z.
    hidden: MLP hidden widths (encoder; reversed for the decoder).
    channels: conv widths (encoder; reversed for the decoder).
    likelihood: one of ``'bernoulli'``, ``'gaussian'``, ``'logistic'``.
    fixed_log_var: the Gaussian decoder's log-variance when fixed; ``None`` learns it per pixel.
    levels: grid size of the logistic likelihood.
    beta: KL weight after warm-up.
    kl_warmup_steps: steps of the linear ramp of beta from 0 (0: no warm-up).
    num_classes: > 0 for a conditional VAE.
    iwae_samples, iwae_chunk: K of ``log_prob`` and the samples per chunk.
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

    def __post_init__(self):
        if self.likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {self.likelihood!r}")
        if self.architecture not in ("mlp", "conv"):
            raise ValueError(f"architecture must be 'mlp' or 'conv', got {self.architecture!r}")
        if self.iwae_samples % self.iwae_chunk:
            raise ValueError(f"iwae_chunk={self.iwae_chunk} must divide iwae_samples={self.iwae_samples}")


def _per_pixel(config: VAEConfig) -> int:
    return 2 if config.likelihood == "logistic" or (config.likelihood == "gaussian" and config.fixed_log_var is None) else 1


def _networks(config: VAEConfig):
    if config.architecture == "mlp":
        return (MLPEncoder(config.latent_dim, config.hidden),
                MLPDecoder(config.data_shape, tuple(reversed(config.hidden)), _per_pixel(config)))
    return (ConvEncoder(config.latent_dim, config.channels),
            ConvDecoder(config.data_shape, tuple(reversed(config.channels)), _per_pixel(config)))


def _condition_input(x: Array, label: Optional[Array], config: VAEConfig) -> Array:
    if not config.num_classes:
        return x
    onehot = jax.nn.one_hot(label, config.num_classes, dtype=x.dtype)
    if x.ndim == 2:
        return jnp.concatenate([x, onehot], -1)
    return jnp.concatenate([x, jnp.broadcast_to(onehot[:, None, None, :], x.shape[:3] + (config.num_classes,))], -1)


def _condition_latent(z: Array, label: Optional[Array], config: VAEConfig) -> Array:
    if not config.num_classes:
        return z
    return jnp.concatenate([z, jax.nn.one_hot(label, config.num_classes, dtype=z.dtype)], -1)


def encode(config: VAEConfig, params: Params, x: Array, label: Optional[Array] = None) -> tuple[Array, Array]:
    """``(mean, log_var)`` of q(z | x), each ``[B, Z]``."""
    enc, _ = _networks(config)
    return enc.apply({"params": params["encoder"]}, _condition_input(x, label, config))


def decode_params(config: VAEConfig, params: Params, z: Array, label: Optional[Array] = None) -> Array:
    """The decoder's raw output for ``z [B, Z]``: ``[B, *data_shape[:-1], C * per_pixel]``."""
    _, dec = _networks(config)
    return dec.apply({"params": params["decoder"]}, _condition_latent(z, label, config))


def _split(config: VAEConfig, params: Params, out: Array) -> tuple[Array, Optional[Array]]:
    c = config.data_shape[-1]
    if _per_pixel(config) == 2:
        return out[..., :c], out[..., c:]
    if config.likelihood == "gaussian":
        return out, jnp.full_like(out, config.fixed_log_var)
    return out, None


def _log_likelihood(config: VAEConfig, params: Params, out: Array, x: Array) -> Array:
    loc, log_scale = _split(config, params, out)
    if config.likelihood == "bernoulli":
        return bernoulli_log_prob(loc, x)
    if config.likelihood == "gaussian":
        return diag_gaussian_log_prob(loc, log_scale, x)
    return discretized_logistic_log_prob(loc, jnp.maximum(log_scale, -7.0), x, config.levels)


def _mean_observation(config: VAEConfig, params: Params, out: Array) -> Array:
    loc, _ = _split(config, params, out)
    return jax.nn.sigmoid(loc) if config.likelihood == "bernoulli" else jnp.clip(loc, -1.0, 1.0)


def elbo_terms(config: VAEConfig, params: Params, key: PRNGKey, x: Array, label: Optional[Array] = None):
    """One-sample ``(log p(x | z), KL(q || p))`` per example, each ``[B]``."""
    mean, log_var = encode(config, params, x, label)
    z = mean + jnp.exp(0.5 * log_var) * jax.random.normal(key, mean.shape)
    return _log_likelihood(config, params, decode_params(config, params, z, label), x), gaussian_kl(mean, log_var)


def iwae_bound(config: VAEConfig, params: Params, key: PRNGKey, x: Array, num_samples: int, chunk: int,
               label: Optional[Array] = None) -> Array:
    """``log 1/K sum_k p(x | z_k) p(z_k) / q(z_k | x)`` per example ``[B]``, in ``K / chunk`` chunks
    (a running log-sum-exp), so K = 5,000 needs only ``chunk`` decoder passes of memory."""
    mean, log_var = encode(config, params, x, label)
    std = jnp.exp(0.5 * log_var)

    def chunk_lse(k):
        eps = jax.random.normal(k, (chunk,) + mean.shape)
        z = mean + std * eps
        def one(zi, ei):
            log_px = _log_likelihood(config, params, decode_params(config, params, zi, label), x)
            log_pz = diag_gaussian_log_prob(jnp.zeros_like(zi), jnp.zeros_like(zi), zi)
            log_qz = diag_gaussian_log_prob(mean, log_var, zi)
            return log_px + log_pz - log_qz
        log_w = jax.lax.map(lambda a: one(*a), (z, eps))  # [chunk, B]
        return jax.scipy.special.logsumexp(log_w, axis=0)

    keys = jax.random.split(key, num_samples // chunk)
    lse = jax.lax.map(chunk_lse, keys)  # [num_chunks, B]
    return jax.scipy.special.logsumexp(lse, axis=0) - math.log(num_samples)


def reconstruct(config: VAEConfig, params: Params, x: Array, label: Optional[Array] = None) -> Array:
    """Decoder mean at the posterior mean: ``[B, *data_shape]``."""
    mean, _ = encode(config, params, x, label)
    return _mean_observation(config, params, decode_params(config, params, mean, label))


def interpolate(config: VAEConfig, params: Params, x0: Array, x1: Array, num: int) -> Array:
    """Decoder means along the straight line between the posterior means of ``x0`` and ``x1``
    (``[1, ...]`` each): ``[num, *data_shape]``."""
    m0, m1 = encode(config, params, x0)[0], encode(config, params, x1)[0]
    t = jnp.linspace(0.0, 1.0, num)[:, None]
    return _mean_observation(config, params, decode_params(config, params, (1 - t) * m0 + t * m1))


def sample_conditional(config: VAEConfig, params: Params, key: PRNGKey, labels: Array) -> Array:
    """Decoder means for prior draws conditioned on ``labels`` int32 [n] (conditional VAEs)."""
    z = jax.random.normal(key, (labels.shape[0], config.latent_dim))
    return _mean_observation(config, params, decode_params(config, params, z, labels))


def make_vae(config: VAEConfig) -> Model:
    """Builds the VAE :class:`~genjax.base.Model`.

    Batches: ``{'image': [B, *data_shape]}`` ({0, 1} for Bernoulli, [-1, 1] otherwise), with
    ``'label'`` for conditional VAEs. ``sample`` returns Bernoulli draws (binary data) or decoder
    means (continuous data); conditional models cycle the labels ``0..num_classes-1``. Metrics:
    ``recon`` (nats), ``kl`` (nats), ``neg_elbo`` and ``beta``.
    """
    enc, dec = _networks(config)

    def init(key, batch):
        k1, k2 = jax.random.split(key)
        x = batch["image"][:1]
        label = jnp.zeros((1,), jnp.int32) if config.num_classes else None
        enc_p = enc.init(k1, _condition_input(x, label, config))["params"]
        dec_p = dec.init(k2, _condition_latent(jnp.zeros((1, config.latent_dim)), label, config))["params"]
        return {"params": {"encoder": enc_p, "decoder": dec_p}, "state": {"step": jnp.zeros((), jnp.int32)}}

    def loss(params, state, batch, key):
        x, label = batch["image"], batch.get("label") if config.num_classes else None
        log_px, kl = elbo_terms(config, params, key, x, label)
        if config.kl_warmup_steps:
            beta = config.beta * jnp.minimum(1.0, state["step"].astype(jnp.float32) / config.kl_warmup_steps)
        else:
            beta = jnp.asarray(config.beta)
        recon, kl_mean = -jnp.mean(log_px), jnp.mean(kl)
        metrics = {"recon": recon, "kl": kl_mean, "neg_elbo": recon + kl_mean, "beta": beta}
        return recon + beta * kl_mean, (metrics, {"step": state["step"] + 1})

    def sample(params, state, key, n):
        k_z, k_x = jax.random.split(key)
        labels = jnp.arange(n, dtype=jnp.int32) % config.num_classes if config.num_classes else None
        z = jax.random.normal(k_z, (n, config.latent_dim))
        out = decode_params(config, params, z, labels)
        if config.likelihood == "bernoulli":
            return jax.random.bernoulli(k_x, jax.nn.sigmoid(out)).astype(jnp.float32)
        return _mean_observation(config, params, out)

    def log_prob(params, state, batch, key):
        label = batch.get("label") if config.num_classes else None
        return iwae_bound(config, params, key, batch["image"], config.iwae_samples, config.iwae_chunk, label)

    return Model(init, loss, sample, log_prob, Likelihood.LOWER_BOUND)
