"""The results tables of the README and the docs, rendered from one committed file per data set.

``docs/results/<dataset>.json`` is a copy of a comparison's ``report.json``
(``experiments.compare``) and the only source of that data set's figures: the README's table and
gallery caption, between their ``<!-- results:<dataset> -->`` and ``<!-- gallery:<dataset> -->``
markers, are rendered from it here, and the docs render the full table at build time
(``docs/conf.py``). A new comparison replaces them in one command::

    python -m experiments.tools.render_results runs/demo   # or several workdirs, one per data set

which copies ``WORKDIR/report.json`` to ``docs/results/<dataset>.json`` and ``WORKDIR/samples.png``
to ``docs/_static/<dataset>_samples.png``, then rewrites the README. Without a workdir it rewrites
the README from the committed files.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import re
import shutil
import sys
from typing import Any

from experiments import compare

ROOT = pathlib.Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
RESULTS = ROOT / "docs" / "results"
STATIC = ROOT / "docs" / "_static"


def reports() -> dict[str, dict[str, Any]]:
    """``{dataset: report}`` of every committed ``docs/results/<dataset>.json``."""
    return {p.stem: json.loads(p.read_text()) for p in sorted(RESULTS.glob("*.json"))}


def gallery_path(dataset: str) -> pathlib.Path:
    """Where the comparison's ``samples.png`` of ``dataset`` is kept for the README and the docs."""
    return STATIC / f"{dataset}_samples.png"


def hardware(report: dict[str, Any]) -> str:
    """What ran the comparison: its recorded ``hardware`` ("2 CPU cores") and JAX's backend."""
    devices = f"{report['backend']} x{report['devices']}"
    return f"{report['hardware']} ({devices})" if report.get("hardware") else devices


def provenance(report: dict[str, Any]) -> str:
    """What the image metrics were computed from: features, sample counts, reference, extractor."""
    rows = report["rows"]
    sources = sorted(
        {re.sub(r"^FID \S+ \((.*)\)$", r"\1", r.get("fid_provenance", "")) for r in rows} - {""}
    )
    extractors = sorted({r["extractor"] for r in rows if r.get("extractor")})
    return "; ".join(sources) + (f" (extractor: {', '.join(extractors)})" if extractors else "")


def caption(report: dict[str, Any]) -> str:
    """One paragraph naming the data, the budget, the hardware, the date and the metrics' source."""
    return (
        f"{compare.DATASET_NOTES[report['dataset']]}: `python -m experiments.compare "
        f"--dataset {report['dataset']} --budget {report['budget']}` on {hardware(report)}, "
        f"{report['date']}. FID, KID, precision and recall: {provenance(report)}; not Inception "
        "FIDs, so not comparable with other papers'. Likelihoods are bits/dim of the stored "
        "pixels, or nats per image for the models of binarized images, with their kind: exact, "
        "lower bound or estimate."
    )


def glance_table(report: dict[str, Any]) -> str:
    """The README's table: sample quality, likelihood and sampling cost, one row per family."""
    fmt = compare._fmt
    head = ("family", "FID", "KID", "precision", "recall", "test likelihood", "kind",
            "NFE / sample", "s / 1k samples")
    rows = [head, ("---",) * len(head)]
    for r in report["rows"]:
        rows.append((
            r["family"], fmt(r.get("fid")), fmt(r.get("kid")), fmt(r.get("precision"), ".2f"),
            fmt(r.get("recall"), ".2f"), compare._likelihood_cell(r), r.get("likelihood", "none"),
            str(r.get("nfe", "-")), fmt(r.get("sample_seconds_per_1000"), ".2f"),
        ))
    return "".join("| " + " | ".join(row) + " |\n" for row in rows)


def gallery_caption(report: dict[str, Any]) -> str:
    """The caption of ``docs/_static/<dataset>_samples.png``, from the report that drew it."""
    text = (
        f"Ten samples of each family, one row each, from the {report['dataset']} comparison "
        f"(budget `{report['budget']}`, {hardware(report)}, {report['date']})."
    )
    # A report whose gallery is not the one its run drew (a picture kept from another run) says so.
    return text + (f" {report['gallery_note']}" if report.get("gallery_note") else "")


# Everything between a block's two markers is generated: the results table of a data set, or the
# caption of its gallery.
_BLOCK = re.compile(r"(<!-- (results|gallery):(\w+) -->\n?).*?(<!-- /\2:\3 -->)", re.S)
_RENDER = {
    "results": lambda report: f"{glance_table(report)}\n{caption(report)}\n",
    "gallery": lambda report: gallery_caption(report) + "\n",
}


def render(text: str, by_dataset: dict[str, dict[str, Any]]) -> str:
    """``text`` (the README) with every ``<!-- results:<dataset> -->`` and
    ``<!-- gallery:<dataset> -->`` block rendered from the data set's report.

    Raises:
      KeyError: for a block whose data set has no committed report.
    """
    return _BLOCK.sub(
        lambda m: m.group(1) + _RENDER[m.group(2)](by_dataset[m.group(3)]) + m.group(4), text
    )


def adopt(workdir: str, hardware_text: str | None) -> str:
    """Copies a comparison's ``report.json`` and ``samples.png`` from ``workdir`` into the docs;
    returns the data set's name. ``hardware_text`` is recorded in the copy (the report itself names
    only JAX's backend and device count)."""
    with open(os.path.join(workdir, "report.json")) as f:
        report = json.load(f)
    if hardware_text:
        report["hardware"] = hardware_text
    dataset = report["dataset"]
    (RESULTS / f"{dataset}.json").write_text(json.dumps(report, indent=2) + "\n")
    shutil.copyfile(os.path.join(workdir, "samples.png"), gallery_path(dataset))
    return dataset


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "workdirs", nargs="*", help="comparison workdirs whose report.json and samples.png to adopt"
    )
    parser.add_argument(
        "--hardware",
        default=f"{os.cpu_count()} CPU cores",
        help="what ran the comparison, recorded in the adopted reports (default: this machine)",
    )
    args = parser.parse_args(argv)
    for workdir in args.workdirs:
        print(f"adopted {workdir}: docs/results/{adopt(workdir, args.hardware)}.json")
    text = README.read_text()
    rendered = render(text, reports())
    if rendered != text:
        README.write_text(rendered)
        print("rewrote README.md")


if __name__ == "__main__":
    main(sys.argv[1:])
