"""The one benchmark harness: our code and a peer on identical work, in one process.

Each side is set up (untimed), called once (reported apart as compile / warm-up time), then timed
over ``repeats`` samples of back-to-back calls; the table gives the median with min..max, the
throughput, the peak resident memory after that side ran (and, on a GPU, the peak device memory),
the model FLOP utilisation against a measured float32 matmul peak when the case states its FLOPs,
the minor page faults per call, and the ratio peer / ours (above 1: we are faster): the median of
paired ratios of samples taken alternately (ours, peer, ours, ...), with their min..max; a target is
met when the min clears it. The header names the process's malloc (:func:`allocator`): XLA:CPU
takes each call's temporaries as one block, which glibc's malloc maps afresh on every call (the
width-32 UNet step: 194k page faults, 755 ms against 603 ms under tcmalloc, 2026-11-28), so a
figure means little without it. Benchmarks never assert on time: they print a table and, as the
last line, one JSON object.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import importlib
import json
import os
import platform
import resource
import shutil
import statistics
import sys
import tempfile
import time
from typing import Any, Callable, Optional, Sequence

import jax
import numpy as np

from experiments.benchmarks import op_profile
from genjax import training
from genjax.training import CPU_EIGEN_CONVOLUTIONS, CPU_NO_YNNPACK

__all__ = [
    "Case",
    "Timing",
    "time_fn",
    "time_pair",
    "train_step_call",
    "matmul_peak_flops",
    "run_cases",
    "main",
    "blas_info",
    "family_cases",
    "torch_device",
    "XLA_CPU_NO_YNN",
    "XLA_CPU_EIGEN_CONV",
    "compiler_variants",
    "profile_cases",
    "allocator",
]


XLA_CPU_NO_YNN = CPU_NO_YNNPACK
"""Compiler options that run every XLA:CPU dot, convolution and reduction through XLA's own
(Eigen) kernels instead of YNNPACK; the rows marked ``[no ynn]`` time our side with them."""

XLA_CPU_EIGEN_CONV = CPU_EIGEN_CONVOLUTIONS
"""Compiler options that send only the convolutions to Eigen and keep YNNPACK's dots and reductions
(the convolutional families' configs set them); the rows marked ``[eigen conv]``."""


def compiler_variants() -> list[tuple[str, Optional[dict]]]:
    """``(name suffix, compiler_options)`` of the rows a convolution case gets: the default
    compilation, and on CPU an ``[eigen conv]`` row (:data:`XLA_CPU_EIGEN_CONV`) and a ``[no ynn]``
    row (:data:`XLA_CPU_NO_YNN`)."""
    variants: list[tuple[str, Optional[dict]]] = [("", None)]
    if jax.default_backend() == "cpu":
        variants += [(" [eigen conv]", XLA_CPU_EIGEN_CONV), (" [no ynn]", XLA_CPU_NO_YNN)]
    return variants


@dataclasses.dataclass
class Case:
    """One comparison row.

    Attributes:
      name: the row label (what is measured and at which size).
      work: units of work done by one call of the timed function.
      unit: the name of those units ('steps', 'images', 'chain-steps', ...).
      ours: untimed set-up returning the zero-argument callable to time (genjax side).
      peer: the same for the peer, or ``None``.
      peer_name: e.g. 'pytorch-eager', 'sklearn', 'numpy'.
      flops: model FLOPs of one call, for utilisation against the matmul peak.
      quick_ok: whether our side runs under ``--quick`` (``make test`` runs every quick case).
    """

    name: str
    work: float
    unit: str
    ours: Callable[[], Callable[[], Any]]
    peer: Optional[Callable[[], Callable[[], Any]]] = None
    peer_name: str = ""
    flops: Optional[float] = None
    quick_ok: bool = True


@dataclasses.dataclass
class Timing:
    first_s: float
    median_s: float
    min_s: float
    max_s: float
    peak_rss_mb: float
    faults_per_call: float


def _block(out: Any) -> None:
    for leaf in jax.tree.leaves(out):
        if isinstance(leaf, jax.Array):
            leaf.block_until_ready()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def torch_device() -> str:
    """The device PyTorch peers run on: CUDA when JAX runs on a GPU and this PyTorch sees one."""
    if jax.default_backend() != "gpu":
        return "cpu"
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _peak_device_mb(side: str) -> Optional[float]:
    """Peak accelerator memory of one side so far in this process (None on CPU)."""
    if jax.default_backend() == "cpu":
        return None
    if side == "peer":
        torch = sys.modules.get("torch")
        if torch is None or not torch.cuda.is_initialized():
            return None
        return torch.cuda.max_memory_allocated() / 2**20
    stats = jax.devices()[0].memory_stats() or {}
    return stats.get("peak_bytes_in_use", 0) / 2**20


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _minor_faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def allocator() -> str:
    """The malloc this process runs on, as its loaded libraries name it: ``tcmalloc``, ``jemalloc``,
    ``mimalloc``, or ``system`` (glibc's on Linux, with ``GLIBC_TUNABLES`` appended when set);
    ``unknown`` where ``/proc/self/maps`` cannot be read."""
    try:
        with open("/proc/self/maps") as f:
            maps = f.read()
    except OSError:
        return "unknown"
    for name in ("tcmalloc", "jemalloc", "mimalloc"):
        if name in maps:
            return name
    tunables = os.environ.get("GLIBC_TUNABLES")
    return f"system (GLIBC_TUNABLES={tunables})" if tunables else "system"


class _Sampler:
    """One side of a case, set up, warmed up and calibrated: ``sample()`` times ``n`` back-to-back
    calls (``n`` such that a sample lasts about ``min_sample_s``, as ``timeit`` calibrates) and
    returns seconds per call.

    Calls within a sample run back to back, as in a training or sampling loop: timed alone after a
    ``gc.collect``, the same VAE step took 9.6 ms against 6.2 ms back to back (2026-11-25).
    """

    def __init__(self, setup: Callable[[], Callable[[], Any]], min_sample_s: float = 0.2):
        self.fn = setup()
        t0 = time.perf_counter()
        _block(self.fn())
        self.first_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        _block(self.fn())
        self.n = max(1, min(1000, int(min_sample_s / max(time.perf_counter() - t0, 1e-9))))
        self.peak_rss_mb = _peak_rss_mb()
        self.faults: list[float] = []

    def sample(self) -> float:
        gc.collect()
        f0 = _minor_faults()
        t0 = time.perf_counter()
        for _ in range(self.n):
            out = self.fn()
        _block(out)
        seconds = (time.perf_counter() - t0) / self.n
        self.faults.append((_minor_faults() - f0) / self.n)
        return seconds


def _timing(sampler: _Sampler, times: Sequence[float]) -> Timing:
    return Timing(sampler.first_s, statistics.median(times), min(times), max(times), sampler.peak_rss_mb,
                  statistics.median(sampler.faults))


def time_fn(setup: Callable[[], Callable[[], Any]], repeats: int, min_sample_s: float = 0.2) -> Timing:
    """Sets up, runs once (compile / warm-up, timed apart), then takes ``repeats`` samples of
    back-to-back calls (:class:`_Sampler`) and reports seconds per call."""
    sampler = _Sampler(setup, min_sample_s)
    return _timing(sampler, [sampler.sample() for _ in range(repeats)])


def time_pair(
    ours: Callable[[], Callable[[], Any]],
    peer: Callable[[], Callable[[], Any]],
    repeats: int,
    min_sample_s: float = 0.2,
) -> tuple[Timing, Timing, list[float]]:
    """Times two sides interleaved (ours, peer, ours, peer, ...) and returns both timings and the
    ``repeats`` paired ratios peer / ours.

    The machine's speed drifts: the same UNet case, same code, measured 1.08x and then 0.57x within
    one hour when all of ours ran before all of the peer's (2026-11-26). A sample of each side taken
    back to back sees the same machine, so their ratio is a fair pair; the median of the pairs and
    their spread are what the table reports. Ours is set up (and its peak memory read) before the
    peer exists, so its peak resident memory is its own.
    """
    a = _Sampler(ours, min_sample_s)
    b = _Sampler(peer, min_sample_s)
    ta, tb = [], []
    for _ in range(repeats):
        ta.append(a.sample())
        tb.append(b.sample())
    b.peak_rss_mb = _peak_rss_mb()
    return _timing(a, ta), _timing(b, tb), [y / x for x, y in zip(ta, tb, strict=True)]


def train_step_call(
    model: Any,
    optimizer: Any,
    batch: dict,
    *,
    init_key: jax.Array,
    step_key: jax.Array,
    compiler_options: Optional[dict] = None,
    steps_per_call: int = 1,
    steps: Optional[int] = None,
    ema_decay: Optional[float] = None,
) -> Callable[[], Any]:
    """The timed callable of a train-step case: a train state of ``model`` on ``batch``, its step
    compiled under ``jit`` (``steps_per_call`` scanned per compiled call, the batch stacked that
    many times), and a call that runs ``steps`` steps (default ``steps_per_call``), carrying the
    state from call to call as a training loop does, and returns the last metrics."""
    state = training.create_train_state(model, optimizer, init_key, batch, ema_decay=ema_decay)
    step = training.compile_step(
        training.make_train_step(model, optimizer), "jit", steps_per_call=steps_per_call,
        compiler_options=compiler_options,
    )
    if steps_per_call > 1:
        batch = jax.tree.map(lambda x: jax.numpy.stack([x] * steps_per_call), batch)
    calls = (steps or steps_per_call) // steps_per_call
    holder = [state]

    def call():
        for _ in range(calls):
            holder[0], metrics = step(holder[0], batch, step_key)
        return metrics

    return call


def matmul_peak_flops(n: Optional[int] = None, repeats: int = 20) -> float:
    """Measured float32 matmul throughput of this machine through XLA (FLOP/s), the MFU reference:
    the best of ``repeats`` ``n x n`` products, ``n`` 2048 on a CPU and 8192 on an accelerator, at
    JAX's default precision (the one every case runs at)."""
    n = n or (2048 if jax.default_backend() == "cpu" else 8192)
    a = jax.random.normal(jax.random.PRNGKey(0), (n, n), np.float32)
    f = jax.jit(lambda x: x @ x)
    f(a).block_until_ready()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        f(a).block_until_ready()
        best = min(best, time.perf_counter() - t0)
    return 2.0 * n**3 / best


def blas_info() -> list[dict]:
    """The BLAS kernels numpy / scikit-learn peers run on (threadpoolctl), for the report."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return [{"note": "threadpoolctl not installed"}]
    return [
        {k: d.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
        for d in threadpool_info()
    ]


def _add_mfu(row: dict, flops: float, peak: float) -> None:
    """Model FLOP utilisation of each side timed in ``row`` against the matmul ``peak``."""
    for side in ("ours", "peer"):
        if f"{side}_median_s" in row:
            row[f"{side}_mfu"] = flops / row[f"{side}_median_s"] / peak


def run_cases(cases: Sequence[Case], *, quick: bool = False, repeats: int = 5, title: str = "") -> list[dict]:
    """Times every case (ours, then the peer unless ``quick``), prints the table and the JSON line."""
    malloc = allocator()
    print(f"malloc: {malloc}", flush=True)
    # On an accelerator the peak is probed after the cases, so that its 8192^2 buffers do not show
    # up in the device-memory peaks of the rows.
    late_peak = jax.default_backend() != "cpu"
    peak = None if quick or late_peak else matmul_peak_flops()
    peer_device = torch_device() if not quick and any(c.peer for c in cases) else "cpu"
    if peer_device != "cpu":
        import torch

        # Every tensor and module the peers create lands on the GPU.
        torch.set_default_device(peer_device)
    rows = []
    for case in cases:
        if quick and not case.quick_ok:
            continue
        if case.peer is not None and not quick:
            ours, peer, ratios = time_pair(case.ours, case.peer, repeats)
        else:
            ours, peer, ratios = time_fn(case.ours, 1 if quick else repeats), None, []
        row: dict[str, Any] = {
            "case": case.name,
            "unit": case.unit,
            "ours_first_s": ours.first_s,
            "ours_median_s": ours.median_s,
            "ours_min_s": ours.min_s,
            "ours_max_s": ours.max_s,
            "ours_per_s": case.work / ours.median_s,
            "ours_peak_rss_mb": ours.peak_rss_mb,
            "ours_faults_per_call": ours.faults_per_call,
            "ours_peak_device_mb": _peak_device_mb("ours"),
        }
        if peer is not None:
            row.update(
                peer=case.peer_name,
                peer_first_s=peer.first_s,
                peer_median_s=peer.median_s,
                peer_min_s=peer.min_s,
                peer_max_s=peer.max_s,
                peer_per_s=case.work / peer.median_s,
                peer_peak_rss_mb=peer.peak_rss_mb,
                peer_faults_per_call=peer.faults_per_call,
                peer_peak_device_mb=_peak_device_mb("peer"),
                peer_device=peer_device,
                ratio_peer_over_ours=statistics.median(ratios),
                ratio_min=min(ratios),
                ratio_max=max(ratios),
                ratios=ratios,
            )
        if case.flops and peak:
            _add_mfu(row, case.flops, peak)
        rows.append(row)
        _print_row(row)
    if late_peak and not quick:
        peak = matmul_peak_flops()
        for case, row in zip(cases, rows, strict=True):
            if case.flops:
                _add_mfu(row, case.flops, peak)
                line = f"{row['case']:<48} mfu ours {row['ours_mfu']:.1%}"
                if "peer_mfu" in row:
                    line += f", {row['peer']} {row['peer_mfu']:.1%}"
                print(line)
    summary = {
        "benchmark": title,
        "quick": quick,
        "backend": jax.default_backend(),
        "devices": [str(d) for d in jax.devices()],
        "machine": platform.processor() or platform.machine(),
        "matmul_peak_gflops": None if peak is None else peak / 1e9,
        "blas": blas_info(),
        "allocator": malloc,
        "rows": rows,
    }
    print(json.dumps(summary))
    return rows


def profile_cases(cases: Sequence[Case], dump_dir: str, *, title: str = "") -> list[dict]:
    """``--profile``: each case's ops grouped (convolution forward / gradients, normalization,
    matmul and attention, elementwise, data movement, outside the network), ours beside the peer's,
    in ms per call; prints the tables and, last, one JSON object."""
    rows = []
    for case in cases:
        fn = case.ours()
        _block(fn())
        ours = op_profile.profile_ours(fn, _block, dump_dir)
        peer = None
        if case.peer is not None:
            pfn = case.peer()
            _block(pfn())
            peer = op_profile.profile_torch(pfn, _block) if case.peer_name.startswith("pytorch") else None
        print(op_profile.format_profiles(case.name, ours, peer, case.peer_name), flush=True)
        row = {"case": case.name, "ours": dataclasses.asdict(ours)}
        if peer is not None:
            row.update(peer=case.peer_name, peer_profile=dataclasses.asdict(peer))
        rows.append(row)
    print(json.dumps({"benchmark": title, "profile": True, "backend": jax.default_backend(),
                      "machine": platform.processor() or platform.machine(), "rows": rows}))
    return rows


def _fmt_s(row: dict, side: str) -> str:
    return (
        f"{row[side + '_median_s'] * 1e3:9.2f} ms ({row[side + '_min_s'] * 1e3:.2f}..{row[side + '_max_s'] * 1e3:.2f})"
        f" first {row[side + '_first_s']:.2f}s"
    )


def _print_row(row: dict) -> None:
    line = f"{row['case']:<48} ours {_fmt_s(row, 'ours')} {row['ours_per_s']:10.1f} {row['unit']}/s"
    line += f" faults/call {row['ours_faults_per_call']:.0f}"
    if "ours_mfu" in row:
        line += f" mfu {row['ours_mfu']:.1%}"
    if row.get("ours_peak_device_mb") is not None:
        line += f" device peak {row['ours_peak_device_mb']:.0f} MB"
    print(line, file=sys.stdout)
    if "peer" in row:
        line = f"{'':<48} {row['peer']:<4} {_fmt_s(row, 'peer')} {row['peer_per_s']:10.1f} {row['unit']}/s"
        line += f" faults/call {row['peer_faults_per_call']:.0f}"
        if "peer_mfu" in row:
            line += f" mfu {row['peer_mfu']:.1%}"
        if row.get("peer_peak_device_mb") is not None:
            line += f" device peak {row['peer_peak_device_mb']:.0f} MB"
        line += f"  ratio peer/ours {row['ratio_peer_over_ours']:.2f}x ({row['ratio_min']:.2f}..{row['ratio_max']:.2f}"
        print(line + f" over {len(row['ratios'])} interleaved pairs)", file=sys.stdout)
    sys.stdout.flush()


def main(cases_fn: Callable[[bool], Sequence[Case]], argv: Optional[Sequence[str]] = None, *, title: str = "") -> list[dict]:
    """Command line of every benchmark script: ``--quick`` (ours only, tiny), ``--repeats``, ``--only``
and ``--profile`` (per-op profiles instead of timings)."""
    parser = argparse.ArgumentParser(description=title)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, our side only (run by make test)")
    parser.add_argument("--repeats", type=int, default=7, help="samples per side (interleaved pairs)")
    parser.add_argument("--only", default="", help="comma-separated texts: run the cases whose name contains any")
    parser.add_argument("--profile", action="store_true",
                        help="instead of timing: per-op profile of each case, ours beside the peer's (op_profile)")
    args = parser.parse_args(argv)
    if args.profile:
        dump_dir = tempfile.mkdtemp(prefix="genjax-hlo-")
        op_profile.enable_hlo_dump(dump_dir)  # before the cases compile anything
    wanted = [w for w in args.only.split(",") if w] or [""]
    cases = [c for c in cases_fn(args.quick) if any(w in c.name for w in wanted)]
    if not cases:
        raise SystemExit(f"no benchmark case name contains {args.only!r}")
    if args.profile:
        try:
            return profile_cases(cases, dump_dir, title=title)
        finally:
            shutil.rmtree(dump_dir, ignore_errors=True)
    return run_cases(cases, quick=args.quick, repeats=args.repeats, title=title)


def family_cases(families: Sequence[str], kind: str, quick: bool) -> list[Case]:
    """Collects ``<kind>_cases(quick)`` from ``experiments.benchmarks.cases.<family>`` modules."""
    out: list[Case] = []
    for family in families:
        module = importlib.import_module(f"experiments.benchmarks.cases.{family}")
        out.extend(getattr(module, f"{kind}_cases")(quick))
    return out
