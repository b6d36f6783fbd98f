"""Inception-v3 as used for the standard FID (Szegedy et al., 2016; Heusel et al., 2017), in Linen.

The architecture is that of pytorch-fid's ``fid_inception_v3`` (the TensorFlow 2015-12-05 graph the
original FID code used), which differs from torchvision's Inception-v3 in three places: average
pools in the Mixed_5*/6*/7b blocks ignore padded zeros, Mixed_7c pools with max instead of average,
and the classifier has 1008 outputs. Submodules carry pytorch-fid's names, so a converted state dict
(``experiments/tools/convert_inception.py``) maps onto the params one to one.

Weights are never downloaded: :func:`load_inception_variables` reads an ``.npz`` the user made from
pytorch-fid's ``pt_inception-2015-12-05-6726825d.pth``.
"""

from __future__ import annotations

import os
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from genjax.nn.convolution import Conv
from genjax.typing import Array

__all__ = [
    "InceptionV3",
    "INCEPTION_SIZE",
    "NUM_FEATURES",
    "NUM_LOGITS",
    "MIN_SIZE",
    "resize_bilinear",
    "load_inception_variables",
    "MISSING_WEIGHTS_HELP",
]

INCEPTION_SIZE = 299
"""Side the network was trained at; inputs are resized to it (pytorch-fid's ``resize_input``)."""
NUM_FEATURES = 2048
"""Width of the pool3 features used for FID/KID."""
NUM_LOGITS = 1008
"""Classifier outputs of the FID graph (1000 ImageNet classes plus 8 unused)."""
MIN_SIZE = 75
"""Smallest input side the valid-padded stem and reductions accept."""

MISSING_WEIGHTS_HELP = (
    "genjax never downloads weights. Get pytorch-fid's FID Inception weights file "
    "pt_inception-2015-12-05-6726825d.pth yourself (a release asset of "
    "github.com/mseitzer/pytorch-fid) "
    "and convert it once with `python -m experiments.tools.convert_inception --pt "
    "pt_inception-2015-12-05-6726825d.pth --out {path}`."
)
"""The help of the error raised when the weights file is missing (``{path}``: where it was)."""


def _pair(v: int | tuple[int, int]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else v


class _BasicConv(nn.Module):
    """Conv (no bias) -> BatchNorm (eps 1e-3, running statistics) -> ReLU, torchvision's
    ``BasicConv2d``; ``padding`` is symmetric per axis as in ``torch.nn.Conv2d``."""

    features: int
    kernel: int | tuple[int, int]
    stride: int = 1
    padding: int | tuple[int, int] = 0

    @nn.compact
    def __call__(self, x: Array) -> Array:
        ph, pw = _pair(self.padding)
        x = Conv(
            self.features,
            _pair(self.kernel),
            strides=_pair(self.stride),
            padding=((ph, ph), (pw, pw)),
            use_bias=False,
            name="conv",
        )(x)
        x = nn.BatchNorm(use_running_average=True, epsilon=1e-3, name="bn")(x)
        return jax.nn.relu(x)


def _avg_pool_same(x: Array) -> Array:
    # TensorFlow's average pool divides by the number of real (unpadded) inputs.
    return nn.avg_pool(x, (3, 3), strides=(1, 1), padding=((1, 1), (1, 1)), count_include_pad=False)


def _max_pool(x: Array, stride: int, pad: int = 0) -> Array:
    return nn.max_pool(x, (3, 3), strides=(stride, stride), padding=((pad, pad), (pad, pad)))


class _InceptionA(nn.Module):
    pool_features: int

    @nn.compact
    def __call__(self, x: Array) -> Array:
        b1 = _BasicConv(64, 1, name="branch1x1")(x)
        b5 = _BasicConv(48, 1, name="branch5x5_1")(x)
        b5 = _BasicConv(64, 5, padding=2, name="branch5x5_2")(b5)
        b3 = _BasicConv(64, 1, name="branch3x3dbl_1")(x)
        b3 = _BasicConv(96, 3, padding=1, name="branch3x3dbl_2")(b3)
        b3 = _BasicConv(96, 3, padding=1, name="branch3x3dbl_3")(b3)
        bp = _BasicConv(self.pool_features, 1, name="branch_pool")(_avg_pool_same(x))
        return jnp.concatenate([b1, b5, b3, bp], axis=-1)


class _InceptionB(nn.Module):
    @nn.compact
    def __call__(self, x: Array) -> Array:
        b3 = _BasicConv(384, 3, stride=2, name="branch3x3")(x)
        bd = _BasicConv(64, 1, name="branch3x3dbl_1")(x)
        bd = _BasicConv(96, 3, padding=1, name="branch3x3dbl_2")(bd)
        bd = _BasicConv(96, 3, stride=2, name="branch3x3dbl_3")(bd)
        return jnp.concatenate([b3, bd, _max_pool(x, 2)], axis=-1)


class _InceptionC(nn.Module):
    channels_7x7: int

    @nn.compact
    def __call__(self, x: Array) -> Array:
        c7 = self.channels_7x7
        b1 = _BasicConv(192, 1, name="branch1x1")(x)
        b7 = _BasicConv(c7, 1, name="branch7x7_1")(x)
        b7 = _BasicConv(c7, (1, 7), padding=(0, 3), name="branch7x7_2")(b7)
        b7 = _BasicConv(192, (7, 1), padding=(3, 0), name="branch7x7_3")(b7)
        bd = _BasicConv(c7, 1, name="branch7x7dbl_1")(x)
        bd = _BasicConv(c7, (7, 1), padding=(3, 0), name="branch7x7dbl_2")(bd)
        bd = _BasicConv(c7, (1, 7), padding=(0, 3), name="branch7x7dbl_3")(bd)
        bd = _BasicConv(c7, (7, 1), padding=(3, 0), name="branch7x7dbl_4")(bd)
        bd = _BasicConv(192, (1, 7), padding=(0, 3), name="branch7x7dbl_5")(bd)
        bp = _BasicConv(192, 1, name="branch_pool")(_avg_pool_same(x))
        return jnp.concatenate([b1, b7, bd, bp], axis=-1)


class _InceptionD(nn.Module):
    @nn.compact
    def __call__(self, x: Array) -> Array:
        b3 = _BasicConv(192, 1, name="branch3x3_1")(x)
        b3 = _BasicConv(320, 3, stride=2, name="branch3x3_2")(b3)
        b7 = _BasicConv(192, 1, name="branch7x7x3_1")(x)
        b7 = _BasicConv(192, (1, 7), padding=(0, 3), name="branch7x7x3_2")(b7)
        b7 = _BasicConv(192, (7, 1), padding=(3, 0), name="branch7x7x3_3")(b7)
        b7 = _BasicConv(192, 3, stride=2, name="branch7x7x3_4")(b7)
        return jnp.concatenate([b3, b7, _max_pool(x, 2)], axis=-1)


class _InceptionE(nn.Module):
    """``max_pool``: the FID graph's last block (Mixed_7c) pools with max, not average."""

    max_pool: bool = False

    @nn.compact
    def __call__(self, x: Array) -> Array:
        b1 = _BasicConv(320, 1, name="branch1x1")(x)
        b3 = _BasicConv(384, 1, name="branch3x3_1")(x)
        b3 = jnp.concatenate(
            [
                _BasicConv(384, (1, 3), padding=(0, 1), name="branch3x3_2a")(b3),
                _BasicConv(384, (3, 1), padding=(1, 0), name="branch3x3_2b")(b3),
            ],
            axis=-1,
        )
        bd = _BasicConv(448, 1, name="branch3x3dbl_1")(x)
        bd = _BasicConv(384, 3, padding=1, name="branch3x3dbl_2")(bd)
        bd = jnp.concatenate(
            [
                _BasicConv(384, (1, 3), padding=(0, 1), name="branch3x3dbl_3a")(bd),
                _BasicConv(384, (3, 1), padding=(1, 0), name="branch3x3dbl_3b")(bd),
            ],
            axis=-1,
        )
        pooled = _max_pool(x, 1, pad=1) if self.max_pool else _avg_pool_same(x)
        bp = _BasicConv(192, 1, name="branch_pool")(pooled)
        return jnp.concatenate([b1, b3, bd, bp], axis=-1)


def resize_bilinear(x: Array, size: int) -> Array:
    """Bilinear resize of ``x [B, H, W, C]`` to ``[B, size, size, C]`` with half-pixel centres and
    no antialiasing, which equals ``torch.nn.functional.interpolate(mode='bilinear',
    align_corners=False)`` as pytorch-fid uses it."""
    return jax.image.resize(x, (x.shape[0], size, size, x.shape[3]), "bilinear", antialias=False)


class InceptionV3(nn.Module):
    """The FID Inception-v3 (pytorch-fid's architecture and parameter names).

    Attributes:
      resize_input: bilinearly resize inputs to 299x299 first (as pytorch-fid does); without it any
        side >= 75 is accepted.

    ``__call__(x)`` with ``x: float32 [B, H, W, C]`` in [-1, 1] (C = 3, or 1 for grey images, which
    are repeated over three channels) returns ``(logits [B, 1008], features [B, 2048])``, the
    features being the pool3 activations FID and KID use. Call with
    ``{'params': ..., 'batch_stats': ...}``; batch norm always uses the running statistics.
    """

    resize_input: bool = True

    @nn.compact
    def __call__(self, x: Array) -> tuple[Array, Array]:
        if x.ndim != 4 or x.shape[-1] not in (1, 3):
            raise ValueError(f"images must be [B, H, W, 1 or 3], got shape {x.shape}")
        if x.shape[-1] == 1:
            x = jnp.repeat(x, 3, axis=-1)
        if self.resize_input:
            x = resize_bilinear(x, INCEPTION_SIZE)
        if min(x.shape[1:3]) < MIN_SIZE:
            raise ValueError(
                f"Inception-v3 needs sides >= {MIN_SIZE} (or resize_input=True), got {x.shape}"
            )
        x = _BasicConv(32, 3, stride=2, name="Conv2d_1a_3x3")(x)
        x = _BasicConv(32, 3, name="Conv2d_2a_3x3")(x)
        x = _BasicConv(64, 3, padding=1, name="Conv2d_2b_3x3")(x)
        x = _max_pool(x, 2)
        x = _BasicConv(80, 1, name="Conv2d_3b_1x1")(x)
        x = _BasicConv(192, 3, name="Conv2d_4a_3x3")(x)
        x = _max_pool(x, 2)
        x = _InceptionA(32, name="Mixed_5b")(x)
        x = _InceptionA(64, name="Mixed_5c")(x)
        x = _InceptionA(64, name="Mixed_5d")(x)
        x = _InceptionB(name="Mixed_6a")(x)
        for name, c7 in (
            ("Mixed_6b", 128),
            ("Mixed_6c", 160),
            ("Mixed_6d", 160),
            ("Mixed_6e", 192),
        ):
            x = _InceptionC(c7, name=name)(x)
        x = _InceptionD(name="Mixed_7a")(x)
        x = _InceptionE(name="Mixed_7b")(x)
        x = _InceptionE(max_pool=True, name="Mixed_7c")(x)
        features = jnp.mean(x, axis=(1, 2))
        return nn.Dense(NUM_LOGITS, name="fc")(features), features


def _unflatten(flat: dict[str, np.ndarray]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for key, value in flat.items():
        node = tree
        *parents, leaf = key.split("/")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return tree


def _flat_shapes(tree: Any, prefix: Sequence[str] = ()) -> dict[str, tuple[int, ...]]:
    if isinstance(tree, dict) or hasattr(tree, "items"):
        out: dict[str, tuple[int, ...]] = {}
        for k, v in tree.items():
            out.update(_flat_shapes(v, (*prefix, k)))
        return out
    return {"/".join(prefix): tuple(tree.shape)}


def load_inception_variables(path: str) -> dict[str, Any]:
    """Reads converted FID Inception weights: ``{'params': ..., 'batch_stats': ...}`` for
    :class:`InceptionV3`.

    Args:
      path: an ``.npz`` written by ``experiments/tools/convert_inception.py`` (keys such as
        ``params/Mixed_5b/branch1x1/conv/kernel``).

    Raises:
      FileNotFoundError: when ``path`` does not exist, saying how to make it.
      ValueError: when the file's arrays do not match the architecture (names the differences).
    """
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"FID Inception weights not found at {path!r}. "
            + MISSING_WEIGHTS_HELP.format(path=path)
        )
    with np.load(path) as f:
        flat = {k: np.asarray(f[k], np.float32) for k in f.files}
    want = _flat_shapes(
        jax.eval_shape(
            lambda: InceptionV3(resize_input=False).init(
                jax.random.PRNGKey(0), jnp.zeros((1, MIN_SIZE, MIN_SIZE, 3))
            )
        )
    )
    got = {k: v.shape for k, v in flat.items()}
    missing, extra = sorted(want.keys() - got.keys()), sorted(got.keys() - want.keys())
    wrong = sorted(k for k in want.keys() & got.keys() if want[k] != got[k])
    if missing or extra or wrong:
        raise ValueError(
            f"{path} does not hold FID Inception-v3 weights: "
            f"missing {missing[:5]} ({len(missing)}), "
            f"unexpected {extra[:5]} ({len(extra)}), wrong shapes "
            f"{[(k, got[k], want[k]) for k in wrong[:5]]} ({len(wrong)})"
        )
    return _unflatten(flat)
