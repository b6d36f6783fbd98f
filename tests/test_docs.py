"""The README stays a short front page in step with the results files, and the docs site reaches
every page.

The README's results tables and gallery caption are generated from ``docs/results/<dataset>.json``
(``python -m experiments.tools.render_results``); a hand edit of either, or a new report not
rendered, fails here. ``make docs`` (``-W``) checks the site itself; the toctree check below is the
fast version of its "document isn't included in any toctree".
"""

import json
import pathlib
import re

import pytest

from experiments.tools import render_results

REPO = pathlib.Path(__file__).resolve().parents[1]
README = REPO / "README.md"
DOCS = REPO / "docs"
# The history belongs on docs/changelog.md and the results pages, not on the front page.
HISTORY_WORDS = ("issue", "session", "target")


def test_readme_is_a_short_front_page():
    assert len(README.read_text().splitlines()) < 300


@pytest.mark.parametrize("word", HISTORY_WORDS)
def test_readme_carries_no_history(word):
    lines = README.read_text().splitlines()
    assert [f"{i}: {line}" for i, line in enumerate(lines, 1) if word in line.lower()] == []


def test_readme_results_are_rendered_from_the_committed_reports():
    text = README.read_text()
    reports = render_results.reports()
    assert {"digits", "fashion_mnist"} <= set(reports)
    for dataset in reports:
        assert f"<!-- results:{dataset} -->" in text, dataset
    assert render_results.render(text, reports) == text, (
        "README.md differs from docs/results/*.json: run python -m experiments.tools.render_results"
    )


def test_a_changed_figure_is_rerendered():
    report = render_results.reports()["digits"]
    block = "<!-- results:digits -->\n{}<!-- /results:digits -->\n"
    rendered = render_results.render(block.format(""), {"digits": report})
    edited = rendered.replace(f"| {report['rows'][0]['family']} |", "| a hand-edited row |")
    assert edited != rendered
    assert render_results.render(edited, {"digits": report}) == rendered


def test_adopt_copies_a_report_and_its_gallery(tmp_path, monkeypatch):
    report = {**render_results.reports()["digits"], "date": "2099-01-01"}
    report.pop("hardware")
    monkeypatch.setattr(render_results, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(render_results, "STATIC", tmp_path / "static")
    (tmp_path / "results").mkdir()
    (tmp_path / "static").mkdir()
    run = tmp_path / "run"
    run.mkdir()
    (run / "report.json").write_text(json.dumps(report))
    (run / "samples.png").write_bytes(b"png")
    assert render_results.adopt(str(run), "8 CPU cores") == "digits"
    adopted = json.loads((tmp_path / "results" / "digits.json").read_text())
    assert adopted["date"] == "2099-01-01" and adopted["hardware"] == "8 CPU cores"
    assert (tmp_path / "static" / "digits_samples.png").read_bytes() == b"png"
    assert "8 CPU cores (cpu x1), 2099-01-01" in render_results.caption(adopted)


def test_readme_links_resolve():
    text = README.read_text()
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    local = [t for t in targets if not re.match(r"[a-z]+:", t)]
    assert local, "no relative links found"
    assert [t for t in local if not (REPO / t).exists()] == []


def _pages() -> set[str]:
    """Every page of the site, as a path below docs/ without its suffix."""
    pages = {str(p.relative_to(DOCS).with_suffix("")) for p in DOCS.rglob("*.md")}
    pages |= {f"notebooks/{p.stem}" for p in (REPO / "notebooks").glob("*.ipynb")}
    skipped = ("_build/", "_includes/", "api/")  # api/ is generated with its own toctrees
    return {p for p in pages if not p.startswith(skipped)}


def _toctree_entries(page: str) -> list[str]:
    text = (DOCS / f"{page}.md").read_text()
    entries = []
    for block in re.findall(r"```\{toctree\}\n(.*?)```", text, re.S):
        for line in block.splitlines():
            line = line.strip()
            if line and not line.startswith(":"):
                target = re.sub(r"^.*<(.*)>$", r"\1", line)
                entries.append(str(pathlib.PurePosixPath(page).parent / target).removeprefix("./"))
    return entries


def test_every_page_is_reachable_from_the_index():
    pages = _pages()
    reached, todo = {"index"}, ["index"]
    while todo:
        page = todo.pop()
        if (DOCS / f"{page}.md").exists():
            for entry in _toctree_entries(page):
                entry = str(pathlib.PurePosixPath(entry)).replace("/../", "/")
                if entry not in reached:
                    reached.add(entry)
                    todo.append(entry)
    assert sorted(pages - reached) == []


def test_the_design_is_cited_where_it_lives():
    assert (DOCS / "design.md").exists()
    stale = []
    for folder in ("genjax", "experiments", "tests", "docs"):
        for path in (REPO / folder).rglob("*"):
            skip = "_build" in path.parts or path == pathlib.Path(__file__)
            if (
                path.suffix in (".py", ".md", ".ipynb")
                and not skip
                and "DESIGN.md" in path.read_text()
            ):
                stale.append(str(path.relative_to(REPO)))
    assert stale == []
