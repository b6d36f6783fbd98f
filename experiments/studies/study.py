"""The shared tail of the per-family studies (``experiments/studies/*_quality.py``): their common flags, each
dataset's train / validation / test split, evaluation under the dataset's shipped classifier, and the
``report.json`` / ``report.md`` they write.

A study keeps only what is its own (models, flags, metrics)::

    parser = study.argument_parser(__doc__, "flows_quality")
    parser.add_argument("--eval-draws", type=int, default=10)
    args = study.parse_args(parser, argv, DEFAULTS)   # per-dataset and --quick defaults
    data = study.data_from_args(args)                  # StudyData: fit / validation / test
    ...
    study.write_report(args, results)

Datasets: ``digits`` (scikit-learn's 8x8 digits, 17 levels, genjax's fixed 1,437 / 360 split) and
``fashion_mnist`` (Xiao et al., 2017: 28x28, 256 levels, 60,000 / 10,000; ``apt-get install
dataset-fashion-mnist``). The validation images are a fixed random slice of the training split
(200 digits, 5,000 Fashion-MNIST images), drawn with the same seed on every machine, so the studies
that early-stop (flows, PixelCNN, VAE) select on the same images.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
from typing import Any, Callable, Mapping, Optional, Sequence

import numpy as np

from genjax.data import registry, transforms
from genjax.metrics import evaluation, features

__all__ = [
    "DATASETS",
    "VALIDATION",
    "QUICK_DATA",
    "StudyData",
    "argument_parser",
    "parse_args",
    "split_validation",
    "load_data",
    "data_from_args",
    "select",
    "map_batches",
    "extractor",
    "score_images",
    "write_report",
    "markdown_report",
]

DATASETS = ("digits", "fashion_mnist")
VALIDATION = {"digits": 200, "fashion_mnist": 5000}
"""Training images held out for validation, per dataset."""
QUICK_DATA = {"digits": {}, "fashion_mnist": {"max_examples": 300, "max_test": 100}}
"""What ``--quick`` does to the data (on top of a study's own quick settings)."""
SPLIT_SEED = 0


@dataclasses.dataclass(frozen=True)
class StudyData:
    """One dataset's splits as raw levels (``{'image': uint8 [N, H, W, C] in 0..levels-1, 'label':
    int32 [N]}``) with the two scalings the families use.

    Attributes:
      dataset: its name (one of :data:`DATASETS`).
      levels: grey levels of the stored pixels (17 digits, 256 Fashion-MNIST).
      train: every training image loaded (``fit`` and ``validation`` together).
      fit, validation: the disjoint training and validation parts of ``train``.
      test: the test split (the first ``max_test`` images when capped).
    """

    dataset: str
    levels: int
    train: dict
    fit: dict
    validation: dict
    test: dict

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(H, W, C)``: (8, 8, 1) or (28, 28, 1)."""
        return tuple(int(s) for s in self.test["image"].shape[1:])

    @property
    def dims(self) -> int:
        """Pixels per image, the D of bits/dim."""
        return math.prod(self.image_shape)

    def _split(self, split: str) -> dict:
        if split not in ("train", "fit", "validation", "test"):
            raise ValueError(f"unknown split {split!r}; valid: ['train', 'fit', 'validation', 'test']")
        return getattr(self, split)

    def symmetric(self, split: str) -> np.ndarray:
        """float32 ``[N, H, W, C]`` on the ``levels`` grid in [-1, 1] (continuous families)."""
        return np.asarray(transforms.to_symmetric(self._split(split)["image"], self.levels), np.float32)

    def binary(self, split: str) -> np.ndarray:
        """float32 ``[N, H, W, C]`` in {0, 1}: the pixels above half intensity, i.e. the fixed
        threshold 0.5 on [0, 1] (level > 8 of 16 on digits, pixel > 127 on Fashion-MNIST)."""
        return np.asarray(transforms.binarize(self._split(split)["image"], (self.levels - 1) / 2))

    def labels(self, split: str) -> np.ndarray:
        """int32 ``[N]`` class labels."""
        return np.asarray(self._split(split)["label"])

    def describe(self) -> dict[str, Any]:
        """Sizes and shape, for the report."""
        return {
            "dataset": self.dataset,
            "image_shape": list(self.image_shape),
            "levels": self.levels,
            **{f"{s}_size": len(self._split(s)["label"]) for s in ("train", "fit", "validation", "test")},
        }


def argument_parser(doc: str, name: str, *, steps: bool = True) -> argparse.ArgumentParser:
    """A parser with the flags every study shares; add the study's own, then call :func:`parse_args`.

    Args:
      doc: the study's module docstring (its first line is the description).
      name: the study's name (``'flows_quality'``): the default workdir is ``runs/NAME/DATASET``.
      steps: add ``--steps`` (training steps per model); off for studies counted in epochs.
    """
    parser = argparse.ArgumentParser(description=doc.strip().splitlines()[0])
    parser.set_defaults(study=name)
    parser.add_argument("--dataset", choices=DATASETS, default="digits")
    parser.add_argument("--workdir", default=None, help="default: runs/<study>/<dataset>")
    parser.add_argument("--data-dir", default=None, help="a directory with the dataset's IDX files")
    parser.add_argument("--seed", type=int, default=0, help="PRNG seed of the models (the split is fixed)")
    parser.add_argument("--models", default="", help="comma-separated subset of the models (default: all)")
    if steps:
        parser.add_argument("--steps", type=int, default=None, help="training steps per model")
    parser.add_argument(
        "--validation", type=int, default=None,
        help=f"training images held out for validation (default {VALIDATION}, a tenth of --max-examples)",
    )
    parser.add_argument("--max-examples", type=int, default=None, help="use only the first N training images")
    parser.add_argument("--max-test", type=int, default=None, help="use only the first N test images")
    parser.add_argument(
        "--quick", action="store_true", help="a few steps on little data: checks the script runs"
    )
    return parser


def parse_args(
    parser: argparse.ArgumentParser,
    argv: Optional[Sequence[str]],
    defaults: Optional[Mapping[str, Mapping[str, Any]]] = None,
) -> argparse.Namespace:
    """Parses ``argv`` with per-dataset defaults: a flag given on the command line wins, then
    ``defaults['quick']`` and :data:`QUICK_DATA` under ``--quick``, then ``defaults[DATASET]``, then
    the parser's own default. Creates the workdir.

    Raises:
      ValueError: when ``defaults`` names a dataset or a flag the parser does not have (a bug in the
        study, not a user error).
    """
    defaults = defaults or {}
    dests = {a.dest for a in parser._actions}
    for group, values in defaults.items():
        if group not in DATASETS + ("quick",):
            raise ValueError(f"defaults for unknown group {group!r}; valid: {list(DATASETS) + ['quick']}")
        unknown = sorted(set(values) - dests)
        if unknown:
            raise ValueError(f"defaults[{group!r}] names flags the parser lacks: {unknown}")
    first, _ = parser.parse_known_args(argv)
    values = dict(defaults.get(first.dataset, {}))
    if first.quick:
        values.update(QUICK_DATA[first.dataset])
        values.update(defaults.get("quick", {}))
    parser.set_defaults(**values)
    args = parser.parse_args(argv)
    if args.workdir is None:
        args.workdir = os.path.join("runs", args.study, args.dataset)
    os.makedirs(args.workdir, exist_ok=True)
    return args


def split_validation(data: Mapping[str, np.ndarray], size: int, seed: int = SPLIT_SEED) -> tuple[dict, dict]:
    """Holds out a fixed random ``size`` examples: ``(fit, validation)``, disjoint, covering ``data``,
    each in the original order, the same for the same ``(len, size, seed)``.

    Raises:
      ValueError: unless ``1 <= size < len(data)``.
    """
    n = len(next(iter(data.values())))
    if not 1 <= size < n:
        raise ValueError(f"validation size must be in 1..{n - 1} (the training images), got {size}")
    held = np.zeros(n, bool)
    held[np.random.default_rng(seed).permutation(n)[:size]] = True
    return {k: v[~held] for k, v in data.items()}, {k: v[held] for k, v in data.items()}


def load_data(
    dataset: str,
    *,
    validation: Optional[int] = None,
    max_examples: Optional[int] = None,
    max_test: Optional[int] = None,
    data_dir: Optional[str] = None,
) -> StudyData:
    """Loads ``dataset`` and splits its training images into fit and validation parts.

    Args:
      dataset: one of :data:`DATASETS`.
      validation: images held out (default :data:`VALIDATION`, or a tenth of ``max_examples`` when
        that is smaller).
      max_examples, max_test: keep the first this many training / test images (smoke runs).
      data_dir: where the IDX files are, if not in the system directory.

    Raises:
      ValueError: an unknown dataset, a validation size that leaves no training image, or missing
        files (naming ``apt-get install dataset-fashion-mnist``).
    """
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; valid choices: {list(DATASETS)}")
    train = registry.load(dataset, "train", data_dir=data_dir, max_examples=max_examples)
    test = registry.load(dataset, "test", data_dir=data_dir, max_examples=max_test)
    if validation is None:
        validation = VALIDATION[dataset]
        if max_examples is not None:
            validation = min(validation, max(1, max_examples // 10))
    fit, val = split_validation(train, validation)
    return StudyData(dataset, registry.num_levels(dataset), train, fit, val, test)


def data_from_args(args: argparse.Namespace) -> StudyData:
    """:func:`load_data` with the common flags of :func:`argument_parser`."""
    return load_data(
        args.dataset, validation=args.validation, max_examples=args.max_examples,
        max_test=args.max_test, data_dir=args.data_dir,
    )


def select(names: str, choices: Sequence[str]) -> list[str]:
    """The comma-separated ``names`` (all ``choices`` when empty), in the order of ``choices``.

    Raises:
      ValueError: for a name not in ``choices``, listing the valid ones.
    """
    wanted = [n for n in names.split(",") if n]
    unknown = sorted(set(wanted) - set(choices))
    if unknown:
        raise ValueError(f"unknown models {unknown}; valid: {list(choices)}")
    return [c for c in choices if not wanted or c in wanted]


def map_batches(fn: Callable[[np.ndarray], Any], x: np.ndarray, batch_size: int) -> np.ndarray:
    """``fn`` over ``x`` in chunks of ``min(batch_size, len(x))`` along the first axis, outputs
    concatenated: bounds the memory of per-example evaluations on 10,000 test images. The last chunk
    is padded with copies of ``x[0]`` (and the padding dropped), so a jitted ``fn`` compiles once."""
    size = min(batch_size, len(x))
    out = []
    for i in range(0, len(x), size):
        chunk = x[i : i + size]
        pad = size - len(chunk)
        if pad:
            chunk = np.concatenate([chunk, np.repeat(x[:1], pad, axis=0)])
        out.append(np.asarray(fn(chunk))[: size - pad])
    return np.concatenate(out)


def extractor(dataset: str) -> features.FeatureExtractor:
    """The dataset's shipped classifier (``genjax.metrics.features.dataset_features``)."""
    return features.dataset_features(dataset)


def score_images(
    images: np.ndarray,
    data: StudyData,
    extractor: features.FeatureExtractor,
    reference: Optional[np.ndarray] = None,
) -> dict[str, Any]:
    """FID / KID / precision / recall / coverage of generated images (float32 [N, H, W, C] in
    [-1, 1]) against the test split (or ``reference``), with the provenance string."""
    reference = data.symmetric("test") if reference is None else reference
    return evaluation.evaluate_images(
        images, reference, reference_name=f"{data.dataset}/test", extractor=extractor
    )


def write_report(args: argparse.Namespace, results: Mapping[str, Any], title: Optional[str] = None) -> dict:
    """Writes ``report.json`` (the flags and every result) and ``report.md`` (the same as tables) in
    ``args.workdir``, prints the JSON on one line, and returns it with the two paths."""
    report = {
        "study": args.study,
        "dataset": args.dataset,
        "flags": {k: v for k, v in sorted(vars(args).items()) if k != "study"},
        "results": dict(results),
    }
    json_path = os.path.join(args.workdir, "report.json")
    md_path = os.path.join(args.workdir, "report.md")
    with open(json_path, "w") as f:
        json.dump(report, f, indent=1, default=_jsonable)
    with open(md_path, "w") as f:
        f.write(markdown_report(report, title))
    print(json.dumps(report, default=_jsonable), flush=True)
    return {**report, "report_json": json_path, "report_md": md_path}


def _jsonable(x):
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")


def _cell(v) -> Optional[str]:
    if isinstance(v, (bool, np.bool_)) or v is None or isinstance(v, str):
        return str(v)
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.4g}"
    if isinstance(v, (list, tuple)) and len(v) <= 12:
        cells = [None if isinstance(e, (list, tuple, Mapping)) else _cell(e) for e in v]
        if all(c is not None for c in cells):
            return ", ".join(cells)
    return None  # long or nested lists (curves, trajectories) stay in report.json


def _flatten(row: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    out = {}
    for k, v in row.items():
        if isinstance(v, Mapping):
            out.update(_flatten(v, f"{prefix}{k}/"))
        elif (c := _cell(v)) is not None:
            out[f"{prefix}{k}"] = c
    return out


def _table(rows: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Metrics down, models across (the models' metric names differ)."""
    flat = {name: _flatten(row) for name, row in rows.items()}
    metrics = list(dict.fromkeys(m for row in flat.values() for m in row))
    lines = ["| metric | " + " | ".join(flat) + " |", "| --- |" + " --- |" * len(flat)]
    lines += [f"| {m} | " + " | ".join(row.get(m, "") for row in flat.values()) + " |" for m in metrics]
    return lines


def markdown_report(report: Mapping[str, Any], title: Optional[str] = None) -> str:
    """The report as markdown: flags and scalar results as a list, dict-valued results as tables
    (one table of the models' rows; a dict of dicts, e.g. the GAN's toy runs, as its own table)."""
    lines = [f"# {title or report['study']} on {report['dataset']}", "", "## Flags", ""]
    lines += [f"- {k}: {_cell(v) if _cell(v) is not None else json.dumps(v, default=_jsonable)}"
              for k, v in report["flags"].items()]
    results = report["results"]
    scalars = {k: _cell(v) for k, v in results.items() if not isinstance(v, Mapping) and _cell(v) is not None}
    rows = {k: v for k, v in results.items() if isinstance(v, Mapping)}
    groups = {k: v for k, v in rows.items() if v and all(isinstance(r, Mapping) for r in v.values())}
    lines += ["", "## Results", ""] + [f"- {k}: {v}" for k, v in scalars.items()]
    single = {k: v for k, v in rows.items() if k not in groups}
    if single:
        lines += [""] + _table(single)
    for name, group in groups.items():
        lines += ["", f"### {name}", ""] + _table(group)
    return "\n".join(lines) + "\n"
