"""PixelCNN, gated PixelCNN (softmax and logistic-mixture outputs) and a class-conditional gated
PixelCNN on digits (8x8, 17 levels) or Fashion-MNIST (28x28, 256 levels): exact test NLL, samples and
completions.

``python -m experiments.studies.pixelcnn_quality [--dataset digits|fashion_mnist] [--steps N] [--models a,b]
[--quick]`` (the flags every study shares: ``experiments/studies/study.py``)

* Each model is trained by ``genjax.training.fit`` (Adam with cosine decay, ``--batch``) on the
  training split less its validation slice (digits: 1,237 + 200; Fashion-MNIST: 55,000 + 5,000);
  the validation set is evaluated every ``--eval-every`` steps, and the params with the best
  validation NLL (early stopping: these models overfit 1,237 digits) are evaluated on the test split
  with the exact ``log_prob``: NLL in nats per image and bits/dim (``-log2 P(x) / D``) of the
  discrete data; the uniform model has ``log2(levels)`` bits/dim (4.09 digits, 8 Fashion-MNIST).
  The final params are reported too (``final_*``), and both on as many training images as test
  images (the gap). The conditional model reports ``-log P(x | label)``.
* Grids: unconditional samples, completions of test images given their top half, and one sample
  per class from the conditional model (``samples.png``).

Sizes: digits the four models of ``MODELS``, 1,000 steps of batch 64, validation every 100;
Fashion-MNIST the two unconditional gated models (32 features, 4 layers), 800 steps of batch 32,
validation every 200, the first 2,000 test images (a step takes about 0.5 s on 2 idle CPU cores: about
20 minutes in all); ``--quick``: 4 steps of 8-feature, 1-layer models. Writes ``report.json`` and
``report.md``.
"""

from __future__ import annotations

import math
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from experiments.grids import save_gallery
from experiments.studies import study
from experiments.validation import BestParams, fit_early_stopped
from genjax import training
from genjax.data import batching
from genjax.models import pixelcnn

EVAL_BATCH = 250
DEFAULTS = {
    "digits": dict(steps=1000, eval_every=100, batch=64),
    "fashion_mnist": dict(
        steps=800, eval_every=200, batch=32, max_test=2000, models="gated,gated_logistic_mixture"
    ),
    "quick": dict(steps=4, eval_every=2),
}
MODELS = {
    "pixelcnn": dict(variant="pixelcnn", features=64, num_layers=5),
    "gated": dict(variant="gated", features=32, num_layers=4),
    "gated_logistic_mixture": dict(
        variant="gated", features=32, num_layers=4, output="logistic_mixture"
    ),
    "gated_conditional": dict(variant="gated", features=32, num_layers=4, num_classes=10),
}


def train(
    config: pixelcnn.PixelCNNConfig,
    data: dict,
    val: dict,
    steps: int,
    lr: float,
    eval_every: int,
    key,
    batch: int = 64,
) -> tuple[training.TrainState, BestParams]:
    """Trains for ``steps`` and returns the final state and the params with the best validation
    NLL (evaluated every ``eval_every`` steps) with that NLL and its step."""
    return fit_early_stopped(
        pixelcnn.make_pixelcnn(config),
        optax.adam(optax.cosine_decay_schedule(lr, steps)),
        batching.epoch_batches(data, batch, seed=0),
        key=key,
        num_steps=steps,
        eval_every=eval_every,
        score=lambda p: -np.mean(log_probs(config, p, val)),
        name="val_nll_nats",
    )


def log_probs(config: pixelcnn.PixelCNNConfig, params, data: dict) -> np.ndarray:
    """Exact ``log P(x[, | label])`` per image, in batches of ``EVAL_BATCH``."""
    log_prob = jax.jit(pixelcnn.make_pixelcnn(config).log_prob)
    index = np.arange(len(data["image"]))
    batch = lambda i: {k: jnp.asarray(v[i]) for k, v in data.items()}
    return study.map_batches(lambda i: log_prob(params, {}, batch(i), None), index, EVAL_BATCH)


def evaluate(config: pixelcnn.PixelCNNConfig, params, data: dict) -> dict:
    lp = log_probs(config, params, data)
    dims = math.prod(config.data_shape)
    return {
        "nll_nats": float(-lp.mean()),
        "bits_per_dim": float(np.mean(pixelcnn.bits_per_dim(lp, dims))),
    }


def draw(config: pixelcnn.PixelCNNConfig, params, key, test_data: dict) -> tuple:
    """Ten samples (labels 0-9 for a conditional model), completions of the first ten test images
    given their top half, and the seconds both took (compile included)."""
    given = jnp.asarray(test_data["image"][:10])
    rows = config.data_shape[0] // 2
    t0 = time.perf_counter()
    if config.num_classes:
        labels = jnp.arange(10, dtype=jnp.int32)
        samples = jax.jit(pixelcnn.sample_conditional, static_argnums=0)(
            config, params, key, labels
        )
        done = pixelcnn.complete(
            config, params, key, given, rows, jnp.asarray(test_data["label"][:10])
        )
    else:
        model = pixelcnn.make_pixelcnn(config)
        samples = jax.jit(model.sample, static_argnums=3)(params, {}, key, 10)
        done = pixelcnn.complete(config, params, key, given, rows)
    seconds = time.perf_counter() - t0
    return np.asarray(samples), np.asarray(done), seconds


def main(argv=None) -> dict:
    parser = study.argument_parser(__doc__, "pixelcnn_quality")
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--batch", type=int)
    parser.add_argument("--eval-every", type=int, help="steps between validation scores")
    args = study.parse_args(parser, argv, DEFAULTS)
    names = study.select(args.models, list(MODELS))
    data = study.data_from_args(args)
    fit_data, val_data, test_data = (
        {"image": data.symmetric(s), "label": data.labels(s)} for s in ("fit", "validation", "test")
    )
    # The train-test gap on equally many images of each.
    train_eval = {k: v[: len(test_data["image"])] for k, v in fit_data.items()}
    results: dict = {
        **data.describe(),
        "steps": args.steps,
        "eval_every": args.eval_every,
        "batch": args.batch,
        "lr": args.lr,
        "uniform_bits_per_dim": math.log2(data.levels),
    }
    key = jax.random.PRNGKey(args.seed)
    given = test_data["image"][:10]
    rows = []
    for name in names:
        kwargs = dict(MODELS[name], **(dict(features=8, num_layers=1) if args.quick else {}))
        config = pixelcnn.PixelCNNConfig(data_shape=data.image_shape, levels=data.levels, **kwargs)
        t0 = time.perf_counter()
        state, best = train(
            config, fit_data, val_data, args.steps, args.lr, args.eval_every, jax.random.fold_in(key, 1),
            args.batch,
        )
        row = {
            "train_seconds": time.perf_counter() - t0,
            "params": sum(p.size for p in jax.tree.leaves(state.params)),
            "best_step": best.step,
            "best_val_nll_nats": best.value,
        }
        for prefix, params in (("", best.params), ("final_", state.params)):
            for split, split_data in (("test", test_data), ("train", train_eval)):
                for k, v in evaluate(config, params, split_data).items():
                    row[f"{prefix}{split}_{k}"] = v
        samples, done, seconds = draw(config, best.params, jax.random.fold_in(key, 4), test_data)
        row["sample_and_complete_10_seconds_with_compile"] = seconds
        rows.append((f"{name} (labels 0-9)" if config.num_classes else name, samples))
        rows.append((f"{name} completion", np.asarray(done)))
        results[name] = row
        print(name, row, file=sys.stderr)
    height = data.image_shape[0]
    rows.append(("test images", np.asarray(given)))
    rows.append(
        (
            "given rows (rest grey)",
            np.where(np.arange(height)[None, :, None, None] < height // 2, np.asarray(given), 0.0),
        )
    )
    results["samples_png"] = save_gallery(
        rows, f"{args.workdir}/samples.png", title=f"PixelCNN on {data.dataset}"
    )
    return study.write_report(args, results)


if __name__ == "__main__":
    main(sys.argv[1:])
