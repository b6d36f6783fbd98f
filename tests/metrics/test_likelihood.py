"""Likelihood units and the dequantization correction against a histogram density."""

import math

import numpy as np
import pytest
from scipy import stats

from genjax.base import Likelihood
from genjax.metrics import likelihood


def test_units_round_trip_and_uniform_pixels_give_log2_levels():
    assert likelihood.nats_to_bits_per_dim(64 * math.log(2.0), 64) == pytest.approx(1.0)
    assert likelihood.bits_per_dim_to_nats(
        likelihood.nats_to_bits_per_dim(7.3, 64), 64
    ) == pytest.approx(7.3)
    # A uniform density on [0, 1)^64 is the uniform distribution over 17^64 dequantized images.
    bpd = likelihood.discrete_bits_per_dim(0.0, 64, likelihood.bin_width(17))
    assert bpd == pytest.approx(math.log2(17))
    # The same data rescaled to [-1, 1): density 2^-64, bins of width 2/17.
    bpd_sym = likelihood.discrete_bits_per_dim(
        -64 * math.log(2.0), 64, likelihood.bin_width(17, 2.0)
    )
    assert bpd_sym == pytest.approx(math.log2(17))


def test_dequantized_density_bounds_the_discrete_likelihood_with_equality_for_histograms():
    levels, w = 17, likelihood.bin_width(17, 2.0)
    edges = -1.0 + w * np.arange(levels + 1)
    dens = stats.truncnorm(-1 / 0.4, 1 / 0.4, loc=0.0, scale=0.4)  # a smooth density on [-1, 1]
    probs = np.diff(dens.cdf(edges))
    u = (np.arange(2000) + 0.5) / 2000  # midpoint rule for E_u over each bin
    for k in (0, 5, 8):
        y = edges[k] + w * u
        continuous_nll = -np.mean(dens.logpdf(y))
        bound = continuous_nll + likelihood.dequantization_offset(1, w)
        assert -np.log(probs[k]) <= bound + 1e-9  # Jensen
        # A histogram density (constant per bin) attains it.
        assert -np.log(probs[k] / w) + likelihood.dequantization_offset(1, w) == pytest.approx(
            -np.log(probs[k])
        )


def test_family_table_and_errors():
    assert likelihood.likelihood_kind("flow") is Likelihood.EXACT
    assert likelihood.likelihood_kind("gan") is Likelihood.NONE
    assert likelihood.likelihood_kind("vae") is Likelihood.LOWER_BOUND
    with pytest.raises(ValueError, match="known"):
        likelihood.likelihood_kind("nope")
    with pytest.raises(ValueError, match="positive"):
        likelihood.dequantization_offset(4, 0.0)
    with pytest.raises(ValueError, match="levels >= 2"):
        likelihood.bin_width(1)


def test_likelihood_report_refuses_bits_per_dim_of_an_unconverged_solve():
    lp = -np.log(2.0) * 64 * np.array([1.0, 2.0, 3.0])  # 1, 2, 3 bits/dim
    plain = likelihood.likelihood_report(lp, 64)
    assert plain["test_bits_per_dim"] == pytest.approx(2.0)
    assert plain["test_bits_per_dim_stderr"] == pytest.approx(1.0 / math.sqrt(3))
    assert "likelihood_converged" not in plain
    # An error of 0.005 bits/dim passes a 0.01 tolerance; 0.02 is refused and named.
    small, large = (np.full(3, e * 64 * np.log(2.0)) for e in (0.005, -0.02))
    ok = likelihood.likelihood_report(lp, 64, solver_error_nats=small, steps=128)
    assert ok["likelihood_converged"] and ok["test_bits_per_dim"] == pytest.approx(2.0)
    assert ok["likelihood_solver_error_bits_per_dim"] == pytest.approx(0.005)
    assert ok["likelihood_steps"] == 128 and ok["likelihood_tolerance_bits_per_dim"] == 0.01
    bad = likelihood.likelihood_report(lp, 64, solver_error_nats=large, steps=16)
    assert not bad["likelihood_converged"]
    assert bad["test_bits_per_dim"] is None and bad["test_nll_nats"] is None
    assert bad["unconverged_test_bits_per_dim"] == pytest.approx(2.0)
    assert "at 16 steps" in bad["likelihood_refused"] and "0.0200" in bad["likelihood_refused"]
    with pytest.raises(likelihood.SolverError, match="at 16 steps.*0.0200 bits/dim"):
        likelihood.check_solver_error(large, 64, steps=16)
    with pytest.raises(likelihood.SolverError):  # a nan error is never accepted
        likelihood.check_solver_error(np.full(3, np.nan), 64, steps=16)
    with pytest.raises(ValueError, match="steps"):
        likelihood.likelihood_report(lp, 64, solver_error_nats=small)
