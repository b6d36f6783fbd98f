"""The noise floor and trivial baselines of the image metrics, against which model scores are read.

``python -m experiments.studies.metrics_baselines [--dataset digits|fashion_mnist] [--out baselines.json]``
scores, under the dataset's shipped classifier and against its whole test split (as
``experiments.run.evaluate`` does):

* ``train (real), 1,000 x5``: 1,000 random training images, five draws (the noise floor of a perfect
  model at the comparison's sample count);
* ``train (real), N``: as many training images as there are test images (the floor the issue of
  record asks for: 10,000 train vs 10,000 test on Fashion-MNIST; all 1,437 on digits);
* ``train binarized``: binarized training images against the binarized test images (the floor of
  the binary families, RBM and DBM, which are judged that way);
* ``nearest train``: for each of the first 1,000 test images its nearest training image in pixel
  space (a memoriser matched to the test set);
* ``10 train images x100``: 10 training images repeated (a collapsed model: precise, no recall);
* ``uniform noise``: pixels i.i.d. U[-1, 1];
* ``gaussian fit (full)``: one Gaussian fitted to the training pixels, full covariance;
* ``diagonal GMM (K)``: a mixture of K diagonal Gaussians fitted to the training pixels
  (scikit-learn, EM), K = 10 and 40;
all clipped to [-1, 1]; and against the binarized test images, the trivial baselines of the binary
families:
* ``Bernoulli fit (independent)``: each pixel on with its frequency in the binarized training set;
* ``Bernoulli mixture (K)``: a mixture of K products of Bernoullis fitted by EM (K = 10 and 40).
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from genjax.data import registry, transforms
from genjax.metrics import evaluation, features

NUM_GENERATED = 1000
COLUMNS = ("fid", "kid", "precision", "recall", "density", "coverage", "inception_score", "classes_covered")
BINARY_THRESHOLD = {"digits": 8, "fashion_mnist": 127}
"""Levels above which a pixel is on: 0.5 on [0, 1]."""


def _images(dataset: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    raw = registry.load(dataset, split)
    levels = registry.num_levels(dataset)
    binary = np.where(raw["image"] > BINARY_THRESHOLD[dataset], 1.0, -1.0).astype(np.float32)
    return np.asarray(transforms.to_symmetric(raw["image"], levels)), binary


def gaussian_fit(train: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` draws of one full-covariance Gaussian fitted to the ``train [N, H, W, C]`` pixels,
    clipped to [-1, 1]: float32 ``[n, H, W, C]``."""
    flat = train.reshape(len(train), -1).astype(np.float64)
    x = rng.multivariate_normal(flat.mean(0), np.cov(flat, rowvar=False), size=n)
    return np.clip(x, -1.0, 1.0).reshape((n, *train.shape[1:])).astype(np.float32)


def _fit_rows(flat: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """At most 20,000 of the rows of ``flat``, drawn without replacement: what the mixtures fit."""
    return flat[rng.choice(len(flat), min(len(flat), 20_000), replace=False)]


def baselines(train: np.ndarray, test: np.ndarray, seed: int = 0) -> dict[str, np.ndarray]:
    """Named image sets, float32 ``[N, H, W, C]`` in [-1, 1], built from ``train`` (and, for the
    memoriser, ``test``) images in [-1, 1]."""
    from sklearn.mixture import GaussianMixture

    rng = np.random.default_rng(seed)
    shape = (NUM_GENERATED, *train.shape[1:])
    flat = train.reshape(len(train), -1).astype(np.float64)
    queries = test[:NUM_GENERATED].reshape(min(len(test), NUM_GENERATED), -1).astype(np.float64)
    # |q - t|^2 = |q|^2 - 2 q.t + |t|^2, one matrix product instead of a [Q, T, D] difference.
    d2 = (queries**2).sum(1)[:, None] - 2.0 * queries @ flat.T + (flat**2).sum(1)[None]
    clip = lambda x: np.clip(x, -1.0, 1.0).reshape(shape).astype(np.float32)
    out = {
        "nearest train": train[d2.argmin(1)],
        "10 train images x100": np.tile(train[rng.choice(len(train), 10, replace=False)], (100, 1, 1, 1)),
        "uniform noise": rng.uniform(-1, 1, size=shape).astype(np.float32),
        "gaussian fit (full)": gaussian_fit(train, NUM_GENERATED, rng),
    }
    fit_rows = _fit_rows(flat, rng)
    for k in (10, 40):
        gmm = GaussianMixture(k, covariance_type="diag", random_state=seed, max_iter=200).fit(fit_rows)
        out[f"diagonal GMM ({k})"] = clip(gmm.sample(NUM_GENERATED)[0][rng.permutation(NUM_GENERATED)])
    return out


def bernoulli_mixture(
    x: np.ndarray, k: int, rng: np.random.Generator, iters: int = 50
) -> tuple[np.ndarray, np.ndarray]:
    """A mixture of ``k`` products of Bernoullis fitted to binary rows ``x [N, D]`` (0/1) by EM, its
    means shrunk by a Beta(1.01, 1.01) prior so that no pixel's probability is exactly 0 or 1
    (Bishop, 2006, sec. 9.3.3). Returns ``(weights [k], means [k, D])``."""
    x = x.astype(np.float64)
    means = rng.uniform(0.25, 0.75, (k, x.shape[1]))
    weights = np.full(k, 1.0 / k)
    for _ in range(iters):
        log_p = x @ np.log(means).T + (1 - x) @ np.log1p(-means).T + np.log(weights)
        resp = np.exp(log_p - log_p.max(1, keepdims=True))
        resp /= resp.sum(1, keepdims=True)
        counts = resp.sum(0)
        weights = counts / len(x)
        means = (resp.T @ x + 0.01) / (counts[:, None] + 0.02)
    return weights, means


def binary_baselines(train_binary: np.ndarray, seed: int = 0) -> dict[str, np.ndarray]:
    """Named sets of binary images, float32 ``[N, H, W, C]`` in {-1, 1}, fitted to the binarized
    ``train_binary`` images (in {-1, 1})."""
    rng = np.random.default_rng(seed)
    shape = (NUM_GENERATED, *train_binary.shape[1:])
    flat = (train_binary.reshape(len(train_binary), -1) > 0)
    fit_rows = _fit_rows(flat, rng)
    to_images = lambda on: np.where(on, 1.0, -1.0).reshape(shape).astype(np.float32)
    uniform = lambda: rng.random((NUM_GENERATED, flat.shape[1]))
    out = {"Bernoulli fit (independent)": to_images(uniform() < flat.mean(0))}
    for k in (10, 40):
        weights, means = bernoulli_mixture(fit_rows, k, rng)
        component = rng.choice(k, NUM_GENERATED, p=weights)
        out[f"Bernoulli mixture ({k})"] = to_images(uniform() < means[component])
    return out


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=sorted(BINARY_THRESHOLD), default="digits")
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    args = parser.parse_args(argv)
    extractor = features.dataset_features(args.dataset)
    train, train_binary = _images(args.dataset, "train")
    test, test_binary = _images(args.dataset, "test")
    name = f"{args.dataset}/test"
    score = lambda x, ref=test: evaluation.evaluate_images(x, ref, reference_name=name, extractor=extractor)
    rows: dict[str, dict] = {}
    floor = [score(train[np.random.default_rng(s).choice(len(train), NUM_GENERATED, replace=False)])
             for s in range(5)]
    rows[f"train (real), {NUM_GENERATED:,} x5"] = {
        **{c: float(np.mean([r[c] for r in floor])) for c in COLUMNS},
        **{f"{c}_over_draws_std": float(np.std([r[c] for r in floor])) for c in COLUMNS},
        "num_generated": NUM_GENERATED,
    }
    n_floor = min(len(train), len(test))
    pick = np.random.default_rng(0).choice(len(train), n_floor, replace=False)
    rows[f"train (real), {n_floor:,}"] = score(train[pick])
    binarized = train_binary[pick[:NUM_GENERATED]]
    rows[f"train binarized, {len(binarized):,} vs binarized test"] = score(binarized, test_binary)
    for label, images in baselines(train, test).items():
        rows[label] = score(images)
    for label, images in binary_baselines(train_binary).items():
        rows[f"{label} vs binarized test"] = score(images, test_binary)
    print(
        f"reference: {name} ({len(test):,} images); features: {extractor.name} "
        f"(test accuracy {extractor.test_accuracy:.4f}); KID in raw feature units; "
        f"± is the spread over 5 draws of the training subset\n"
    )
    print("| set | n | " + " | ".join(COLUMNS) + " |")
    print("|" + " --- |" * (len(COLUMNS) + 2))
    for label, r in rows.items():
        cells = []
        for c in COLUMNS:
            cell = f"{r[c]:.4g}"
            if f"{c}_over_draws_std" in r:
                cell += f" ± {r[f'{c}_over_draws_std']:.2g}"
            cells.append(cell)
        print(f"| {label} | {r['num_generated']:,} | " + " | ".join(cells) + " |")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(rows, f, indent=2)
    return rows


if __name__ == "__main__":
    main(sys.argv[1:])
