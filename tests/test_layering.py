"""Imports point one way (DESIGN.md, "Data flows one way"): parse genjax/ and check every arrow.

Level 0: typing, base. Level 1: distributions, bijectors, losses, nn, data, samplers, metrics.
Level 2: models (not data or metrics; only latent_diffusion imports other families), training
(level 0 only). One documented extension of the table: metrics may import nn, because the feature
extractors (digits classifier, Inception) are networks and live in nn.
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


def _genjax_imports(path: pathlib.Path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [f"{node.module}.{a.name}" for a in node.names]
            if node.module != "genjax":
                names.append(node.module)
        else:
            continue
        for name in names:
            if name == "genjax" or name.startswith("genjax."):
                yield node.lineno, name.split(".")[1:]


def _violations(root: pathlib.Path = ROOT):
    out = []
    for path in sorted(root.rglob("*.py")):
        group, module = _group(path, root)
        for lineno, target in _genjax_imports(path):
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
