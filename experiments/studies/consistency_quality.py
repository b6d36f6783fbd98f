"""Consistency models on digits (8x8, 17 levels) or Fashion-MNIST (28x28, 256 levels): FID of
distillation (CD) and improved consistency training (iCT) at 1, 2 and 3 steps with greedily searched
sigmas, beside the EDM teacher's Heun sampler, and each student's error against the teacher's
probability-flow ODE across sigma.

``python -m experiments.studies.consistency_quality [--dataset digits|fashion_mnist]
[--teacher-workdir runs/diffusion_quality/DATASET] [--teacher-steps N] [--steps N] [--num-samples N]
[--search-samples N] [--error-examples N] [--error-steps N] [--compare-workdir DIR] [--models cd,ict]
[--quick]`` (the flags every study shares: ``experiments/studies/study.py``)

* Teacher: the class-conditional EDM model of ``experiments.studies.diffusion_quality`` (same config and
  seed), restored from ``TEACHER_WORKDIR/edm-STEPS`` when that run has finished, else trained there
  (the default teacher workdir is the diffusion study's for the dataset).
  Its FID with Heun 18 steps (35 network evaluations) is measured here on the same samples count.
* CD (Song et al., 2023): the student has the teacher's UNet and starts from the teacher's params;
  one Heun step between adjacent sigmas of an 18-point Karras grid, L2 distance, EMA target
  (mu = 0.95), labels dropped with the teacher's 10%.
* iCT (Song & Dhariwal, 2023): from a random init, pseudo-Huber, the exponential curriculum from 10
  to 1,280 sigmas over the run, log-normal index sampling, no EMA target.
* Both trained by ``genjax.training.fit`` (Adam, batch 128, an EMA of the params at 0.999 used for
  sampling) and sampled with labels ``i mod 10`` at guidance scales 0, 1 and 2
  (``genjax.samplers.guidance.guided`` inside ``consistency_fn``).
* Steps: sigma_max, then the sigmas ``genjax.samplers.consistency.greedy_sigmas`` picks one at a
  time (Song et al., 2023, appendix C) among ``run.SEARCH_DEFAULTS`` candidates (8 log-spaced in
  [0.05, 40]) by the FID of ``--search-samples`` conditional (w = 1) samples against the validation
  images (held-out training images, never the test split); rows at 1, 2 and 3 steps (the greedy
  prefixes).
* Error vs the teacher's ODE (``genjax.samplers.consistency.consistency_error``): for the first
  ``--error-examples`` validation images and ``ERROR_SIGMAS``, the RMS of ``f(x + s z, s)`` against
  the teacher's conditional PF-ODE solved from ``s`` to sigma_min by ``--error-steps`` Heun steps,
  and the teacher's own coarse (half the steps) vs fine RMS, which says whether the target is
  converged.
* FID under the dataset's shipped classifier against the test split; a sample grid per row.
* ``--compare-workdir DIR``: instead of training, the CD student and its teacher of an
  ``experiments.compare`` run in DIR (``consistency_DATASET``, ``diffusion_DATASET``) are restored
  and measured the same way (no teacher row; the comparison's models are unconditional, so one
  row per step count).

Defaults: digits teacher 4,000 steps, students 3,000 steps, 1,000 samples; Fashion-MNIST teacher
500 steps (the diffusion study's default, so its run is restored), students 200 steps (a CD step
takes about 1.8 s on 2 idle CPU cores), 500 samples against the first 500 test images: about 15
minutes with the teacher restored, plus the search (1 + 8 + at most 7 scores of 300 samples) and
the error table; ``--quick``: 20 steps each, 50 samples. Writes ``report.json`` and ``report.md``.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from experiments import compare, run
from experiments.families import consistency as consistency_family
from experiments.grids import save_gallery
from experiments.studies import diffusion_quality as dq
from experiments.studies import study
from genjax import training
from genjax.data import batching
from genjax.models import consistency, diffusion
from genjax.samplers import consistency as csamp

ERROR_SIGMAS = (0.01, 0.05, 0.2, 0.8, 2.0, 5.0, 20.0, 80.0)
SEARCH_STEPS = 3
SCALES = (0.0, 1.0, 2.0)
DEFAULTS = {
    "digits": dict(teacher_steps=4000, steps=3000, num_samples=1000, search_samples=300, error_examples=200,
                   error_steps=64),
    "fashion_mnist": dict(teacher_steps=500, steps=200, num_samples=500, max_test=500, search_samples=300,
                          error_examples=64, error_steps=32),
    "quick": dict(teacher_steps=20, steps=20, num_samples=50, search_samples=50, error_examples=16, error_steps=4),
}


def student_configs(teacher: diffusion.DiffusionConfig, steps: int) -> dict:
    cond_teacher = dataclasses.replace(teacher, guidance_scale=1.0)
    shared = dict(
        data_shape=teacher.data_shape,
        base_channels=teacher.base_channels,
        channel_mults=teacher.channel_mults,
        num_res_blocks=teacher.num_res_blocks,
        attention_resolutions=teacher.attention_resolutions,
        num_classes=teacher.num_classes,
        label_dropout=teacher.label_dropout,
        sigma_min=teacher.sigma_min,
        sigma_max=teacher.sigma_max,
        sigma_data=teacher.sigma_data,
        rho=teacher.rho,
    )
    return {
        "cd": consistency.ConsistencyConfig(
            objective="cd", num_scales=18, mu0=0.95, distance="l2",
            teacher_fn=lambda p, x, s, y: diffusion.denoiser(cond_teacher, p, y)(x, s), **shared,
        ),
        "ict": consistency.ConsistencyConfig(
            objective="ict", num_scales=10, max_scales=1280, total_steps=steps, **shared
        ),
    }


def train_student(config, teacher_params, x, y, steps: int, lr: float, key) -> training.TrainState:
    init = teacher_params if config.objective == "cd" else None
    model = consistency.make_consistency(config, teacher_params if config.objective == "cd" else None, init)
    data = batching.epoch_batches({"image": x, "label": y}, dq.BATCH, seed=1)
    schedule = optax.warmup_cosine_decay_schedule(0.0, lr, min(200, steps // 10 + 1), steps)
    return training.fit(model, optax.adam(schedule), data, key=key, num_steps=steps, ema_decay=0.999,
                        log_every=max(steps // 10, 1), progress=False)


@functools.partial(jax.jit, static_argnums=(0, 3))
def _draw(config, params, key, n: int, sigmas):
    return consistency.sample_with_sigmas(config, params, key, n, sigmas)


def sample_student(config, params, sigmas: tuple[float, ...], scale: float, n: int, key) -> np.ndarray:
    """``n`` samples over ``sigmas`` (traced: one compilation per length) with labels ``i mod K`` at
    guidance ``scale``, in [-1, 1]."""
    config = dataclasses.replace(config, guidance_scale=scale)
    return np.clip(np.asarray(_draw(config, params, key, n, jnp.asarray(sigmas, jnp.float32))), -1.0, 1.0)


def error_table(config, params, teacher: diffusion.DiffusionConfig, teacher_params, x, y, steps: int, key) -> dict:
    """``{sigma: {student_rms, teacher_coarse_vs_fine_rms}}`` of ``csamp.consistency_error`` on
    images ``x`` with labels ``y``, student and teacher both conditional (guidance scale 1)."""
    f = consistency.consistency_fn(config, params, jnp.asarray(y), guidance_scale=1.0)
    d = diffusion.denoiser(dataclasses.replace(teacher, guidance_scale=1.0), teacher_params, jnp.asarray(y))
    fn = jax.jit(lambda k, x: csamp.consistency_error(k, f, d, x, jnp.asarray(ERROR_SIGMAS), config.sigma_min,
                                                      num_steps=steps, rho=teacher.rho))
    out = jax.device_get(fn(key, jnp.asarray(x)))
    return {f"{s:g}": {"student_rms": float(a), "teacher_coarse_vs_fine_rms": float(b)}
            for s, a, b in zip(ERROR_SIGMAS, out.student_rms, out.teacher_rms, strict=True)}


def _scores(x: np.ndarray, data: study.StudyData, classifier, seconds: float, nfe: int) -> dict:
    s = study.score_images(x, data, classifier)
    keys = ("fid", "kid", "precision", "recall", "classes_covered")
    return {**{k: s[k] for k in keys}, "nfe": nfe, "sample_seconds": seconds}


def measure_student(name, config, params, teacher, teacher_params, data, classifier, args, key, rows) -> dict:
    """The error table, the greedy search on the validation images, and test FIDs at every greedy
    prefix and guidance scale; appends sample rows to ``rows``."""
    x_val, y_val = data.symmetric("validation"), data.labels("validation")
    m = min(args.error_examples, len(y_val))
    t0 = time.perf_counter()
    row: dict = {"error_vs_teacher_ode": error_table(config, params, teacher, teacher_params, x_val[:m], y_val[:m],
                                                     args.error_steps, jax.random.fold_in(key, 6))}
    row["error_seconds"] = time.perf_counter() - t0
    print(name, "error", row["error_vs_teacher_ode"], file=sys.stderr)
    t0 = time.perf_counter()
    draw = lambda sigmas: sample_student(config, params, sigmas, 1.0, args.search_samples, jax.random.fold_in(key, 7))
    candidates = run.SEARCH_DEFAULTS["search_candidates"]
    found = csamp.greedy_sigmas(run.fid_score(draw, x_val, classifier), candidates, SEARCH_STEPS, config.sigma_max)
    row["search"] = {"sigmas": list(found.sigmas), "validation_fids": list(found.scores),
                     "candidates": list(candidates), "samples": args.search_samples,
                     "reference": f"validation ({len(y_val)})", "trials": [[list(s), v] for s, v in found.trials],
                     "seconds": time.perf_counter() - t0}
    print(name, "search", found.sigmas, found.scores, file=sys.stderr)
    for k in range(1, len(found.sigmas) + 1):
        for scale in SCALES if config.num_classes else (1.0,):  # guidance needs a conditional model
            t0 = time.perf_counter()
            x = sample_student(config, params, found.sigmas[:k], scale, args.num_samples, jax.random.fold_in(key, 5))
            label = f"{k}-step w={scale:g}"
            row[label] = _scores(x, data, classifier, time.perf_counter() - t0, k * (1 if scale == 1.0 else 2))
            rows.append((f"{name} {label}", x[:10]))
            print(name, label, row[label], file=sys.stderr)
    return row


def restore_compare(workdir: str, dataset: str):
    """``(student config, student EMA params, teacher config, teacher params)`` of the CD student
    and its teacher trained by ``experiments.compare`` in ``workdir``."""
    config = compare.family_config("consistency", dataset, "quick", workdir)
    _, state = run.restore(config, f"{workdir}/consistency_{dataset}")
    mc, tc, teacher_params = consistency_family.model_config(config)
    params = state.eval_params
    return mc, jax.device_get(params), tc, teacher_params


def main(argv=None) -> dict:
    parser = study.argument_parser(__doc__, "consistency_quality")
    parser.add_argument("--teacher-workdir", default=None, help="default: runs/diffusion_quality/DATASET")
    parser.add_argument("--teacher-steps", type=int)
    parser.add_argument("--num-samples", type=int)
    parser.add_argument("--search-samples", type=int, help="samples per FID of the sigma search")
    parser.add_argument("--error-examples", type=int, help="validation images of the error table")
    parser.add_argument("--error-steps", type=int, help="Heun steps of the teacher's ODE solve (even)")
    parser.add_argument("--compare-workdir", default=None, help="measure the CD run of experiments.compare there")
    args = study.parse_args(parser, argv, DEFAULTS)
    t_steps, steps, n = args.teacher_steps, args.steps, args.num_samples
    data = study.data_from_args(args)
    classifier = study.extractor(data.dataset)
    (x_train, y_train), (x_test, y_test) = dq.load_splits(data)
    key = jax.random.PRNGKey(args.seed)
    results: dict = {**data.describe(), "num_samples": n, "reference": f"{data.dataset} test ({len(x_test)})",
                     "error_sigmas": list(ERROR_SIGMAS), "error_examples": args.error_examples,
                     "error_steps": args.error_steps}
    rows = []
    if args.compare_workdir:
        config, params, teacher_config, teacher_params = restore_compare(args.compare_workdir, data.dataset)
        results["compare_workdir"] = args.compare_workdir
        results["cd"] = measure_student("cd", config, params, teacher_config, teacher_params, data, classifier, args,
                                        key, rows)
    else:
        teacher_workdir = args.teacher_workdir or os.path.join("runs", "diffusion_quality", args.dataset)
        teacher_config = dq.model_config("edm", data)
        t0 = time.perf_counter()
        teacher = dq.train(teacher_config, x_train, y_train, t_steps, jax.random.fold_in(key, 1),
                           os.path.join(teacher_workdir, f"edm-{t_steps}"))
        results.update(teacher_steps=t_steps, steps=steps, batch=dq.BATCH)
        results["teacher"] = {"train_or_restore_seconds": time.perf_counter() - t0}
        for scale in SCALES:
            t0 = time.perf_counter()
            x = dq.sample(teacher_config, teacher.ema_params, "heun", 18, scale, n, jax.random.fold_in(key, 3))
            results["teacher"][f"heun-18 w={scale:g}"] = _scores(x, data, classifier, time.perf_counter() - t0,
                                                                35 * (1 if scale == 1.0 else 2))
            rows.append((f"teacher heun-18 w={scale:g}", x[:10]))
            print("teacher", scale, results["teacher"][f"heun-18 w={scale:g}"], file=sys.stderr)
        teacher_params = jax.device_get(teacher.ema_params)
        configs = student_configs(teacher_config, steps)
        for name in study.select(args.models, list(configs)):
            config = configs[name]
            t0 = time.perf_counter()
            lr = 2e-4 if name == "cd" else 1e-3
            state = train_student(config, teacher_params, x_train, y_train, steps, lr, jax.random.fold_in(key, 4))
            row = {"train_seconds": time.perf_counter() - t0, "learning_rate": lr}
            params = jax.device_get(state.ema_params)
            row.update(measure_student(name, config, params, teacher_config, teacher_params, data, classifier, args,
                                       key, rows))
            results[name] = row
    rows.append(("test data", x_test[:10]))
    results["samples_png"] = save_gallery(rows, os.path.join(args.workdir, "samples.png"),
                                          title=f"consistency models on {data.dataset}")
    return study.write_report(args, results)


if __name__ == "__main__":
    main(sys.argv[1:])
