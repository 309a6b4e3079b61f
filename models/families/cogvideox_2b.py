"""CogVideoX-2b: 30 layers of 30 heads x 64, fixed 3D sin-cos positional embeddings on the video tokens."""

from __future__ import annotations

from typing import Any

from msvg_bench.models.families.base import ModelFamily

TRANSFORMER: dict[str, Any] = {
    "activation_fn": "gelu-approximate",
    "attention_bias": True,
    "attention_head_dim": 64,
    "dropout": 0.0,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "in_channels": 16,
    "max_text_seq_length": 226,
    "norm_elementwise_affine": True,
    "norm_eps": 1e-5,
    "num_attention_heads": 30,
    "num_layers": 30,
    "out_channels": 16,
    "patch_size": 2,
    "sample_frames": 49,
    "sample_height": 60,
    "sample_width": 90,
    "spatial_interpolation_scale": 1.875,
    "temporal_compression_ratio": 4,
    "temporal_interpolation_scale": 1.0,
    "text_embed_dim": 4096,
    "time_embed_dim": 512,
    "timestep_activation_fn": "silu",
    "use_rotary_positional_embeddings": False,
}
"""CogVideoX-2b's transformer/config.json (1,693,783,872 parameters)."""

SCHEDULER: dict[str, Any] = {
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "beta_start": 0.00085,
    "clip_sample": False,
    "num_train_timesteps": 1000,
    "prediction_type": "v_prediction",
    "rescale_betas_zero_snr": True,
    "set_alpha_to_one": True,
    "snr_shift_scale": 3.0,
    "steps_offset": 0,
    "timestep_spacing": "trailing",
}
"""CogVideoX-2b's scheduler/scheduler_config.json."""

PRESETS: dict[str, dict[str, Any]] = {
    "model": {
        "source": "pretrained",
        "dtype": "bf16",
        "device": "cuda",
        "num_frames": 49,
        "height": 480,
        "width": 720,
        "fps": 8,
        "history_encoder": "clip4clip",
        "filter_threshold": 0.5,
        "max_history_tokens": 226,
        "max_history_frames": 16,
        "extractor_dim": 1024,
        "extractor_layers": 8,
        "extractor_heads": 16,
        "decoupler_dim": 512,
        "decoupler_heads": 8,
    },
    "generate": {"num_inference_steps": 50},
    "data": {"synth": {"frames": 49, "height": 480, "width": 720}},
    "train": {
        "steps": 1000,
        "warmup_steps": 100,
        "lr": 2e-5,
        "new_module_lr_multiplier": 50.0,
        "schedule": "constant",
        "checkpoint_every": 250,
        "init_timeout_s": 1800,
        "rdzv_timeout_s": 300,
    },
    "eval": {
        "scene_encoder": "clip4clip",
        "character_encoder": "dinov2-base",
        "text_encoder": "clip-vit-l14",
        "flow_backend": "raft-large",
        "detector": "owlvit",
        "device": "auto",
    },
}
"""The `cogvideox-2b` preset: 49 x 480 x 720 at 8 fps, bf16 on CUDA, full-size history modules."""

FAMILY = ModelFamily(
    name="cogvideox-2b",
    title="CogVideoX-2b",
    hub_id="THUDM/CogVideoX-2b",
    transformer=TRANSFORMER,
    scheduler=SCHEDULER,
    presets=PRESETS,
    published={"base_transformer": 1_693_783_872, "width": 1920, "layers": 30, "heads": 30},
)
