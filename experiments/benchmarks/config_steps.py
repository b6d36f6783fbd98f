"""The train step of each shipped config, compiled with the config's ``train.compiler_options``
against XLA's default compilation: the measured reason for each family's choice.

Each row builds the family exactly as ``experiments.run.train`` does (model, optimizer, the
config's batch size of real training images) and times one train step per call, interleaved with
the same step compiled without options (the peer, ``xla-default``). A ratio above 1: the config's
options are faster. Configs without options are skipped. Needs the configs' data (Fashion-MNIST:
``apt-get install dataset-fashion-mnist``).

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
from experiments.optimizers import make_optimizer
from experiments.run import load_split

__all__ = ["cases", "FAMILIES"]

# Families whose spec builds from the config alone (consistency distils from a trained teacher and
# latent diffusion from a trained autoencoder; they run the diffusion UNet).
FAMILIES = ("diffusion", "gan", "pixelcnn", "vae", "flow", "autoencoder")


def _step(config, compiler_options: Optional[dict]):
    spec = get_spec(config)
    optimizer = make_optimizer(config.optimizer.to_dict())
    arrays = spec.to_batch(load_split(config, "train"))
    batch = {k: v[: config.train.batch_size] for k, v in arrays.items()}
    return harness.train_step_call(
        spec.model, optimizer, batch, init_key=jax.random.PRNGKey(0), step_key=jax.random.PRNGKey(1),
        compiler_options=compiler_options, ema_decay=spec.ema_decay,
    )


def cases(quick: bool, dataset: str = "fashion_mnist") -> list[harness.Case]:
    """One row per family config of ``dataset`` that sets compiler options; ``quick``: the digits
    VAE config at batch 8, ours only."""
    if quick:
        dataset = "digits"
    rows = []
    for family in ("vae",) if quick else FAMILIES:
        config = importlib.import_module(f"experiments.configs.{family}_{dataset}").get_config()
        options = dict(config.train.get("compiler_options") or {})
        if quick:
            config.train.batch_size = 8
        elif not options:
            continue
        rows.append(
            harness.Case(
                f"{family}_{dataset} train step b{config.train.batch_size}",
                1.0,
                "steps",
                functools.partial(_step, config, options or None),
                functools.partial(_step, config, None),
                "xla-default",
                quick_ok=True,
            )
        )
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--dataset", default="fashion_mnist")
    args, rest = parser.parse_known_args(argv)
    return harness.main(functools.partial(cases, dataset=args.dataset), rest, title="config_steps")


if __name__ == "__main__":
    main(sys.argv[1:])
