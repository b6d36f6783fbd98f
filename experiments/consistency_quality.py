"""Consistency models on digits (8x8, 17 levels) or Fashion-MNIST (28x28, 256 levels): FID of
distillation (CD) and improved consistency training (iCT) at 1 and 2 steps, beside the EDM teacher's
Heun sampler.

``python -m experiments.consistency_quality [--dataset digits|fashion_mnist]
[--teacher-workdir runs/diffusion_quality/DATASET] [--teacher-steps N] [--steps N] [--num-samples N]
[--models cd,ict] [--quick]`` (the flags every study shares: ``experiments/study.py``)

* Teacher: the class-conditional EDM model of ``experiments.diffusion_quality`` (same config and
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
  (``genjax.samplers.guidance.guided`` inside ``consistency_fn``), one step (sigma_max) and two
  steps (sigma_max, then ``MID_SIGMA``).
* FID under the dataset's shipped classifier against the test split; a sample grid per row.

Defaults: digits teacher 4,000 steps, students 3,000 steps, 1,000 samples; Fashion-MNIST teacher
500 steps (the diffusion study's default, so its run is restored), students 200 steps (a CD step
takes about 1.8 s on 2 idle CPU cores), 500 samples against the first 500 test images: about 15
minutes with the teacher restored; ``--quick``: 20 steps each, 50 samples. Writes ``report.json``
and ``report.md``.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from experiments import diffusion_quality as dq
from experiments import study
from experiments.grids import save_gallery
from genjax import training
from genjax.data import batching
from genjax.models import consistency, diffusion
from genjax.samplers import consistency as csamp

MID_SIGMA = 0.8
SCALES = (0.0, 1.0, 2.0)
DEFAULTS = {
    "digits": dict(teacher_steps=4000, steps=3000, num_samples=1000),
    "fashion_mnist": dict(teacher_steps=500, steps=200, num_samples=500, max_test=500),
    "quick": dict(teacher_steps=20, steps=20, num_samples=50),
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


def sample_student(config, params, sigmas: tuple[float, ...], scale: float, n: int, key) -> np.ndarray:
    labels = jnp.arange(n, dtype=jnp.int32) % config.num_classes
    f = consistency.consistency_fn(config, params, labels, guidance_scale=scale)
    fn = jax.jit(lambda k: csamp.multistep(k, f, (n,) + config.data_shape, jnp.asarray(sigmas), config.sigma_min))
    return np.clip(np.asarray(fn(key)), -1.0, 1.0)


def _scores(x: np.ndarray, data: study.StudyData, classifier, seconds: float, nfe: int) -> dict:
    s = study.score_images(x, data, classifier)
    keys = ("fid", "kid", "precision", "recall", "classes_covered")
    return {**{k: s[k] for k in keys}, "nfe": nfe, "sample_seconds": seconds}


def main(argv=None) -> dict:
    parser = study.argument_parser(__doc__, "consistency_quality")
    parser.add_argument("--teacher-workdir", default=None, help="default: runs/diffusion_quality/DATASET")
    parser.add_argument("--teacher-steps", type=int)
    parser.add_argument("--num-samples", type=int)
    args = study.parse_args(parser, argv, DEFAULTS)
    t_steps, steps, n = args.teacher_steps, args.steps, args.num_samples
    teacher_workdir = args.teacher_workdir or os.path.join("runs", "diffusion_quality", args.dataset)
    data = study.data_from_args(args)
    classifier = study.extractor(data.dataset)
    (x_train, y_train), (x_test, y_test) = dq.load_splits(data)
    key = jax.random.PRNGKey(args.seed)
    teacher_config = dq.model_config("edm", data)
    t0 = time.perf_counter()
    teacher = dq.train(teacher_config, x_train, y_train, t_steps, jax.random.fold_in(key, 1),
                       os.path.join(teacher_workdir, f"edm-{t_steps}"))
    results: dict = {**data.describe(), "teacher_steps": t_steps, "steps": steps, "batch": dq.BATCH,
                     "num_samples": n, "reference": f"{data.dataset} test ({len(x_test)})",
                     "mid_sigma": MID_SIGMA}
    results["teacher"] = {"train_or_restore_seconds": time.perf_counter() - t0}
    rows = []
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
        row: dict = {"train_seconds": time.perf_counter() - t0, "learning_rate": lr}
        for sigmas in ((config.sigma_max,), (config.sigma_max, MID_SIGMA)):
            for scale in SCALES:
                t0 = time.perf_counter()
                x = sample_student(config, state.ema_params, sigmas, scale, n, jax.random.fold_in(key, 5))
                label = f"{len(sigmas)}-step w={scale:g}"
                row[label] = _scores(x, data, classifier, time.perf_counter() - t0,
                                     len(sigmas) * (1 if scale == 1.0 else 2))
                rows.append((f"{name} {label}", x[:10]))
                print(name, label, row[label], file=sys.stderr)
        results[name] = row
    rows.append(("test data", x_test[:10]))
    results["samples_png"] = save_gallery(rows, os.path.join(args.workdir, "samples.png"),
                                          title=f"consistency models on {data.dataset}")
    return study.write_report(args, results)


if __name__ == "__main__":
    main(sys.argv[1:])
