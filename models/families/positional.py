"""Rotary positional embeddings of CogVideoX transformers, from the transformer config and the latent shape.

The 2B transformer adds fixed 3D sin-cos embeddings to its video tokens inside the patch embedding
(nothing to compute here). The 5B transformer (CogVideoX 1.0) and the 1.5 transformers rotate the
video tokens' queries and keys with 3D rotary embeddings instead; diffusers' `CogVideoXPipeline`
computes them per call (`_prepare_rotary_positional_embeddings`) and passes them in. This module
computes the same tensors, so a transformer can make its own when its caller passes none:

- 1.0 (`3d-rotary`): the token grid is fitted into the config's sample grid (`sample_height` /
  `sample_width` over the patch size) by a centred resize-crop, positions spread over it
  (`grid_type="linspace"`), one temporal position per latent frame;
- 1.5 (`3d-rotary-slice`): integer positions sliced from a grid of the sample size
  (`grid_type="slice"`), one temporal position per temporal patch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch


def positional_kind(config: Mapping[str, Any]) -> str:
    """`3d-sincos` (CogVideoX 1.0 2B), `3d-rotary` (1.0 5B) or `3d-rotary-slice` (1.5, temporal patches)."""
    if not config.get("use_rotary_positional_embeddings", False):
        return "3d-sincos"
    return "3d-rotary-slice" if config.get("patch_size_t") else "3d-rotary"


def resize_crop_region(grid: tuple[int, int], base_width: int, base_height: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """Corners of the centred region a (height, width) token grid covers when fitted into the base grid."""
    height, width = grid
    if height / width > base_height / base_width:
        resize_height, resize_width = base_height, round(base_height / height * width)
    else:
        resize_width, resize_height = base_width, round(base_width / width * height)
    top = round((base_height - resize_height) / 2.0)
    left = round((base_width - resize_width) / 2.0)
    return (top, left), (top + resize_height, left + resize_width)


def rotary_embedding(
    config: Mapping[str, Any], latent_frames: int, latent_height: int, latent_width: int, device: torch.device | None = None
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(cos, sin) [video tokens, head dim] for latents of this shape, or None for a sin-cos transformer.

    `latent_frames` counts the latent frames the transformer patchifies (after any padding to a
    multiple of `patch_size_t`). float32, as diffusers' pipeline makes them.
    """
    kind = positional_kind(config)
    if kind == "3d-sincos":
        return None
    from diffusers.models.embeddings import get_3d_rotary_pos_embed

    patch = int(config["patch_size"])
    grid = (latent_height // patch, latent_width // patch)
    base_height, base_width = int(config["sample_height"]) // patch, int(config["sample_width"]) // patch
    head_dim = int(config["attention_head_dim"])
    if kind == "3d-rotary":
        return get_3d_rotary_pos_embed(
            embed_dim=head_dim,
            crops_coords=resize_crop_region(grid, base_width, base_height),
            grid_size=grid,
            temporal_size=latent_frames,
            device=device,
        )
    patch_t = int(config["patch_size_t"])
    if grid[0] > base_height or grid[1] > base_width:
        raise ValueError(
            f"latent grid {grid[0]}x{grid[1]} is larger than the transformer's rotary grid {base_height}x{base_width} "
            "(sample_height / sample_width over the patch size)"
        )
    return get_3d_rotary_pos_embed(
        embed_dim=head_dim,
        crops_coords=None,
        grid_size=grid,
        temporal_size=-(-latent_frames // patch_t),
        grid_type="slice",
        max_size=(base_height, base_width),
        device=device,
    )


def rotary_head_dim_problem(head_dim: int) -> str | None:
    """Why `head_dim` cannot carry 3D rotary embeddings (t / h / w take 1/4, 3/8, 3/8; each even), or None."""
    if head_dim % 16:
        return f"attention head width {head_dim}: 3D rotary embeddings need a multiple of 16"
    return None
