"""The comparison of the eight families in ten rows (RBM and DBM; flow matching and latent diffusion
beside EDM):
``python -m experiments.compare --workdir DIR [--dataset digits|fashion_mnist]
[--budget smoke|quick|default|long]``.

Trains every family (and latent diffusion, after its autoencoder stage) on one dataset through the same ``run.train`` / ``run.evaluate`` as the CLI, then
writes ``DIR/report.md``, ``DIR/report.json`` and ``DIR/samples.png`` (a gallery, one row per
family). Each row: parameters, training steps and time, network evaluations per sample, seconds per
1,000 samples, FID / KID / precision / recall / coverage under the dataset's shipped classifier
against the test split (binary families against the binarized test images), the test likelihood in
the papers' units (bits/dim of the stored 8-bit pixels for the continuous families, nats per image of
the binarized images for RBM and DBM) with its kind (exact, bound, estimate), and the training
stability signals (loss variance over the last half, classes covered by the classifier).

A rerun with the same ``--workdir`` resumes: a family whose evaluation is written is not redone, and
a family whose training was cut off resumes from its last checkpoint (every tenth of its steps). A row
judged by another feature extractor than today's (a retrained classifier) has its saved samples
rescored. A row records the configs it was made with, its own and those of the runs it starts from
(the consistency model's teacher, the latent model's autoencoder): a change of its ``eval`` or
``sample`` fields is evaluated again without training, a change of its training resumes first
(``run.train`` refuses one that alters the objective or shapes), and a changed teacher or
autoencoder is refused, naming the keys, since the row's training started from the old one.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import math
import os
import re
import sys
import time
from typing import Any

import jax
import numpy as np

from experiments import grids, run
from genjax import training
from genjax.training.checkpoint import RESUMABLE_KEYS, config_differences

FAMILIES = ("rbm", "dbm", "vae", "gan", "flow", "pixelcnn", "diffusion", "flow_matching", "consistency", "ldm")
DATASETS = ("digits", "fashion_mnist")
# Fractions of each config's num_steps. The Fashion-MNIST configs' steps are sized from the quick run
# of 2026-11-27 on 2 CPU cores (seconds per step: RBM 0.006, DBM 0.025, VAE 0.25, GAN 0.06, RealNVP
# 0.25, PixelCNN 0.56, EDM 0.41, CD 0.76) so that `default` trains for about 95 minutes and
# evaluates (1,000 samples, likelihoods) for about 30. `quick` at a quarter of the steps and half the
# likelihood subsets took 33.3 and 32.5 min on Fashion-MNIST (2026-11-28, 2 idle cores; the second
# trained 10% slower and ran its likelihoods compiled), over its 30-minute target: hence a fifth of the
# steps and a quarter of the subsets.
BUDGETS = {"smoke": 0.005, "quick": 0.2, "default": 1.0, "long": 4.0}
EVAL_SAMPLES = {"smoke": 100, "quick": 500, "default": 1000, "long": 2000}
# The share of a config's ``eval.likelihood_examples`` (a costly likelihood: IWAE, the ODE) per budget.
LIKELIHOOD_SHARE = {"smoke": 0.1, "quick": 0.25, "default": 1.0, "long": 2.0}
DATASET_NOTES = {
    "digits": "Digits (8x8, 17 levels; 1,437 train / 360 test)",
    "fashion_mnist": "Fashion-MNIST (28x28, 256 levels; 60,000 train / 10,000 test)",
}


def label(config) -> str:
    """The family's row label, from its config."""
    m = config.model
    if config.family == "rbm":
        return f"RBM ({m.num_hidden} hidden, {'PCD' if m.persistent else 'CD'}-{m.cd_steps})"
    if config.family == "dbm":
        return f"DBM ({', '.join(map(str, m.hidden))})"
    if config.family == "vae":
        prior = "fitted Gaussian prior" if m.get("prior") == "gaussian" else "N(0, I) prior"
        return f"VAE ({m.architecture}, {m.likelihood}, {prior}, decoder {m.get('sample_output', 'mean')})"
    if config.family == "gan":
        return f"GAN ({m.loss}{', SN' if m.get('spectral_norm') else ''})"
    if config.family == "flow":
        return {"realnvp": "RealNVP", "nice": "NICE"}.get(m.architecture, m.architecture)
    if config.family == "pixelcnn":
        return f"PixelCNN ({m.variant})"
    if config.family == "diffusion":
        sampler = f"Heun-{m.sample_steps}" if m.kind == "edm" else f"DDIM-{m.sample_steps}"
        return f"Diffusion ({m.kind.upper()}, {sampler})"
    if config.family == "flow_matching":
        times = ", logit-normal t" if m.get("time_sampling") == "logit_normal" else ""
        return f"Flow matching (linear path{times}, {m.sampler.capitalize()}-{m.sample_steps})"
    if config.family == "consistency":
        searched = config.eval.get("search_sigmas", 0)
        steps = searched or len(m.sample_sigmas)
        how = ", greedy sigmas" if searched and steps > 1 else ""
        return f"Consistency ({m.objective.upper()}, {steps} step{'s' if steps > 1 else ''}{how})"
    if config.family == "ldm":
        return f"Latent diffusion (EDM, Heun-{m.sample_steps})"
    raise ValueError(f"unknown family {config.family!r}; valid choices: {list(FAMILIES)}")


STAGES = ("teacher", "autoencoder")
"""The runs a family can start from: its config names each one's config (``<stage>_config``) and
directory (``<stage>_workdir``, which :func:`family_config` puts inside the comparison's workdir)."""


def family_config(family: str, dataset: str, budget: str, workdir: str):
    """The family's config on ``dataset`` with its steps scaled by the budget, checkpoints every tenth
    of the run (so a rerun resumes), and the budget's sample count (and share of a costly
    likelihood's test subset)."""
    if budget not in BUDGETS:
        raise ValueError(f"unknown budget {budget!r}; valid choices: {list(BUDGETS)}")
    config = importlib.import_module(f"experiments.configs.{family}_{dataset}").get_config()
    steps = max(int(config.train.num_steps * BUDGETS[budget]) // 10 * 10, 10)
    _scale_decay(config.optimizer, steps / config.train.num_steps)
    config.train.num_steps = steps
    config.train.checkpoint_every = max(steps // 10, 10)
    config.train.log_every = 10
    config.eval.num_samples = EVAL_SAMPLES[budget]
    if config.eval.get("likelihood_examples", 0):
        # A costly likelihood (IWAE, ODE) runs on a subset of the test images, which scales with the
        # budget (its standard error is reported with it).
        config.eval.likelihood_examples = max(int(config.eval.likelihood_examples * LIKELIHOOD_SHARE[budget]), 10)
    for stage in STAGES:
        if f"{stage}_workdir" in config:
            config[f"{stage}_workdir"] = os.path.join(workdir, config[f"{stage}_config"])
    return config


def _scale_decay(optimizer, factor: float) -> None:
    """Scales a learning-rate decay (``decay_steps``, and its warmup with it) by the budget's factor, so
    that a rate that decays to 0 at the end of a config's run does so at the end of a shorter one."""
    groups = optimizer.values() if all(hasattr(v, "keys") for v in optimizer.values()) else [optimizer]
    for group in groups:
        if group.get("decay_steps"):
            group.decay_steps = max(round(group.decay_steps * factor), 2)
            if group.get("warmup_steps"):
                group.warmup_steps = min(round(group.warmup_steps * factor), group.decay_steps - 1)


def _train_stage(family: str, dataset: str, budget: str, workdir: str) -> None:
    """Trains a stage that another family restores and that has no row of its own (the latent
    model's autoencoder), with the same budget scaling."""
    config = family_config(family, dataset, budget, workdir)
    run.train(config, os.path.join(workdir, f"{family}_{dataset}"), progress=False)


def train_seconds(family_dir: str) -> float:
    """Training wall time from ``metrics.jsonl`` (the sum of each logged window's steps over its steps
    per second; a resumed run's rewritten rows count once)."""
    rows = {}
    for line in open(os.path.join(family_dir, "metrics.jsonl")):
        row = json.loads(line)
        rows[int(row["step"])] = row
    total, previous = 0.0, 0
    for step in sorted(rows):
        total += (step - previous) / rows[step]["steps_per_sec"]
        previous = step
    return total


def loss_variance(family_dir: str) -> float:
    rows = [json.loads(line) for line in open(os.path.join(family_dir, "metrics.jsonl"))]
    losses = [r.get("loss", r.get("loss/gen")) for r in rows[len(rows) // 2:]]
    losses = [float(v) for v in losses if isinstance(v, (int, float))]
    return float(np.var(losses)) if losses else math.nan


def _num_params(state) -> int:
    return int(sum(np.size(x) for x in jax.tree.leaves(state.params)))


# A stage's (teacher's, autoencoder's) step count is resumable for the stage itself, but a student
# trained from its 4,000-step weights is not the student of its 8,000-step ones.
STAGE_IGNORED_KEYS = RESUMABLE_KEYS - {"num_steps"}


def stage_configs(config, dataset: str, budget: str, workdir: str) -> dict[str, dict]:
    """The training configs (``eval`` and ``sample`` left out) of the runs ``config`` starts from:
    ``{'teacher_config': {...}}`` for a distilled consistency model, ``{'autoencoder_config': {...}}``
    for latent diffusion, ``{}`` for the others."""
    stages = {}
    for key in (f"{stage}_config" for stage in STAGES):
        if key in config:
            stage = family_config(config[key].split("_")[0], dataset, budget, workdir).to_dict()
            stages[key] = {k: v for k, v in stage.items() if k not in EVALUATION_SECTIONS}
    return stages


EVALUATION_SECTIONS = ("eval", "sample")
"""The config sections that a trained run's evaluation reads and its training does not."""


def _row(config, family_dir: str, stages: dict[str, dict]) -> dict[str, Any]:
    """Trains (or resumes) and evaluates one family; the row is cached in ``family_dir/row.json``
    with the configs it was made with (``config`` and its ``stages``, see ``stage_configs``).
    ``eval_seconds`` is the evaluation's wall time (sampling, features, likelihood): with
    ``train_seconds`` it adds up a budget's cost across resumed sessions.

    Raises:
      run.RunError: when the cached row was trained from a teacher or autoencoder whose config has
        changed since (the message names the keys and the directory to remove).
    """
    cached = os.path.join(family_dir, "row.json")
    own = config.to_dict()
    # A row of an earlier version records no configs: it is evaluated again, after resuming.
    retrain = True
    if os.path.exists(cached):
        with open(cached) as f:
            row = json.load(f)
        recorded = row.get("configs")
        if recorded is not None:
            for key, stage in stages.items():
                diffs = config_differences(recorded["stages"].get(key, stage), stage, STAGE_IGNORED_KEYS)
                if diffs:
                    raise run.RunError(
                        f"{family_dir} was trained from a {key.removesuffix('_config')} whose config has "
                        f"changed since, in {diffs}: remove {family_dir} to train it again from the new one"
                    )
            # A moved workdir moves its stages' directories; the stages themselves were compared above.
            changed = config_differences(recorded["own"], own, ignore=[f"{stage}_workdir" for stage in STAGES])
            if not changed:
                if row.get("extractor") != run.extractor_id(run.features_for(config)):
                    # Judged by another feature extractor (a retrained classifier): the saved samples
                    # are rescored, not drawn again.
                    row.update(run.rescore(config, family_dir))
                    run.write_json(cached, row)
                return row
            retrain = any(k.split(".")[0] not in EVALUATION_SECTIONS for k in changed)
    if retrain:  # resumes, or refuses a change of the objective or shapes (ConfigMismatchError)
        run.train(config, family_dir, progress=False)
    start = time.perf_counter()
    result = run.evaluate(config, family_dir)
    eval_seconds = time.perf_counter() - start
    _, state = run.restore(config, family_dir)
    row = {
        "family": label(config),
        "config": f"{config.family}_{config.dataset}",
        "params": _num_params(state),
        "train_steps": config.train.num_steps,
        "batch_size": config.train.batch_size,
        "train_seconds": train_seconds(family_dir),
        "eval_seconds": eval_seconds,
        "loss_variance_last_half": loss_variance(family_dir),
        **result,
        "configs": {"own": own, "stages": stages},
    }
    run.write_json(cached, row)
    return row


def compare(
    workdir: str, budget: str = "quick", only: tuple[str, ...] = (), dataset: str = "digits"
) -> dict[str, Any]:
    """Trains, samples and evaluates every family (or those in ``only``) on ``dataset``; returns the
    report dict.

    Raises:
      ValueError: for an unknown dataset, budget or family name (listing the valid ones).
    """
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; valid choices: {list(DATASETS)}")
    unknown = sorted(set(only) - set(FAMILIES))
    if unknown:
        raise ValueError(f"unknown families {unknown}; valid choices: {list(FAMILIES)}")
    families = [f for f in FAMILIES if not only or f in only]
    for family in list(families):  # a run another family starts from (its teacher) trains first
        teacher = family_config(family, dataset, budget, workdir).get("teacher_config", "").split("_")[0]
        if teacher and teacher not in families:
            families.insert(families.index(family), teacher)
    from tqdm.auto import tqdm

    rows, gallery = [], []
    bar = tqdm(families, desc="families", dynamic_ncols=True)
    for family in bar:
        config = family_config(family, dataset, budget, workdir)
        bar.set_description(f"{label(config)}")
        family_dir = os.path.join(workdir, f"{family}_{dataset}")
        row_stage = {}
        if "autoencoder_config" in config:
            stage = config.autoencoder_config.split("_")[0]
            _train_stage(stage, dataset, budget, workdir)
            row_stage = {"stage_train_seconds": train_seconds(os.path.join(workdir, f"{stage}_{dataset}"))}
        stages = stage_configs(config, dataset, budget, workdir)
        rows.append({**_row(config, family_dir, stages), **row_stage})
        spec, state = run.restore(config, family_dir)
        state = run.evaluation_state(config, spec, state, rows[-1].get("weights", "raw"))
        if "sample_sigmas" in rows[-1]:  # the schedule the evaluation searched
            spec = run.with_sigmas(spec, tuple(rows[-1]["sample_sigmas"]))
        gallery.append((label(config), run._draw(spec, state, jax.random.PRNGKey(123), 10)))
    report = {
        "date": datetime.date.today().isoformat(),
        "dataset": dataset,
        "budget": budget,
        "backend": jax.default_backend(),
        "devices": jax.device_count(),
        "rows": rows,
    }
    os.makedirs(workdir, exist_ok=True)
    with open(os.path.join(workdir, "report.json"), "w") as f:
        json.dump(report, f, indent=2, default=float)
    with open(os.path.join(workdir, "report.md"), "w") as f:
        f.write(markdown_table(report))
    grids.save_gallery(gallery, os.path.join(workdir, "samples.png"))
    return report


def _fmt(v: Any, spec: str = ".3g") -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return format(v, spec) if isinstance(v, (int, float)) else str(v)


def _likelihood_cell(r: dict[str, Any]) -> str:
    """Bits/dim for models of the stored levels, nats per image for models of binarized images; an ODE
    likelihood whose solver error exceeds its tolerance is shown as refused, with that error."""
    if r.get("likelihood_refused"):
        return f"refused (solver error {r['likelihood_solver_error_bits_per_dim']:.3f} bits/dim)"
    if r.get("test_nll_nats") is None:
        return "-"
    if r.get("reference") == "binarized":
        return f"{r['test_nll_nats']:.1f} nats"
    return f"{r['test_bits_per_dim']:.3f} bits/dim"


def _other_fid(r: dict[str, Any]) -> str:
    """The FID of the weights the row does not sample (``raw 41.2`` beside an EMA row), ``-`` for a
    family that keeps no average."""
    others = {k: v for k, v in r.get("by_weights", {}).items() if k != r.get("weights")}
    return "; ".join(f"{k} {_fmt(v.get('fid'))}" for k, v in others.items()) or "-"


def markdown_table(report: dict[str, Any]) -> str:
    """The comparison as a markdown table (one row per family) and a note naming the data, the
    extractor, the sample counts and the reference split."""
    head = (
        "| family | params | steps x batch | train s | eval s | NFE/sample | s / 1k samples | FID | FID other weights | KID | precision "
        "| recall | coverage | classes covered | test likelihood | kind | loss var |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for r in report["rows"]:
        lines.append(
            f"| {r['family']} | {r['params']:,} | {r['train_steps']:,} x {r.get('batch_size', '-')} "
            f"| {_fmt(r['train_seconds'], '.0f')} | {_fmt(r.get('eval_seconds'), '.0f')} | {r.get('nfe', '-')} "
            f"| {_fmt(r.get('sample_seconds_per_1000'), '.2f')} | {_fmt(r.get('fid'))} | {_other_fid(r)} | {_fmt(r.get('kid'))} "
            f"| {_fmt(r.get('precision'), '.2f')} | {_fmt(r.get('recall'), '.2f')} "
            f"| {_fmt(r.get('coverage'), '.2f')} | {_fmt(r.get('classes_covered'))} | {_likelihood_cell(r)} "
            f"| {r.get('likelihood', 'none')} | {_fmt(r.get('loss_variance_last_half'))} |"
        )
    # Each row's provenance starts with its own figure ("FID 386 (...)"); the note states the rest once.
    provenance = sorted({re.sub(r"^FID \S+ \((.*)\)$", r"\1", r.get("fid_provenance", "")) for r in report["rows"]} - {""})
    extractors = sorted({r["extractor"] for r in report["rows"] if r.get("extractor")})
    binary = [r["family"] for r in report["rows"] if r.get("reference") == "binarized"]
    examples = sorted({r["likelihood_examples"] for r in report["rows"] if r.get("likelihood_examples")})
    note = (
        f"\n{DATASET_NOTES[report['dataset']]}, budget `{report['budget']}`, {report['backend']} "
        f"x{report['devices']}, {report['date']}. FID/KID/precision/recall/coverage: "
        f"{'; '.join(provenance)} (k = 5 neighbours"
        + (f"; extractor: {', '.join(extractors)}" if extractors else "")
        + "). "
        + ("Samples come from the parameter average (its model state recomputed for it) unless a row's "
           "`eval.weights` says `raw`; 'FID other weights' scores the other set the same way. "
           if any("by_weights" in r for r in report["rows"]) else
           "Samples come from the parameter average, a fixed-decay EMA started at step 0 (before the "
           "average's ramp-up). ")
        + "These are not Inception FIDs and are not comparable "
        "with other papers' FIDs. "
        + (f"{', '.join(binary)} are judged against the binarized test images (threshold 0.5) and their "
           "likelihood is nats per binarized image; the other " if binary else "The ")
        + "likelihoods are bits/dim of the stored pixels (uniform dequantization for continuous "
        f"densities), on the first {' / '.join(map(str, examples)) or '-'} test images. Kinds: exact (flows, "
        "PixelCNN), lower bound (VAE IWAE, DBM), estimate (RBM AIS, probability-flow and flow-matching ODEs).\n"
    )
    rows = report["rows"]
    if all("eval_seconds" in r for r in rows):
        total = sum(r["train_seconds"] + r["eval_seconds"] + r.get("stage_train_seconds", 0.0) for r in rows)
        note += (f"Training plus evaluation of these rows, the latent model's autoencoder stage included: "
                 f"{total / 60:.1f} min (a sum over rows, so it adds up resumed sessions).\n")
    return head + "\n".join(lines) + "\n" + note


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--dataset", choices=DATASETS, default="digits")
    parser.add_argument("--budget", choices=sorted(BUDGETS), default="quick")
    parser.add_argument("--only", nargs="*", default=(), help=f"families to run (default: all of {FAMILIES})")
    args = parser.parse_args(argv)
    try:
        report = compare(args.workdir, args.budget, tuple(args.only), args.dataset)
    except training.Preempted as stop:  # the row in training is checkpointed; a rerun resumes it
        parser.exit(training.PREEMPTED_EXIT_STATUS, f"preempted: {stop}\n")
    except (ValueError, run.RunError, training.WorkdirLockedError) as err:
        parser.exit(2, f"error: {err}\n")
    print(markdown_table(report))
    print(f"wrote {args.workdir}/report.md, report.json, samples.png")


if __name__ == "__main__":
    main(sys.argv[1:])
