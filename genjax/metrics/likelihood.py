"""Likelihood units, the discrete-to-continuous correction, and which families report exact
likelihoods, bounds or estimates.

A density on continuous data and a probability of discrete pixels are different quantities. For
data with ``levels`` grey levels dequantized uniformly (Theis et al., 2016), each dimension's bin
has width ``w`` in the model's space (``1 / levels`` for ``(x + u) / levels`` in [0, 1), ``2 /
levels`` after rescaling to [-1, 1]) and ``log P(x) >= E_u log p(y) + D log w`` (Jensen), with
equality for a density constant on each bin. So the discrete NLL is the continuous NLL plus
``-D log w`` nats: ``D log(levels)`` for [0, 1) data, i.e. ``log2(levels)`` bits per dimension.
"""

from __future__ import annotations

import math

import numpy as np

from genjax.base import Likelihood

__all__ = [
    "nats_to_bits_per_dim",
    "bits_per_dim_to_nats",
    "bin_width",
    "dequantization_offset",
    "discrete_bits_per_dim",
    "FAMILY_LIKELIHOOD",
    "likelihood_kind",
]


def nats_to_bits_per_dim(nll_nats, num_dims: int):
    """NLL of one example in nats (scalar or array) -> bits per dimension, ``nll / (D ln 2)``."""
    return nll_nats / (num_dims * math.log(2.0))


def bits_per_dim_to_nats(bpd, num_dims: int):
    """Inverse of :func:`nats_to_bits_per_dim`."""
    return bpd * num_dims * math.log(2.0)


def bin_width(levels: int, data_range: float = 1.0) -> float:
    """Width of one dequantization bin when ``levels`` levels fill an interval of length
    ``data_range`` (1 for [0, 1), 2 for [-1, 1])."""
    if levels < 2 or data_range <= 0:
        raise ValueError(
            f"need levels >= 2 and data_range > 0, got levels={levels}, data_range={data_range}"
        )
    return data_range / levels


def dequantization_offset(num_dims: int, bin_width: float) -> float:
    """Nats to add to a dequantized density's NLL to bound the NLL of the discrete data:
    ``-D log(bin_width)`` (``D log(levels)`` for [0, 1) data).

    Raises:
      ValueError: for a non-positive bin width.
    """
    if bin_width <= 0:
        raise ValueError(f"bin_width must be positive, got {bin_width}")
    return -num_dims * math.log(bin_width)


def discrete_bits_per_dim(log_prob_nats, num_dims: int, bin_width: float) -> np.ndarray:
    """Bits/dim of discrete data from a continuous log-density of its dequantized version,
    ``(-log p(y) - D log w) / (D ln 2)``: an upper bound on the discrete bits/dim (exact for a
    density constant on each bin), comparable with published image bits/dim.

    Args:
      log_prob_nats: float ``[B]`` (or scalar) log-densities in the model's data space.
      num_dims: dimensions per example (``H * W * C``).
      bin_width: see :func:`bin_width`.
    """
    nll = -np.asarray(log_prob_nats, np.float64)
    return nats_to_bits_per_dim(nll + dequantization_offset(num_dims, bin_width), num_dims)


FAMILY_LIKELIHOOD = {
    "rbm": Likelihood.ESTIMATE,  # AIS estimate of log Z (Salakhutdinov & Murray, 2008)
    "dbm": Likelihood.LOWER_BOUND,  # variational bound, AIS log Z (Salakhutdinov & Hinton, 2009)
    "vae": Likelihood.LOWER_BOUND,  # ELBO / IWAE bound (Burda et al., 2015)
    "gan": Likelihood.NONE,
    "flow": Likelihood.EXACT,  # change of variables (of the dequantized density)
    "pixelcnn": Likelihood.EXACT,  # autoregressive factorisation
    "diffusion": Likelihood.ESTIMATE,  # probability-flow ODE, Hutchinson trace (bound via the VLB)
    "consistency": Likelihood.ESTIMATE,  # through its teacher's probability-flow ODE
    "latent_diffusion": Likelihood.NONE,  # the decoder makes p(x) intractable
}
"""What ``log_prob`` of each family returns."""


def likelihood_kind(family: str) -> Likelihood:
    """The entry of :data:`FAMILY_LIKELIHOOD` for ``family``.

    Raises:
      ValueError: for an unknown family, listing the known ones.
    """
    if family not in FAMILY_LIKELIHOOD:
        raise ValueError(f"unknown family {family!r}; known: {sorted(FAMILY_LIKELIHOOD)}")
    return FAMILY_LIKELIHOOD[family]
