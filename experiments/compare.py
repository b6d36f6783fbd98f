"""The seven-family comparison on digits: ``python -m experiments.compare --workdir DIR [--budget quick]``.

Trains every family with a comparable small budget through the same ``run.train`` / ``run.evaluate``
as the CLI, then writes ``DIR/report.md``, ``DIR/report.json`` and ``DIR/samples.png`` (a gallery,
one row per family). Each row: parameters, training time, network evaluations per sample, seconds
per 1,000 samples, FID / KID / precision / recall under the shipped digits classifier, the test
likelihood where the family has one (and whether it is exact, a bound or an estimate), and the
training stability signals (loss variance over the last half of training, mode coverage as classes
covered by the classifier).
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import math
import os
import sys
import time
from typing import Any

import jax
import numpy as np

from experiments import grids, run

ENTRIES = (
    ("RBM (PCD)", "rbm_digits"),
    ("DBM", "dbm_digits"),
    ("VAE (conv, logistic)", "vae_digits"),
    ("GAN (hinge, SN)", "gan_digits"),
    ("RealNVP", "flow_digits"),
    ("PixelCNN (gated)", "pixelcnn_digits"),
    ("Diffusion (EDM, Heun-18)", "diffusion_digits"),
    ("Consistency (CD, 1 step)", "consistency_digits"),
)
BUDGETS = {"smoke": 0.005, "quick": 0.25, "default": 1.0, "long": 4.0}


def _config(name: str, budget: float):
    config = importlib.import_module(f"experiments.configs.{name}").get_config()
    config.train.num_steps = max(int(config.train.num_steps * budget) // 10 * 10, 10)
    config.train.checkpoint_every = config.train.num_steps
    config.train.log_every = 10
    config.eval.num_samples = 1000 if budget >= 1.0 else (500 if budget >= 0.1 else 100)
    return config


def _loss_variance(workdir: str) -> float:
    rows = [json.loads(line) for line in open(os.path.join(workdir, "metrics.jsonl"))]
    losses = [r.get("loss", r.get("loss/gen")) for r in rows[len(rows) // 2:]]
    losses = [float(v) for v in losses if isinstance(v, (int, float))]
    return float(np.var(losses)) if losses else math.nan


def _num_params(state) -> int:
    return int(sum(np.size(x) for x in jax.tree.leaves(state.params)))


def compare(workdir: str, budget: str = "quick", only: tuple[str, ...] = ()) -> dict[str, Any]:
    """Trains, samples and evaluates every family; returns the report dict."""
    scale = BUDGETS[budget]
    rows, gallery = [], []
    entries = [e for e in ENTRIES if not only or e[1].split("_")[0] in only]
    from tqdm.auto import tqdm

    bar = tqdm(entries, desc="families", dynamic_ncols=True)
    for label, name in bar:
        bar.set_description(f"training {label}")
        config = _config(name, scale)
        family_dir = os.path.join(workdir, name)
        if "teacher_workdir" in config:
            config.teacher_workdir = os.path.join(workdir, config.teacher_config)
        t0 = time.perf_counter()
        run.train(config, family_dir, progress=False)
        train_s = time.perf_counter() - t0
        result = run.evaluate(config, family_dir)
        spec, state = run.restore(config, family_dir)
        gallery.append((label, run._draw(spec, state, jax.random.PRNGKey(123), 10)))
        rows.append({
            "family": label,
            "config": name,
            "params": _num_params(state),
            "train_steps": config.train.num_steps,
            "train_seconds": train_s,
            "loss_variance_last_half": _loss_variance(family_dir),
            **result,
        })
    report = {
        "date": datetime.date.today().isoformat(),
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


def markdown_table(report: dict[str, Any]) -> str:
    """The comparison as a markdown table (one row per family)."""
    head = (
        "| family | params | train s | NFE/sample | s / 1k samples | FID | KID | precision | recall "
        "| classes covered | test NLL (nats) | bits/dim | likelihood | loss var |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for r in report["rows"]:
        lines.append(
            f"| {r['family']} | {r['params']:,} | {_fmt(r['train_seconds'], '.0f')} | {r.get('nfe', '-')} "
            f"| {_fmt(r.get('sample_seconds_per_1000'), '.2f')} | {_fmt(r.get('fid'))} | {_fmt(r.get('kid'))} "
            f"| {_fmt(r.get('precision'), '.2f')} | {_fmt(r.get('recall'), '.2f')} "
            f"| {_fmt(r.get('classes_covered'))} | {_fmt(r.get('test_nll_nats'), '.1f')} "
            f"| {_fmt(r.get('test_bits_per_dim'), '.3f')} | {r.get('likelihood', 'none')} "
            f"| {_fmt(r.get('loss_variance_last_half'))} |"
        )
    note = (
        f"\nDigits (8x8, 17 levels), budget `{report['budget']}`, {report['backend']} x{report['devices']}, "
        f"{report['date']}. FID/KID/precision/recall use the shipped digits classifier's features against "
        "the test split. Likelihoods: exact (flows, PixelCNN), lower bound (VAE), estimate (RBM/DBM via AIS); "
        "NLLs of binarized models (RBM, DBM) are over binary images and not comparable with 17-level ones.\n"
    )
    return head + "\n".join(lines) + "\n" + note


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--budget", choices=sorted(BUDGETS), default="quick")
    parser.add_argument("--only", nargs="*", default=(), help="family names to run (default: all)")
    args = parser.parse_args(argv)
    report = compare(args.workdir, args.budget, tuple(args.only))
    print(markdown_table(report))
    print(f"wrote {args.workdir}/report.md, report.json, samples.png")


if __name__ == "__main__":
    main(sys.argv[1:])
