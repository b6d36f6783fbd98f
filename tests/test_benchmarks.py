"""Every benchmark's ``--quick`` mode runs our side and ends with one JSON line (no timing asserted);
the harness counts page faults and names the process's malloc."""

import importlib
import json
import mmap
import os
import subprocess
import sys

import pytest

from experiments.benchmarks import all as all_benchmarks
from experiments.benchmarks import harness


# The train-step script compiles one step of every family (71 s of the default suite's 10 minutes)
# and the sampling script every family's sampler (6.5% of the default suite's test time, its largest
# test, 2026-12-08); each family's own tests compile and check those, so these smoke runs are slow
# checks.
SLOW_SCRIPTS = {"train_step", "sampling"}


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=pytest.mark.slow) if n in SLOW_SCRIPTS else n
        for n in all_benchmarks.SCRIPTS
    ],
)
def test_quick_benchmark_prints_a_json_summary(name, capsys):
    rows = importlib.import_module(f"experiments.benchmarks.{name}").main(["--quick"])
    last = capsys.readouterr().out.strip().splitlines()[-1]
    summary = json.loads(last)
    assert summary["quick"] is True and summary["rows"] == rows and len(rows) >= 1
    assert all(r["ours_per_s"] > 0 for r in rows)


def _thp_always() -> bool:
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
            return "[always]" in f.read()
    except OSError:
        return False


@pytest.mark.skipif(sys.platform != "linux" or _thp_always(), reason="counts 4 KiB page faults on Linux")
def test_time_fn_counts_the_page_faults_of_a_call():
    pages = 16384  # 64 MiB

    def touch_fresh_memory():
        block = mmap.mmap(-1, pages * mmap.PAGESIZE)  # anonymous: every first touch is a fault
        for i in range(0, pages * mmap.PAGESIZE, mmap.PAGESIZE):
            block[i] = 1
        block.close()

    fresh = harness.time_fn(lambda: touch_fresh_memory, repeats=3, min_sample_s=0.0)
    idle = harness.time_fn(lambda: (lambda: sum(range(100))), repeats=3, min_sample_s=0.0)
    assert pages <= fresh.faults_per_call < 1.1 * pages + 100
    assert idle.faults_per_call < 50


def _allocator_in_subprocess(env: dict) -> str:
    code = "from experiments.benchmarks.harness import allocator; print(allocator())"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return out.stdout.strip().splitlines()[-1]


def test_allocator_names_the_malloc_the_process_runs_on():
    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "GLIBC_TUNABLES")}
    assert _allocator_in_subprocess(env) == "system"
    assert _allocator_in_subprocess({**env, "GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"}) == (
        "system (GLIBC_TUNABLES=glibc.malloc.hugetlb=1)"
    )
    tcmalloc = "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4"
    if os.path.exists(tcmalloc):
        assert _allocator_in_subprocess({**env, "LD_PRELOAD": tcmalloc}) == "tcmalloc"
