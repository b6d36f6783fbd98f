"""Every benchmark's ``--quick`` mode runs our side and ends with one JSON line (no timing asserted)."""

import importlib
import json

import pytest

from experiments.benchmarks import all as all_benchmarks


@pytest.mark.parametrize("name", all_benchmarks.SCRIPTS)
def test_quick_benchmark_prints_a_json_summary(name, capsys):
    rows = importlib.import_module(f"experiments.benchmarks.{name}").main(["--quick"])
    last = capsys.readouterr().out.strip().splitlines()[-1]
    summary = json.loads(last)
    assert summary["quick"] is True and summary["rows"] == rows and len(rows) >= 1
    assert all(r["ours_per_s"] > 0 for r in rows)
