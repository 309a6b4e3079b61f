"""Model and generation configuration sections, with their preset values."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from msvg_bench.schema import StrictModel


class ModelConfig(StrictModel):
    """Which weights to use and the clip geometry the model works at."""

    source: Literal["tiny", "pretrained"] = Field("tiny", description="tiny: random-init from config; pretrained: local weights")
    model_dir: Path | None = Field(None, description="CogVideoX diffusers folder (transformer/ vae/ text_encoder/ tokenizer/ scheduler/)")
    clip4clip_dir: Path | None = Field(None, description="CLIP4Clip transformers folder (vision tower with projection)")
    mixer_dir: Path | None = Field(None, description="feature-extractor mixer backbone checkpoint folder")
    dtype: Literal["fp32", "bf16", "fp16"] = "fp32"
    device: str = Field("auto", description="auto | cpu | cuda | cuda:N")
    num_frames: int = Field(9, ge=1)
    height: int = Field(16, ge=8)
    width: int = Field(16, ge=8)
    fps: int = Field(8, ge=1)


class GenerateConfig(StrictModel):
    """Sampling settings shared by the method and the baselines."""

    method: Literal["msvg", "plain", "streaming"] = "msvg"
    num_inference_steps: int = Field(50, ge=1)
    guidance_scale: float = Field(6.0, description="w1: text guidance")
    history_guidance_scale: float = Field(3.0, description="w2: history guidance")
    use_dynamic_cfg: bool = True
    negative_prompt: str = ""


MODEL_PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {"source": "tiny", "dtype": "fp32", "device": "cpu", "num_frames": 9, "height": 16, "width": 16, "fps": 8},
    "cogvideox-2b": {
        "source": "pretrained",
        "dtype": "bf16",
        "device": "cuda",
        "num_frames": 49,
        "height": 480,
        "width": 720,
        "fps": 8,
    },
}

GENERATE_PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {"num_inference_steps": 4},
    "cogvideox-2b": {"num_inference_steps": 50},
}
