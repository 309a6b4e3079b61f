"""CogVideoX1.5-5B: the 5B transformer with temporal patches (2 latent frames per token) and sliced 3D rotary embeddings."""

from __future__ import annotations

from typing import Any

from msvg_bench.models.families import cogvideox_5b
from msvg_bench.models.families.base import ModelFamily

TRANSFORMER: dict[str, Any] = {
    **cogvideox_5b.TRANSFORMER,
    "ofs_embed_dim": None,
    "patch_bias": False,
    "patch_size_t": 2,
    "sample_frames": 81,
    "sample_height": 300,
    "sample_width": 300,
}
"""CogVideoX1.5-5B's transformer/config.json (text-to-video; 5,570,676,352 parameters): 5b's with these keys changed (the temporal
patch embedding and output projection are 2x wider than 5b's; `patch_bias` only affects the 1.0
convolutional patch embedding, diffusers' linear 1.5 patch embedding keeps its bias))."""

SCHEDULER: dict[str, Any] = dict(cogvideox_5b.SCHEDULER)
"""CogVideoX1.5-5B's scheduler/scheduler_config.json (as 5b's)."""

_model = cogvideox_5b.PRESETS["model"]
PRESETS: dict[str, dict[str, Any]] = {
    **cogvideox_5b.PRESETS,
    "model": {**_model, "num_frames": 81, "height": 768, "width": 1360, "fps": 16},
    "data": {"synth": {"frames": 81, "height": 768, "width": 1360, "fps": 16.0}},
}
"""The `cogvideox1.5-5b` preset: 81 x 768 x 1360 at 16 fps (21 latent frames, padded to 22: 11 x 48 x 85 tokens)."""

FAMILY = ModelFamily(
    name="cogvideox1.5-5b",
    title="CogVideoX1.5-5B",
    hub_id="THUDM/CogVideoX1.5-5B",
    transformer=TRANSFORMER,
    scheduler=SCHEDULER,
    presets=PRESETS,
    tiny_preset="tiny-1.5",
    tiny_model={"tiny_heads": 2, "tiny_head_dim": 16},
    # the 5b count + (128 - 64) * 3072 (linear patch weights) + (128 - 64) * 3073 (2x wider output projection)
    published={"base_transformer": 5_570_676_352, "width": 3072, "layers": 42, "heads": 48},
)
