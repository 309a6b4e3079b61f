"""CogVideoX-5b: 42 layers of 48 heads x 64, 3D rotary positional embeddings (no sin-cos or learned ones)."""

from __future__ import annotations

from typing import Any

from msvg_bench.models.families import cogvideox_2b
from msvg_bench.models.families.base import ModelFamily

TRANSFORMER: dict[str, Any] = {
    **cogvideox_2b.TRANSFORMER,
    "num_attention_heads": 48,
    "num_layers": 42,
    "use_learned_positional_embeddings": False,
    "use_rotary_positional_embeddings": True,
}
"""CogVideoX-5b's transformer/config.json (text-to-video; 5,570,283,072 parameters): 2b's with these keys changed."""

SCHEDULER: dict[str, Any] = {**cogvideox_2b.SCHEDULER, "snr_shift_scale": 1.0}
"""CogVideoX-5b's scheduler/scheduler_config.json (the 2b one with SNR shift 1.0)."""

PRESETS: dict[str, dict[str, Any]] = {
    **cogvideox_2b.PRESETS,
    "generate": {"num_inference_steps": 50},
}
"""The `cogvideox-5b` preset: CogVideoX-2b's geometry (49 x 480 x 720 at 8 fps) and training settings."""

FAMILY = ModelFamily(
    name="cogvideox-5b",
    title="CogVideoX-5b",
    hub_id="THUDM/CogVideoX-5b",
    transformer=TRANSFORMER,
    scheduler=SCHEDULER,
    presets=PRESETS,
    tiny_preset="tiny-rotary",
    tiny_model={"tiny_heads": 2, "tiny_head_dim": 16},
    published={"base_transformer": 5_570_283_072, "width": 3072, "layers": 42, "heads": 48},
)
