"""NICE and RealNVP on the 8x8 digits (17 levels): test bits/dim, samples, anomaly scores.

``python -m experiments.flows_quality [--workdir runs/flows_quality] [--steps 3000] [--quick]``

* Each model is trained by ``genjax.training.fit`` (Adam with cosine decay, batch 64) on 1,237 of
  the 1,437 training images; the other 200 are a validation split scored every ``--eval-every``
  steps, and the params with the best validation bits/dim are kept (early stopping: on 1,237 images
  the flows overfit, e.g. NICE with 5 x 256 couplings reached 1.5 train / 4.5 test bits/dim after
  5,000 steps). The kept params are evaluated on the test split with the dequantized log-likelihood
  averaged over ``--eval-draws`` noise draws per image: bits/dim, nats of the discrete data
  (``-log P(k)``) and nats of the continuous density on [0, 1]^64 (``log p(u)``, the scale of the
  NICE paper's tables).
* NICE keeps the paper's structure (4 additive couplings of 5-layer ReLU MLPs, diagonal scaling,
  logistic prior) at width 64, the width that generalised best of 64 / 128 / 256 on the validation
  split, with learning rate 3e-3 (the diagonal scaling must travel about 3 nats in log scale for the
  border pixels, and Adam moves it by about the learning rate per step).
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
from experiments.validation import BestParams
from genjax import training
from genjax.data import batching, digits, transforms
from genjax.models import flows

LEVELS = 17
BATCH = 64


VALIDATION = 200


def load_splits() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fit / validation / test digits as float32 [N, 8, 8, 1] in [-1, 1] on the 17-level grid; the
    validation images are a fixed random 200 of the training split."""
    out = []
    for split in ("train", "test"):
        images = digits.load_digits(split)["image"]
        out.append(np.asarray(transforms.to_symmetric(images, LEVELS), np.float32))
    perm = np.random.default_rng(0).permutation(len(out[0]))
    return out[0][perm[VALIDATION:]], out[0][perm[:VALIDATION]], out[1]


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
    config: flows.FlowConfig, x_fit: np.ndarray, x_val: np.ndarray, steps: int, lr: float, key,
    eval_every: int,
) -> tuple[dict, dict]:
    """Returns the params with the best validation bits/dim and ``{best_step, best_val_bits_per_dim,
    val_curve}``."""
    data = batching.epoch_batches({"image": x_fit}, BATCH, seed=0)
    optimizer = optax.chain(
        optax.clip_by_global_norm(100.0), optax.adam(optax.cosine_decay_schedule(lr, steps))
    )
    best = BestParams(
        lambda p: evaluate(config, p, x_val, 2, jax.random.PRNGKey(3))["test_bits_per_dim"], "val_bits_per_dim"
    )
    training.fit(
        flows.make_flow(config),
        optimizer,
        data,
        key=key,
        num_steps=steps,
        log_every=eval_every,
        checkpoint_every=steps,
        eval_fn=best,
        eval_every=eval_every,
        progress=False,
    )
    return best.params, {"best_val_bits_per_dim": best.value, "best_step": best.step, "val_curve": best.curve}


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
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--eval-every", type=int, default=250)
    parser.add_argument("--eval-draws", type=int, default=10)
    parser.add_argument(
        "--quick", action="store_true", help="a few steps, to check the script runs"
    )
    args = parser.parse_args(argv)
    steps, eval_every = (20, 10) if args.quick else (args.steps, args.eval_every)
    x_train, x_val, x_test = load_splits()
    models = {
        "nice": (dataclasses.replace(flows.NICE_DIGITS, hidden=(64,) * 5), 3e-3),
        "realnvp": (flows.REALNVP_DIGITS, 1e-3),
        "realnvp_glow_steps": (dataclasses.replace(flows.REALNVP_DIGITS, glow_steps=True), 1e-3),
    }
    results: dict = {
        "steps": steps,
        "batch": BATCH,
        "train_size": len(x_train),
        "validation_size": len(x_val),
        "test_size": len(x_test),
        "uniform_bits_per_dim": math.log2(LEVELS),
    }
    rows = []
    key = jax.random.PRNGKey(0)
    for name, (config, lr) in models.items():
        t0 = time.perf_counter()
        params, best = train(config, x_train, x_val, steps, lr, jax.random.fold_in(key, 1), eval_every)
        row = {"train_seconds": time.perf_counter() - t0, "learning_rate": lr, **best}
        row.update(evaluate(config, params, x_test, args.eval_draws, jax.random.fold_in(key, 2)))
        row.update(anomaly(config, params, x_test, jax.random.fold_in(key, 3)))
        flow = flows.make_flow_functions(config)
        for t in (1.0, 0.7):
            rows.append(
                (
                    f"{name} T={t}",
                    np.asarray(flow.sample(params, {}, jax.random.fold_in(key, 4), 10, t)),
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
