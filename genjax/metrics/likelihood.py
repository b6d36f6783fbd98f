"""Likelihood units and which families report exact likelihoods, bounds or estimates."""

from __future__ import annotations

import math

from genjax.base import Likelihood

__all__ = ["nats_to_bits_per_dim", "bits_per_dim_to_nats", "dequantization_offset", "FAMILY_LIKELIHOOD"]


def nats_to_bits_per_dim(nll_nats: float, num_dims: int) -> float:
    """Negative log-likelihood of one example in nats -> bits per dimension (``nll / (D ln 2)``)."""
    return nll_nats / (num_dims * math.log(2.0))


def bits_per_dim_to_nats(bpd: float, num_dims: int) -> float:
    """Inverse of :func:`nats_to_bits_per_dim`."""
    return bpd * num_dims * math.log(2.0)


def dequantization_offset(num_dims: int, bin_width: float) -> float:
    """Nats to add to a dequantized density's NLL to get the NLL of the discrete data it bounds.

    With uniform dequantization over bins of width ``w`` in the model's space (``1 / levels`` for
    ``(x + u) / levels`` in [0, 1), ``2 / levels`` for data rescaled to [-1, 1]), Jensen's inequality
    gives ``log P(x) >= E_u log p(y) + D log w`` (Theis et al., 2016), so the discrete NLL is at most
    the continuous NLL plus ``-D log w``.
    """
    if bin_width <= 0:
        raise ValueError(f"bin_width must be positive, got {bin_width}")
    return -num_dims * math.log(bin_width)


FAMILY_LIKELIHOOD = {
    "rbm": Likelihood.ESTIMATE,  # AIS estimate of log Z (Salakhutdinov & Murray, 2008)
    "dbm": Likelihood.ESTIMATE,  # variational lower bound with an AIS estimate of log Z
    "vae": Likelihood.LOWER_BOUND,  # ELBO / IWAE bound (Burda et al., 2015)
    "gan": Likelihood.NONE,
    "flow": Likelihood.EXACT,  # change of variables (of the dequantized density)
    "pixelcnn": Likelihood.EXACT,  # autoregressive factorisation
    "diffusion": Likelihood.ESTIMATE,  # probability-flow ODE with the Hutchinson trace; bound via the VLB
    "consistency": Likelihood.ESTIMATE,  # through its teacher's probability-flow ODE
}
"""What ``log_prob`` of each family returns."""
