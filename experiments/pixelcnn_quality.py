"""PixelCNN, gated PixelCNN (softmax and logistic-mixture outputs) and a class-conditional gated
PixelCNN on the 8x8 digits (17 levels): exact test NLL, samples and completions.

``python -m experiments.pixelcnn_quality [--workdir DIR] [--steps 1000] [--models a,b] [--quick]``

* Each model is trained by ``genjax.training.fit`` (Adam with cosine decay, batch 64) on 90% of
  the training split (1,437 images); the other 10% is a validation set evaluated every
  ``--eval-every`` steps, and the params with the best validation NLL (early stopping: these
  models overfit 1,300 images) are evaluated on the test split (360 images) with the exact
  ``log_prob``: NLL in nats per image and bits/dim (``-log2 P(x) / 64``) of the discrete 17-level
  data; the uniform model has ``log2(17) = 4.09`` bits/dim. The final params are reported too
  (``final_*``). The conditional model reports ``-log P(x | label)``.
* Grids: unconditional samples, completions of test digits given their top 4 rows, and one sample
  per class from the conditional model (``samples.png``).

Prints one JSON line with every number at the end.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from experiments.grids import save_gallery
from experiments.validation import BestParams
from genjax import training
from genjax.data import batching, digits, transforms
from genjax.models import pixelcnn

LEVELS = 17
BATCH = 64
MODELS = {
    "pixelcnn": dict(variant="pixelcnn", features=64, num_layers=5),
    "gated": dict(variant="gated", features=32, num_layers=4),
    "gated_logistic_mixture": dict(
        variant="gated", features=32, num_layers=4, output="logistic_mixture"
    ),
    "gated_conditional": dict(variant="gated", features=32, num_layers=4, num_classes=10),
}


def load_split(split: str) -> dict:
    raw = digits.load_digits(split)
    return {
        "image": np.asarray(transforms.to_symmetric(raw["image"], LEVELS)),
        "label": raw["label"],
    }


def split_validation(data: dict, fraction: float, seed: int = 0) -> tuple[dict, dict]:
    """A fixed random ``fraction`` of the training split held out for early stopping."""
    order = np.random.default_rng(seed).permutation(len(data["image"]))
    n_val = int(round(fraction * len(order)))
    return (
        {k: v[order[n_val:]] for k, v in data.items()},
        {k: v[order[:n_val]] for k, v in data.items()},
    )


def train(
    config: pixelcnn.PixelCNNConfig,
    data: dict,
    val: dict,
    steps: int,
    lr: float,
    eval_every: int,
    key,
) -> tuple[training.TrainState, BestParams]:
    """Trains for ``steps`` and returns the final state and the params with the best validation
    NLL (evaluated every ``eval_every`` steps) with that NLL and its step."""
    model = pixelcnn.make_pixelcnn(config)
    val_log_prob = jax.jit(model.log_prob)
    val_batch = jax.tree.map(jnp.asarray, val)
    best = BestParams(lambda p: -jnp.mean(val_log_prob(p, {}, val_batch, None)), "val_nll_nats")

    state = training.fit(
        model,
        optax.adam(optax.cosine_decay_schedule(lr, steps)),
        batching.epoch_batches(data, BATCH, seed=0),
        key=key,
        num_steps=steps,
        log_every=eval_every,
        checkpoint_every=steps,
        eval_fn=best,
        eval_every=eval_every,
        progress=False,
    )
    return state, best


def evaluate(config: pixelcnn.PixelCNNConfig, params, data: dict) -> dict:
    model = pixelcnn.make_pixelcnn(config)
    lp = np.asarray(jax.jit(model.log_prob)(params, {}, jax.tree.map(jnp.asarray, data), None))
    dims = math.prod(config.data_shape)
    return {
        "nll_nats": float(-lp.mean()),
        "bits_per_dim": float(np.mean(pixelcnn.bits_per_dim(lp, dims))),
    }


def draw(config: pixelcnn.PixelCNNConfig, params, key, test_data: dict) -> tuple:
    """Ten samples (labels 0-9 for a conditional model), completions of the first ten test digits
    given their top 4 rows, and the seconds both took (compile included)."""
    given = jnp.asarray(test_data["image"][:10])
    t0 = time.perf_counter()
    if config.num_classes:
        labels = jnp.arange(10, dtype=jnp.int32)
        samples = jax.jit(pixelcnn.sample_conditional, static_argnums=0)(
            config, params, key, labels
        )
        done = pixelcnn.complete(
            config, params, key, given, 4, jnp.asarray(test_data["label"][:10])
        )
    else:
        model = pixelcnn.make_pixelcnn(config)
        samples = jax.jit(model.sample, static_argnums=3)(params, {}, key, 10)
        done = pixelcnn.complete(config, params, key, given, 4)
    seconds = time.perf_counter() - t0
    return np.asarray(samples), np.asarray(done), seconds


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="runs/pixelcnn_quality")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--val-fraction", type=float, default=0.1)
    parser.add_argument(
        "--models", default=",".join(MODELS), help=f"comma-separated subset of {list(MODELS)}"
    )
    parser.add_argument(
        "--quick", action="store_true", help="a few steps of small models, to check the script runs"
    )
    args = parser.parse_args(argv)
    names = args.models.split(",")
    unknown = sorted(set(names) - set(MODELS))
    if unknown:
        raise ValueError(f"unknown models {unknown}; valid: {list(MODELS)}")
    steps = 4 if args.quick else args.steps
    eval_every = 2 if args.quick else args.eval_every
    train_data, test_data = load_split("train"), load_split("test")
    fit_data, val_data = split_validation(train_data, args.val_fraction)
    results: dict = {
        "steps": steps,
        "eval_every": eval_every,
        "batch": BATCH,
        "lr": args.lr,
        "train_size": len(fit_data["image"]),
        "validation_size": len(val_data["image"]),
        "test_size": len(test_data["image"]),
        "uniform_bits_per_dim": math.log2(LEVELS),
    }
    key = jax.random.PRNGKey(0)
    given = test_data["image"][:10]
    rows = []
    for name in names:
        kwargs = dict(MODELS[name], **(dict(features=8, num_layers=1) if args.quick else {}))
        config = pixelcnn.PixelCNNConfig(data_shape=(8, 8, 1), levels=LEVELS, **kwargs)
        t0 = time.perf_counter()
        state, best = train(
            config, fit_data, val_data, steps, args.lr, eval_every, jax.random.fold_in(key, 1)
        )
        row = {
            "train_seconds": time.perf_counter() - t0,
            "params": sum(p.size for p in jax.tree.leaves(state.params)),
            "best_step": best.step,
            "best_val_nll_nats": best.value,
        }
        for prefix, params in (("", best.params), ("final_", state.params)):
            for split, data in (("test", test_data), ("train", fit_data)):
                for k, v in evaluate(config, params, data).items():
                    row[f"{prefix}{split}_{k}"] = v
        samples, done, seconds = draw(config, best.params, jax.random.fold_in(key, 4), test_data)
        row["sample_and_complete_10_seconds_with_compile"] = seconds
        rows.append((f"{name} (labels 0-9)" if config.num_classes else name, samples))
        rows.append((f"{name} completion", np.asarray(done)))
        results[name] = row
        print(name, json.dumps(row), file=sys.stderr)
    rows.append(("test digits", np.asarray(given)))
    rows.append(
        (
            "given rows (rest grey)",
            np.where(np.arange(8)[None, :, None, None] < 4, np.asarray(given), 0.0),
        )
    )
    results["samples_png"] = save_gallery(
        rows, os.path.join(args.workdir, "samples.png"), title="PixelCNN on digits"
    )
    print(json.dumps(results))
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
