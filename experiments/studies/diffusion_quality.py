"""Class-conditional diffusion on digits (8x8, 17 levels) or Fashion-MNIST (28x28, 256 levels): FID
per sampler and guidance scale, and test bits/dim through the probability-flow ODE.

``python -m experiments.studies.diffusion_quality [--dataset digits|fashion_mnist] [--steps 4000]
[--num-samples 1000] [--quick]`` (the flags every study shares: ``experiments/studies/study.py``), or only
the likelihood calibration of a run trained by the CLI: ``python -m experiments.studies.diffusion_quality
--likelihood-run DIR [--likelihood-config NAME]``.

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
  trace, fixed Heun steps, refused when the Richardson error estimate exceeds 0.01 bits/dim), and
  the VP model's variational bound estimate.
* The EDM likelihood's convergence table (:func:`likelihood_convergence`): bits/dim on the test set
  at 8 / 16 / 32 / 64 / 128 Heun steps against the adaptive Dormand-Prince reference (rtol = atol =
  1e-5, as score_sde's RK45), each paired with the reference on the same dequantization noise and
  Hutchinson probes, over 3 seeds; the smallest step count within 0.01 bits/dim of it. (VP is left
  out: its denoiser snaps sigma to the nearest of T timesteps, a drift with T jumps that an adaptive
  solver would resolve one by one.)
* A sample grid per sampler (``samples.png``).

Defaults: digits both models, 4,000 steps, 1,000 samples, all 360 test images; Fashion-MNIST EDM
only, 500 steps (about 0.9 s each on 2 idle CPU cores), 500 samples, the first 500 test images as
the FID reference and for the likelihood: about 15 minutes, a demonstration rather than a converged
model (``--models vp,edm`` adds VP, whose DDPM-1000 alone takes about 25 minutes for 500 samples);
``--quick``: 20 steps, 50 samples. Writes ``report.json`` and ``report.md``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import time
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np
import optax

from experiments import run
from experiments.configs.unet import unet_fields
from experiments.families import diffusion as diffusion_family
from experiments.families.common import compiler_options
from experiments.grids import save_gallery
from experiments.studies import study
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
LIKELIHOOD_STEPS = (8, 16, 32, 64, 128)

BASE = diffusion.DiffusionConfig(
    data_shape=(8, 8, 1),
    base_channels=32,
    channel_mults=(1, 2),
    num_res_blocks=1,
    attention_resolutions=(4,),
    num_classes=10,
    label_dropout=0.1,
    levels=LEVELS,
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
    dims = math.prod(config.data_shape)
    log_prob = jax.jit(
        lambda x, k: diffusion.ode_likelihood(config, params, {"image": x}, k, error_estimate=True)
    )
    outs = [log_prob(jnp.asarray(x_test[i : i + 120]), jax.random.fold_in(key, i))
            for i in range(0, len(x_test), 120)]
    report = likelihood.likelihood_report(
        np.concatenate([np.asarray(o.log_prob) for o in outs]), dims,
        solver_error_nats=np.concatenate([np.asarray(o.error) for o in outs]),
        steps=config.likelihood_steps,
    )
    out = {f"ode_{k}": v for k, v in report.items()}
    if config.kind == "vp":
        model = diffusion.make_diffusion(config)
        batch = {"image": jnp.asarray(x_test), "label": jnp.asarray(y_test)}
        loss = jax.jit(lambda k: model.loss(params, {}, batch, k)[1][0]["nelbo_per_dim"])
        nelbo = np.mean([float(loss(k)) for k in jax.random.split(key, 32)])
        out["test_nelbo_bits_per_dim_estimate"] = float(nelbo / math.log(2.0))
    return out


def likelihood_convergence(
    config: diffusion.DiffusionConfig,
    params,
    x_test: np.ndarray,
    key,
    *,
    steps=LIKELIHOOD_STEPS,
    seeds: int = 3,
    rtol: float = 1e-5,
    atol: float = 1e-5,
    tolerance: float = 0.01,
    compiler_options: Optional[dict] = None,
) -> dict:
    """Test bits/dim of the EDM probability-flow ODE at each Heun step count against the adaptive
    Dormand-Prince reference (Song et al., 2021, sec. 4.3; Dormand & Prince, 1980), each solve
    compiled under XLA ``compiler_options``.

    Seed ``s`` takes the disjoint subset ``x_test[s::seeds]`` and its own key; the fixed grids and
    the reference see the same dequantization noise and Rademacher probes, so
    ``value - reference`` is discretization error alone, while the spread over seeds is that of
    Hutchinson's estimator, the dequantization and the test subset.

    Returns:
      ``{'reference': {...}, 'steps': {N: {...}}, 'chosen_steps': N or None}``; bits/dim are means
      over a subset, then mean and standard deviation over seeds. ``chosen_steps`` is the smallest
      N whose difference to the reference is within ``tolerance`` for every seed.
    """
    dims = math.prod(config.data_shape)

    def bpd(lp):
        return float(np.mean(likelihood.nats_to_bits_per_dim(-np.asarray(lp, np.float64), dims)))

    reference = jax.jit(lambda batch, k: diffusion.ode_likelihood_reference(
        config, params, batch, k, rtol=rtol, atol=atol), compiler_options=compiler_options)
    fixed = {n: jax.jit(lambda batch, k, n=n: diffusion.ode_likelihood(
        config, params, batch, k, steps=n, error_estimate=True), compiler_options=compiler_options)
        for n in steps}
    ref, nfe, rows = [], [], {n: [] for n in steps}
    for s in range(seeds):
        k, batch = jax.random.fold_in(key, s), {"image": jnp.asarray(x_test[s::seeds])}
        t0 = time.perf_counter()
        r = reference(batch, k)
        ref.append(bpd(r.log_prob))
        nfe.append(np.asarray(r.nfe))
        print(f"seed {s}: reference {ref[-1]:.4f} bits/dim, NFE mean {nfe[-1].mean():.0f} "
              f"max {nfe[-1].max()}, {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        for n in steps:
            out = fixed[n](batch, k)
            value = bpd(out.log_prob)
            # error = true - computed log p (nats): bits/dim(N) - bits/dim(true) = error / (D ln 2).
            estimate = float(np.mean(out.error)) / (dims * math.log(2.0))
            rows[n].append((value, value - ref[-1], estimate))
    nfe = np.concatenate(nfe)
    table = {
        "reference": {"solver": "dopri5", "rtol": rtol, "atol": atol, "examples": len(x_test),
                      "seeds": seeds, "bits_per_dim": float(np.mean(ref)),
                      "bits_per_dim_sd_over_seeds": float(np.std(ref)),
                      "nfe_mean": float(nfe.mean()), "nfe_max": int(nfe.max())},
        "steps": {},
    }
    chosen = None
    lines = [f"{'steps':>9} {'NFE':>6} {'bits/dim':>17} {'minus reference':>17} "
             f"{'Richardson est.':>16} {'reported':>9}"]
    for n in steps:
        v, d, e = (np.array(c) for c in zip(*rows[n], strict=True))
        reported = bool(np.all(np.abs(e) <= tolerance))
        table["steps"][n] = {
            "nfe": 2 * n, "bits_per_dim": float(v.mean()),
            "bits_per_dim_sd_over_seeds": float(v.std()),
            "minus_reference": float(d.mean()), "minus_reference_sd": float(d.std()),
            "richardson_estimate": float(e.mean()), "reported_at_tolerance": reported,
        }
        if chosen is None and np.all(np.abs(d) <= tolerance):
            chosen = n
        lines.append(f"{n:>9} {2 * n:>6} {v.mean():>9.4f} +- {v.std():.4f} {d.mean():>+9.4f} +- "
                     f"{d.std():.4f} {e.mean():>+16.4f} {'yes' if reported else 'refused':>9}")
    lines.append(f"{'dopri5':>9} {nfe.mean():>6.0f} {np.mean(ref):>9.4f} +- {np.std(ref):.4f}"
                 f"   (rtol = atol = {rtol:g}, NFE max {nfe.max()}, {len(x_test)} images in "
                 f"{seeds} seeds)")
    table["chosen_steps"] = chosen
    table["tolerance_bits_per_dim"] = tolerance
    print("\n".join(lines), file=sys.stderr)
    print(f"smallest step count within {tolerance} bits/dim of the reference: {chosen}",
          file=sys.stderr)
    return table


def calibrate_run(
    workdir: str, config_name: str = "diffusion_digits", num_examples: int = 360, **kwargs
) -> dict:
    """:func:`likelihood_convergence` of the EMA parameters of a run trained by
    ``experiments.main`` with ``experiments/configs/<config_name>.py``, on the first
    ``num_examples`` images of its test split (any dataset: 784-dim Fashion-MNIST as 64-dim digits),
    compiled under the config's ``sample.compiler_options`` as its evaluation is.
    """
    import importlib

    config = importlib.import_module(f"experiments.configs.{config_name}").get_config()
    spec, state = run.restore(config, workdir)
    params = state.eval_params
    x_test = np.asarray(spec.to_batch(run.load_split(config, "test"))["image"][:num_examples])
    mc = diffusion_family.model_config(config)
    return likelihood_convergence(mc, params, x_test, jax.random.PRNGKey(2),
                                  compiler_options=compiler_options(config.sample), **kwargs)


def main(argv=None) -> dict:
    parser = study.argument_parser(__doc__, "diffusion_quality")
    parser.add_argument("--num-samples", type=int)
    parser.add_argument("--likelihood-run", default="",
                        help="only the likelihood calibration of this CLI run's workdir")
    parser.add_argument("--likelihood-config", default="diffusion_digits")
    parser.add_argument("--likelihood-examples", type=int, default=360)
    parser.add_argument("--likelihood-seeds", type=int, default=3)
    parser.add_argument("--likelihood-steps", default=",".join(map(str, LIKELIHOOD_STEPS)),
                        help="comma-separated Heun step counts to set against the reference")
    args = study.parse_args(parser, argv, DEFAULTS)
    if args.likelihood_run:
        table = calibrate_run(args.likelihood_run, args.likelihood_config,
                              args.likelihood_examples, seeds=args.likelihood_seeds,
                              steps=tuple(int(n) for n in args.likelihood_steps.split(",")))
        print(json.dumps(table))
        return table
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
        if name == "edm":
            row["likelihood_convergence"] = likelihood_convergence(
                config, state.ema_params, x_test[:32] if args.quick else x_test,
                jax.random.fold_in(key, 4), **({"steps": (4, 8), "seeds": 1} if args.quick else {}),
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
