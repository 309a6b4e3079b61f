"""FLOPs of one training step of the history transformer, and the GPU peaks MFU is measured against.

Count (Narayanan et al. 2021, "Efficient Large-Scale Language Model Training on GPU Clusters",
sec. 5.1, without the vocabulary term; CogVideoX has no vocabulary head): forward = L * (24 * S * h^2 + 4 * S^2 * h)
with S = video + text + history tokens, h = hidden width, L = blocks (QKV + output projections
8 S h^2, MLP with 4h inner width 16 S h^2, attention scores and weighted sum 4 S^2 h; patch
embedding, adaLN and the output projection are < 1 % and left out). Model FLOPs per step =
3 x forward (MFU, as in PaLM, Chowdhery et al. 2022, appendix B); with full activation
recomputation the hardware does 4 x forward (HFU). Peak: `--peak-tflops`, else the dense bf16
figure of the detected GPU (H100 / H200 SXM 989.4, A100 312, L40S 362.1, RTX 4090 165.2).
"""

from __future__ import annotations

from typing import Any

# CogVideoX transformer layouts (diffusers' config keys). 2b: CogVideoX-2b's transformer config;
# 5b: the cogvideox-5b family's transformer (42 layers, 48 heads x 64, 3D rotary embeddings, which the
# history transformer computes itself from the latent shape), opt-in with `--layout 5b`. `tiny` is the
# dry-run layout.
LAYOUTS: dict[str, dict[str, Any]] = {
    "2b": {
        "num_attention_heads": 30, "attention_head_dim": 64, "in_channels": 16, "out_channels": 16,
        "time_embed_dim": 512, "text_embed_dim": 4096, "num_layers": 30, "sample_width": 90,
        "sample_height": 60, "sample_frames": 49, "patch_size": 2, "temporal_compression_ratio": 4,
        "max_text_seq_length": 226,
    },
    "5b": {
        "num_attention_heads": 48, "attention_head_dim": 64, "in_channels": 16, "out_channels": 16,
        "time_embed_dim": 512, "text_embed_dim": 4096, "num_layers": 42, "sample_width": 90,
        "sample_height": 60, "sample_frames": 49, "patch_size": 2, "temporal_compression_ratio": 4,
        "max_text_seq_length": 226, "use_rotary_positional_embeddings": True,
    },
    "tiny": {
        "num_attention_heads": 2, "attention_head_dim": 16, "in_channels": 4, "out_channels": 4,
        "time_embed_dim": 16, "text_embed_dim": 32, "num_layers": 2, "sample_width": 6,
        "sample_height": 4, "sample_frames": 9, "patch_size": 2, "temporal_compression_ratio": 4,
        "max_text_seq_length": 16,
    },
}
PEAK_BF16_TFLOPS: dict[str, float] = {"H200": 989.4, "H100": 989.4, "A100": 312.0, "L40S": 362.1, "4090": 165.2}
VAE_SPATIAL = 8


def forward_flops(layers: int, hidden: int, seq: int) -> float:
    """Forward FLOPs of `layers` transformer blocks of width `hidden` over `seq` tokens (module docstring)."""
    return float(layers) * (24.0 * seq * hidden**2 + 4.0 * seq**2 * hidden)


def token_counts(layout: dict[str, Any], frames: int, height: int, width: int) -> dict[str, int]:
    """Video, text and history tokens of one sample (history tokens: one per prompt token, as the decoupler emits)."""
    latent_frames = 1 + (frames - 1) // layout["temporal_compression_ratio"]
    video = latent_frames * (height // VAE_SPATIAL // layout["patch_size"]) * (width // VAE_SPATIAL // layout["patch_size"])
    text = layout["max_text_seq_length"]
    return {"video": video, "text": text, "history": text}


def step_flops(layout: dict[str, Any], frames: int, height: int, width: int, history: bool = True) -> dict[str, float]:
    """Forward, model (3x) and hardware (4x, full recompute) FLOPs of one training step per sample."""
    tokens = token_counts(layout, frames, height, width)
    seq = tokens["video"] + tokens["text"] + (tokens["history"] if history else 0)
    hidden = layout["num_attention_heads"] * layout["attention_head_dim"]
    fwd = forward_flops(layout["num_layers"], hidden, seq)
    return {"tokens": seq, "forward": fwd, "model": 3 * fwd, "hardware": 4 * fwd}


def peak_tflops(device_name: str, explicit: float | None) -> float | None:
    """The dense bf16 peak of the GPU (explicit value first), None when unknown."""
    if explicit is not None:
        return explicit
    for key, value in PEAK_BF16_TFLOPS.items():
        if key in device_name:
            return value
    return None
