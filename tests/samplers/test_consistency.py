"""The greedy sigma search against brute force, and the consistency error against the closed-form
probability-flow ODE map of isotropic Gaussian data (Song et al., 2023)."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.samplers import consistency as cs

SIGMA_MAX = 80.0
CANDIDATES = (0.05, 0.2, 0.8, 2.0, 5.0, 20.0)


def _separable(sigmas):
    """A score whose optimum is known: each position k >= 1 has its own best sigma ``TARGET[k]`` (on
    the candidate grid, decreasing), and every extra step lowers the score by a constant."""
    target = {1: 5.0, 2: 0.8, 3: 0.05}
    return 10.0 - 1.0 * (len(sigmas) - 1) + sum(
        (np.log(s) - np.log(target[k])) ** 2 for k, s in enumerate(sigmas) if k)


def _brute_force(score, num_steps):
    """The best decreasing schedule of length ``num_steps`` over all subsets of the candidates."""
    pool = sorted(CANDIDATES, reverse=True)
    best = min(itertools.combinations(pool, num_steps - 1), key=lambda c: score((SIGMA_MAX,) + c))
    return (SIGMA_MAX,) + best


@pytest.mark.parametrize("num_steps", [1, 2, 3, 4])
def test_greedy_finds_the_known_optimum_of_a_separable_score(num_steps):
    out = cs.greedy_sigmas(_separable, CANDIDATES[::-1], num_steps, SIGMA_MAX)
    assert out.sigmas == _brute_force(_separable, num_steps)
    assert out.sigmas == (SIGMA_MAX, 5.0, 0.8, 0.05)[:num_steps]
    assert out.scores == tuple(_separable(out.sigmas[: k + 1]) for k in range(num_steps))


def test_greedy_is_greedy_and_tries_only_sigmas_below_the_last_choice():
    # A score whose global optimum needs a worse second point: (80, 2, 0.05) beats the greedy
    # (80, 0.8, 0.2), but 0.8 is the best second point on its own.
    table = {(SIGMA_MAX,): 10.0}
    for c in CANDIDATES:
        table[(SIGMA_MAX, c)] = 5.0 + abs(np.log(c / 0.8))
    for a, b in itertools.combinations(sorted(CANDIDATES, reverse=True), 2):
        table[(SIGMA_MAX, a, b)] = 4.0 + abs(np.log(b / 0.2))
    table[(SIGMA_MAX, 2.0, 0.05)] = 1.0
    calls = []
    score = lambda s: calls.append(s) or table[s]
    out = cs.greedy_sigmas(score, CANDIDATES, 3, SIGMA_MAX)
    assert out.sigmas == (SIGMA_MAX, 0.8, 0.2)
    assert _brute_force(table.__getitem__, 3) == (SIGMA_MAX, 2.0, 0.05)
    # Each step's choice is the brute-force best given the prefix before it.
    for k in (1, 2):
        prefix = out.sigmas[:k]
        below = [c for c in CANDIDATES if c < prefix[-1]]
        assert out.sigmas[k] == min(below, key=lambda c: table[prefix + (c,)])
    assert all(s[-1] < s[-2] for s in calls if len(s) > 1)
    assert len(calls) == 1 + len(CANDIDATES) + 2  # only 0.2 and 0.05 lie below 0.8
    assert [t[0] for t in out.trials] == calls


def test_greedy_stops_when_no_candidate_is_left_and_rejects_bad_input():
    out = cs.greedy_sigmas(lambda s: -len(s) - s[-1], (1.0, 3.0), 5, SIGMA_MAX)
    assert out.sigmas == (SIGMA_MAX, 3.0, 1.0)
    with pytest.raises(ValueError, match="candidates must lie in"):
        cs.greedy_sigmas(_separable, (0.5, 100.0), 2, SIGMA_MAX)
    with pytest.raises(ValueError, match="num_steps"):
        cs.greedy_sigmas(_separable, CANDIDATES, 0, SIGMA_MAX)


MU, STD, SIGMA_MIN = 0.3, 0.4, 0.002


def _gaussian_denoiser(x, sigma):
    """``E[x_0 | x]`` for ``x_0 ~ N(MU, STD^2 I)``, ``x = x_0 + sigma n``."""
    s = sigma.reshape((-1,) + (1,) * (x.ndim - 1))
    return MU + STD**2 / (STD**2 + s**2) * (x - MU)


def _exact_consistency(x, sigma):
    """The PF-ODE map to sigma_min: ``x - MU`` scales as ``sqrt(STD^2 + sigma^2)`` along a path."""
    s = sigma.reshape((-1,) + (1,) * (x.ndim - 1))
    return MU + jnp.sqrt((STD**2 + SIGMA_MIN**2) / (STD**2 + s**2)) * (x - MU)


def test_consistency_error_is_zero_for_the_exact_map_and_the_offset_of_a_perturbed_one():
    x = MU + STD * jax.random.normal(jax.random.PRNGKey(0), (64, 4, 4, 1))
    sigmas = jnp.array([0.01, 0.1, 0.8, 5.0, 80.0])
    run = jax.jit(lambda f: cs.consistency_error(jax.random.PRNGKey(1), f, _gaussian_denoiser, x, sigmas,
                                                 SIGMA_MIN, num_steps=128), static_argnums=0)
    exact = run(_exact_consistency)
    # The fine Heun solve reproduces the closed-form map up to its discretization error (4e-4 at
    # 128 steps from sigma = 80), and the coarse-vs-fine difference estimates that error: a third of it
    # for a second-order method (Richardson), where it is above float32 round-off.
    np.testing.assert_array_less(exact.student_rms, 5e-4)
    np.testing.assert_allclose(exact.student_rms[2:], exact.teacher_rms[2:] / 3, rtol=0.1)
    # f = exact + 0.05 sigma: an error of exactly 0.05 sigma at every level.
    perturbed = run(lambda x, s: _exact_consistency(x, s) + 0.05 * s.reshape(-1, 1, 1, 1))
    np.testing.assert_allclose(perturbed.student_rms, 0.05 * sigmas, rtol=1e-3, atol=5e-4)
    np.testing.assert_array_equal(perturbed.teacher_rms, exact.teacher_rms)
    with pytest.raises(ValueError, match="even"):
        cs.consistency_error(jax.random.PRNGKey(1), _exact_consistency, _gaussian_denoiser, x, sigmas,
                             SIGMA_MIN, num_steps=7)
