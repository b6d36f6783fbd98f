"""Latent diffusion through the experiments layer: the autoencoder run, then the ``ldm`` run that restores
it, trains, resumes, samples and evaluates; the scale factor is computed once and then only restored."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import run
from experiments.configs import autoencoder_digits, ldm_digits
from experiments.families import autoencoder as autoencoder_family
from experiments.families import get_spec
from experiments.families import ldm as ldm_family
from genjax.data import batching
from genjax.models import latent_diffusion


@pytest.fixture(scope="module")
def autoencoder_run(tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("autoencoder"))
    config = autoencoder_digits.get_config()
    config.train.num_steps = 20
    config.train.log_every = 10
    state = run.train(config, workdir, progress=False)
    return config, workdir, state


def _ldm_config(ae_workdir, num_steps):
    config = ldm_digits.get_config()
    config.autoencoder_workdir = ae_workdir
    # A small one-resolution UNet keeps compiling cheap; the latent grid is the config's.
    config.model.update(base_channels=8, channel_mults=(1,), attention_resolutions=())
    config.model.sample_steps = 2
    config.train.num_steps = num_steps
    config.train.log_every = 2
    config.train.checkpoint_every = 2
    config.eval.num_samples = 100
    return config


@pytest.mark.slow  # 27 s; CI runs it in `make test-slow`
def test_latent_diffusion_trains_resumes_and_keeps_its_scale_factor(autoencoder_run, tmp_path, monkeypatch):
    ae_config, ae_workdir, ae_state = autoencoder_run
    workdir = str(tmp_path)
    config = _ldm_config(ae_workdir, 2)
    first = run.train(config, workdir, progress=False)
    scale = float(first.model_state["scale"])

    # The scale is 1 / std of the encoder means of the batch fit initialises on (the first training batch,
    # as Rombach et al. compute it): those latents have unit standard deviation after scaling.
    mc = ldm_family.model_config(config, ae_config)
    arrays = get_spec(ae_config).to_batch(run.load_split(config, "train"))
    batch0 = batching.epoch_batches(arrays, config.train.batch_size, config.train.seed)(0)["image"]
    means0 = autoencoder_family.latent_means(mc, ae_state.params, batch0)
    assert means0.shape == (64, 4, 4, 2)
    np.testing.assert_allclose(scale, 1.0 / np.std(means0.astype(np.float64)), rtol=1e-5)
    np.testing.assert_allclose(np.std(means0.astype(np.float64) * scale), 1.0, rtol=1e-5)
    # One batch's estimate holds over the whole training set to within 10% (the spread of 64-image
    # estimates is about 2% on Fashion-MNIST's trained autoencoder).
    all_means = autoencoder_family.latent_means(mc, ae_state.params, arrays["image"])
    assert abs(np.std(all_means) * scale - 1.0) < 0.1

    # Resuming and restoring give the checkpointed scale back, even when init would now compute another.
    monkeypatch.setattr(latent_diffusion, "latent_scale", lambda *args: jnp.float32(123.0))
    config.train.num_steps = 4
    resumed = run.train(config, workdir, progress=False)
    assert int(resumed.step) == 4 and float(resumed.model_state["scale"]) == scale
    _, restored = run.restore(config, workdir)
    assert float(restored.model_state["scale"]) == scale
    # The autoencoder stays frozen: the ldm state holds the autoencoder run's parameters unchanged.
    jax.tree.map(np.testing.assert_array_equal, restored.model_state["autoencoder"], ae_state.params)
    monkeypatch.undo()

    metrics = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    logged = [row["latent_scale"] for row in metrics if "latent_scale" in row]
    assert logged and logged == pytest.approx([scale] * len(logged))

    result = run.evaluate(config, workdir)
    saved = json.loads((tmp_path / "eval.json").read_text())
    assert saved["latent_shape"] == [4, 4, 2] and saved["latent_scale"] == pytest.approx(scale)
    assert result["fid"] > 0 and result["nfe"] == 3
    assert "test_bits_per_dim" not in result  # no likelihood: the decoder makes p(x) intractable
    # The recorded latent statistics and reconstruction error are those of the frozen autoencoder on the
    # test images, computed here in one call.
    test = get_spec(ae_config).to_batch(run.load_split(config, "test"))["image"]
    z = np.asarray(latent_diffusion.encode(mc, ae_state.params, test)[0], np.float64)
    recon = np.asarray(latent_diffusion.decode(mc, ae_state.params, z.astype(np.float32)), np.float64)
    assert result["test_latent_std"] == pytest.approx(np.std(z) * scale, rel=1e-5)
    assert result["autoencoder_reconstruction_mse"] == pytest.approx(np.mean(np.square(recon - test)), rel=1e-5)


def test_the_autoencoder_evaluation_records_its_reconstruction_error(autoencoder_run):
    ae_config, ae_workdir, ae_state = autoencoder_run
    result = run.evaluate(ae_config, ae_workdir)
    mc = autoencoder_family.model_config(ae_config)
    x = get_spec(ae_config).to_batch(run.load_split(ae_config, "test"))["image"]
    z = latent_diffusion.encode(mc, ae_state.params, x)[0]
    recon = np.asarray(latent_diffusion.decode(mc, ae_state.params, z), np.float64)
    assert result["latent_shape"] == [4, 4, 2] and result["nfe"] == 1
    assert result["reconstruction_mse"] == pytest.approx(np.mean(np.square(recon - x)), rel=1e-5)


def test_a_missing_autoencoder_run_is_one_clear_error(tmp_path):
    config = _ldm_config(str(tmp_path / "nowhere"), 2)
    with pytest.raises(run.RunError, match="needs a trained autoencoder run.*autoencoder_digits.py"):
        run.train(config, str(tmp_path / "ldm"), progress=False)
    config.autoencoder_config = "autoencoder_nowhere"
    with pytest.raises(ValueError, match="autoencoder_nowhere"):
        run.train(config, str(tmp_path / "ldm"), progress=False)
