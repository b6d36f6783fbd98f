"""Reusable loss terms. Each returns per-example values (the caller reduces), as optax's losses do.

Shapes: ``[B, ...]`` inputs give ``[B]`` outputs unless stated.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from genjax.typing import Array, PRNGKey

__all__ = [
    "gaussian_kl",
    "gaussian_kl_full_prior",
    "cd_surrogate",
    "nonsaturating_d_loss",
    "nonsaturating_g_loss",
    "hinge_d_loss",
    "hinge_g_loss",
    "wasserstein_d_loss",
    "wasserstein_g_loss",
    "gradient_penalty",
    "r1_penalty",
    "pseudo_huber",
    "drop_labels",
]


def _sum_event(x: Array) -> Array:
    return jnp.sum(x.reshape(x.shape[0], -1), axis=-1)


def gaussian_kl(mean: Array, log_var: Array) -> Array:
    """KL(N(mean, exp(log_var)) || N(0, I)) per example, summed over all non-batch axes.

    ``0.5 * sum(mean^2 + exp(log_var) - 1 - log_var)`` (Kingma & Welling, 2013, appendix B).

    Args:
      mean, log_var: float [B, ...].

    Returns:
      float [B], in nats.
    """
    return 0.5 * _sum_event(jnp.square(mean) + jnp.exp(log_var) - 1.0 - log_var)


def gaussian_kl_full_prior(mean: Array, log_var: Array, prior_mean: Array, prior_tril: Array) -> Array:
    """KL(N(mean, diag(exp(log_var))) || N(prior_mean, L L^T)) per example, L = ``prior_tril``.

    ``0.5 * (tr(S^-1 V) + |L^-1 (mean - prior_mean)|^2 - Z + log det S - sum(log_var))`` with
    ``S = L L^T`` and ``V = diag(exp(log_var))``; ``tr(S^-1 V) = sum_j v_j |column j of L^-1|^2``.
    With ``prior_mean = 0`` and ``L = I`` it is :func:`gaussian_kl`.

    Args:
      mean, log_var: float [B, Z].
      prior_mean: float [Z].
      prior_tril: float [Z, Z], lower triangular with a positive diagonal.

    Returns:
      float [B], in nats.
    """
    z = mean.shape[-1]
    inv = jax.scipy.linalg.solve_triangular(prior_tril, jnp.eye(z, dtype=mean.dtype), lower=True)
    trace = jnp.exp(log_var) @ jnp.sum(jnp.square(inv), axis=0)
    whitened = (mean - prior_mean) @ inv.T
    log_det = 2.0 * jnp.sum(jnp.log(jnp.diagonal(prior_tril)))
    return 0.5 * (trace + jnp.sum(jnp.square(whitened), -1) - z + log_det - jnp.sum(log_var, -1))


def cd_surrogate(free_energy_data: Array, free_energy_negative: Array) -> Array:
    """Surrogate whose gradient is the contrastive-divergence gradient (Hinton, 2002).

    ``mean(F(v_data)) - mean(F(stop_gradient(v_neg)))``: its gradient is the positive minus the
    negative phase statistics of the log-likelihood gradient (with the sign of a loss). The value is
    not a log-likelihood; report pseudo-likelihood or AIS estimates instead.

    Args:
      free_energy_data: float [B], free energies of the data.
      free_energy_negative: float [C], free energies of the negative samples; the samples themselves
        must already be wrapped in ``stop_gradient`` by the caller.

    Returns:
      A scalar.
    """
    return jnp.mean(free_energy_data) - jnp.mean(free_energy_negative)


def nonsaturating_d_loss(logits_real: Array, logits_fake: Array) -> Array:
    """Discriminator loss of Goodfellow et al. (2014): ``softplus(-D(x)) + softplus(D(G(z)))``.

    Args:
      logits_real, logits_fake: float [B] (the same B).

    Returns:
      float [B].
    """
    return jax.nn.softplus(-logits_real) + jax.nn.softplus(logits_fake)


def nonsaturating_g_loss(logits_fake: Array) -> Array:
    """Non-saturating generator loss ``-log sigmoid(D(G(z)))`` (Goodfellow et al., 2014). [B]->[B]."""
    return jax.nn.softplus(-logits_fake)


def hinge_d_loss(logits_real: Array, logits_fake: Array) -> Array:
    """Hinge discriminator loss ``relu(1 - D(x)) + relu(1 + D(G(z)))`` (Lim & Ye, 2017). [B]->[B]."""
    return jax.nn.relu(1.0 - logits_real) + jax.nn.relu(1.0 + logits_fake)


def hinge_g_loss(logits_fake: Array) -> Array:
    """Hinge generator loss ``-D(G(z))``. [B]->[B]."""
    return -logits_fake


def wasserstein_d_loss(critic_real: Array, critic_fake: Array) -> Array:
    """Critic loss of WGAN ``D(G(z)) - D(x)`` (Arjovsky et al., 2017); add a gradient penalty."""
    return critic_fake - critic_real


def wasserstein_g_loss(critic_fake: Array) -> Array:
    """Generator loss of WGAN ``-D(G(z))``. [B]->[B]."""
    return -critic_fake


def _input_grad(critic: Callable[[Array], Array], x: Array) -> Array:
    # The critic is applied to the whole batch; sum to get per-example input gradients in one pass
    # (valid because each output depends on its own input only).
    return jax.grad(lambda y: jnp.sum(critic(y)))(x)


def gradient_penalty(
    key: PRNGKey, critic: Callable[[Array], Array], real: Array, fake: Array, target: float = 1.0
) -> Array:
    """WGAN-GP penalty ``(||grad_x D(x_hat)||_2 - target)^2`` (Gulrajani et al., 2017).

    ``x_hat = eps * real + (1 - eps) * fake`` with ``eps ~ U[0, 1]`` drawn once per example.

    Args:
      key: PRNG key for the interpolation weights.
      critic: ``x [B, ...] -> [B]``, each output depending on its own example only (no batch
        statistics such as BatchNorm in training mode).
      real, fake: float [B, ...].
      target: the norm the gradient is pulled to.

    Returns:
      float [B] (multiply by the usual weight, 10, and average).
    """
    eps = jax.random.uniform(key, (real.shape[0],) + (1,) * (real.ndim - 1), dtype=real.dtype)
    x_hat = eps * real + (1.0 - eps) * jax.lax.stop_gradient(fake)
    g = _input_grad(critic, x_hat)
    norm = jnp.sqrt(_sum_event(jnp.square(g)) + 1e-12)
    return jnp.square(norm - target)


def r1_penalty(critic: Callable[[Array], Array], real: Array) -> Array:
    """R1 penalty ``||grad_x D(x)||^2`` on real data (Mescheder et al., 2018). Returns [B]."""
    return _sum_event(jnp.square(_input_grad(critic, real)))


def pseudo_huber(x: Array, y: Array, c: float) -> Array:
    """Pseudo-Huber distance ``sqrt(||x - y||^2 + c^2) - c`` per example (Song & Dhariwal, 2023).

    Args:
      x, y: float [B, ...].
      c: positive scale; the paper uses ``0.00054 * sqrt(d)`` for d data dimensions.

    Returns:
      float [B].
    """
    return jnp.sqrt(_sum_event(jnp.square(x - y)) + c * c) - c


def drop_labels(key: PRNGKey, labels: Array, p: float, null_label: int) -> Array:
    """Replaces each label by ``null_label`` with probability ``p`` (classifier-free guidance
    training, Ho & Salimans, 2022).

    Args:
      key: PRNG key.
      labels: int32 [B].
      p: drop probability in [0, 1].
      null_label: the index of the learned "no label" embedding (usually the number of classes).

    Returns:
      int32 [B].
    """
    drop = jax.random.bernoulli(key, p, labels.shape)
    return jnp.where(drop, jnp.asarray(null_label, labels.dtype), labels)
