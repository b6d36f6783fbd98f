"""The noise floor and trivial baselines of the digits metrics, against which model scores are read.

``python -m experiments.metrics_baselines [--out baselines.json]`` scores, under the shipped digits
classifier and against the 360-image test split (as ``experiments.run.evaluate`` does):

* ``train (real)``: 1,000 random training images, five draws (the noise floor: a perfect model);
* ``nearest train``: for each test image its nearest training image in pixel space (a memoriser
  matched to the test set);
* ``10 train images x100``: 10 training images repeated, interleaved so that every IS split sees
  all 10 (a collapsed model: precise, no recall);
* ``gaussian noise``: pixels i.i.d. N(0, 1), clipped to [-1, 1];
* ``uniform noise``: pixels i.i.d. U[-1, 1];
* ``gaussian fit (diag)`` / ``gaussian fit (full)``: a Gaussian fitted to the training pixels with
  diagonal / full covariance, clipped to [-1, 1].
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from genjax.data import digits, transforms
from genjax.metrics import evaluation, features

NUM_GENERATED = 1000
COLUMNS = (
    "fid",
    "kid",
    "precision",
    "recall",
    "density",
    "coverage",
    "inception_score",
    "classes_covered",
)


def _images(split: str) -> np.ndarray:
    return np.asarray(
        transforms.to_symmetric(digits.load_digits(split)["image"], digits.NUM_LEVELS)
    )


def baselines(seed: int = 0) -> dict[str, np.ndarray]:
    """Named image sets: float32 ``[N, 8, 8, 1]`` in [-1, 1]."""
    rng = np.random.default_rng(seed)
    train, test = _images("train"), _images("test")
    flat = train.reshape(len(train), -1).astype(np.float64)
    d2 = ((test.reshape(len(test), -1)[:, None] - flat[None]) ** 2).sum(-1)
    shape = (NUM_GENERATED, *digits.IMAGE_SHAPE)
    mean, cov = flat.mean(0), np.cov(flat, rowvar=False)
    clip = lambda x: np.clip(x, -1.0, 1.0).reshape(shape).astype(np.float32)
    return {
        "nearest train": train[d2.argmin(1)],
        "10 train images x100": np.tile(
            train[rng.choice(len(train), 10, replace=False)], (100, 1, 1, 1)
        ),
        "gaussian noise": clip(rng.normal(size=shape)),
        "uniform noise": rng.uniform(-1, 1, size=shape).astype(np.float32),
        "gaussian fit (diag)": clip(
            mean + np.sqrt(np.diag(cov)) * rng.normal(size=(NUM_GENERATED, 64))
        ),
        "gaussian fit (full)": clip(rng.multivariate_normal(mean, cov, size=NUM_GENERATED)),
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    args = parser.parse_args(argv)
    extractor = features.digits_features()
    train, test = _images("train"), _images("test")
    score = lambda x: evaluation.evaluate_images(
        x, test, reference_name="digits/test", extractor=extractor
    )
    rows: dict[str, dict] = {}
    floor = [
        score(train[np.random.default_rng(s).choice(len(train), NUM_GENERATED, replace=False)])
        for s in range(5)
    ]
    rows["train (real), 5 draws"] = {
        **{c: float(np.mean([r[c] for r in floor])) for c in COLUMNS},
        **{f"{c}_over_draws_std": float(np.std([r[c] for r in floor])) for c in COLUMNS},
        "num_generated": NUM_GENERATED,
    }
    rows["train (all 1437)"] = score(train)
    for name, images in baselines().items():
        rows[name] = score(images)
    print(
        f"reference: digits/test (360 images); features: {extractor.name} "
        f"(test accuracy {extractor.test_accuracy:.4f}); KID in raw feature units, subsets of 360; "
        "± is the spread over 5 draws of the training subset\n"
    )
    print("| set | n | " + " | ".join(COLUMNS) + " |")
    print("|" + " --- |" * (len(COLUMNS) + 2))
    for name, r in rows.items():
        cells = []
        for c in COLUMNS:
            cell = f"{r[c]:.4g}"
            if f"{c}_over_draws_std" in r:
                cell += f" ± {r[f'{c}_over_draws_std']:.2g}"
            cells.append(cell)
        print(f"| {name} | {r['num_generated']} | " + " | ".join(cells) + " |")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(rows, f, indent=2)
    return rows


if __name__ == "__main__":
    main(sys.argv[1:])
