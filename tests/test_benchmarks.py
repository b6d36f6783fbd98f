"""Every benchmark's ``--quick`` mode runs our side and ends with one JSON line (no timing asserted)."""

import importlib
import json

import pytest

from experiments.benchmarks import all as all_benchmarks


# The train-step script compiles one step of every family (71 s of the default suite's 10 minutes);
# each family's own tests compile and check its step, so that script's smoke run is a slow check.
@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n == "train_step" else n for n in all_benchmarks.SCRIPTS]
)
def test_quick_benchmark_prints_a_json_summary(name, capsys):
    rows = importlib.import_module(f"experiments.benchmarks.{name}").main(["--quick"])
    last = capsys.readouterr().out.strip().splitlines()[-1]
    summary = json.loads(last)
    assert summary["quick"] is True and summary["rows"] == rows and len(rows) >= 1
    assert all(r["ours_per_s"] > 0 for r in rows)
