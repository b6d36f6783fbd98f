"""Every Python block of the README, then of docs/getting_started.md (which continues the README's
quick start), runs in order and in one namespace, as a reader pastes them.

The blocks that train are shrunk before they run: each pattern of SHRINK must match at least once,
so an edit that renames an argument fails here instead of silently training at full size.
"""

import ast
import pathlib
import re

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCUMENTS = (ROOT / "README.md", ROOT / "docs" / "getting_started.md")
SHRINK = (
    (r"num_steps=\d+", "num_steps=2"),  # training steps
    (r"base_channels=\d+", "base_channels=8"),  # UNet width: the compile time, not the API, shrinks
)


def _python_blocks(path: pathlib.Path) -> list[tuple[pathlib.Path, int, str]]:
    """``(path, first line number, source)`` of each ```python block."""
    text = path.read_text()
    return [
        (path, text.count("\n", 0, m.start(1)) + 1, m.group(1))
        for m in re.finditer(r"^```python\n(.*?)^```", text, re.S | re.M)
    ]


def test_each_document_has_code():
    for path in DOCUMENTS:
        assert _python_blocks(path), path


@pytest.mark.slow  # about a minute; CI runs it in `make test-slow`
def test_python_blocks_run(tmp_path, monkeypatch):
    blocks = [block for path in DOCUMENTS for block in _python_blocks(path)]
    for pattern, _ in SHRINK:
        assert any(re.search(pattern, source) for _, _, source in blocks), pattern
    monkeypatch.chdir(tmp_path)  # the blocks write runs/<name> checkpoints
    namespace: dict = {}
    for path, line, source in blocks:
        for pattern, replacement in SHRINK:
            source = re.sub(pattern, replacement, source)
        tree = ast.parse(source, filename=str(path))
        ast.increment_lineno(tree, line - 1)  # tracebacks point at the document's lines
        exec(compile(tree, str(path), "exec"), namespace)
    assert np.asarray(namespace["samples"]).shape == (500, 8, 8, 1)
    assert (
        np.isfinite(namespace["scores"]["fid"])
        and "digits/test" in namespace["scores"]["fid_provenance"]
    )
    for name in ("samples", "one", "two"):
        assert np.isfinite(np.asarray(namespace[name])).all(), name
    for name in ("one", "two"):
        assert np.asarray(namespace[name]).shape == (64, 8, 8, 1), name
