"""Where a benchmark case spends its time, op by op, ours against the peer's (``--profile``).

Our side: the JAX profiler traces a few calls; XLA:CPU's thunk executor records one event per
executed HLO instruction (``args.hlo_op``), and the optimized HLO that XLA dumps (``--xla_dump_to``,
which :func:`enable_hlo_dump` sets before the first compilation) says what each instruction is: a
convolution (forward, input gradient or kernel gradient), a dot, a fusion of elementwise ops, a
transpose... The peer's side: ``torch.profiler`` self times of every ATen op, attributed through
their parents (an op inside ``Optimizer.step`` or inside the autograd node of a convolution belongs
to that). Both are grouped the same way (:data:`GROUPS`) and given in milliseconds per call, beside
the wall time per call: the op times are summed over threads, so on several cores they can exceed it,
and what the wall time holds beyond them is dispatch and the runtime between ops. XLA's Eigen
convolutions (``[eigen conv]``, ``[no ynn]``) run asynchronously on the intra-op pool and their
events end at the hand-off, so under those options their time lands in "untraced: wall minus
ops"; the YNNPACK fusions of the default compilation are timed in full.

The grouping is a reading aid, not a proof: YNNPACK and oneDNN fuse differently (PyTorch's
convolution backward computes both gradients in one op and charges its own layout copies to it,
while XLA's layout transposes are separate instructions, grouped here as "data movement:
convolution layouts" when their metadata names a convolution or when they transpose a convolution's
operand, whatever elementwise ops XLA fused into them).
"""

from __future__ import annotations

import collections
import dataclasses
import glob
import gzip
import json
import os
import re
import tempfile
import time
from typing import Any, Callable, Optional

__all__ = [
    "GROUPS",
    "OpProfile",
    "enable_hlo_dump",
    "parse_hlo_module",
    "classify_instruction",
    "profile_ours",
    "profile_torch",
    "format_profiles",
]

GROUPS = (
    "convolution forward",
    "convolution input gradient",
    "convolution kernel gradient",
    "convolution backward (input + kernel)",
    "normalization",
    "matmul / attention",
    "elementwise and reductions",
    "data movement: convolution layouts",
    "data movement: other",
    "optimizer, loss, noise (outside the network)",
    "untraced: wall minus ops",
)

_MOVEMENT = {
    "transpose", "copy", "concatenate", "pad", "slice", "dynamic-slice", "dynamic-update-slice",
    "reshape", "bitcast", "broadcast", "reverse", "gather", "scatter", "parameter", "constant",
    "tuple", "get-tuple-element", "copy-start", "copy-done", "iota",
}
_CONTROL = {"while", "call", "conditional"}
# A normalization layer's scope (norm_0, GroupNorm_0, LayerNorm, BatchNorm) but not jit(_normal).
_NORM = re.compile(r"(?i)norm(?!al)")
_ATTENTION = re.compile(r"(?i)attn|attention")
# A Flax module's scope in an op name: 'jvp(UNet)', 'transpose(jvp(UNet))', or '/UNet/' when
# sampling; our networks are capitalised modules, the optimizer and loss live outside them.
_MODULE = re.compile(r"(?:^|[/(])[A-Z]\w*[)/]")

_INSTRUCTION = re.compile(r"^\s*(?:ROOT\s+)?%([\w.\-]+)\s*=\s*(.+?)\s+([a-z][\w\-]*)\((.*)$")
_COMPUTATION = re.compile(r"^(?:ENTRY\s+)?%([\w.\-]+)\s")


@dataclasses.dataclass
class Instruction:
    name: str
    shape: str
    opcode: str
    rest: str

    @property
    def op_name(self) -> str:
        m = re.search(r'op_name="([^"]*)"', self.rest)
        return m.group(1) if m else ""

    @property
    def calls(self) -> list[str]:
        return re.findall(r"(?:calls|to_apply)=%([\w.\-]+)", self.rest)


def enable_hlo_dump(directory: str) -> None:
    """Makes XLA write the optimized HLO of every compiled module to ``directory`` (text only).

    XLA reads ``XLA_FLAGS`` when it compiles, so this works in a process that has imported jax but
    compiled nothing of interest yet; the benchmark scripts call it before building their cases.
    """
    flags = os.environ.get("XLA_FLAGS", "")
    os.environ["XLA_FLAGS"] = f"{flags} --xla_dump_to={directory} --xla_dump_hlo_as_text".strip()


def parse_hlo_module(text: str) -> dict[str, dict[str, Instruction]]:
    """Computations of an HLO text dump: ``{computation: {instruction name: Instruction}}``."""
    out: dict[str, dict[str, Instruction]] = {}
    current: Optional[dict[str, Instruction]] = None
    for line in text.splitlines():
        if not line.startswith(" ") and line.rstrip().endswith("{"):
            m = _COMPUTATION.match(line)
            current = out.setdefault(m.group(1), {}) if m else None
            continue
        if current is None:
            continue
        m = _INSTRUCTION.match(line)
        if m:
            current[m.group(1)] = Instruction(*m.groups())
    return out


def _dims(shape: str) -> list[int]:
    m = re.search(r"\[([\d,]*)\]", shape)
    return [int(d) for d in m.group(1).split(",") if d] if m else []


def _conv_group(conv: Instruction) -> str:
    # A kernel gradient is a convolution whose window spans the image and whose output is the
    # kernel (XLA's canonical rewrite of it carries no metadata); an input gradient slides a
    # kernel-sized window over the image, as the forward does, under a transpose(...) op name.
    window = re.search(r"window=\{size=([\dx]+)", conv.rest)
    labels = re.search(r"dim_labels=\w+_\w+->(\w+)", conv.rest)
    if window and labels:
        size = 1
        for d in window.group(1).split("x"):
            size *= int(d)
        dims = _dims(conv.shape)
        out = 1
        for i, c in enumerate(labels.group(1)):
            if c.isdigit() and i < len(dims):
                out *= dims[i]
        if size > out:
            return "convolution kernel gradient"
    return "convolution input gradient" if "transpose(" in conv.op_name else "convolution forward"


def _layout_of(shape: str) -> str:
    m = re.search(r"\{([\d,]*)\}", shape)
    return m.group(1) if m else ""


def _moves_data(inner: list[Instruction]) -> bool:
    """Whether a fusion's instructions transpose data in memory: a ``copy`` that changes the layout
    of a transposed operand (what XLA makes of a transpose it cannot fold into a layout)."""
    by_name = {i.name: i for i in inner}
    for i in inner:
        if i.opcode != "copy":
            continue
        m = re.match(r"%([\w.\-]+)", i.rest)
        source = by_name.get(m.group(1)) if m else None
        if source is not None and source.opcode == "transpose" and _layout_of(source.shape) != _layout_of(i.shape):
            return True
    return False


def _feeds_convolution(inst: Instruction, module: dict[str, dict[str, Instruction]]) -> bool:
    use = re.compile(rf"%{re.escape(inst.name)}(?![\w.\-])")
    for computation in module.values():
        if computation.get(inst.name) is inst:
            return any(i.opcode == "convolution" and use.search(i.rest) for i in computation.values())
    return False


def classify_instruction(inst: Instruction, module: dict[str, dict[str, Instruction]]) -> str:
    """The :data:`GROUPS` entry of one executed instruction (a fusion is judged by what it holds).

    A fusion that transposes a convolution's operand in memory counts as "data movement: convolution
    layouts" even when XLA fused the producer's elementwise ops (a BatchNorm, a ReLU, a pad) into it:
    its cost is the transposed traversal. In the DCGAN step (batch 128, 2026-11-28) the generator's
    BatchNorm, ReLU and pad fused into the transpose of the next kernel gradient's input took 5.5 ms
    at 14x14x64, where the same transpose alone took 0.6-0.8 ms and the fused ops alone 0.6 ms.
    """
    inner: list[Instruction] = []
    todo = [inst]
    while todo:
        i = todo.pop()
        inner.append(i)
        for c in i.calls:
            todo.extend(module.get(c, {}).values())
    convs = [i for i in inner if i.opcode == "convolution"]
    if convs:
        return _conv_group(convs[0])
    if inst.opcode == "fusion" and _moves_data(inner) and _feeds_convolution(inst, module):
        return "data movement: convolution layouts"
    names = [i.op_name for i in inner if i.op_name]
    if any(i.opcode == "dot" for i in inner) or any(_ATTENTION.search(n) for n in names):
        return "matmul / attention"
    if any(_NORM.search(n) for n in names):
        return "normalization"
    if names and not any(_MODULE.search(n) for n in names):
        return "optimizer, loss, noise (outside the network)"
    if all(i.opcode in _MOVEMENT for i in inner):
        if any("conv_general_dilated" in n for n in names):
            return "data movement: convolution layouts"
        return "data movement: other"
    return "elementwise and reductions"


@dataclasses.dataclass
class OpProfile:
    """Milliseconds per call: the wall time (untraced), each group's op time, and the costliest ops."""

    side: str
    wall_ms: float
    groups_ms: dict[str, float]
    top: list[tuple[str, str, float]]  # (op, group, ms per call)

    @property
    def ops_ms(self) -> float:
        return sum(v for k, v in self.groups_ms.items() if not k.startswith("untraced"))


def _calls_and_wall(fn: Callable[[], Any], block: Callable[[Any], None], seconds: float) -> tuple[int, float]:
    """How many calls fill about ``seconds``, and the untraced wall time per call (ms) over them."""
    t0 = time.perf_counter()
    block(fn())
    calls = max(2, min(50, int(seconds / max(time.perf_counter() - t0, 1e-6))))
    t0 = time.perf_counter()
    for _ in range(calls):
        out = fn()
    block(out)
    return calls, (time.perf_counter() - t0) / calls * 1e3


def _load_modules(dump_dir: str, names: set[str]) -> dict[str, dict[str, dict[str, Instruction]]]:
    """The newest dump of each traced module name that holds every op the trace saw of it."""
    out = {}
    files = sorted(glob.glob(os.path.join(dump_dir, "module_*.cpu_after_optimizations.txt")), reverse=True)
    for name in names:
        for f in files:
            if f".{name}.cpu_after_optimizations.txt" in os.path.basename(f):
                with open(f) as fh:
                    out[name] = parse_hlo_module(fh.read())
                break
    return out


def profile_ours(fn: Callable[[], Any], block: Callable[[Any], None], dump_dir: str, seconds: float = 3.0) -> OpProfile:
    """Traces ``fn`` (already compiled: call it once before) for about ``seconds``."""
    import jax

    calls, wall_ms = _calls_and_wall(fn, block, seconds)
    with tempfile.TemporaryDirectory() as trace_dir:
        with jax.profiler.trace(trace_dir, create_perfetto_trace=True):
            for _ in range(calls):
                out = fn()
            block(out)
        (path,) = glob.glob(os.path.join(trace_dir, "**", "*.trace.json.gz"), recursive=True)
        with gzip.open(path) as fh:
            trace = json.load(fh)
    events = [e for e in trace.get("traceEvents", []) if e.get("ph") == "X" and "hlo_op" in e.get("args", {})]
    modules = _load_modules(dump_dir, {e["args"]["hlo_module"] for e in events})
    per_op: dict[tuple[str, str], float] = collections.defaultdict(float)
    for e in events:
        per_op[(e["args"]["hlo_module"], e["args"]["hlo_op"])] += e["dur"] / 1e3 / calls
    groups = dict.fromkeys(GROUPS, 0.0)
    top = []
    for (mod, op), ms in per_op.items():
        module = modules.get(mod, {})
        inst = next((c[op] for c in module.values() if op in c), None)
        if inst is None:
            group = "unknown (no HLO dump)"
        elif inst.opcode in _CONTROL:
            continue  # its body's instructions are traced on their own
        else:
            group = classify_instruction(inst, module)
        groups[group] = groups.get(group, 0.0) + ms
        top.append((op, group, ms))
    top.sort(key=lambda t: -t[2])
    groups["untraced: wall minus ops"] = max(0.0, wall_ms - sum(groups.values()))
    return OpProfile("ours", wall_ms, groups, top[:12])


_TORCH_RULES = (
    (re.compile(r"Optimizer\.step|Optimizer\.zero_grad"), "optimizer, loss, noise (outside the network)"),
    (re.compile(r"(?i)convolution_?backward"), "convolution backward (input + kernel)"),
    (re.compile(r"(?i)conv|mkldnn_convolution"), "convolution forward"),
    (re.compile(r"(?i)norm(?!al)"), "normalization"),
    (re.compile(r"(?i)attention|softmax|addmm|bmm|::mm\b|matmul|linear|MmBackward"), "matmul / attention"),
    (re.compile(r"(?i)cat|copy|clone|pad|upsample|slice|transpose|permute|contiguous|index|select|stack|expand|view|reshape|narrow|chunk|split|unbind|flatten"),
     "data movement: other"),
)


def _torch_group(names: list[str]) -> str:
    """The group of a PyTorch op given its own name and its parents' (outermost last)."""
    for pattern, group in _TORCH_RULES[:1]:
        if any(pattern.search(n) for n in names):
            return group
    for name in names:  # innermost first: the op itself, then the autograd node that ran it
        for pattern, group in _TORCH_RULES[1:]:
            if pattern.search(name):
                return group
    return "elementwise and reductions"


def profile_torch(fn: Callable[[], Any], block: Callable[[Any], None], seconds: float = 3.0) -> OpProfile:
    """``torch.profiler`` self CPU times of ``fn`` (warmed up before) over about ``seconds``."""
    from torch.profiler import ProfilerActivity, profile

    calls, wall_ms = _calls_and_wall(fn, block, seconds)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(calls):
            out = fn()
        block(out)
    groups = dict.fromkeys(GROUPS, 0.0)
    per_op: dict[tuple[str, str], float] = collections.defaultdict(float)
    for ev in prof.events():
        names, p = [ev.name], ev.cpu_parent
        while p is not None:
            names.append(p.name)
            p = p.cpu_parent
        group = _torch_group(names)
        ms = ev.self_cpu_time_total / 1e3 / calls
        groups[group] += ms
        per_op[(ev.name, group)] += ms
    top = sorted(((n, g, ms) for (n, g), ms in per_op.items()), key=lambda t: -t[2])[:12]
    return OpProfile("peer", wall_ms, groups, top)


def format_profiles(case: str, ours: OpProfile, peer: Optional[OpProfile], peer_name: str = "") -> str:
    """The side-by-side table of one case, then each side's costliest ops."""
    lines = [f"== profile: {case}", f"{'group':<46} {'ours ms':>10} {peer_name or 'peer':>16} {'peer/ours':>10}"]
    conv_bwd = ("convolution input gradient", "convolution kernel gradient")
    for g in GROUPS:
        o = ours.groups_ms.get(g, 0.0)
        p = peer.groups_ms.get(g, 0.0) if peer else None
        if g == "convolution backward (input + kernel)":
            if peer is None:
                continue
            o = sum(ours.groups_ms.get(k, 0.0) for k in conv_bwd)
        if o == 0.0 and not p:
            continue
        ratio = f"{p / o:9.2f}x" if p and o else ""
        lines.append(f"{g:<46} {o:10.2f} {'' if p is None else f'{p:16.2f}'} {ratio:>10}")
    for extra in sorted(set(ours.groups_ms) - set(GROUPS)):
        lines.append(f"{extra:<46} {ours.groups_ms[extra]:10.2f}")
    total = f"{'ops summed over threads':<46} {ours.ops_ms:10.2f}"
    wall = f"{'wall per call':<46} {ours.wall_ms:10.2f}"
    if peer:
        total += f" {peer.ops_ms:16.2f}"
        wall += f" {peer.wall_ms:16.2f} {peer.wall_ms / ours.wall_ms:9.2f}x"
    lines += [total, wall]
    for prof in (ours, peer):
        if prof:
            lines.append(f"-- costliest ops, {prof.side}:")
            lines += [f"   {ms:9.2f} ms  {group:<40} {op}" for op, group, ms in prof.top]
    return "\n".join(lines)
