"""The one UNet of the diffusion, consistency and latent-diffusion configs, per dataset.

A consistency model distilled from a diffusion run starts from its teacher's weights, so both must
build the same network: they take these fields from here instead of restating them.
"""

from __future__ import annotations

UNETS = {
    # 8x8: two resolutions (8, 4), attention at the lowest.
    "digits": {"base_channels": 32, "channel_mults": (1, 2), "num_res_blocks": 1, "attention_resolutions": (4,)},
    # 28x28 on CPU: three resolutions (28, 14, 7), attention only at 7x7 where it costs 49 tokens.
    "fashion_mnist": {
        "base_channels": 16, "channel_mults": (1, 2, 2), "num_res_blocks": 1, "attention_resolutions": (7,),
    },
    # Latent grids of the ldm configs (the autoencoder's output, not the images). digits: 8x8 -> 4x4x2,
    # two resolutions (4, 2). fashion_mnist: 28x28 -> 7x7x4; 7 is odd, so one resolution, made deeper
    # and wider instead, with attention over the 49 positions.
    "digits_latent": {
        "base_channels": 32, "channel_mults": (1, 2), "num_res_blocks": 1, "attention_resolutions": (2,),
    },
    "fashion_mnist_latent": {
        "base_channels": 64, "channel_mults": (1,), "num_res_blocks": 2, "attention_resolutions": (7,),
    },
    # Accelerator settings at the papers' scale.
    "mnist": {"base_channels": 64, "channel_mults": (1, 2, 2), "num_res_blocks": 2, "attention_resolutions": (7,)},
    "cifar10": {
        "base_channels": 128, "channel_mults": (1, 2, 2, 2), "num_res_blocks": 2, "attention_resolutions": (16,),
    },
}


def unet_fields(dataset: str) -> dict:
    """The UNet fields (``base_channels``, ``channel_mults``, ``num_res_blocks``,
    ``attention_resolutions``) for ``dataset`` (``<dataset>_latent``: for its latent-diffusion grid).

    Raises:
      ValueError: for a dataset without a UNet preset, listing those with one.
    """
    if dataset not in UNETS:
        raise ValueError(f"no UNet preset for dataset {dataset!r}; valid choices: {sorted(UNETS)}")
    return dict(UNETS[dataset])
