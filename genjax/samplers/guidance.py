"""Classifier-free guidance (Ho & Salimans, 2022) as one wrapper around any conditional network."""

from __future__ import annotations

from typing import Callable

import jax.numpy as jnp

from genjax.typing import Array

__all__ = ["guided"]


def guided(
    net: Callable[[Array, Array, Array], Array], scale: float, null_label: int
) -> Callable[[Array, Array, Array], Array]:
    """``out = out_uncond + scale (out_cond - out_uncond)`` from one forward pass on a doubled batch.

    Works for any output that is affine in the score (noise prediction, denoised image, velocity):
    diffusion, latent diffusion and consistency sampling use it alike. ``scale = 0`` is the
    unconditional model, ``scale = 1`` the conditional one, ``scale > 1`` guides.

    Args:
      net: ``(x [B, ...], t [B], label int32 [B]) -> [B, ...]``, trained with label dropout to
        ``null_label`` (see ``genjax.losses.drop_labels``).
      scale: the guidance weight.
      null_label: the "no label" index.

    Returns:
      ``guided_net(x, t, label)`` with the same signature.
    """

    def guided_net(x: Array, t: Array, label: Array) -> Array:
        b = x.shape[0]
        out = net(
            jnp.concatenate([x, x]),
            jnp.concatenate([t, t]),
            jnp.concatenate([label, jnp.full_like(label, null_label)]),
        )
        cond, uncond = out[:b], out[b:]
        return uncond + scale * (cond - uncond)

    return guided_net
