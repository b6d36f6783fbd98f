"""NICE and RealNVP on the 8x8 digits (17 levels): test bits/dim, samples, anomaly scores.

``python -m experiments.flows_quality [--workdir runs/flows_quality] [--steps 3000] [--quick]``

* Each model is trained by ``genjax.training.fit`` (Adam, batch 64) on the training split, and
  evaluated on the test split with the dequantized log-likelihood averaged over ``--eval-draws``
  noise draws per image: bits/dim, nats of the discrete data (``-log P(k)``) and nats of the
  continuous density on [0, 1]^64 (``log p(u)``, the scale of the NICE paper's tables).
* Sample grids at temperatures 1.0 and 0.7 (``samples.png``).
* Anomaly detection with ``Flow.score`` (deterministic log-likelihood per example): held-out digits
  against uniform-noise images, inverted digits (``x -> -x``), 8x8 grayscale patches of the
  photographs bundled with scikit-learn, and digits rotated by 90 degrees. Reported as the mean
  score of each set and the AUROC of "held-out digit vs other" (1.0: every digit scores above every
  outlier; 0.5: no separation).

Prints one JSON line with every number at the end.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from sklearn.metrics import roc_auc_score

from experiments.grids import save_gallery
from genjax import training
from genjax.data import batching, digits, transforms
from genjax.models import flows

LEVELS = 17
BATCH = 64


def load_splits() -> tuple[np.ndarray, np.ndarray]:
    """Train / test digits as float32 [N, 8, 8, 1] in [-1, 1] on the 17-level grid."""
    out = []
    for split in ("train", "test"):
        images = digits.load_digits(split)["image"]
        out.append(np.asarray(transforms.to_symmetric(images, LEVELS), np.float32))
    return out[0], out[1]


def photo_patches(n: int, seed: int = 0) -> np.ndarray:
    """Random 32x32 crops of scikit-learn's sample photographs, averaged down to 8x8 grayscale and
    quantized to the digits' 17 levels, in [-1, 1]."""
    from sklearn.datasets import load_sample_images

    rng = np.random.default_rng(seed)
    photos = [img.mean(axis=-1) / 255.0 for img in load_sample_images().images]
    out = []
    for i in range(n):
        p = photos[i % len(photos)]
        r, c = rng.integers(0, p.shape[0] - 32), rng.integers(0, p.shape[1] - 32)
        small = p[r : r + 32, c : c + 32].reshape(8, 4, 8, 4).mean(axis=(1, 3))
        out.append(np.round(small * (LEVELS - 1)) / (LEVELS - 1) * 2.0 - 1.0)
    return np.asarray(out, np.float32)[..., None]


def train(
    config: flows.FlowConfig, x_train: np.ndarray, steps: int, lr: float, key
) -> training.TrainState:
    data = batching.epoch_batches({"image": x_train}, BATCH, seed=0)
    optimizer = optax.chain(
        optax.clip_by_global_norm(100.0), optax.adam(optax.cosine_decay_schedule(lr, steps))
    )
    return training.fit(
        flows.make_flow(config),
        optimizer,
        data,
        key=key,
        num_steps=steps,
        log_every=steps,
        checkpoint_every=steps,
        progress=False,
    )


def evaluate(config: flows.FlowConfig, params, x_test: np.ndarray, draws: int, key) -> dict:
    flow = flows.make_flow_functions(config)
    log_prob = jax.jit(lambda k: flow.log_prob(params, {}, {"image": jnp.asarray(x_test)}, k))
    lp = np.mean([np.asarray(log_prob(k)) for k in jax.random.split(key, draws)], axis=0)
    d = config.dim
    return {
        "test_bits_per_dim": float(np.mean(flows.bits_per_dim(lp, d))),
        "test_nll_nats": float(-np.mean(lp)),
        "test_log_p_unit_cube_nats": float(np.mean(flows.nats_on_unit_cube(lp, d, LEVELS))),
    }


def anomaly(config: flows.FlowConfig, params, x_test: np.ndarray, key) -> dict:
    flow = flows.make_flow_functions(config)
    score = jax.jit(lambda x: flow.score(params, {}, x))
    n = x_test.shape[0]
    noise = 2.0 * jax.random.randint(key, x_test.shape, 0, LEVELS) / (LEVELS - 1) - 1.0
    sets = {
        "uniform_noise": np.asarray(noise, np.float32),
        "inverted_digits": -x_test,
        "photo_patches": photo_patches(n),
        "rotated_digits": np.rot90(x_test, axes=(1, 2)).copy(),
    }
    inlier = np.asarray(score(jnp.asarray(x_test)))
    out = {"mean_score_test_digits": float(inlier.mean())}
    for name, x in sets.items():
        s = np.asarray(score(jnp.asarray(x)))
        labels = np.r_[np.ones(n), np.zeros(len(s))]
        out[f"mean_score_{name}"] = float(np.mean(s))
        out[f"auroc_{name}"] = float(roc_auc_score(labels, np.r_[inlier, s]))
    return out


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="runs/flows_quality")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--eval-draws", type=int, default=10)
    parser.add_argument(
        "--quick", action="store_true", help="a few steps, to check the script runs"
    )
    args = parser.parse_args(argv)
    steps = 20 if args.quick else args.steps
    x_train, x_test = load_splits()
    models = {
        "nice": (flows.NICE_DIGITS, 1e-3),
        "realnvp": (flows.REALNVP_DIGITS, 1e-3),
        "realnvp_glow_steps": (dataclasses.replace(flows.REALNVP_DIGITS, glow_steps=True), 1e-3),
    }
    results: dict = {
        "steps": steps,
        "batch": BATCH,
        "train_size": len(x_train),
        "test_size": len(x_test),
        "uniform_bits_per_dim": math.log2(LEVELS),
    }
    rows = []
    key = jax.random.PRNGKey(0)
    for name, (config, lr) in models.items():
        t0 = time.perf_counter()
        state = train(config, x_train, steps, lr, jax.random.fold_in(key, 1))
        row = {"train_seconds": time.perf_counter() - t0}
        row.update(
            evaluate(config, state.params, x_test, args.eval_draws, jax.random.fold_in(key, 2))
        )
        row.update(anomaly(config, state.params, x_test, jax.random.fold_in(key, 3)))
        flow = flows.make_flow_functions(config)
        for t in (1.0, 0.7):
            rows.append(
                (
                    f"{name} T={t}",
                    np.asarray(flow.sample(state.params, {}, jax.random.fold_in(key, 4), 10, t)),
                )
            )
        results[name] = row
        print(name, json.dumps(row), file=sys.stderr)
    rows.append(("test data", x_test[:10]))
    results["samples_png"] = save_gallery(
        rows, os.path.join(args.workdir, "samples.png"), title="flows on digits"
    )
    print(json.dumps(results))
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
