"""Imports point one way (docs/design.md, "Data flows one way"): parse genjax/ and experiments/ and
check every arrow.

genjax. Level 0: typing, base. Level 1: distributions, bijectors, losses, nn, data, samplers,
metrics. Level 2: models (not data or metrics; only latent_diffusion imports other families),
training (level 0 only). One documented extension of the table: metrics may import nn, because the
feature extractors (digits classifier, Inception) are networks and live in nn. genjax never imports
experiments.

experiments (experiments/README.md). On top, what a user runs: the entry points (main, compare),
studies/, tools/ and benchmarks/. Below them the glue that turns configs into library calls (run,
validation, optimizers, grids, families/), then configs/, which import only each other. A group may
import itself; one documented sideways arrow: studies and tools may import compare, whose budgets,
per-family configs and report table the VAE diagnostics, the consistency study and the results
renderer start from.
"""

import ast
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1] / "genjax"
LEVEL0 = {"typing", "base"}
ALLOWED = {
    "typing": set(),
    "base": {"typing"},
    "distributions": LEVEL0,
    "bijectors": LEVEL0,
    "losses": LEVEL0,
    "nn": LEVEL0,
    "data": LEVEL0,
    "samplers": LEVEL0 | {"distributions"},
    "metrics": LEVEL0 | {"nn"},
    "models": LEVEL0 | {"distributions", "bijectors", "losses", "nn", "samplers"},
    "training": LEVEL0,
    "__init__": {"base"},
}
FAMILY_IMPORTERS = {"latent_diffusion"}


def _group(path: pathlib.Path, root: pathlib.Path) -> tuple[str, str]:
    rel = path.relative_to(root).with_suffix("")
    parts = rel.parts
    return parts[0], parts[1] if len(parts) > 1 else ""


def _imports(path: pathlib.Path, package: str = "genjax"):
    """``(line, dotted path below package)`` of every import of ``package`` in the file, function
    bodies included (a lazy import is an arrow too)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [f"{node.module}.{a.name}" for a in node.names]
            if node.module != package:
                names.append(node.module)
        else:
            continue
        for name in names:
            if name == package or name.startswith(package + "."):
                yield node.lineno, name.split(".")[1:]


def _violations(root: pathlib.Path = ROOT):
    out = []
    for path in sorted(root.rglob("*.py")):
        group, module = _group(path, root)
        for lineno, target in _imports(path):
            if not target:
                out.append(f"{path.name}:{lineno} imports the genjax package root")
                continue
            tgroup = target[0]
            if tgroup == group:
                if group == "models" and len(target) > 1 and target[1] != module and module not in FAMILY_IMPORTERS:
                    if (root / "models" / f"{target[1]}.py").exists():
                        out.append(f"models/{module}.py:{lineno} imports family models.{target[1]}")
                continue
            if tgroup not in ALLOWED.get(group, set()):
                out.append(f"{path.relative_to(root)}:{lineno} ({group}) imports genjax.{tgroup}")
    return sorted(set(out))


def test_imports_follow_the_level_table():
    assert _violations() == []


def test_the_check_can_fail(tmp_path):
    for rel, text in {
        "training/probe.py": "from genjax.models import vae\n",
        "models/vae.py": "",
        "models/gan.py": "import genjax.models.vae\n",
        "nn/net.py": "from genjax.training import fit\n",
    }.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    found = _violations(tmp_path)
    assert len(found) == 3, found


def test_genjax_never_imports_experiments():
    found = [f"{p.relative_to(ROOT)}:{line}" for p in sorted(ROOT.rglob("*.py"))
             for line, _ in _imports(p, "experiments")]
    assert found == []


EXPERIMENTS = ROOT.parent / "experiments"
ENTRY_POINTS = {"main", "compare"}
TOP = ENTRY_POINTS | {"studies", "tools", "benchmarks"}
GLUE = {"run", "validation", "optimizers", "grids", "families", "partners"}
EXPERIMENTS_ALLOWED = {
    "__init__": set(),
    "configs": set(),
    **{group: GLUE | {"configs"} for group in GLUE | TOP},
    **{group: GLUE | {"configs", "compare"} for group in ("studies", "tools")},
}


def _experiments_violations(root: pathlib.Path = EXPERIMENTS):
    out = []
    for path in sorted(root.rglob("*.py")):
        group, _ = _group(path, root)
        rel = path.relative_to(root)
        if group not in EXPERIMENTS_ALLOWED:
            out.append(f"{rel} is in no tier of experiments/ (place it in the table)")
            continue
        for lineno, target in _imports(path, "experiments"):
            if not target:
                out.append(f"{rel}:{lineno} imports the experiments package root")
            elif target[0] != group and target[0] not in EXPERIMENTS_ALLOWED[group]:
                out.append(f"{rel}:{lineno} ({group}) imports experiments.{target[0]}")
    return sorted(set(out))


def test_experiments_imports_run_from_entry_points_to_glue_to_configs():
    assert _experiments_violations() == []


def test_the_experiments_check_can_fail(tmp_path):
    for rel, text in {
        "run.py": "from experiments import grids\ndef f():\n    from experiments.studies import study\n",
        "families/gan.py": "import experiments.compare\n",
        "configs/gan_digits.py": "from experiments.configs import common\nfrom experiments import run\n",
        "compare.py": "from experiments.studies.gan_quality import main\n",
        "studies/vae.py": "from experiments import compare, run\nfrom experiments.studies import study\n",
        "tools/train_classifier.py": "from experiments.benchmarks import harness\n",
        "tools/render.py": "from experiments import compare\n",
        "benchmarks/harness.py": "from experiments.configs import unet\nfrom experiments.families import gan\n",
        "scratch.py": "",
    }.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    found = _experiments_violations(tmp_path)
    assert [line.split(" ")[0] for line in found] == [
        "compare.py:1", "configs/gan_digits.py:2", "families/gan.py:1", "run.py:3", "scratch.py",
        "tools/train_classifier.py:1",
    ], found


@pytest.mark.parametrize("needle", ["os.environ", "absl.flags", "from absl import flags", "getenv("])
def test_library_reads_no_flags_or_environment(needle):
    hits = [str(p.relative_to(ROOT)) for p in ROOT.rglob("*.py") if needle in p.read_text()]
    assert hits == []


def test_import_genjax_is_light():
    code = (
        "import sys, genjax; heavy = [m for m in ('orbax.checkpoint', 'tensorflow_datasets', 'sklearn', "
        "'optax', 'flax', 'torch') if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "[]"
