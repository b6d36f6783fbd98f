"""Config -> library calls: ``train``, ``sample`` and ``evaluate`` one family on one dataset.

``main.py`` only parses flags and calls these; they read nothing global, so notebooks and the
comparison call them directly with a ConfigDict and a workdir. In a run of several processes
(``jax.distributed.initialize`` first) every process calls the same function: training is data
parallel over every process's devices, samples and test likelihoods are split among the processes
and gathered, and only process 0 writes files.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from typing import Any, Callable, Optional

import jax
import numpy as np

from experiments import grids
from experiments.families import FamilySpec, get_spec
from experiments.families.common import compiler_options
from experiments.optimizers import make_optimizer
from genjax import training
from genjax.data import batching, registry
from genjax.metrics import likelihood
from genjax.samplers import consistency as csamp
from genjax.samplers import ode

__all__ = [
    "train", "sample", "evaluate", "restore", "RunError", "load_split", "draw_timed", "features_for",
    "reference_images", "search_sigmas", "with_sigmas", "fid_score", "SEARCH_DEFAULTS", "compiled_sampling",
    "image_metrics", "rescore", "extractor_id", "write_json", "evaluation_state",
]

MODES = ("train", "sample", "evaluate", "rescore")


class RunError(RuntimeError):
    """A user-facing problem of a run (missing checkpoint, unprepared data); printed as one line."""


def load_split(config, split: str) -> dict[str, np.ndarray]:
    """Raw arrays of ``config.dataset`` (``{'image': uint8 levels, 'label': int32}``)."""
    kwargs = {"data_dir": config.get("data_dir") or None}
    try:
        return registry.load(config.dataset, split, **kwargs)
    except ValueError as err:
        raise RunError(str(err)) from err


def _mode(config) -> str:
    mode = config.train.get("mode", "auto")
    if mode == "auto":
        return "shard" if jax.device_count() > 1 else "jit"
    return mode


def train(config, workdir: str, *, progress: bool = True) -> training.TrainState:
    """Trains (or resumes) ``config.family`` on ``config.dataset`` into ``workdir``."""
    spec = get_spec(config)
    arrays = spec.to_batch(load_split(config, "train"))
    data = batching.epoch_batches(
        arrays, config.train.batch_size, config.train.seed,
        process_index=jax.process_index(), process_count=jax.process_count(),
    )
    return training.fit(
        spec.model,
        make_optimizer(config.optimizer.to_dict()),
        data,
        key=jax.random.PRNGKey(config.train.seed),
        num_steps=config.train.num_steps,
        workdir=workdir,
        ema_decay=spec.ema_decay,
        mode=_mode(config),
        log_every=config.train.log_every,
        checkpoint_every=config.train.checkpoint_every,
        config=config.to_dict(),
        progress=progress,
        compiler_options=compiler_options(config.train),
    )


def restore(config, workdir: str) -> tuple[FamilySpec, training.TrainState]:
    """The family spec and the latest train state of ``workdir``.

    Raises:
      RunError: when ``workdir`` has no checkpoint.
    """
    spec = get_spec(config)
    ckpt = training.Checkpointer(os.path.join(workdir, "checkpoints"))
    if ckpt.latest_step() is None:
        raise RunError(f"no checkpoint in {workdir}/checkpoints: run --mode train with this workdir first")
    trained = ckpt.restore_meta(ckpt.latest_step()).get("config", {}).get("family")
    if trained not in (None, config.family):
        raise RunError(f"{workdir} holds a {trained!r} run and this config is {config.family!r}: use the "
                       f"{trained} config or another workdir")
    init_batch = {k: v[: config.train.batch_size] for k, v in spec.to_batch(load_split(config, "train")).items()}
    template = training.create_train_state(
        spec.model, make_optimizer(config.optimizer.to_dict()), jax.random.PRNGKey(0), init_batch,
        ema_decay=spec.ema_decay,
    )
    if _mode(config) == "pmap":  # the checkpoint keeps a model state per device of the whole run
        template = template.replace(
            model_state=jax.tree.map(lambda x: np.broadcast_to(x, (jax.device_count(),) + np.shape(x)),
                                     template.model_state)
        )
    state, _ = ckpt.restore(template)
    ckpt.close()
    return compiled_sampling(spec, compiler_options(config.sample)), state


def compiled_sampling(spec: FamilySpec, options: Optional[dict[str, Any]]) -> FamilySpec:
    """``spec`` drawing with ``model.sample`` as one ``jax.jit`` call under the compiler ``options``
    (on the EMA params when kept), unless the family brings its own ``sample``."""
    if spec.sample is not None:
        return spec
    model_sample = jax.jit(spec.model.sample, static_argnums=3, compiler_options=options)

    def sample(state, key, n: int):
        params = state.eval_params
        return model_sample(params, state.model_state, key, n)

    return dataclasses.replace(spec, sample=sample)


def _draw(spec: FamilySpec, state, key, n: int) -> np.ndarray:
    # A spec from ``restore`` carries its compiled sampler; any other is compiled here, per call.
    out = (spec.sample or compiled_sampling(spec, None).sample)(state, key, n)
    return np.asarray(spec.to_images(np.asarray(out)))


def _split_among_processes(fn: Callable[[int, int], np.ndarray], n: int) -> np.ndarray:
    """``n`` rows computed in parallel by the run's processes and gathered on every process.

    Process ``p`` of ``P`` computes ``fn(p, m)``, its share of ``m = ceil(n / P)`` rows
    ``[m, ...]``; the shares are concatenated in process order and cut to ``[n, ...]``. A single
    process computes ``fn(0, n)``.
    """
    count = jax.process_count()
    if count == 1:
        return np.asarray(fn(0, n))
    from jax.experimental import multihost_utils

    share = np.asarray(fn(jax.process_index(), -(-n // count)))
    return np.asarray(multihost_utils.process_allgather(share, tiled=True))[:n]


def _draw_all(spec: FamilySpec, state, key, n: int) -> np.ndarray:
    """``n`` images drawn in parallel by the run's processes (process ``p`` with ``fold_in(key,
    p)``; a single process with ``key``, as before there were several)."""

    def share(p: int, m: int) -> np.ndarray:
        return _draw(spec, state, key if jax.process_count() == 1 else jax.random.fold_in(key, p), m)

    return _split_among_processes(share, n)


def sample(config, workdir: str, n: Optional[int] = None) -> str:
    """Draws samples from the latest checkpoint and writes ``workdir/samples.png`` (process 0)."""
    spec, state = restore(config, workdir)
    state = evaluation_state(config, spec, state, config.eval.get("weights", "ema"))
    n = n or config.sample.num_images
    images = _draw_all(spec, state, jax.random.PRNGKey(config.sample.seed), n)
    path = os.path.join(workdir, "samples.png")
    if jax.process_index() == 0:
        grids.save_grid(images, path, ncol=min(n, 10))
    return path


def draw_timed(spec: FamilySpec, state, key, n: int, chunk: int = 250) -> tuple[np.ndarray, float]:
    """``n`` images drawn in chunks of one size (one compilation), each chunk split among the run's
    processes, and the seconds per image of the chunks after the first (the first pays for compiling;
    when ``n`` fits one chunk, one more chunk is drawn to time)."""
    chunk = min(chunk, n)
    count = -(-n // chunk)
    images, seconds = [], []
    for i in range(max(count, 2)):
        t0 = time.perf_counter()
        out = _draw_all(spec, state, jax.random.fold_in(key, i), chunk)
        seconds.append(time.perf_counter() - t0)
        if i < count:
            images.append(out)
    return np.concatenate(images)[:n], float(np.mean(seconds[1:])) / chunk


def features_for(config):
    """The evaluation's feature extractor: converted Inception-v3 weights when
    ``config.eval.inception_weights`` names a file, else the classifier shipped for the dataset.

    Raises:
      RunError: when neither exists for the dataset.
    """
    from genjax.metrics import features

    weights = config.eval.get("inception_weights", "")
    try:
        return features.inception_features(weights) if weights else features.dataset_features(config.dataset)
    except (ValueError, FileNotFoundError) as err:
        raise RunError(str(err)) from err


def reference_images(spec: FamilySpec, raw: dict) -> np.ndarray:
    """Test images as the family models them, in [-1, 1]: binarized for binary families (RBM, DBM,
    Bernoulli VAE), on the dataset's level grid otherwise. Samples are judged against these."""
    return np.asarray(spec.to_images(spec.to_batch(raw)["image"]))


def save_samples(path: str, images: np.ndarray) -> None:
    """Writes the evaluated samples (float32 [N, H, W, C] in [-1, 1]) to ``path`` (an ``.npz`` with key
    ``'images'``) through a temporary file, so a cut-off write never leaves a half file: a changed
    feature extractor rescores them without sampling again."""
    tmp = path + ".tmp.npz"
    np.savez_compressed(tmp, images=np.asarray(images, np.float32))
    os.replace(tmp, path)


def write_json(path: str, obj: Any) -> None:
    """Writes ``obj`` as JSON (floats for numpy scalars) to ``path`` through a temporary file, so a
    cut-off write never leaves a half file."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2, default=float)
    os.replace(tmp, path)


SEARCH_DEFAULTS = {
    "search_candidates": tuple(float(s) for s in np.geomspace(0.05, 40.0, 8).round(3)),
    "search_samples": 300,
    "search_reference": 2000,
}
"""The sigma search's defaults (``config.eval`` overrides each): 8 log-spaced candidates, FID of 300
samples against the last 2,000 training images (all of them on digits): at most 8 scores per step
after the first."""


def with_sigmas(spec: FamilySpec, sigmas: tuple[float, ...]) -> FamilySpec:
    """``spec`` sampling over ``sigmas`` (one network evaluation each) instead of its config's."""
    return dataclasses.replace(spec, sample=lambda state, key, n: spec.sample_with_sigmas(state, key, n, sigmas),
                               nfe=len(sigmas))


def fid_score(draw: Callable[[Any], np.ndarray], reference: np.ndarray, extractor) -> Callable[[Any], float]:
    """``args -> FID`` of the images ``draw(args)`` (float32 [N, H, W, C] in [-1, 1]) against
    ``reference`` under ``extractor``, whose statistics are computed once: the score of a search."""
    from genjax.metrics import fid as fid_lib

    ref_stats = fid_lib.stats_from_features(extractor.apply(reference)[0])
    return lambda args: fid_lib.frechet_distance(
        fid_lib.stats_from_features(extractor.apply(np.asarray(draw(args), np.float32))[0]), ref_stats)


def search_sigmas(config, spec: FamilySpec, state, extractor) -> tuple[csamp.GreedySigmas, dict[str, Any]]:
    """The ``config.eval.search_sigmas`` sigmas of a multistep consistency sampler, chosen by
    :func:`genjax.samplers.consistency.greedy_sigmas` (Song et al., 2023) on the FID of
    ``eval.search_samples`` samples (one seed for every schedule) against the last
    ``eval.search_reference`` training images, never the test split the evaluation reports on.
    The first sigma is ``config.model.sample_sigmas[0]`` (sigma_max).

    Returns:
      the search result and what to record of it (``eval.json``).

    Raises:
      RunError: when the family is not sampled over sigmas.
    """
    if spec.sample_with_sigmas is None:
        raise RunError(f"eval.search_sigmas needs a family sampled over noise levels (consistency), "
                       f"not {config.family!r}")
    opts = {k: config.eval.get(k, v) for k, v in SEARCH_DEFAULTS.items()}
    train_raw = load_split(config, "train")
    m = min(int(opts["search_reference"]), len(train_raw["label"]))
    reference = reference_images(spec, {k: v[-m:] for k, v in train_raw.items()})
    key, n = jax.random.PRNGKey(config.eval.seed + 1), int(opts["search_samples"])
    draw = lambda sigmas: spec.to_images(np.asarray(spec.sample_with_sigmas(state, key, n, sigmas)))
    score = fid_score(draw, reference, extractor)
    candidates = tuple(float(c) for c in opts["search_candidates"])
    found = csamp.greedy_sigmas(score, candidates, int(config.eval.search_sigmas), float(config.model.sample_sigmas[0]))
    record = {
        "sample_sigmas": list(found.sigmas),
        "sigma_search": {
            "candidates": list(candidates), "samples": n, "reference": f"{config.dataset}/train[-{m}:]",
            "prefix_fids": list(found.scores), "trials": [[list(s), v] for s, v in found.trials],
        },
    }
    return found, record


def extractor_id(extractor) -> str:
    """What identifies an evaluation's feature extractor in ``eval.json``: its name and, for a
    shipped classifier, its test accuracy (a retrained classifier is a different judge)."""
    accuracy = extractor.test_accuracy
    return extractor.name if np.isnan(accuracy) else f"{extractor.name} (test accuracy {accuracy:.4f})"


def image_metrics(config, spec: FamilySpec, images: np.ndarray, extractor, test: dict) -> dict[str, Any]:
    """FID / KID / IS / precision / recall / density / coverage of ``images`` (float32 [N, H, W, C]
    in [-1, 1]) against ``test`` as the family models it (:func:`reference_images`), with the
    extractor (:func:`extractor_id`) and the kind of reference recorded."""
    from genjax.metrics import evaluation

    reference = reference_images(spec, test)
    result = evaluation.evaluate_images(
        images, reference, reference_name=f"{config.dataset}/test", extractor=extractor
    )
    result["extractor"] = extractor_id(extractor)
    result["reference"] = "binarized" if np.all(np.isin(reference, (-1.0, 1.0))) else "levels"
    return result


WEIGHTS_OTHER = {"ema": "raw", "raw": "ema"}


def evaluation_state(config, spec: FamilySpec, state: training.TrainState, weights: str) -> training.TrainState:
    """``state`` as the evaluation samples it with ``weights`` (``config.eval.weights``: ``'ema'``,
    the average, with the model state recomputed for it where the family has one, or ``'raw'``, the
    trained params; see :func:`genjax.training.weights_for_evaluation`).

    Raises:
      RunError: for unknown ``weights``.
    """
    if weights not in training.WEIGHTS:
        raise RunError(f"eval.weights must be one of {list(training.WEIGHTS)}, got {weights!r}")
    return training.weights_for_evaluation(spec.model, state, weights, jax.random.PRNGKey(config.eval.seed + 2))


def _headline(metrics: dict[str, Any]) -> dict[str, Any]:
    """The image metrics of one set of weights, without what is shared by both (extractor, reference)."""
    return {k: v for k, v in metrics.items() if k not in ("extractor", "reference", "reference_name")}


def rescore(config, workdir: str) -> dict[str, Any]:
    """The image metrics of the samples an earlier :func:`evaluate` saved (``workdir/samples.npz``)
    under today's feature extractor, merged into ``workdir/eval.json`` and returned with it: a
    retrained classifier rescores a run without training or sampling again.

    Raises:
      RunError: when ``workdir`` has no ``samples.npz`` or ``eval.json``.
    """
    paths = {name: os.path.join(workdir, name) for name in ("samples.npz", "eval.json")}
    for path in paths.values():
        if not os.path.exists(path):
            raise RunError(f"no {path}: run --mode evaluate with this workdir first")
    with np.load(paths["samples.npz"]) as f:
        images = np.asarray(f["images"], np.float32)
    with open(paths["eval.json"]) as f:
        result = json.load(f)
    spec, extractor, test = get_spec(config), features_for(config), load_split(config, "test")
    headline = image_metrics(config, spec, images, extractor, test)
    result.update(headline)
    for name in result.get("by_weights", {}):
        if name == result["weights"]:
            result["by_weights"][name] = _headline(headline)
            continue
        path = os.path.join(workdir, f"samples_{name}.npz")
        if not os.path.exists(path):
            raise RunError(f"no {path}: run --mode evaluate with this workdir first")
        with np.load(path) as f:
            other = np.asarray(f["images"], np.float32)
        result["by_weights"][name] = _headline(image_metrics(config, spec, other, extractor, test))
    if jax.process_index() == 0:
        write_json(paths["eval.json"], result)
    return result


def evaluate(config, workdir: str) -> dict[str, Any]:
    """FID / KID / precision / recall / density / coverage against the test split under the dataset's
    feature extractor, sampling speed, and the test likelihood, written to ``workdir/eval.json``
    (process 0; every process returns the same result), the samples to ``workdir/samples.npz``.

    ``config.eval.num_samples`` images are drawn; the likelihood is computed on the first
    ``config.eval.likelihood_examples`` test images (all when 0 or absent) and reported in nats per
    image and bits per dimension of the stored pixels. An ODE likelihood comes with its solver's
    error estimate; bits/dim whose estimated error exceeds ``config.eval.likelihood_tolerance``
    (default 0.01 bits/dim) are refused, not reported (:func:`genjax.metrics.likelihood.likelihood_report`
    lists the fields).

    With ``config.eval.search_sigmas = K`` (consistency models) the samples come from the K-step
    sampler whose sigmas :func:`search_sigmas` chose on training images first; ``eval.json`` records
    them and the search (``sample_sigmas``, ``sigma_search``).
    """
    extractor = features_for(config)
    spec, trained = restore(config, workdir)
    weights = config.eval.get("weights", "ema")
    state = evaluation_state(config, spec, trained, weights)
    searched: dict[str, Any] = {}
    if config.eval.get("search_sigmas", 0):
        found, searched = search_sigmas(config, spec, state, extractor)
        spec = with_sigmas(spec, found.sigmas)
    n = config.eval.num_samples
    images, seconds_per_image = draw_timed(spec, state, jax.random.PRNGKey(config.eval.seed), n)
    if jax.process_index() == 0:
        save_samples(os.path.join(workdir, "samples.npz"), images)
    test = load_split(config, "test")
    result = image_metrics(config, spec, images, extractor, test)
    headline = _headline(result)
    result["sample_seconds_per_1000"] = 1000.0 * seconds_per_image
    result["nfe"] = spec.nfe
    result.update(searched)
    result["weights"] = weights if trained.ema_params is not None else "raw"
    if trained.ema_params is not None:
        # The other weights' samples, drawn with the same keys and judged the same way: which weights
        # a family should sample is measured on every evaluation, not assumed.
        other = WEIGHTS_OTHER[weights]
        other_images, _ = draw_timed(spec, evaluation_state(config, spec, trained, other),
                                     jax.random.PRNGKey(config.eval.seed), n)
        if jax.process_index() == 0:
            save_samples(os.path.join(workdir, f"samples_{other}.npz"), other_images)
        result["by_weights"] = {
            weights: headline,
            other: _headline(image_metrics(config, spec, other_images, extractor, test)),
        }
    limit = config.eval.get("likelihood_examples", 0) or len(test["label"])
    batch = spec.to_batch({k: v[:limit] for k, v in test.items()})
    log_prob = None
    if spec.log_prob is not None:
        log_prob = lambda b, k: spec.log_prob(state, b, k)
        result["likelihood"] = spec.likelihood
    elif spec.model.log_prob is not None:
        # Compiled, as the samplers are: op by op, the Fashion-MNIST PixelCNN's exact likelihood took
        # 15.9 s per 500 test images against 2.5 s compiled.
        model_log_prob = jax.jit(spec.model.log_prob, compiler_options=compiler_options(config.sample))
        log_prob = lambda b, k: model_log_prob(state.eval_params, state.model_state, b, k)
        result["likelihood"] = spec.model.likelihood.value
    if log_prob is not None:
        size = len(batch["image"])

        # 0 (the default): one call per process. An estimator with a shared cost per call (AIS's log Z
        # for RBM and DBM) must see all of its examples at once.
        batch_size = config.eval.get("likelihood_batch", 0)

        def rows_of(rows: np.ndarray) -> np.ndarray:
            # Each call's randomness (IWAE draws, Hutchinson probes) is its own, keyed by its first row.
            out = log_prob({k: v[rows] for k, v in batch.items()}, jax.random.fold_in(jax.random.PRNGKey(1), int(rows[0])))
            if isinstance(out, ode.LogLikelihood):
                return np.stack([np.asarray(out.log_prob), np.asarray(out.error),
                                 np.broadcast_to(np.asarray(out.nfe, np.float64), (len(rows),))], -1)
            return np.stack([np.asarray(out), np.full(len(rows), np.nan), np.zeros(len(rows))], -1)

        def share(p: int, m: int) -> np.ndarray:
            """Columns: log-likelihood, solver error (nan without a solver), network evaluations.
            Computed ``eval.likelihood_batch`` examples at a time when set (an IWAE bound holds K
            decoder outputs per example), every call the same size, so it compiles once: the last
            share and the last call repeat the last example as padding."""
            rows = np.minimum(np.arange(p * m, (p + 1) * m), size - 1)
            step = min(batch_size or m, m)  # never more rows than the share: padding is work
            padded = np.concatenate([rows, np.full(-len(rows) % step, size - 1, rows.dtype)])
            return np.concatenate([rows_of(r) for r in np.split(padded, len(padded) // step)])[:m]

        columns = _split_among_processes(share, size)
        solver_error = None if np.all(np.isnan(columns[:, 1])) else columns[:, 1]
        if solver_error is not None:
            result["likelihood_nfe"] = int(np.max(columns[:, 2]))
        result["likelihood_examples"] = size
        result.update(likelihood.likelihood_report(
            columns[:, 0], int(np.prod(test["image"].shape[1:])), solver_error_nats=solver_error,
            steps=spec.likelihood_steps, tolerance_bits_per_dim=config.eval.get("likelihood_tolerance", 0.01),
        ))
    if spec.summary is not None:
        result.update(spec.summary(state, test))
    if jax.process_index() == 0:
        write_json(os.path.join(workdir, "eval.json"), result)
    return result
