"""`ModelFamily`: one CogVideoX variant's architecture, scheduler, presets and token geometry.

Nothing here imports torch or diffusers: families are listed and their presets read at CLI start-up.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from msvg_bench.models.families.positional import positional_kind, rotary_embedding

if TYPE_CHECKING:
    import torch

SECTIONS: tuple[str, ...] = ("model", "generate", "data", "train", "eval")
"""The config sections a family gives preset values for."""

VAE_SPATIAL_COMPRESSION = 8
"""CogVideoX's VAE: pixels per latent cell in height and width."""

TINY_TRAITS: dict[str, Any] = {
    "use_rotary_positional_embeddings": False,
    "use_learned_positional_embeddings": False,
    "patch_size_t": None,
    "patch_bias": True,
}
"""Transformer keys a tiny model copies from its family (positional embeddings, patching), with
diffusers' defaults; only values that differ from the default are copied."""


@dataclass(frozen=True)
class TokenGrid:
    """Where one clip goes in the transformer: VAE latent frames, temporal padding, token positions."""

    latent_frames: int
    """Latent frames after the VAE's temporal compression."""
    padded_frames: int
    """Latent frames after padding to a multiple of `patch_size_t` (= latent_frames without temporal patches)."""
    frames: int
    """Token positions in time (padded_frames / patch_size_t)."""
    height: int
    """Token positions in height (latent height / patch_size)."""
    width: int
    """Token positions in width (latent width / patch_size)."""

    @property
    def pad_frames(self) -> int:
        """Latent frames added in front so the temporal patches tile the clip."""
        return self.padded_frames - self.latent_frames

    @property
    def tokens(self) -> int:
        """Video tokens of the clip."""
        return self.frames * self.height * self.width


def latent_frame_count(frames: int, temporal_compression: int) -> int:
    """Latent frames the VAE makes of `frames` video frames (1 + (frames - 1) / compression)."""
    return 1 + (frames - 1) // temporal_compression


def padded_frame_count(latent_frames: int, patch_size_t: int | None) -> int:
    """`latent_frames` rounded up to a multiple of `patch_size_t` (unchanged without temporal patches)."""
    if not patch_size_t:
        return latent_frames
    return -(-latent_frames // patch_size_t) * patch_size_t


def token_grid(
    frames: int,
    height: int,
    width: int,
    *,
    temporal_compression: int = 4,
    spatial_compression: int = VAE_SPATIAL_COMPRESSION,
    patch_size: int = 2,
    patch_size_t: int | None = None,
) -> TokenGrid:
    """The token grid of a `frames` x `height` x `width` clip (pixels) for the given compression and patches."""
    latent = latent_frame_count(frames, temporal_compression)
    padded = padded_frame_count(latent, patch_size_t)
    return TokenGrid(
        latent_frames=latent,
        padded_frames=padded,
        frames=padded // (patch_size_t or 1),
        height=height // spatial_compression // patch_size,
        width=width // spatial_compression // patch_size,
    )


@dataclass(frozen=True)
class ModelFamily:
    """A CogVideoX variant: what `model.family` names.

    `transformer` is the variant's published diffusers transformer configuration; `scheduler` its
    DDIM scheduler configuration (used when the scheduler is built in code); `presets` the values
    of its preset for each config section (`SECTIONS`); `tiny_preset`, when set, names a preset
    that is the `tiny` preset with this family's positional embeddings and patching (plus
    `tiny_model` in the model section), so the variant's code path runs on a CPU in seconds.
    `published` states what the published checkpoint has (`base_transformer` parameters, `width`,
    `layers`, `heads`): the shared family tests (`tests/unit/test_registry_entries.py`) check the
    model built from `transformer` on the meta device against it.
    """

    name: str
    title: str
    hub_id: str
    transformer: Mapping[str, Any]
    scheduler: Mapping[str, Any]
    presets: Mapping[str, Mapping[str, Any]]
    tiny_preset: str | None = None
    tiny_model: Mapping[str, Any] = field(default_factory=dict)
    published: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.presets) - set(SECTIONS))
        if unknown:
            raise ValueError(f"model family {self.name!r}: presets for unknown sections {unknown} (known: {list(SECTIONS)})")

    # ---- architecture -------------------------------------------------------------------------
    @property
    def rotary(self) -> bool:
        """Whether the transformer uses 3D rotary positional embeddings (else fixed 3D sin-cos ones)."""
        return bool(self.transformer.get("use_rotary_positional_embeddings", False))

    @property
    def patch_size_t(self) -> int | None:
        """Latent frames per temporal patch (None: every latent frame is its own token row)."""
        value = self.transformer.get("patch_size_t")
        return int(value) if value else None

    @property
    def positional_embedding(self) -> str:
        """How video tokens learn their position: `3d-sincos`, `3d-rotary` or `3d-rotary-slice`."""
        return positional_kind(self.transformer)

    def rotary_embedding(
        self, latent_frames: int, latent_height: int, latent_width: int, device: torch.device | None = None
    ) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The video tokens' rotary (cos, sin) for latents of this shape at full size, or None (sin-cos family)."""
        return rotary_embedding(self.transformer, latent_frames, latent_height, latent_width, device)

    def tiny_traits(self) -> dict[str, Any]:
        """The transformer keys a tiny model of this family takes over (those differing from diffusers' defaults)."""
        return {
            key: self.transformer[key]
            for key, default in TINY_TRAITS.items()
            if key in self.transformer and self.transformer[key] != default
        }

    # ---- presets ------------------------------------------------------------------------------
    def preset(self) -> dict[str, dict[str, Any]]:
        """This family's preset: one mapping per config section (the model section names the family)."""
        values = {section: copy.deepcopy(dict(self.presets.get(section, {}))) for section in SECTIONS}
        values["model"]["family"] = self.name
        return values

    def tiny_variant(self, tiny: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
        """The `tiny_preset` values: the `tiny` preset's sections with this family and `tiny_model` in the model section."""
        values = {section: copy.deepcopy(dict(tiny.get(section, {}))) for section in SECTIONS}
        values["model"].update({"family": self.name, **self.tiny_model})
        return values

    # ---- geometry -----------------------------------------------------------------------------
    def token_grid(self, frames: int, height: int, width: int, config: Mapping[str, Any] | None = None) -> TokenGrid:
        """The token grid of a `frames` x `height` x `width` clip for this family (or an explicit transformer config)."""
        return config_token_grid(self.transformer if config is None else config, frames, height, width)

    def geometry_problems(self, frames: int, height: int, width: int) -> list[str]:
        """What is wrong with a clip geometry for this family (empty when it fits)."""
        problems = []
        cell = VAE_SPATIAL_COMPRESSION * int(self.transformer.get("patch_size", 2))
        if height % cell or width % cell:
            problems.append(f"height x width {height}x{width}: must be multiples of {cell} for {self.title} (VAE /8, patch)")
        temporal = int(self.transformer.get("temporal_compression_ratio", 4))
        if self.patch_size_t and (frames - 1) % temporal:
            problems.append(
                f"num_frames {frames}: {self.title} needs {temporal}k+1 frames (the VAE's temporal compression); "
                f"its latent frames are then padded to a multiple of patch_size_t={self.patch_size_t}"
            )
        return problems

    def layout_problem(self, config: Mapping[str, Any]) -> str | None:
        """Why a transformer config is not of this family's kind (positional embeddings, temporal patches), or None."""
        theirs, ours = positional_kind(config), self.positional_embedding
        their_t = config.get("patch_size_t") or None
        if theirs != ours or their_t != self.patch_size_t:
            return (
                f"the transformer uses {theirs} positional embeddings and patch_size_t={their_t}, but model.family="
                f"{self.name!r} ({self.title}) uses {ours} and patch_size_t={self.patch_size_t}; set model.family to the "
                "folder's family"
            )
        return None

    def how_to_get(self) -> str:
        """How to obtain this family's weights (for missing-weights errors)."""
        return f"Download {self.hub_id} (diffusers layout) on a machine with hub access and set model.model_dir to it."


def config_token_grid(config: Mapping[str, Any], frames: int, height: int, width: int) -> TokenGrid:
    """The token grid of a clip for a transformer config (its compression, patch sizes)."""
    return token_grid(
        frames,
        height,
        width,
        temporal_compression=int(config.get("temporal_compression_ratio", 4)),
        patch_size=int(config.get("patch_size", 2)),
        patch_size_t=config.get("patch_size_t") or None,
    )
