"""NICE and RealNVP on digits (8x8, 17 levels) or Fashion-MNIST (28x28, 256 levels): test bits/dim,
samples, anomaly scores.

``python -m experiments.studies.flows_quality [--dataset digits|fashion_mnist] [--steps N] [--quick]``
(the flags every study shares: ``experiments/studies/study.py``; report in ``runs/flows_quality/DATASET``)

* Each model is trained by ``genjax.training.fit`` (Adam with cosine decay, batch 64) on the training
  split less its validation slice (digits: 1,237 + 200; Fashion-MNIST: 55,000 + 5,000); the
  validation images are scored every ``--eval-every`` steps and the params with the best validation
  bits/dim are kept (early stopping: on 1,237 digits the flows overfit, e.g. NICE with 5 x 256
  couplings reached 1.5 train / 4.5 test bits/dim after 5,000 steps). The kept params are evaluated
  on the test split with the dequantized log-likelihood averaged over ``--eval-draws`` noise draws
  per image: bits/dim, nats of the discrete data (``-log P(k)``) and nats of the continuous density
  on [0, 1]^D (``log p(u)``, the scale of the NICE paper's tables).
* NICE keeps the paper's structure (4 additive couplings of 5-layer ReLU MLPs, diagonal scaling,
  logistic prior); on digits at width 64, the width that generalised best of 64 / 128 / 256 on the
  validation split, with learning rate 3e-3 (the diagonal scaling must travel about 3 nats in log
  scale for the border pixels, and Adam moves it by about the learning rate per step); on
  Fashion-MNIST at width 256 (the paper's 1,000 is beyond a CPU budget), also at 3e-3: the scaling
  has further to go there (after 300 steps NICE was at 9.37 bits/dim, 9.79 at 1e-3, both worse than
  the uniform 8).
* RealNVP: two scales; residual coupling networks of 32 channels and 2 blocks on digits, 16
  channels and 1 block on Fashion-MNIST; also with Glow's ActNorm + 1x1 convolution steps.
* Sample grids at temperatures 1.0 and 0.7 (``samples.png``).
* Anomaly detection with ``Flow.score`` (deterministic log-likelihood per example): held-out test
  images against uniform-noise images, inverted images (``x -> -x``), grayscale patches of the
  photographs bundled with scikit-learn averaged down to the image size, and images rotated by 90
  degrees. Reported as the mean score of each set and the AUROC of "held-out image vs other" (1.0:
  every test image scores above every outlier; 0.5: no separation).

Per-dataset defaults: digits 4,000 steps, validation every 250, all 360 test images; Fashion-MNIST
1,500 steps, validation every 250, the first 2,000 test images (a RealNVP step takes about 0.2 s on 2
idle CPU cores: about 15 minutes in all); ``--quick``: 20 steps of tiny networks (on 300 / 100
Fashion-MNIST images). Writes ``report.json`` and ``report.md``.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from sklearn.metrics import roc_auc_score

from experiments.grids import save_gallery
from experiments.studies import study
from experiments.validation import fit_early_stopped
from genjax.data import batching
from genjax.models import flows

BATCH = 64
EVAL_BATCH = 500
DEFAULTS = {
    "digits": dict(steps=4000, eval_every=250),
    "fashion_mnist": dict(steps=1500, eval_every=250, max_test=2000),
    "quick": dict(steps=20, eval_every=10, eval_draws=2),
}


def model_configs(data: study.StudyData, quick: bool = False) -> dict[str, tuple[flows.FlowConfig, float]]:
    """The evaluated flows with their learning rates, shaped for ``data`` (``quick``: tiny widths)."""
    shape, levels = data.image_shape, data.levels
    if data.dataset == "digits":
        nice = dataclasses.replace(flows.NICE_DIGITS, hidden=(64,) * 5)
        realnvp = flows.REALNVP_DIGITS
    else:
        nice = dataclasses.replace(flows.NICE_MNIST, hidden=(256,) * 5)
        realnvp = dataclasses.replace(flows.REALNVP_DIGITS, conv_features=16, num_blocks=1)
    nice = dataclasses.replace(nice, data_shape=shape, num_levels=levels)
    realnvp = dataclasses.replace(realnvp, data_shape=shape, num_levels=levels)
    if quick:
        nice = dataclasses.replace(nice, hidden=(16, 16))
        realnvp = dataclasses.replace(realnvp, conv_features=8, num_blocks=1)
    return {
        "nice": (nice, 3e-3),
        "realnvp": (realnvp, 1e-3),
        "realnvp_glow_steps": (dataclasses.replace(realnvp, glow_steps=True), 1e-3),
    }


def photo_patches(n: int, shape: tuple[int, int, int], levels: int, seed: int = 0) -> np.ndarray:
    """Random crops of scikit-learn's sample photographs, 4x the image size, averaged down to
    ``shape`` in grayscale and quantized to ``levels``, in [-1, 1]."""
    from sklearn.datasets import load_sample_images

    h, w, _ = shape
    rng = np.random.default_rng(seed)
    photos = [img.mean(axis=-1) / 255.0 for img in load_sample_images().images]
    out = []
    for i in range(n):
        p = photos[i % len(photos)]
        r, c = rng.integers(0, p.shape[0] - 4 * h), rng.integers(0, p.shape[1] - 4 * w)
        small = p[r : r + 4 * h, c : c + 4 * w].reshape(h, 4, w, 4).mean(axis=(1, 3))
        out.append(np.round(small * (levels - 1)) / (levels - 1) * 2.0 - 1.0)
    return np.asarray(out, np.float32)[..., None]


def train(
    config: flows.FlowConfig, x_fit: np.ndarray, x_val: np.ndarray, steps: int, lr: float, key,
    eval_every: int,
) -> tuple[dict, dict]:
    """Returns the params with the best validation bits/dim and ``{best_step, best_val_bits_per_dim,
    val_curve}``."""
    optimizer = optax.chain(
        optax.clip_by_global_norm(100.0), optax.adam(optax.cosine_decay_schedule(lr, steps))
    )
    _, best = fit_early_stopped(
        flows.make_flow(config),
        optimizer,
        batching.epoch_batches({"image": x_fit}, BATCH, seed=0),
        key=key,
        num_steps=steps,
        eval_every=eval_every,
        score=lambda p: evaluate(config, p, x_val, 2, jax.random.PRNGKey(3))["test_bits_per_dim"],
        name="val_bits_per_dim",
    )
    return best.params, {"best_val_bits_per_dim": best.value, "best_step": best.step, "val_curve": best.curve}


def evaluate(config: flows.FlowConfig, params, x_test: np.ndarray, draws: int, key) -> dict:
    flow = flows.make_flow_functions(config)
    log_prob = jax.jit(lambda x, k: flow.log_prob(params, {}, {"image": x}, k))
    lp = np.mean(
        [study.map_batches(lambda x, k=k: log_prob(jnp.asarray(x), k), x_test, EVAL_BATCH)
         for k in jax.random.split(key, draws)],
        axis=0,
    )
    d = config.dim
    return {
        "test_bits_per_dim": float(np.mean(flows.bits_per_dim(lp, d))),
        "test_nll_nats": float(-np.mean(lp)),
        "test_log_p_unit_cube_nats": float(np.mean(flows.nats_on_unit_cube(lp, d, config.num_levels))),
    }


def anomaly(config: flows.FlowConfig, params, x_test: np.ndarray, key) -> dict:
    flow = flows.make_flow_functions(config)
    score_fn = jax.jit(lambda x: flow.score(params, {}, x))
    score = lambda x: study.map_batches(lambda b: score_fn(jnp.asarray(b)), x, EVAL_BATCH)
    n, levels = x_test.shape[0], config.num_levels
    noise = 2.0 * jax.random.randint(key, x_test.shape, 0, levels) / (levels - 1) - 1.0
    sets = {
        "uniform_noise": np.asarray(noise, np.float32),
        "inverted_images": -x_test,
        "photo_patches": photo_patches(n, x_test.shape[1:], levels),
        "rotated_images": np.rot90(x_test, axes=(1, 2)).copy(),
    }
    inlier = score(x_test)
    out = {"mean_score_test_images": float(inlier.mean())}
    for name, x in sets.items():
        s = score(x)
        labels = np.r_[np.ones(n), np.zeros(len(s))]
        out[f"mean_score_{name}"] = float(np.mean(s))
        out[f"auroc_{name}"] = float(roc_auc_score(labels, np.r_[inlier, s]))
    return out


def main(argv=None) -> dict:
    parser = study.argument_parser(__doc__, "flows_quality")
    parser.add_argument("--eval-every", type=int, help="steps between validation scores")
    parser.add_argument("--eval-draws", type=int, default=10, help="dequantization draws per test image")
    args = study.parse_args(parser, argv, DEFAULTS)
    data = study.data_from_args(args)
    x_train, x_val, x_test = (data.symmetric(s) for s in ("fit", "validation", "test"))
    configs = model_configs(data, args.quick)
    results: dict = {
        **data.describe(),
        "steps": args.steps,
        "batch": BATCH,
        "uniform_bits_per_dim": math.log2(data.levels),
    }
    rows = []
    key = jax.random.PRNGKey(args.seed)
    for name in study.select(args.models, list(configs)):
        config, lr = configs[name]
        t0 = time.perf_counter()
        params, best = train(
            config, x_train, x_val, args.steps, lr, jax.random.fold_in(key, 1), args.eval_every
        )
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
        print(name, row, file=sys.stderr)
    rows.append(("test data", x_test[:10]))
    results["samples_png"] = save_gallery(
        rows, f"{args.workdir}/samples.png", title=f"flows on {data.dataset}"
    )
    return study.write_report(args, results)


if __name__ == "__main__":
    main(sys.argv[1:])
