"""GAN stability and mode collapse, measured: eight Gaussians and the 8x8 digits.

``python -m experiments.gan_quality [--workdir runs/gan_quality] [--toy-steps 3000]
[--digits-steps 3000] [--only toy|digits] [--quick]``

* Eight Gaussians (MLP G/D, batch 256, ``--toy-seeds`` seeds each): the plain non-saturating loss,
  the hinge loss and WGAN-GP (lambda 0.1, 5 critic steps, as in Gulrajani et al.'s toy code), and two
  settings of the non-saturating loss that fail (5 discriminator steps per generator step; Adam with
  b1 = 0.9); EMA decay 0.99. Every
  ``--eval-every`` steps: modes covered (a mode counts with >= 2% of 2,000 samples within 3 std of
  its centre) and the share of high-quality samples (within 3 std of some centre). The trajectory
  shows mode hopping, not only the end point.
* Digits (DCGAN 8x8, batch 64, Adam): the plain non-saturating DCGAN with BatchNorm and no tricks,
  the hinge loss with a spectrally normalised discriminator, WGAN-GP (LayerNorm critic, 5 critic
  steps), each sampled from the raw and the EMA generator (decay 0.99). Every ``--eval-every``
  steps: the class histogram of 1,000 samples under the shipped digits classifier (entropy, classes
  with >= 1%); at the end FID / KID / precision / recall under the same classifier's features,
  1,000 samples against the 360-image test split (the provenance string says so), and sample grids.

Losses and gradient norms of both players are logged every step by the train step; the last values
are in the JSON. Prints one JSON line with every number at the end and writes it to
``<workdir>/results.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time

import jax
import numpy as np
import optax

from experiments.grids import save_gallery, save_grid
from genjax import training
from genjax.data import batching, digits, toy, transforms
from genjax.metrics.evaluation import evaluate_images
from genjax.metrics.features import digits_features
from genjax.metrics.modes import class_histogram_stats, mode_coverage
from genjax.models import gan

TOY_BATCH, DIGITS_BATCH = 256, 64
TOY_EMA, DIGITS_EMA = 0.99, 0.99


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
DIGITS_RUNS = {
    "nonsaturating_plain": (gan.DCGAN_DIGITS, _adam(2e-4, 0.5, 0.999)),
    "hinge_sn": (gan.HINGE_SN_DIGITS, _adam(2e-4, 0.0, 0.9)),
    "wgan_gp": (gan.WGAN_GP_DIGITS, _adam(1e-4, 0.0, 0.9)),
    # The two settings that break the plain loss on eight Gaussians, on digits.
    "nonsaturating_5d": (dataclasses.replace(gan.DCGAN_DIGITS, n_critic=5), _adam(2e-4, 0.5, 0.999)),
    "nonsaturating_b1_0.9": (gan.DCGAN_DIGITS, _adam(1e-3, 0.9, 0.999)),
}


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


def digits_experiment(name, steps, eval_every, classifier, train_images, test, workdir, seed=0):
    config, opt = DIGITS_RUNS[name]
    model = gan.make_gan(config)
    key = jax.random.PRNGKey(seed)
    data = batching.epoch_batches({"image": train_images}, DIGITS_BATCH, seed)
    state = training.create_train_state(model, opt, key, data(0), ema_decay=DIGITS_EMA)
    sample = jax.jit(model.sample, static_argnums=3)
    train = _trainer(model, opt, data, key, DIGITS_EMA)
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
        print(f"digits {name}: {row}", flush=True)
    out = {"seconds": round(time.time() - t0, 1), "trajectory": trajectory}
    grids = []
    for which, params in (("raw", state.params), ("ema", state.ema_params)):
        x = np.asarray(sample(params, state.model_state, jax.random.PRNGKey(11), 1000))
        scores = evaluate_images(
            x, test, reference_name="digits test split (360)", extractor=classifier
        )
        hist = class_histogram_stats(classifier.apply(x)[1])
        scores["class_shares"] = [round(float(s), 3) for s in hist.shares]
        out[which] = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in scores.items()}
        grids.append((f"{name} ({which})", x[:20]))
        save_grid(x[:100], os.path.join(workdir, f"digits_{name}_{which}.png"), ncol=10)
    return out, grids


def _selected(runs: dict, names: str) -> list[str]:
    wanted = [n for n in names.split(",") if n]
    unknown = [n for n in wanted if n not in TOY_RUNS and n not in DIGITS_RUNS]
    if unknown:
        raise SystemExit(f"unknown runs {unknown}; valid: {sorted(set(TOY_RUNS) | set(DIGITS_RUNS))}")
    return [n for n in runs if not wanted or n in wanted]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="runs/gan_quality")
    parser.add_argument("--toy-steps", type=int, default=3000)
    parser.add_argument("--digits-steps", type=int, default=3000)
    parser.add_argument("--eval-every", type=int, default=500)
    parser.add_argument("--toy-seeds", type=int, default=3, help="eight-Gaussians runs per setting")
    parser.add_argument(
        "--quick", action="store_true", help="a few hundred steps, to check the script runs"
    )
    parser.add_argument("--only", choices=("toy", "digits"), default=None)
    parser.add_argument("--runs", default="", help="comma-separated run names (default: all)")
    args = parser.parse_args(argv)
    if args.quick:
        args.toy_steps = args.digits_steps = args.eval_every = 200
    os.makedirs(args.workdir, exist_ok=True)
    results = {"toy": {}, "digits": {}}
    if args.only in (None, "toy"):
        for name in _selected(TOY_RUNS, args.runs):
            per_seed = [toy_experiment(name, args.toy_steps, args.eval_every, seed) for seed in range(args.toy_seeds)]
            results["toy"][name] = {
                "final_modes_ema_per_seed": [r["final_modes_ema"] for r in per_seed],
                "final_hq_ema_per_seed": [r["final_hq_ema"] for r in per_seed],
                "runs": per_seed,
            }
    if args.only in (None, "digits"):
        classifier = digits_features()
        train, test = (
            np.asarray(
                transforms.to_symmetric(digits.load_digits(s)["image"], digits.NUM_LEVELS),
                np.float32,
            )
            for s in ("train", "test")
        )
        gallery = [("data (test)", test[:20])]
        for name in _selected(DIGITS_RUNS, args.runs):
            results["digits"][name], grids = digits_experiment(
                name, args.digits_steps, args.eval_every, classifier, train, test, args.workdir
            )
            gallery += grids
        results["digits_gallery"] = save_gallery(
            gallery, os.path.join(args.workdir, "samples.png"), ncol=20
        )
        results["classifier"] = {"name": classifier.name, "test_accuracy": classifier.test_accuracy}
    with open(os.path.join(args.workdir, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    print(json.dumps(results))
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
