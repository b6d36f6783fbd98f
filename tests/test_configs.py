"""Every config in experiments/configs builds its family and a model whose init and loss trace on a batch
of real (digits) or mocked (tfds) data: ``jax.eval_shape``, so nothing is compiled or trained."""

import importlib
import pathlib

import jax
import numpy as np
import pytest
import tensorflow_datasets as tfds

from experiments import run
from experiments.configs.common import IMAGE_SHAPES, base_config
from experiments.families import get_spec
from experiments.optimizers import make_optimizer

CONFIG_DIR = pathlib.Path(__file__).resolve().parents[1] / "experiments" / "configs"
NAMES = sorted(p.stem for p in CONFIG_DIR.glob("*_*.py") if not p.stem.startswith("_"))
TEACHER_RUN = {"consistency_digits", "consistency_fashion_mnist", "dbm_fashion_mnist"}  # start from a trained run
CPU_SIZED = ("digits", "fashion_mnist")  # the comparison's data sets; the others are sized for accelerators


def _config(name):
    return importlib.import_module(f"experiments.configs.{name}").get_config()


def test_every_family_has_a_digits_fashion_mnist_mnist_and_cifar10_config():
    families = {n.split("_")[0] for n in NAMES}
    assert len(families) == 8
    for family in families:
        for dataset in ("digits", "fashion_mnist", "mnist", "cifar10"):
            assert f"{family}_{dataset}" in NAMES


@pytest.mark.parametrize("name", [n for n in NAMES if n not in TEACHER_RUN])
def test_config_builds_a_model_whose_loss_traces_on_its_data(name):
    config = _config(name)
    assert name == f"{config.family}_{config.dataset}"
    assert tuple(config.image_shape) == IMAGE_SHAPES[config.dataset]
    spec = get_spec(config)
    make_optimizer(config.optimizer.to_dict())
    if config.dataset == "digits":
        raw = run.load_split(config, "train")
    else:
        with tfds.testing.mock_data(num_examples=4, policy=tfds.testing.MockPolicy.USE_CODE):
            raw = run.load_split(config, "train")
    batch = jax.tree.map(lambda a: a[:2], spec.to_batch({k: np.asarray(v[:4]) for k, v in raw.items()}))
    variables = jax.eval_shape(spec.model.init, jax.random.PRNGKey(0), batch)
    loss, _ = jax.eval_shape(spec.model.loss, variables["params"], variables["state"], batch, jax.random.PRNGKey(1))
    # Several players (GAN) give one scalar loss per params group.
    for value in (loss.values() if isinstance(loss, dict) else [loss]):
        assert value.shape == () and value.dtype == np.float32
    if config.dataset not in CPU_SIZED:
        # Sized for an accelerator run, not a CPU smoke test.
        assert config.train.num_steps >= 100_000 and config.train.batch_size >= 64
        assert config.train.mode == "auto" and config.eval.num_samples >= 10_000


def test_unknown_dataset_names_the_valid_ones():
    with pytest.raises(ValueError, match="unknown dataset 'mnst'.*cifar10"):
        base_config("vae", "mnst")
