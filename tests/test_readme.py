"""Every Python block of the README runs, in order and in one namespace, as a reader pastes them.

The blocks that train are shrunk before they run: each pattern of SHRINK must match at least once,
so a README edit that renames an argument fails here instead of silently training at full size.
"""

import ast
import pathlib
import re

import numpy as np
import pytest

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"
SHRINK = (
    (r"num_steps=\d+", "num_steps=2"),  # training steps
    (r"base_channels=\d+", "base_channels=8"),  # UNet width: the compile time, not the API, shrinks
)


def _python_blocks(text: str) -> list[tuple[int, str]]:
    """``(first line number, source)`` of each ```python block."""
    return [
        (text.count("\n", 0, m.start(1)) + 1, m.group(1))
        for m in re.finditer(r"^```python\n(.*?)^```", text, re.S | re.M)
    ]


@pytest.mark.slow  # 52 s; CI runs it in `make test-slow`
def test_readme_python_blocks_run(tmp_path, monkeypatch):
    blocks = _python_blocks(README.read_text())
    assert len(blocks) >= 2
    for pattern, _ in SHRINK:
        assert any(re.search(pattern, source) for _, source in blocks), pattern
    monkeypatch.chdir(tmp_path)  # the blocks write runs/<name> checkpoints
    namespace: dict = {}
    for line, source in blocks:
        for pattern, replacement in SHRINK:
            source = re.sub(pattern, replacement, source)
        tree = ast.parse(source, filename=str(README))
        ast.increment_lineno(tree, line - 1)  # tracebacks point at README lines
        exec(compile(tree, str(README), "exec"), namespace)
    for name in ("samples", "one", "two"):
        x = np.asarray(namespace[name])
        assert x.shape == (64, 8, 8, 1) and np.isfinite(x).all(), name
