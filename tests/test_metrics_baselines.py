"""experiments.studies.metrics_baselines: the fitted baselines recover the laws they are fitted to."""

import numpy as np

from experiments.studies import metrics_baselines


def test_bernoulli_mixture_recovers_a_known_mixture():
    rng = np.random.default_rng(0)
    true_means = np.array([[0.9] * 10 + [0.1] * 10, [0.1] * 10 + [0.8] * 10])
    component = rng.random(4000) < 0.3  # weight 0.3 on the first
    x = rng.random((4000, 20)) < true_means[np.where(component, 0, 1)]
    weights, means = metrics_baselines.bernoulli_mixture(x, 2, np.random.default_rng(1))
    order = np.argsort(-means[:, 0])  # the component with pixel 0 on first
    # Standard errors: weight sqrt(0.21 / 4000) = 0.007, a mean about sqrt(0.09 / 1200) = 0.009.
    np.testing.assert_allclose(weights[order], [0.3, 0.7], atol=0.03)
    np.testing.assert_allclose(means[order], true_means, atol=0.04)


def test_binary_baselines_are_binary_images_with_the_training_marginals():
    rng = np.random.default_rng(0)
    p = np.linspace(0.05, 0.95, 16).reshape(1, 4, 4, 1)
    train = np.where(rng.random((5000, 4, 4, 1)) < p, 1.0, -1.0).astype(np.float32)
    sets = metrics_baselines.binary_baselines(train)
    assert set(sets) == {"Bernoulli fit (independent)", "Bernoulli mixture (10)", "Bernoulli mixture (40)"}
    for name, images in sets.items():
        assert images.shape == (metrics_baselines.NUM_GENERATED, 4, 4, 1) and set(np.unique(images)) <= {-1.0, 1.0}
        # Each pixel's frequency of 1,000 draws: standard error at most 0.016.
        np.testing.assert_allclose((images > 0).mean(0), p[0], atol=0.06, err_msg=name)


def test_gaussian_fit_matches_the_training_moments():
    rng = np.random.default_rng(0)
    cov = np.array([[0.04, 0.03], [0.03, 0.05]])
    train = rng.multivariate_normal([0.1, -0.2], cov, size=20000).reshape(-1, 1, 2, 1)
    draws = metrics_baselines.gaussian_fit(train, 20000, np.random.default_rng(1)).reshape(-1, 2)
    np.testing.assert_allclose(draws.mean(0), [0.1, -0.2], atol=0.01)
    np.testing.assert_allclose(np.cov(draws, rowvar=False), cov, atol=0.005)
