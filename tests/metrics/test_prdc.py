"""Precision/recall and density/coverage against brute force and on cases that tell them apart."""

import numpy as np
import pytest

from genjax.metrics import prdc


def _brute(real, gen, k):
    d_rr = np.linalg.norm(real[:, None] - real[None], axis=-1)
    d_gg = np.linalg.norm(gen[:, None] - gen[None], axis=-1)
    d_gr = np.linalg.norm(gen[:, None] - real[None], axis=-1)  # [M generated, N real]
    r_real = np.sort(d_rr, axis=1)[:, k]
    r_gen = np.sort(d_gg, axis=1)[:, k]
    inside = d_gr <= r_real[None, :]
    return (
        inside.any(1).mean(),
        (d_gr <= r_gen[:, None]).any(0).mean(),
        inside.sum() / (k * len(gen)),
        (d_gr.min(0) <= r_real).mean(),
    )


def test_matches_brute_force_with_chunks_smaller_than_the_sets():
    rng = np.random.default_rng(0)
    real, gen = rng.normal(size=(90, 5)), rng.normal(size=(70, 5)) * 1.3 + 0.3
    got = prdc.prdc(real, gen, k=4, chunk=16)
    want = _brute(real, gen, 4)
    np.testing.assert_allclose(
        [got.precision, got.recall, got.density, got.coverage], want, rtol=1e-12
    )


def test_identical_sets_score_one_and_far_apart_sets_zero():
    x = np.random.default_rng(1).normal(size=(300, 4))
    same = prdc.prdc(x, x.copy(), k=3)
    assert same.precision == 1.0 and same.recall == 1.0 and same.coverage == 1.0
    far = prdc.prdc(x, x + 100.0, k=3)
    assert far.precision == 0.0 and far.recall == 0.0 and far.density == 0.0 and far.coverage == 0.0


@pytest.mark.parametrize("offset", [0.0, 300.0])  # a large offset stresses round-off at distance 0
def test_precision_and_recall_are_not_swapped(offset):
    # Generated = many copies of 10 of the 300 real points: every sample is realistic (precision 1)
    # but only the copied 10/300 of the real data is recalled (the generated k-NN balls have radius
    # 0 around each copy). Swapped metrics would give precision 1/30 and recall 1.
    real = np.random.default_rng(2).normal(size=(300, 16)) + offset
    gen = np.repeat(real[:10], 30, axis=0)
    scores = prdc.prdc(real, gen, k=3)
    assert scores.precision == 1.0
    assert scores.recall == pytest.approx(10 / 300, abs=1e-12)
    assert scores.coverage == pytest.approx(_brute(real, gen, 3)[3])
    assert scores.coverage < 0.2


def test_bad_inputs_are_clear_errors():
    with pytest.raises(ValueError, match="same F"):
        prdc.prdc(np.zeros((10, 3)), np.zeros((10, 4)))
    with pytest.raises(ValueError, match="k must be"):
        prdc.prdc(np.zeros((3, 2)), np.zeros((10, 2)), k=5)
