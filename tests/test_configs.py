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
from experiments.configs.unet import unet_fields
from experiments.families import FAMILIES, get_spec, ldm
from experiments.optimizers import make_optimizer
from genjax.models import latent_diffusion

CONFIG_DIR = pathlib.Path(__file__).resolve().parents[1] / "experiments" / "configs"
NAMES = sorted(p.stem for p in CONFIG_DIR.glob("*_*.py") if not p.stem.startswith("_"))
TEACHER_RUN = {"consistency_digits", "consistency_fashion_mnist", "dbm_fashion_mnist"}  # start from a trained run
LATENT_RUN = {"ldm_digits", "ldm_fashion_mnist"}  # diffuse the latents of a trained autoencoder run
CPU_SIZED = ("digits", "fashion_mnist")  # the comparison's data sets; the others are sized for accelerators
# Latent diffusion (the autoencoder stage and the ldm stage) exists for the comparison's data sets only:
# at 8x8 and 28x28 it runs on CPU; its mnist / cifar10 configs would be accelerator settings no run has
# tried, and the 28x28 grid of mnist is Fashion-MNIST's.
CPU_ONLY_FAMILIES = {"autoencoder", "ldm"}
LATENT_SHAPES = {"digits": (4, 4, 2), "fashion_mnist": (7, 7, 4)}


def _config(name):
    return importlib.import_module(f"experiments.configs.{name}").get_config()


def test_every_family_has_a_digits_fashion_mnist_mnist_and_cifar10_config():
    # A family's name may hold an underscore (flow_matching), so it is read from the config.
    family_of = {n: _config(n).family for n in NAMES}
    families = set(family_of.values())
    assert families == set(FAMILIES) and len(families) == 11
    for family in families:
        datasets = CPU_SIZED if family in CPU_ONLY_FAMILIES else CPU_SIZED + ("mnist", "cifar10")
        assert {n for n in NAMES if family_of[n] == family} == {f"{family}_{d}" for d in datasets}


@pytest.mark.parametrize("name", sorted(LATENT_RUN))
def test_ldm_config_builds_on_its_autoencoders_latent_grid_with_the_shared_unet(name):
    config = _config(name)
    ae_config = _config(config.autoencoder_config)
    assert name == f"{config.family}_{config.dataset}" and ae_config.dataset == config.dataset
    # The UNet fields are the shared preset of the dataset's latent grid, not restated.
    preset = unet_fields(f"{config.dataset}_latent")
    fields = {k: tuple(v) if isinstance(v, (list, tuple)) else v for k, v in config.model.items()}
    assert {k: fields.get(k) for k in preset} == preset
    mc = ldm.model_config(config, ae_config)
    assert latent_diffusion.latent_shape(mc) == mc.diffusion.data_shape == LATENT_SHAPES[config.dataset]
    assert mc.diffusion.sigma_data == 1.0 and mc.diffusion.levels == 0
    batch = {"image": np.zeros((2,) + tuple(config.image_shape), np.float32)}
    ae_init = latent_diffusion.make_autoencoder(mc).init
    ae_params = jax.eval_shape(ae_init, jax.random.PRNGKey(0), batch)["params"]

    def loss(ae_params, batch):
        model = latent_diffusion.make_latent_diffusion(mc, ae_params)
        variables = model.init(jax.random.PRNGKey(0), batch)
        return model.loss(variables["params"], variables["state"], batch, jax.random.PRNGKey(1))

    value, (metrics, state) = jax.eval_shape(loss, ae_params, batch)
    assert value.shape == () and state["scale"].shape == ()


@pytest.mark.parametrize("name", [n for n in NAMES if n not in TEACHER_RUN | LATENT_RUN])
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
