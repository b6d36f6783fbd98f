"""The per-family studies (``experiments/studies/*_quality.py``): their shared tail
(``experiments/studies/study.py``, ``experiments/validation.py``) against truth, and each study end
to end on both datasets in a smoke setting (``--quick``, one or two cheap models; Fashion-MNIST on
300 / 100 images)."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from experiments import validation
from experiments.studies import study
from genjax.base import Model
from genjax.data import registry
from genjax.metrics import features

needs_fashion = pytest.mark.skipif(
    registry.idx_directory("fashion_mnist") is None,
    reason="Fashion-MNIST IDX files not installed: apt-get install dataset-fashion-mnist",
)


# --- the split and the scalings -------------------------------------------------------------------


def test_validation_split_is_disjoint_covering_and_deterministic():
    data = {"index": np.arange(1437), "label": np.arange(1437) % 10}
    fit, val = study.split_validation(data, 200)
    assert len(val["index"]) == 200 and len(fit["index"]) == 1237
    assert not set(fit["index"]) & set(val["index"])
    np.testing.assert_array_equal(np.sort(np.r_[fit["index"], val["index"]]), data["index"])
    np.testing.assert_array_equal(fit["label"], fit["index"] % 10)  # fields stay aligned
    again_fit, again_val = study.split_validation(data, 200)
    np.testing.assert_array_equal(again_val["index"], val["index"])
    np.testing.assert_array_equal(again_fit["index"], fit["index"])
    _, other = study.split_validation(data, 200, seed=1)
    assert set(other["index"]) != set(val["index"])
    with pytest.raises(ValueError, match="validation size must be in 1..1436"):
        study.split_validation(data, 1437)


def test_digits_study_data_is_the_fixed_split_less_200_validation_images():
    data = study.load_data("digits")
    assert data.image_shape == (8, 8, 1) and data.levels == 17 and data.dims == 64
    sizes = data.describe()
    assert (sizes["train_size"], sizes["fit_size"], sizes["validation_size"], sizes["test_size"]) == (
        1437, 1237, 200, 360
    )
    # Fit and validation together are the train split, as a multiset of (image, label).
    def rows(split):
        d = getattr(data, split)
        return [img.tobytes() + bytes([lab]) for img, lab in zip(d["image"], d["label"], strict=True)]

    assert sorted(rows("fit") + rows("validation")) == sorted(rows("train"))
    small = study.load_data("digits", max_examples=100, max_test=50)
    assert small.describe()["validation_size"] == 10 and small.describe()["test_size"] == 50
    with pytest.raises(ValueError, match="unknown dataset 'cifar10'"):
        study.load_data("cifar10")


@pytest.mark.parametrize("levels, threshold", [(17, 8), (256, 127)])
def test_binary_is_half_intensity_and_symmetric_spans_minus_one_to_one(levels, threshold):
    pixels = np.arange(levels)
    grid = {"image": pixels.astype(np.uint8).reshape(-1, 1, 1, 1), "label": np.zeros(levels, np.int32)}
    data = study.StudyData("x", levels, grid, grid, grid, grid)
    np.testing.assert_array_equal(data.binary("test").ravel(), (pixels > threshold).astype(np.float32))
    np.testing.assert_allclose(data.symmetric("test").ravel(), np.linspace(-1.0, 1.0, levels), atol=1e-6)


def test_map_batches_equals_one_call_and_compiles_once():
    calls = []

    def fn(x):
        calls.append(x.shape)
        return x.sum(axis=1)

    x = np.arange(23 * 3, dtype=np.float32).reshape(23, 3)
    np.testing.assert_array_equal(study.map_batches(fn, x, 5), x.sum(axis=1))
    assert set(calls) == {(5, 3)}


# --- flags and reports ----------------------------------------------------------------------------


def _parser():
    parser = study.argument_parser("A study.", "a_study")
    parser.add_argument("--width", type=int, default=1)
    return parser


def test_flags_on_the_command_line_win_over_quick_over_dataset_defaults(tmp_path):
    defaults = {"digits": {"steps": 100, "width": 2}, "fashion_mnist": {"steps": 900}, "quick": {"steps": 3}}
    args = study.parse_args(_parser(), ["--workdir", str(tmp_path)], defaults)
    assert (args.steps, args.width, args.max_examples) == (100, 2, None)
    args = study.parse_args(_parser(), ["--dataset", "fashion_mnist", "--workdir", str(tmp_path)], defaults)
    assert (args.steps, args.width) == (900, 1)
    args = study.parse_args(_parser(), ["--dataset", "fashion_mnist", "--quick", "--workdir", str(tmp_path)],
                            defaults)
    assert (args.steps, args.max_examples, args.max_test) == (3, 300, 100)
    args = study.parse_args(_parser(), ["--quick", "--steps", "7", "--workdir", str(tmp_path)], defaults)
    assert args.steps == 7
    with pytest.raises(ValueError, match=r"lacks: \['depth'\]"):
        study.parse_args(_parser(), [], {"digits": {"depth": 3}})
    with pytest.raises(ValueError, match="unknown models"):
        study.select("nice,glow", ["nice", "realnvp"])
    assert study.select("", ["nice", "realnvp"]) == ["nice", "realnvp"]


def test_report_json_round_trips_and_markdown_tables_every_model(tmp_path):
    args = study.parse_args(_parser(), ["--workdir", str(tmp_path)])
    results = {
        "steps": 3,
        "nice": {"bits_per_dim": 2.5, "curve": [[1, 2.0], [2, 1.5]], "sampler": {"fid": np.float32(4.0)}},
        "realnvp": {"bits_per_dim": 2.0, "params": np.int64(7)},
        "toy": {"hinge": {"modes": 8}, "wgan": {"modes": 7}},
    }
    out = study.write_report(args, results)
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["results"]["nice"]["sampler"]["fid"] == 4.0 and saved["flags"]["width"] == 1
    md = (tmp_path / "report.md").read_text()
    assert out["report_md"] == str(tmp_path / "report.md")
    assert "| metric | nice | realnvp |" in md and "| bits_per_dim | 2.5 | 2 |" in md
    assert "| sampler/fid | 4 |  |" in md and "| params |  | 7 |" in md
    assert "### toy" in md and "| modes | 8 | 7 |" in md and "- steps: 3" in md


# --- early stopping -------------------------------------------------------------------------------


def _counter_model() -> Model:
    """params ``w`` rises by exactly 1 per SGD step at learning rate 1 (loss ``-w``)."""
    return Model(
        init=lambda key, batch: {"params": {"w": jnp.zeros(())}, "state": {}},
        loss=lambda params, state, batch, key: (-params["w"], ({}, state)),
        sample=None,
        log_prob=None,
    )


def test_early_stopping_keeps_the_params_of_the_best_validation_step():
    scripted = {2: 5.0, 4: 3.0, 6: 4.0, 8: 2.5, 10: 2.5, 12: 7.0}  # tie at 8 and 10: the first stays
    seen = []

    def score(params):
        step = int(round(float(params["w"])))  # w == step: the params scored are those of `step`
        seen.append(step)
        return scripted[step]

    state, best = validation.fit_early_stopped(
        _counter_model(), optax.sgd(1.0), lambda s: {"x": np.zeros(1)}, key=jax.random.PRNGKey(0),
        num_steps=12, eval_every=2, score=score, name="val",
    )
    assert seen == [2, 4, 6, 8, 10, 12] and float(state.params["w"]) == 12.0
    assert (best.step, best.value, float(best.params["w"])) == (8, 2.5, 8.0)
    assert best.curve == [(s, v) for s, v in scripted.items()]
    with pytest.raises(ValueError, match="eval_every=5 must divide num_steps=12"):
        validation.fit_early_stopped(_counter_model(), optax.sgd(1.0), lambda s: {},
                                     key=jax.random.PRNGKey(0), num_steps=12, eval_every=5, score=score,
                                     name="val")


# --- every study end to end -----------------------------------------------------------------------


def _mock_extractor(name: str) -> features.FeatureExtractor:
    """Fixed random projections as features and their softmax as class probabilities: any shape."""

    def apply(images):
        flat = np.asarray(images, np.float32).reshape(len(images), -1)
        w = np.random.default_rng(flat.shape[1]).normal(size=(flat.shape[1], 16)).astype(np.float32)
        f = flat @ w / np.sqrt(flat.shape[1])
        p = np.exp(f[:, :10] - f[:, :10].max(1, keepdims=True))
        return f, p / p.sum(1, keepdims=True)

    return features.FeatureExtractor(apply, f"mock-{name}", float("nan"))


@pytest.fixture
def fashion_extractor(monkeypatch):
    """The Fashion-MNIST classifier is mocked until it ships; digits keeps its real one."""
    real = features.dataset_features
    monkeypatch.setattr(
        features, "dataset_features",
        lambda name: _mock_extractor(name) if name == "fashion_mnist" and not _shipped(name) else real(name),
    )


def _shipped(name):
    import os

    return os.path.exists(os.path.join(features.SHIPPED_CLASSIFIERS[name], "meta.json"))


SMOKE = {
    "flows": ("flows_quality", ["--models", "realnvp", "--steps", "4", "--eval-every", "2"]),
    "pixelcnn": ("pixelcnn_quality", ["--models", "gated_conditional"]),
    "vae": ("vae_quality", ["--models", "binary_mlp,conv_logistic", "--steps", "4", "--eval-every", "2",
                            "--iwae", "4", "--chunk", "2", "--elbo-draws", "2", "--train-eval", "8"]),
    "rbm": ("rbm_quality", ["--models", "rbm_pcd_ours,dbm_no_pretraining_lr_decay",
                            "--ais_k", "10", "--ais_m", "4"]),
    "gan": ("gan_quality", ["--only", "images", "--models", "hinge_sn", "--steps", "2",
                            "--eval-every", "2"]),
    "diffusion": ("diffusion_quality", ["--models", "edm", "--steps", "2", "--num-samples", "20"]),
    "consistency": ("consistency_quality", ["--models", "cd", "--teacher-steps", "2", "--steps", "2",
                                            "--num-samples", "20"]),
}
"""Each study's module under ``experiments.studies`` and its smoke flags."""
FAST = {"pixelcnn", "rbm"}
"""In the default suite on both datasets (about 15 s of CPU each); the others are marked slow."""


def _run(name, dataset, tmp_path):
    import importlib

    module, flags = SMOKE[name]
    argv = ["--quick", "--dataset", dataset, "--workdir", str(tmp_path), *flags]
    if name == "consistency":
        argv += ["--teacher-workdir", str(tmp_path / "teacher")]
    out = importlib.import_module(f"experiments.studies.{module}").main(argv)
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["dataset"] == dataset and (tmp_path / "report.md").exists()
    return out["results"]


def _check(name, results, shape):
    d = int(np.prod(shape))
    if name == "flows":
        row = results["realnvp"]
        assert row["best_step"] in (2, 4) and np.isfinite(row["test_bits_per_dim"])
        # bits/dim and nats are one number in two units.
        assert row["test_nll_nats"] == pytest.approx(row["test_bits_per_dim"] * d * np.log(2.0), rel=1e-5)
    elif name == "pixelcnn":
        row = results["gated_conditional"]
        assert row["test_nll_nats"] == pytest.approx(row["test_bits_per_dim"] * d * np.log(2.0), rel=1e-5)
        assert row["test_bits_per_dim"] < 1.5 * np.log2(results["levels"])
    elif name == "vae":
        for row in (results["binary_mlp"], results["conv_logistic"]):
            t = row["test"]
            assert t["neg_elbo"] == pytest.approx(t["recon"] + t["kl"], rel=1e-5) and t["kl"] >= 0
    elif name == "rbm":
        assert np.isfinite(results["rbm_pcd_ours"]["test_ll_mean"])
        # A binary image has at most D ln 2 nats under the uniform model: a trained RBM is not worse
        # than 1.5 times it even after one epoch.
        assert -1.5 * d * np.log(2.0) < results["rbm_pcd_ours"]["test_ll_mean"] < 0
        assert np.isfinite(results["dbm_no_pretraining_lr_decay"]["test_lower_bound"])
    elif name == "gan":
        row = results[results["data"]["dataset"]]["hinge_sn"]["ema"]
        assert row["fid"] > 0 and row["num_generated"] == 1000
    elif name in ("diffusion", "consistency"):
        row = results["edm"]["heun-18 w=1"] if name == "diffusion" else results["cd"]["1-step w=1"]
        assert row["fid"] > 0 and 0 <= row["precision"] <= 1
        if name == "consistency":  # the greedy schedule decreases from sigma_max; the error table is finite
            sigmas = results["cd"]["search"]["sigmas"]
            assert sigmas[0] == 80.0 and all(a > b for a, b in zip(sigmas[:-1], sigmas[1:], strict=True))
            assert all(np.isfinite(v["student_rms"]) for v in results["cd"]["error_vs_teacher_ode"].values())


def _smoke(name, dataset, tmp_path):
    results = _run(name, dataset, tmp_path)
    shape = (8, 8, 1) if dataset == "digits" else (28, 28, 1)
    assert tuple(results.get("image_shape", results.get("data", {}).get("image_shape", ()))) == shape
    _check(name, results, shape)


@pytest.mark.parametrize("name", sorted(FAST))
def test_study_runs_on_digits(name, tmp_path):
    _smoke(name, "digits", tmp_path)


@needs_fashion
@pytest.mark.parametrize("name", sorted(FAST))
def test_study_runs_on_fashion_mnist(name, tmp_path, fashion_extractor):
    _smoke(name, "fashion_mnist", tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("dataset", ["digits", pytest.param("fashion_mnist", marks=needs_fashion)])
@pytest.mark.parametrize("name", sorted(set(SMOKE) - FAST))
def test_study_runs_slow(name, dataset, tmp_path, fashion_extractor):
    _smoke(name, dataset, tmp_path)
