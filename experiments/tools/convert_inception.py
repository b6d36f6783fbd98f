"""Converts pytorch-fid's FID Inception weights to the ``.npz`` that ``genjax.nn.inception`` reads.

``python -m experiments.tools.convert_inception --pt pt_inception-2015-12-05-6726825d.pth --out
inception_fid.npz`` (the ``.pth`` is a release asset of github.com/mseitzer/pytorch-fid, fetched by
the user; nothing here downloads). Needs torch only to read the file.
"""

from __future__ import annotations

import argparse
import sys
from typing import Mapping

import numpy as np

_BN = {
    "weight": ("params", "scale"),
    "bias": ("params", "bias"),
    "running_mean": ("batch_stats", "mean"),
    "running_var": ("batch_stats", "var"),
}


def convert_state_dict(state_dict: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Maps a pytorch-fid ``fid_inception_v3`` state dict onto flat Flax variable names.

    ``A.B.conv.weight [O, I, kh, kw]`` -> ``params/A/B/conv/kernel [kh, kw, I, O]``;
    ``A.B.bn.{weight, bias, running_mean, running_var}`` -> ``params/.../bn/{scale, bias}`` and
    ``batch_stats/.../bn/{mean, var}``; ``fc.weight [1008, 2048]`` ->
    ``params/fc/kernel [2048, 1008]``.
    ``num_batches_tracked`` counters are dropped.

    Raises:
      ValueError: for a key the architecture does not have.
    """
    out: dict[str, np.ndarray] = {}
    for key, value in state_dict.items():
        value = np.asarray(value, np.float32)
        *path, module, name = key.split(".")
        if name == "num_batches_tracked":
            continue
        if module == "conv" and name == "weight":
            out["/".join(["params", *path, "conv", "kernel"])] = value.transpose(2, 3, 1, 0)
        elif module == "bn" and name in _BN:
            collection, leaf = _BN[name]
            out["/".join([collection, *path, "bn", leaf])] = value
        elif not path and module == "fc":
            out[f"params/fc/{'kernel' if name == 'weight' else 'bias'}"] = (
                value.T if name == "weight" else value
            )
        else:
            raise ValueError(f"unexpected key {key!r} in the Inception state dict")
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--pt", required=True, help="pytorch-fid's pt_inception-2015-12-05-6726825d.pth"
    )
    parser.add_argument("--out", required=True, help="the .npz to write")
    args = parser.parse_args(argv)
    import torch

    state_dict = torch.load(args.pt, map_location="cpu", weights_only=True)
    flat = convert_state_dict({k: v.numpy() for k, v in state_dict.items()})
    np.savez(args.out, **flat)
    from genjax.nn.inception import load_inception_variables

    load_inception_variables(args.out)  # fails loudly if the arrays do not fit the architecture
    print(f"wrote {len(flat)} arrays to {args.out}")


if __name__ == "__main__":
    main(sys.argv[1:])
