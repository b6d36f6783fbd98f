"""experiments.compare: budgets, resumable rows, the training-time bookkeeping, and the table's units."""

import json

import numpy as np
import pytest

from experiments import compare, run
from experiments.families import get_spec


def test_family_config_scales_steps_and_checkpoints_every_tenth(tmp_path):
    config = compare.family_config("diffusion", "fashion_mnist", "quick", str(tmp_path))
    full = compare.family_config("diffusion", "fashion_mnist", "default", str(tmp_path))
    assert config.train.num_steps == full.train.num_steps // 5
    assert config.train.checkpoint_every == config.train.num_steps // 10
    assert config.eval.num_samples == 500 and full.eval.num_samples == 1000
    assert config.eval.likelihood_examples == full.eval.likelihood_examples // 4  # the ODE's test subset
    dbm_full = compare.family_config("dbm", "fashion_mnist", "default", str(tmp_path))
    assert dbm_full.optimizer.decay_steps == dbm_full.train.num_steps  # a rate decaying to 0 at the end
    for budget in ("smoke", "quick", "long"):
        dbm = compare.family_config("dbm", "fashion_mnist", budget, str(tmp_path))
        assert dbm.optimizer.decay_steps == dbm.train.num_steps, budget
    teacher = compare.family_config("consistency", "fashion_mnist", "quick", str(tmp_path))
    assert teacher.teacher_workdir == str(tmp_path / "diffusion_fashion_mnist")


@pytest.mark.parametrize("dataset", compare.DATASETS)
def test_the_flow_matching_row_is_the_edm_rows_network_and_budget(dataset, tmp_path):
    flow = compare.family_config("flow_matching", dataset, "quick", str(tmp_path))
    edm = compare.family_config("diffusion", dataset, "quick", str(tmp_path))
    unet = ("base_channels", "channel_mults", "num_res_blocks", "attention_resolutions", "num_classes")
    assert {k: flow.model[k] for k in unet} == {k: edm.model[k] for k in unet}
    assert flow.model.likelihood_steps == edm.model.likelihood_steps
    for section in ("train", "optimizer", "eval", "sample"):
        assert flow[section].to_dict() == edm[section].to_dict(), section
    assert flow.ema_decay == edm.ema_decay
    assert compare.label(flow) == "Flow matching (linear path, Heun-18)"
    assert (get_spec(flow).nfe, get_spec(edm).nfe) == (36, 35)  # Heun's last step to t = 0 corrects


def test_unknown_names_list_the_choices(tmp_path):
    with pytest.raises(ValueError, match=r"unknown dataset 'cifar'; valid choices: \['digits', 'fashion_mnist'\]"):
        compare.compare(str(tmp_path), "quick", (), "cifar")
    with pytest.raises(ValueError, match=r"unknown families \['glow'\]"):
        compare.compare(str(tmp_path), "quick", ("glow",), "digits")
    with pytest.raises(ValueError, match="unknown budget 'huge'"):
        compare.family_config("rbm", "digits", "huge", str(tmp_path))


def test_train_seconds_counts_a_resumed_window_once(tmp_path):
    rows = [
        {"step": 10, "steps_per_sec": 5.0},   # 2 s
        {"step": 20, "steps_per_sec": 10.0},  # logged, then lost to a kill (no checkpoint at 20)
        {"step": 20, "steps_per_sec": 2.0},   # redone after resuming from step 10: 5 s
        {"step": 30, "steps_per_sec": 20.0},  # 0.5 s
    ]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert compare.train_seconds(str(tmp_path)) == pytest.approx(7.5)


def test_binary_families_are_judged_against_binarized_test_images():
    config = compare.family_config("rbm", "digits", "smoke", "/unused")
    spec = get_spec(config)
    raw = run.load_split(config, "test")
    reference = run.reference_images(spec, raw)
    expected = np.where(raw["image"] > config.binarize_threshold, 1.0, -1.0)
    np.testing.assert_array_equal(reference, expected)
    continuous = get_spec(compare.family_config("flow", "digits", "smoke", "/unused"))
    levels = run.reference_images(continuous, raw)
    np.testing.assert_allclose(levels, raw["image"] / 8.0 - 1.0, atol=1e-6)


def test_table_units_and_provenance():
    base = {"params": 10, "train_steps": 100, "batch_size": 8, "train_seconds": 3.0, "nfe": 1,
            "fid": 5.0, "fid_provenance": "FID 5.0 (100 generated vs 360 reference from digits/test; "
            "features: digits-classifier)", "extractor": "digits-classifier (test accuracy 0.9944)"}
    report = {"dataset": "digits", "budget": "smoke", "backend": "cpu", "devices": 1, "date": "2026-11-27",
              "rows": [dict(base, family="RBM", reference="binarized", test_nll_nats=21.4,
                            test_bits_per_dim=0.48, likelihood_examples=360),
                       dict(base, family="Flow", reference="levels", test_nll_nats=90.0,
                            test_bits_per_dim=2.029, likelihood_examples=360),
                       dict(base, family="EDM", reference="levels", test_nll_nats=None, test_bits_per_dim=None,
                            likelihood_refused="solver error 0.052 bits/dim above 0.01",
                            likelihood_solver_error_bits_per_dim=0.052, likelihood_examples=360)]}
    report["rows"][1]["fid_provenance"] = base["fid_provenance"].replace("FID 5.0", "FID 7.5")
    for r, (train, evaluation) in zip(report["rows"], [(3.0, 57.0), (60.0, 60.0), (100.0, 20.0)], strict=True):
        r.update(train_seconds=train, eval_seconds=evaluation)
    report["rows"][2]["stage_train_seconds"] = 60.0
    table = compare.markdown_table(report)
    # The provenance is stated once, without the rows' own figures; the time adds every row and stage.
    assert table.count("100 generated vs 360 reference from digits/test") == 1 and "FID 7.5 (" not in table
    assert "autoencoder stage included: 6.0 min" in table
    assert table.count("extractor: digits-classifier (test accuracy 0.9944)") == 1
    assert "| 21.4 nats |" in table and "| 2.029 bits/dim |" in table
    assert "| refused (solver error 0.052 bits/dim) |" in table
    assert "100 generated vs 360 reference from digits/test" in table
    assert "RBM are judged against the binarized test images" in table


def test_a_rerun_reuses_finished_rows(tmp_path, monkeypatch):
    first = compare.compare(str(tmp_path), "smoke", ("rbm",), "digits")
    row = first["rows"][0]
    assert row["reference"] == "binarized" and row["train_steps"] == 10
    assert "100 generated vs 360 reference from digits/test" in row["fid_provenance"]
    assert (tmp_path / "report.md").exists() and (tmp_path / "samples.png").exists()

    def no_training(*args, **kwargs):
        raise AssertionError("a finished family was trained again")

    monkeypatch.setattr(run, "train", no_training)
    again = compare.compare(str(tmp_path), "smoke", ("rbm",), "digits")
    assert again["rows"][0]["fid"] == row["fid"]


def test_a_row_judged_by_another_extractor_is_rescored_from_its_saved_samples(tmp_path, monkeypatch):
    """A retrained classifier rescores the saved samples, no training or sampling: with every feature
    doubled (and shifted), the Frechet distance of the same samples is exactly four times the first."""
    first = compare.compare(str(tmp_path), "smoke", ("rbm",), "digits")["rows"][0]
    assert first["extractor"].startswith("digits-classifier (test accuracy")
    shipped = run.features_for(compare.family_config("rbm", "digits", "smoke", str(tmp_path)))

    def doubled(images):
        features, probs = shipped.apply(images)
        return 2.0 * features + 1.0, probs

    retrained = shipped._replace(apply=doubled, test_accuracy=0.5)
    monkeypatch.setattr(run, "features_for", lambda config: retrained)

    def no_sampling(*args, **kwargs):
        raise AssertionError("a finished family was trained or evaluated again")

    monkeypatch.setattr(run, "train", no_sampling)
    monkeypatch.setattr(run, "evaluate", no_sampling)
    row = compare.compare(str(tmp_path), "smoke", ("rbm",), "digits")["rows"][0]
    assert row["extractor"] == "digits-classifier (test accuracy 0.5000)"
    assert row["fid"] == pytest.approx(4.0 * first["fid"], rel=1e-4)
    assert row["test_nll_nats"] == first["test_nll_nats"]  # the likelihood is not the extractor's
    saved = json.loads((tmp_path / "rbm_digits" / "eval.json").read_text())
    assert saved["fid"] == pytest.approx(row["fid"]) and saved["extractor"] == row["extractor"]


def test_a_row_of_a_changed_config_is_evaluated_again_without_training(tmp_path, monkeypatch):
    first = compare.compare(str(tmp_path), "smoke", ("rbm",), "digits")["rows"][0]
    metrics = (tmp_path / "rbm_digits" / "metrics.jsonl").read_text()
    family_config = compare.family_config

    def reseeded(*args, **kwargs):
        config = family_config(*args, **kwargs)
        config.eval.seed += 1  # other samples, same model
        return config

    monkeypatch.setattr(compare, "family_config", reseeded)
    row = compare.compare(str(tmp_path), "smoke", ("rbm",), "digits")["rows"][0]
    assert row["configs"]["own"]["eval"]["seed"] == first["configs"]["own"]["eval"]["seed"] + 1
    assert row["fid"] != first["fid"] and row["num_generated"] == first["num_generated"]
    assert (tmp_path / "rbm_digits" / "metrics.jsonl").read_text() == metrics  # no step trained again


def test_a_row_trained_from_a_changed_teacher_is_refused(tmp_path):
    config = compare.family_config("consistency", "digits", "smoke", str(tmp_path))
    stages = compare.stage_configs(config, "digits", "smoke", str(tmp_path))
    assert set(stages) == {"teacher_config"} and "eval" not in stages["teacher_config"]
    family_dir = tmp_path / "consistency_digits"
    family_dir.mkdir()
    cached = {"fid": 1.0, "extractor": run.extractor_id(run.features_for(config)),
              "configs": {"own": json.loads(json.dumps(config.to_dict(), default=list)), "stages": stages}}
    (family_dir / "row.json").write_text(json.dumps(cached))
    # How the teacher's step is compiled does not change its weights: the cached row stands.
    recompiled = json.loads(json.dumps(stages))
    recompiled["teacher_config"]["train"]["compiler_options"] = {}
    assert compare._row(config, str(family_dir), recompiled)["fid"] == 1.0
    longer = json.loads(json.dumps(stages))
    longer["teacher_config"]["train"]["num_steps"] += 10
    with pytest.raises(run.RunError, match=r"teacher whose config has changed since, in \['train.num_steps'\]"):
        compare._row(config, str(family_dir), longer)


def test_a_row_in_a_moved_workdir_is_reused(tmp_path):
    """The consistency config names its teacher's directory inside the workdir, so moving the workdir
    moves that path; the row stands (its teacher is judged by the teacher's config)."""
    before = compare.family_config("consistency", "digits", "smoke", str(tmp_path / "a"))
    config = compare.family_config("consistency", "digits", "smoke", str(tmp_path / "b"))
    assert before.teacher_workdir != config.teacher_workdir
    stages = compare.stage_configs(config, "digits", "smoke", str(tmp_path / "b"))
    family_dir = tmp_path / "b" / "consistency_digits"
    family_dir.mkdir(parents=True)
    cached = {"fid": 1.0, "extractor": run.extractor_id(run.features_for(config)),
              "configs": {"own": json.loads(json.dumps(before.to_dict(), default=list)), "stages": stages}}
    (family_dir / "row.json").write_text(json.dumps(cached))
    assert compare._row(config, str(family_dir), stages)["fid"] == 1.0
