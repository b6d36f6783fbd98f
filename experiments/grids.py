"""Sample grids as PNG files."""

from __future__ import annotations

import os
from typing import Optional, Sequence

import numpy as np

__all__ = ["image_grid", "save_grid", "save_gallery"]


def image_grid(images: np.ndarray, ncol: int = 8, pad: int = 1) -> np.ndarray:
    """Tiles ``[N, H, W, C]`` images in [-1, 1] into one ``[rows*(H+pad), ncol*(W+pad), C]`` array
    in [0, 1] (white padding)."""
    x = np.clip((np.asarray(images, np.float32) + 1.0) / 2.0, 0.0, 1.0)
    n, h, w, c = x.shape
    rows = -(-n // ncol)
    grid = np.ones((rows * (h + pad) + pad, ncol * (w + pad) + pad, c), np.float32)
    for i in range(n):
        r, q = divmod(i, ncol)
        grid[pad + r * (h + pad):pad + r * (h + pad) + h, pad + q * (w + pad):pad + q * (w + pad) + w] = x[i]
    return grid


def save_grid(images: np.ndarray, path: str, ncol: int = 8, scale: int = 4) -> str:
    """Writes a grid of ``[N, H, W, C]`` images in [-1, 1] to ``path`` (PNG), upscaled ``scale``x."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = image_grid(images, ncol)
    grid = np.kron(grid, np.ones((scale, scale, 1), np.float32))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    plt.imsave(path, grid[..., 0] if grid.shape[-1] == 1 else grid, cmap="gray", vmin=0.0, vmax=1.0)
    return path


def save_gallery(rows: Sequence[tuple[str, np.ndarray]], path: str, ncol: int = 10, title: Optional[str] = None) -> str:
    """One row of samples per labelled model (the comparison's ``samples.png``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(rows), 1, figsize=(ncol * 0.7 + 1.5, len(rows) * 0.8 + 0.4), squeeze=False)
    for ax, (label, images) in zip(axes[:, 0], rows, strict=True):
        grid = image_grid(np.asarray(images)[:ncol], ncol)
        ax.imshow(grid[..., 0] if grid.shape[-1] == 1 else grid, cmap="gray", vmin=0.0, vmax=1.0)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")  # long row labels stay inside the image
    plt.close(fig)
    return path
