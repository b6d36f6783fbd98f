"""The train step and the sampler of each shipped config, compiled with the config's
``train.compiler_options`` and ``sample.compiler_options`` against XLA's default compilation: the
measured reason for each family's choice.

Each train row builds the family exactly as ``experiments.run.train`` does (model, optimizer, the
config's batch size of real training images) and times one train step per call, interleaved with
the same step compiled without options (the peer, ``xla-default``). Each sample row draws
``SAMPLE_BATCH`` images with ``model.sample`` from freshly initialised parameters (a sampler's work
does not depend on the parameters' values), compiled as ``experiments.run.restore`` compiles it. A
ratio above 1: the config's options are faster. Configs without options are skipped. Needs the
configs' data (Fashion-MNIST: ``apt-get install dataset-fashion-mnist``).

``python -m experiments.benchmarks.config_steps [--only gan] [--dataset fashion_mnist] [--profile]``
"""

from __future__ import annotations

import argparse
import functools
import importlib
import sys
from typing import Optional

import jax

from experiments.benchmarks import harness
from experiments.families import get_spec
from experiments.families.common import compiler_options
from experiments.optimizers import make_optimizer
from experiments.run import load_split

__all__ = ["cases", "FAMILIES", "SAMPLE_BATCH"]

# Families whose spec builds from the config alone (consistency distils from a trained teacher and
# latent diffusion from a trained autoencoder; they run the diffusion UNet).
FAMILIES = ("diffusion", "gan", "pixelcnn", "vae", "flow", "autoencoder")
SAMPLE_BATCH = 64
"""Images per timed sampler call (the evaluation draws 250 per call)."""


def _step(config, compiler_options: Optional[dict]):
    spec = get_spec(config)
    optimizer = make_optimizer(config.optimizer.to_dict())
    arrays = spec.to_batch(load_split(config, "train"))
    batch = {k: v[: config.train.batch_size] for k, v in arrays.items()}
    return harness.train_step_call(
        spec.model, optimizer, batch, init_key=jax.random.PRNGKey(0), step_key=jax.random.PRNGKey(1),
        compiler_options=compiler_options, ema_decay=spec.ema_decay,
    )


def _sampler(config, compiler_options: Optional[dict], n: int):
    spec = get_spec(config)
    arrays = spec.to_batch(load_split(config, "train"))
    variables = spec.model.init(jax.random.PRNGKey(0), {k: v[:1] for k, v in arrays.items()})
    draw = jax.jit(spec.model.sample, static_argnums=3, compiler_options=compiler_options)
    key = jax.random.PRNGKey(1)
    return lambda: draw(variables["params"], variables["state"], key, n)


def cases(quick: bool, dataset: str = "fashion_mnist") -> list[harness.Case]:
    """Per family config of ``dataset``: a train-step row when it sets ``train.compiler_options``
    and a sampler row when it sets ``sample.compiler_options``; ``quick``: the digits VAE config's
    train step at batch 8 and its sampler on 8 images, ours only."""
    if quick:
        dataset = "digits"
    rows = []
    for family in ("vae",) if quick else FAMILIES:
        config = importlib.import_module(f"experiments.configs.{family}_{dataset}").get_config()
        train_options = compiler_options(config.train)
        sample_options = compiler_options(config.sample)
        if quick:
            config.train.batch_size = 8
        n = 8 if quick else SAMPLE_BATCH
        if train_options or quick:
            rows.append(harness.Case(
                f"{family}_{dataset} train step b{config.train.batch_size}",
                1.0,
                "steps",
                functools.partial(_step, config, train_options),
                functools.partial(_step, config, None),
                "xla-default",
                quick_ok=True,
            ))
        if sample_options or quick:
            rows.append(harness.Case(
                f"{family}_{dataset} sample {n}",
                float(n),
                "images",
                functools.partial(_sampler, config, sample_options, n),
                functools.partial(_sampler, config, None, n),
                "xla-default",
                quick_ok=True,
            ))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--dataset", default="fashion_mnist")
    args, rest = parser.parse_known_args(argv)
    return harness.main(functools.partial(cases, dataset=args.dataset), rest, title="config_steps")


if __name__ == "__main__":
    main(sys.argv[1:])
