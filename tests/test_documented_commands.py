"""Every command and file of experiments/ that the documentation names exists: each
``python -m experiments...`` module and each ``experiments/....py`` path in the README, the
Makefile, docs/, experiments/README.md, the notebooks and the docstrings and messages of genjax/
and experiments/ (a moved module leaves no stale command behind)."""

import importlib.util
import json
import pathlib
import re

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
MODULE = re.compile(r"python\s+-m\s+(experiments(?:\.\w+)+)")
PATH = re.compile(r"\bexperiments(?:/\w+)+\.py\b")


def _text(path: pathlib.Path) -> str:
    """The file's text; a notebook's cell sources, joined (its JSON escapes the line breaks)."""
    if path.suffix == ".ipynb":
        cells = json.loads(path.read_text())["cells"]
        return "\n".join("".join(cell["source"]) for cell in cells)
    return path.read_text()


def _documents() -> list[pathlib.Path]:
    found = [REPO / "README.md", REPO / "Makefile", REPO / "experiments" / "README.md"]
    found += sorted((REPO / "docs").rglob("*.md")) + sorted((REPO / "notebooks").glob("*.ipynb"))
    found += sorted((REPO / "genjax").rglob("*.py")) + sorted((REPO / "experiments").rglob("*.py"))
    return [p for p in found if p.exists() and "_build" not in p.parts]


def _mentions(paths) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """``({module: {documents}}, {path: {documents}})`` of the commands and files named."""
    modules, files = {}, {}
    for path in paths:
        where = str(path.relative_to(REPO) if path.is_relative_to(REPO) else path)
        text = _text(path)
        for name in MODULE.findall(text):
            modules.setdefault(name, set()).add(where)
        for name in PATH.findall(text):
            files.setdefault(name, set()).add(where)
    return modules, files


def _missing(modules: dict[str, set[str]], files: dict[str, set[str]]) -> list[str]:
    out = [f"python -m {m} (in {', '.join(sorted(w))})" for m, w in modules.items()
           if importlib.util.find_spec(m) is None]
    out += [f"{f} (in {', '.join(sorted(w))})" for f, w in files.items()
            if not (REPO / f).is_file()]
    return sorted(out)


def test_the_documents_name_commands():
    modules, files = _mentions(_documents())
    assert {"experiments.compare", "experiments.main", "experiments.benchmarks.all"} <= set(modules)
    assert any(m.startswith("experiments.studies.") for m in modules), sorted(modules)


def test_every_documented_command_and_file_exists():
    assert _missing(*_mentions(_documents())) == []


@pytest.mark.parametrize(
    "text, stale",
    [
        ("run `python -m experiments.gan_quality --quick`", "python -m experiments.gan_quality"),
        ("$(BIN)/python -m\nexperiments.studies.absent --x", "python -m experiments.studies.absent"),
        ("the helper `experiments/study.py`.", "experiments/study.py"),
    ],
)
def test_a_stale_command_is_named(tmp_path, text, stale):
    doc = tmp_path / "doc.md"
    doc.write_text(f"{text}\nand `python -m experiments.studies.gan_quality` (still there).\n")
    missing = _missing(*_mentions([doc]))
    assert len(missing) == 1 and missing[0].startswith(stale), missing

