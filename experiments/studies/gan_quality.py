"""GAN stability and mode collapse, measured: eight Gaussians and images (digits or Fashion-MNIST).

``python -m experiments.studies.gan_quality [--dataset digits|fashion_mnist] [--toy-steps 3000] [--steps N]
[--only toy|images] [--models a,b] [--quick]`` (the flags every study shares: ``experiments/studies/study.py``)

* Eight Gaussians (MLP G/D, batch 256, ``--toy-seeds`` seeds each): the plain non-saturating loss,
  the hinge loss and WGAN-GP (lambda 0.1, 5 critic steps, as in Gulrajani et al.'s toy code), and two
  settings of the non-saturating loss that fail (5 discriminator steps per generator step; Adam with
  b1 = 0.9); EMA decay 0.99. Every
  ``--eval-every`` steps: modes covered (a mode counts with >= 2% of 2,000 samples within 3 std of
  its centre) and the share of high-quality samples (within 3 std of some centre). The trajectory
  shows mode hopping, not only the end point. The toy part does not depend on ``--dataset``.
* Images (DCGAN with two upsamplings, 2x2 -> 8x8 or 7x7 -> 28x28, batch 64, Adam): the plain
  non-saturating DCGAN with BatchNorm and no tricks, the hinge loss with a spectrally normalised
  discriminator, WGAN-GP (LayerNorm critic, 5 critic steps), each sampled from the raw and the EMA
  generator (decay 0.99). Every ``--eval-every`` steps: the class histogram of 1,000 samples under
  the dataset's shipped classifier (entropy, classes with >= 1%); at the end FID / KID / precision /
  recall under the same classifier's features, 1,000 samples against the test split (the
  provenance string says so), and sample grids.

Losses and gradient norms of both players are logged every step by the train step; the last values
are in the report. Defaults: digits both parts, 3,000 image steps; Fashion-MNIST the image part
only, 1,500 steps (about 15 minutes on 2 idle CPU cores, 0.6 s of each 1 s of steps is WGAN-GP's five
critic steps with the gradient penalty); ``--quick``: 200 steps, one toy seed. Writes
``report.json`` and ``report.md``.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time

import jax
import numpy as np
import optax

from experiments.grids import save_gallery, save_grid
from experiments.studies import study
from genjax import training
from genjax.data import batching, toy
from genjax.metrics.modes import class_histogram_stats, mode_coverage
from genjax.models import gan

TOY_BATCH, IMAGE_BATCH = 256, 64
TOY_EMA, IMAGE_EMA = 0.99, 0.99
DEFAULTS = {
    "digits": dict(steps=3000),
    "fashion_mnist": dict(steps=1500, only="images"),
    "quick": dict(toy_steps=200, steps=200, eval_every=200, toy_seeds=1),
}


def _adam(lr: float, b1: float, b2: float):
    tx = optax.adam(lr, b1=b1, b2=b2)
    return {"gen": tx, "disc": tx}


TOY_RUNS = {
    "nonsaturating": (
        dataclasses.replace(gan.NONSATURATING_2D, hidden=(64, 64, 64)),
        _adam(2e-3, 0.5, 0.9),
    ),
    "hinge": (dataclasses.replace(gan.HINGE_2D, hidden=(64, 64, 64)), _adam(2e-3, 0.5, 0.9)),
    "wgan_gp": (dataclasses.replace(gan.WGAN_GP_2D, hidden=(64, 64, 64)), _adam(1e-3, 0.5, 0.9)),
    # Two ways the plain loss goes wrong: five discriminator steps per generator step (the generator
    # chases a discriminator that is always ahead and drops modes) and Adam's default b1 = 0.9
    # (momentum makes the two-player dynamics oscillate instead of converge).
    "nonsaturating_5d": (
        dataclasses.replace(gan.NONSATURATING_2D, n_critic=5),
        _adam(1e-3, 0.5, 0.999),
    ),
    "nonsaturating_b1_0.9": (gan.NONSATURATING_2D, _adam(1e-3, 0.9, 0.999)),
}
IMAGE_RUNS = {
    "nonsaturating_plain": (gan.DCGAN_DIGITS, _adam(2e-4, 0.5, 0.999)),
    "hinge_sn": (gan.HINGE_SN_DIGITS, _adam(2e-4, 0.0, 0.9)),
    "wgan_gp": (gan.WGAN_GP_DIGITS, _adam(1e-4, 0.0, 0.9)),
    # The two settings that break the plain loss on eight Gaussians, on images.
    "nonsaturating_5d": (dataclasses.replace(gan.DCGAN_DIGITS, n_critic=5), _adam(2e-4, 0.5, 0.999)),
    "nonsaturating_b1_0.9": (gan.DCGAN_DIGITS, _adam(1e-3, 0.9, 0.999)),
}
"""The image runs as presets for 8x8 digits; :func:`image_experiment` sets the data shape."""


def _trainer(model, opt, data, key, ema):
    """``train(state, n) -> (state, metrics [n])``: ``n`` steps in one compiled ``lax.scan`` over
    the stacked step-indexed batches (one dispatch per evaluation interval)."""
    step = training.make_train_step(model, opt, ema_decay=ema)
    run = jax.jit(lambda state, batches: jax.lax.scan(lambda s, b: step(s, b, key), state, batches))

    def train(state, n):
        start = int(state.step)
        batches = jax.tree.map(
            lambda *xs: np.stack(xs), *[data(s) for s in range(start, start + n)]
        )
        return run(state, batches)

    return train


def toy_experiment(name, steps, eval_every, seed=0):
    config, opt = TOY_RUNS[name]
    model = gan.make_gan(config)
    key = jax.random.PRNGKey(seed)
    data_key = jax.random.PRNGKey(seed + 1)

    def data(s):
        return {
            "x": np.asarray(
                toy.sample_toy("eight_gaussians", jax.random.fold_in(data_key, s), TOY_BATCH)
            )
        }

    state = training.create_train_state(model, opt, key, data(0), ema_decay=TOY_EMA)
    train = _trainer(model, opt, data, key, TOY_EMA)
    trajectory, t0 = [], time.time()
    for _ in range(steps // eval_every):
        state, metrics = train(state, eval_every)
        row = {"step": int(state.step)}
        for which, params in (("raw", state.params), ("ema", state.ema_params)):
            x = model.sample(params, state.model_state, jax.random.PRNGKey(123), 2000)
            mc = mode_coverage(
                x, toy.EIGHT_GAUSSIANS_CENTERS, toy.EIGHT_GAUSSIANS_STD, min_share=0.02
            )
            row[f"modes_{which}"], row[f"hq_{which}"] = (
                mc.modes_covered,
                round(mc.high_quality_share, 3),
            )
        row.update({k: round(float(v[-1]), 4) for k, v in metrics.items()})
        trajectory.append(row)
        print(f"toy {name}: {row}", flush=True)
    return {
        "seconds": round(time.time() - t0, 1),
        "trajectory": trajectory,
        "final_modes_ema": trajectory[-1]["modes_ema"],
        "final_hq_ema": trajectory[-1]["hq_ema"],
        "min_modes_raw_after_first": min(r["modes_raw"] for r in trajectory[1:])
        if len(trajectory) > 1
        else None,
    }


def image_experiment(name, steps, eval_every, classifier, data: study.StudyData, workdir, seed=0):
    config, opt = IMAGE_RUNS[name]
    config = dataclasses.replace(config, data_shape=data.image_shape)
    model = gan.make_gan(config)
    key = jax.random.PRNGKey(seed)
    batches = batching.epoch_batches({"image": data.symmetric("train")}, IMAGE_BATCH, seed)
    state = training.create_train_state(model, opt, key, batches(0), ema_decay=IMAGE_EMA)
    sample = jax.jit(model.sample, static_argnums=3)
    train = _trainer(model, opt, batches, key, IMAGE_EMA)
    trajectory, t0 = [], time.time()
    for _ in range(steps // eval_every):
        state, metrics = train(state, eval_every)
        row = {"step": int(state.step)}
        for which, params in (("raw", state.params), ("ema", state.ema_params)):
            x = np.asarray(sample(params, state.model_state, jax.random.PRNGKey(7), 1000))
            hist = class_histogram_stats(classifier.apply(x)[1])
            row[f"classes_{which}"], row[f"entropy_{which}"] = (
                hist.classes_covered,
                round(hist.entropy, 3),
            )
        row.update({k: round(float(v[-1]), 4) for k, v in metrics.items()})
        trajectory.append(row)
        print(f"{data.dataset} {name}: {row}", file=sys.stderr, flush=True)
    out = {"seconds": round(time.time() - t0, 1), "trajectory": trajectory}
    grids = []
    for which, params in (("raw", state.params), ("ema", state.ema_params)):
        x = np.asarray(sample(params, state.model_state, jax.random.PRNGKey(11), 1000))
        scores = study.score_images(x, data, classifier)
        hist = class_histogram_stats(classifier.apply(x)[1])
        scores["class_shares"] = [round(float(s), 3) for s in hist.shares]
        out[which] = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in scores.items()}
        grids.append((f"{name} ({which})", x[:20]))
        save_grid(x[:100], os.path.join(workdir, f"{data.dataset}_{name}_{which}.png"), ncol=10)
    return out, grids


def main(argv=None) -> dict:
    parser = study.argument_parser(__doc__, "gan_quality")
    parser.add_argument("--toy-steps", type=int, default=3000)
    parser.add_argument("--eval-every", type=int, default=500)
    parser.add_argument("--toy-seeds", type=int, default=3, help="eight-Gaussians runs per setting")
    parser.add_argument("--only", choices=("toy", "images"), default=None)
    args = study.parse_args(parser, argv, DEFAULTS)
    names = study.select(args.models, list(TOY_RUNS) + [n for n in IMAGE_RUNS if n not in TOY_RUNS])
    results: dict = {}
    if args.only in (None, "toy"):
        toy_results = {}
        for name in (n for n in TOY_RUNS if n in names):
            per_seed = [toy_experiment(name, args.toy_steps, args.eval_every, seed)
                        for seed in range(args.seed, args.seed + args.toy_seeds)]
            toy_results[name] = {
                "final_modes_ema_per_seed": [r["final_modes_ema"] for r in per_seed],
                "final_hq_ema_per_seed": [r["final_hq_ema"] for r in per_seed],
                "runs": per_seed,
            }
        results["toy"] = toy_results
    if args.only in (None, "images"):
        data = study.data_from_args(args)
        classifier = study.extractor(data.dataset)
        gallery = [("data (test)", data.symmetric("test")[:20])]
        image_results = {}
        for name in (n for n in IMAGE_RUNS if n in names):
            image_results[name], grids = image_experiment(
                name, args.steps, args.eval_every, classifier, data, args.workdir, args.seed
            )
            gallery += grids
        results[data.dataset] = image_results
        results["data"] = data.describe()
        results["samples_png"] = save_gallery(
            gallery, os.path.join(args.workdir, "samples.png"), ncol=20
        )
        results["classifier"] = {"name": classifier.name, "test_accuracy": classifier.test_accuracy}
    return study.write_report(args, results)


if __name__ == "__main__":
    main(sys.argv[1:])
