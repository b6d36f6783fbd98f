"""Class-conditional diffusion on digits (8x8, 17 levels) or Fashion-MNIST (28x28, 256 levels): FID
per sampler and guidance scale, and test bits/dim through the probability-flow ODE.

``python -m experiments.diffusion_quality [--dataset digits|fashion_mnist] [--steps 4000]
[--num-samples 1000] [--quick]`` (the flags every study shares: ``experiments/study.py``)

* Two models on the shared UNet of the dataset (``experiments/configs/unet.py``; digits: base 32,
  multipliers (1, 2), attention at 4 x 4; Fashion-MNIST: base 16, (1, 2, 2), attention at 7 x 7),
  class-conditional
  with 10% label dropout (Ho & Salimans, 2022), trained by ``genjax.training.fit`` (Adam 2e-3 with
  warm-up and cosine decay, batch 128, EMA 0.999): VP with the linear schedule and
  epsilon-prediction (Ho et al., 2020), and EDM (Karras et al., 2022).
* FID under the dataset's shipped classifier against the test split, for VP: DDPM 1,000 steps, DDIM
  50 / 20 / 10 steps; EDM: Heun 18 steps (35 evaluations); each at guidance scale 0 (the
  unconditional model), 1 (conditional) and 2 (guided), labels ``i mod 10``.
* Test bits/dim of both models from the probability-flow ODE (uniform dequantization, Hutchinson
  trace, fixed Heun steps), and the VP model's variational bound estimate.
* A sample grid per sampler (``samples.png``).

Defaults: digits both models, 4,000 steps, 1,000 samples, all 360 test images; Fashion-MNIST EDM
only, 500 steps (about 0.9 s each on 2 idle CPU cores), 500 samples, the first 500 test images as
the FID reference and for the likelihood: about 15 minutes, a demonstration rather than a converged
model (``--models vp,edm`` adds VP, whose DDPM-1000 alone takes about 25 minutes for 500 samples);
``--quick``: 20 steps, 50 samples. Writes ``report.json`` and ``report.md``.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from experiments import study
from experiments.configs.unet import unet_fields
from experiments.grids import save_gallery
from genjax import training
from genjax.data import batching
from genjax.metrics import likelihood
from genjax.models import diffusion
from genjax.samplers import diffusion as dsamp
from genjax.samplers import ode
from genjax.samplers.schedules import karras_sigmas, make_vp_schedule

LEVELS = 17
BATCH = 128
SCALES = (0.0, 1.0, 2.0)

BASE = diffusion.DiffusionConfig(
    data_shape=(8, 8, 1),
    base_channels=32,
    channel_mults=(1, 2),
    num_res_blocks=1,
    attention_resolutions=(4,),
    num_classes=10,
    label_dropout=0.1,
    levels=LEVELS,
    likelihood_steps=32,
)
MODELS = {
    "vp": dataclasses.replace(BASE, kind="vp", schedule="linear", prediction="eps"),
    "edm": dataclasses.replace(BASE, kind="edm"),
}
"""The two models as presets for 8x8 digits; :func:`model_config` shapes them for a dataset."""
DEFAULTS = {
    "digits": dict(steps=4000, num_samples=1000),
    "fashion_mnist": dict(models="edm", steps=500, num_samples=500, max_test=500),
    "quick": dict(steps=20, num_samples=50),
}
SAMPLERS = {
    "vp": (("ddpm", 1000), ("ddim", 50), ("ddim", 20), ("ddim", 10)),
    "edm": (("heun", 18),),
}


def load_splits(data: study.StudyData):
    """``[(x_train, y_train), (x_test, y_test)]``: images in [-1, 1] on the data's grid, labels."""
    return [(data.symmetric(split), data.labels(split)) for split in ("train", "test")]


def model_config(name: str, data: study.StudyData) -> diffusion.DiffusionConfig:
    """``MODELS[name]`` with the data's shape and levels and the dataset's UNet."""
    return dataclasses.replace(
        MODELS[name], data_shape=data.image_shape, levels=data.levels, **unet_fields(data.dataset)
    )


def train(config, x, y, steps: int, key, workdir: str | None = None) -> training.TrainState:
    """Trains (or, when ``workdir`` holds the finished run, restores) one model."""
    data = batching.epoch_batches({"image": x, "label": y}, BATCH, seed=0)
    lr = optax.warmup_cosine_decay_schedule(0.0, 2e-3, min(200, steps // 10 + 1), steps)
    return training.fit(
        diffusion.make_diffusion(config),
        optax.adam(lr),
        data,
        key=key,
        num_steps=steps,
        workdir=workdir,
        ema_decay=0.999,
        log_every=max(steps // 10, 1),
        checkpoint_every=steps,
        progress=False,
    )


def sample(config, params, kind: str, steps: int, scale: float, n: int, key) -> np.ndarray:
    labels = jnp.arange(n, dtype=jnp.int32) % config.num_classes
    config = dataclasses.replace(config, guidance_scale=scale)
    k_x, k_s = jax.random.split(key)
    x_T = jax.random.normal(k_x, (n,) + config.data_shape)
    if kind == "heun":
        sigmas = karras_sigmas(steps, config.sigma_min, config.sigma_max, config.rho)
        fn = lambda: ode.sample_heun(
            k_s, diffusion.denoiser(config, params, labels), sigmas[0] * x_T, sigmas
        )
    else:
        schedule = make_vp_schedule(config.schedule, config.num_timesteps)
        eps = diffusion.eps_fn(config, params, labels)
        if kind == "ddpm":
            fn = lambda: dsamp.sample_ddpm(k_s, eps, x_T, schedule)
        else:
            fn = lambda: dsamp.sample_ddim(k_s, eps, x_T, schedule, steps, clip_x0=1.0)
    return np.clip(np.asarray(jax.jit(fn)()), -1.0, 1.0)


def test_bits_per_dim(config, params, x_test: np.ndarray, y_test: np.ndarray, key) -> dict:
    model = diffusion.make_diffusion(config)
    log_prob = jax.jit(lambda x, k: model.log_prob(params, {}, {"image": x}, k))
    lp = np.concatenate(
        [
            np.asarray(log_prob(jnp.asarray(x_test[i : i + 120]), jax.random.fold_in(key, i)))
            for i in range(0, len(x_test), 120)
        ]
    )
    dims = math.prod(config.data_shape)
    out = {"test_ode_bits_per_dim": float(np.mean(likelihood.nats_to_bits_per_dim(-lp, dims)))}
    if config.kind == "vp":
        batch = {"image": jnp.asarray(x_test), "label": jnp.asarray(y_test)}
        loss = jax.jit(lambda k: model.loss(params, {}, batch, k)[1][0]["nelbo_per_dim"])
        nelbo = np.mean([float(loss(k)) for k in jax.random.split(key, 32)])
        out["test_nelbo_bits_per_dim_estimate"] = float(nelbo / math.log(2.0))
    return out


def main(argv=None) -> dict:
    parser = study.argument_parser(__doc__, "diffusion_quality")
    parser.add_argument("--num-samples", type=int)
    args = study.parse_args(parser, argv, DEFAULTS)
    steps, n = args.steps, args.num_samples
    data = study.data_from_args(args)
    classifier = study.extractor(data.dataset)
    (x_train, y_train), (x_test, y_test) = load_splits(data)
    results: dict = {
        **data.describe(),
        "steps": steps,
        "batch": BATCH,
        "num_samples": n,
        "reference": f"{data.dataset} test ({len(x_test)})",
        "uniform_bits_per_dim": math.log2(data.levels),
    }
    rows = []
    key = jax.random.PRNGKey(args.seed)
    for name in study.select(args.models, list(MODELS)):
        config = model_config(name, data)
        t0 = time.perf_counter()
        state = train(config, x_train, y_train, steps, jax.random.fold_in(key, 1),
                      os.path.join(args.workdir, f"{name}-{steps}"))
        row: dict = {"train_seconds": time.perf_counter() - t0}
        row.update(
            test_bits_per_dim(config, state.ema_params, x_test, y_test, jax.random.fold_in(key, 2))
        )
        for kind, k_steps in SAMPLERS[name]:
            scales = (1.0,) if kind == "ddpm" else SCALES
            for scale in scales:
                t0 = time.perf_counter()
                x = sample(
                    config, state.ema_params, kind, k_steps, scale, n, jax.random.fold_in(key, 3)
                )
                seconds = time.perf_counter() - t0
                scores = study.score_images(x, data, classifier)
                label = f"{kind}-{k_steps} w={scale:g}"
                row[label] = {
                    "fid": scores["fid"],
                    "kid": scores["kid"],
                    "precision": scores["precision"],
                    "recall": scores["recall"],
                    "classes_covered": scores["classes_covered"],
                    "sample_seconds": seconds,
                }
                rows.append((f"{name} {label}", x[:10]))
                print(name, label, row[label], file=sys.stderr)
        results[name] = row
    rows.append(("test data", x_test[:10]))
    results["samples_png"] = save_gallery(
        rows, os.path.join(args.workdir, "samples.png"), title=f"diffusion on {data.dataset}"
    )
    return study.write_report(args, results)


if __name__ == "__main__":
    main(sys.argv[1:])
