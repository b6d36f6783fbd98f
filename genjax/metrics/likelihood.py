"""Likelihood units, the discrete-to-continuous correction, and which families report exact
likelihoods, bounds or estimates.

A density on continuous data and a probability of discrete pixels are different quantities. For
data with ``levels`` grey levels dequantized uniformly (Theis et al., 2016), each dimension's bin
has width ``w`` in the model's space (``1 / levels`` for ``(x + u) / levels`` in [0, 1), ``2 /
levels`` after rescaling to [-1, 1]) and ``log P(x) >= E_u log p(y) + D log w`` (Jensen), with
equality for a density constant on each bin. So the discrete NLL is the continuous NLL plus
``-D log w`` nats: ``D log(levels)`` for [0, 1) data, i.e. ``log2(levels)`` bits per dimension.

A likelihood integrated by an ODE solver (the probability-flow ODE of diffusion models) is only as
good as the solve: :func:`likelihood_report` refuses to report bits/dim whose estimated solver error
exceeds a tolerance (:func:`check_solver_error`).
"""

from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np

from genjax.base import Likelihood

__all__ = [
    "nats_to_bits_per_dim",
    "bits_per_dim_to_nats",
    "bin_width",
    "dequantization_offset",
    "discrete_bits_per_dim",
    "SolverError",
    "check_solver_error",
    "likelihood_report",
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


def _mean_error_bits_per_dim(error_nats, num_dims: int) -> float:
    return float(np.abs(np.mean(np.asarray(error_nats, np.float64)))) / (num_dims * math.log(2.0))


class SolverError(ValueError):
    """A likelihood whose numerical solve is not converged to the requested tolerance."""


def check_solver_error(
    error_nats, num_dims: int, *, steps: int, tolerance_bits_per_dim: float = 0.01
) -> float:
    """The estimated solver error of a mean test likelihood in bits/dim, checked against a bound.

    Args:
      error_nats: float ``[B]`` per-example estimates of (true minus computed) log-likelihood in
        nats, e.g. the Richardson estimate of :func:`genjax.samplers.ode.ode_log_likelihood`.
      num_dims: dimensions per example.
      steps: the solver's step count, named in the error.
      tolerance_bits_per_dim: the largest error of the reported mean that is accepted.

    Returns:
      ``|mean(error)| / (D ln 2)``: the error of the mean bits/dim (the reported number).

    Raises:
      SolverError: naming the step count and the error when it exceeds the tolerance (or is not
        finite).
    """
    err = _mean_error_bits_per_dim(error_nats, num_dims)
    if not err <= tolerance_bits_per_dim:
        raise SolverError(
            f"the likelihood solve at {steps} steps is not converged: its estimated error is "
            f"{err:.4f} bits/dim against the solve at {steps // 2} steps, above the tolerance "
            f"{tolerance_bits_per_dim:g}; raise the step count"
        )
    return err


def likelihood_report(
    log_prob_nats,
    num_dims: int,
    *,
    solver_error_nats=None,
    steps: Optional[int] = None,
    tolerance_bits_per_dim: float = 0.01,
) -> dict[str, Any]:
    """The test-likelihood fields of an evaluation (``eval.json``).

    Always ``test_nll_nats`` (mean NLL per example), ``test_bits_per_dim`` and
    ``test_bits_per_dim_stderr`` (standard error over examples: test-set sampling plus the
    estimator's own noise). With ``solver_error_nats`` also ``likelihood_steps``,
    ``likelihood_solver_error_bits_per_dim``, ``likelihood_tolerance_bits_per_dim`` and
    ``likelihood_converged``; an unconverged solve is refused: ``test_nll_nats`` and
    ``test_bits_per_dim`` are ``None``, ``likelihood_refused`` holds the :class:`SolverError`
    message and ``unconverged_test_bits_per_dim`` the number that was not reported.

    Args:
      log_prob_nats: float ``[B]`` per-example log-likelihoods in nats.
      num_dims: dimensions per example.
      solver_error_nats: float ``[B]`` estimated solver errors in nats, or ``None`` (no solver).
      steps: the solver's step count (required with ``solver_error_nats``).
      tolerance_bits_per_dim: see :func:`check_solver_error`.
    """
    nll = -np.asarray(log_prob_nats, np.float64)
    bpd = nats_to_bits_per_dim(nll, num_dims)
    out: dict[str, Any] = {
        "test_nll_nats": float(np.mean(nll)),
        "test_bits_per_dim": float(np.mean(bpd)),
        "test_bits_per_dim_stderr": (
            float(np.std(bpd, ddof=1) / math.sqrt(bpd.size)) if bpd.size > 1 else None
        ),
    }
    if solver_error_nats is None:
        return out
    if steps is None:
        raise ValueError("steps is required with solver_error_nats")
    out.update(
        likelihood_steps=steps,
        likelihood_solver_error_bits_per_dim=_mean_error_bits_per_dim(solver_error_nats, num_dims),
        likelihood_tolerance_bits_per_dim=tolerance_bits_per_dim,
    )
    try:
        check_solver_error(solver_error_nats, num_dims, steps=steps,
                           tolerance_bits_per_dim=tolerance_bits_per_dim)
        out["likelihood_converged"] = True
    except SolverError as refused:
        out.update(
            likelihood_converged=False,
            likelihood_refused=str(refused),
            unconverged_test_bits_per_dim=out["test_bits_per_dim"],
            test_nll_nats=None,
            test_bits_per_dim=None,
        )
    return out


FAMILY_LIKELIHOOD = {
    "rbm": Likelihood.ESTIMATE,  # AIS estimate of log Z (Salakhutdinov & Murray, 2008)
    "dbm": Likelihood.LOWER_BOUND,  # variational bound, AIS log Z (Salakhutdinov & Hinton, 2009)
    "vae": Likelihood.LOWER_BOUND,  # ELBO / IWAE bound (Burda et al., 2015)
    "gan": Likelihood.NONE,
    "flow": Likelihood.EXACT,  # change of variables (of the dequantized density)
    "pixelcnn": Likelihood.EXACT,  # autoregressive factorisation
    "diffusion": Likelihood.ESTIMATE,  # probability-flow ODE, Hutchinson trace (bound via the VLB)
    "consistency": Likelihood.ESTIMATE,  # through its teacher's probability-flow ODE
    "flow_matching": Likelihood.ESTIMATE,  # its velocity ODE, Hutchinson trace
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
