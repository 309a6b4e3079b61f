"""Model and generation configuration sections, with their preset values."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from msvg_bench.core.schema import StrictModel
from pydantic import Field, ValidationError, field_validator, model_validator
from msvg_bench.core.errors import UnknownNameError
from msvg_bench.models.families import get_family
from msvg_bench.models.methods import get_method


class ModelConfig(StrictModel):
    """Which weights to use, the clip geometry, and the sizes of the multi-scene modules."""

    source: Literal["tiny", "world", "pretrained"] = Field(
        "tiny",
        description="tiny: random-init from config; world: transformer/T5 from config, VAE and frame encoder trained on "
        "the story world (world_dir); pretrained: local weights",
    )
    world_dir: Path | None = Field(
        None, description="world encoders folder (vae/ and clip/, written by the world recipe) for source=world"
    )
    family: str = Field(
        "cogvideox-2b",
        description="model family (msvg_bench.models.families: cogvideox-2b, cogvideox-5b, cogvideox1.5-5b): the "
        "transformer architecture; tiny/world build a small model of its kind, pretrained loads its folder",
    )
    model_dir: Path | None = Field(None, description="CogVideoX diffusers folder (transformer/ vae/ text_encoder/ tokenizer/ scheduler/)")
    weights: Path | None = Field(
        None, description="trained multi-scene weights folder (written by train / models.export_weights); None: fresh init"
    )
    clip4clip_dir: Path | None = Field(None, description="CLIP4Clip transformers folder (vision tower with projection)")
    mixer_dir: Path | None = Field(None, description="feature-extractor mixer backbone checkpoint folder (clip-vision backbone)")
    dtype: Literal["fp32", "bf16", "fp16"] = "fp32"
    device: str = Field("auto", description="auto | cpu | cuda | cuda:N")
    num_frames: int = Field(9, ge=1)
    height: int = Field(16, ge=8)
    width: int = Field(16, ge=8)
    fps: int = Field(8, ge=1)
    init_seed: int = Field(0, description="seed of every random-init weight (tiny components, new modules)")
    tiny_layers: int = Field(1, ge=1, description="tiny preset: transformer layers")
    tiny_heads: int = Field(4, ge=1, description="tiny preset: transformer attention heads")
    tiny_head_dim: int = Field(8, ge=1, description="tiny preset: transformer head width")
    tiny_text_dim: int = Field(32, ge=4, description="tiny preset: T5 width (= transformer text_embed_dim)")
    tiny_text_len: int = Field(16, ge=4, description="tiny preset: text tokens per prompt")
    tiny_time_embed_dim: int = Field(2, ge=2, description="tiny preset: timestep embedding width")
    history_encoder: str = Field("tiny-random", description="frame encoder for history features (msvg_bench.eval.encoders name)")
    history_dim: int = Field(512, ge=1, description="per-frame embedding width of the history encoder")
    filter_threshold: float = Field(0.75, ge=-1.0, le=1.0, description="text filter: keep past tokens with cosine >= this")
    filter_embedding: Literal["input", "contextual"] = Field(
        "input", description="text filter: T5 input token embeddings or contextual encoder outputs"
    )
    max_history_tokens: int = Field(32, ge=1, description="cap on past-prompt tokens kept by the text filter")
    max_history_frames: int = Field(16, ge=1, description="frames per past scene the extractor reads (uniformly sampled)")
    extractor_dim: int = Field(32, ge=8, description="feature extractor width (mixer hidden size)")
    extractor_layers: int = Field(2, ge=1, description="feature extractor mixer layers")
    extractor_heads: int = Field(4, ge=1, description="feature extractor attention heads")
    mixer_backbone: Literal["transformer", "clip-vision"] = Field(
        "transformer", description="mixer: a transformer built from config, or a CLIP vision tower (mixer_dir)"
    )
    max_scene_offset: int = Field(16, ge=1, description="scene-offset embeddings (offsets beyond share the last)")
    decoupler_dim: int = Field(32, ge=8, description="decoupler cross-attention width")
    decoupler_heads: int = Field(4, ge=1, description="decoupler attention heads")
    text_dropout: float = Field(0.1, ge=0.0, le=1.0, description="stage 2: probability of replacing the prompt by the negative prompt")
    history_dropout: float = Field(0.1, ge=0.0, le=1.0, description="stage 2: probability of replacing history by no-history features")
    train_base_transformer: bool = Field(True, description="stage 2: fine-tune the CogVideoX weights too (else only new modules)")
    world_vae_motion_warp: bool = Field(
        False, description="world-vae stage: the decoder also warps each frame by a displacement field it predicts "
        "(motion inside a latent frame; msvg_bench.models.world_vae)"
    )

    @field_validator("family")
    @classmethod
    def _known_family(cls, name: str) -> str:
        try:
            get_family(name)
        except UnknownNameError as exc:
            raise ValueError(str(exc)) from None
        return name

    @model_validator(mode="after")
    def _geometry_fits_family(self) -> ModelConfig:
        """The clip geometry must suit the family (spatial multiples; 4k+1 frames with temporal patches)."""
        problems = get_family(self.family).geometry_problems(self.num_frames, self.height, self.width)
        if problems:
            raise ValueError("; ".join(problems))
        return self


class GenerateConfig(StrictModel):
    """Sampling settings shared by the method and the baselines."""

    method: str = Field("msvg", description="a registered generation method (msvg_bench.models.methods)")
    num_inference_steps: int = Field(50, ge=1)
    guidance_scale: float = Field(6.0, description="w1: text guidance")
    use_dynamic_cfg: bool = Field(True, description="ramp guidance with the step index (cosine schedule)")
    negative_prompt: str = ""
    eta: float = Field(0.0, ge=0.0, description="DDIM eta")
    story_batch: int = Field(
        1, ge=1, le=64,
        description="stories generated together: scene k of up to this many stories is denoised in one batch "
        "(equal to story by story up to float rounding; 1, the measured CPU choice, is exact: docs/performance.md)",
    )
    method_settings: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="per-method settings, validated by the method's settings sub-model "
        "(e.g. msvg.history_guidance_scale, streaming.overlap)",
    )

    @field_validator("method")
    @classmethod
    def _known_method(cls, name: str) -> str:
        try:
            get_method(name)
        except UnknownNameError as exc:
            raise ValueError(str(exc)) from None
        return name

    @field_validator("method_settings")
    @classmethod
    def _valid_method_settings(cls, settings: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        for name, values in settings.items():
            try:
                get_method(name).Settings.model_validate(values)
            except UnknownNameError as exc:
                raise ValueError(str(exc)) from None
            except ValidationError as exc:
                problems = "; ".join(
                    f"{'.'.join(str(p) for p in e['loc'])}: {'unknown key' if e['type'] == 'extra_forbidden' else e['msg']}"
                    for e in exc.errors()
                )
                raise ValueError(f"{name}: {problems}") from None
        return settings


@dataclass(frozen=True)
class GenerationSettings:
    """What generation reads of a resolved config: the model, the sampling settings and the base seed."""

    model: ModelConfig
    generate: GenerateConfig
    seed: int


MODEL_PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {
        "source": "tiny",
        "dtype": "fp32",
        "device": "cpu",
        "num_frames": 9,
        "height": 16,
        "width": 16,
        "fps": 8,
        "history_encoder": "tiny-random",
        "filter_threshold": 0.75,
        "max_history_tokens": 32,
        "extractor_dim": 32,
        "extractor_layers": 2,
        "extractor_heads": 4,
        "decoupler_dim": 32,
        "decoupler_heads": 4,
    },
    "world": {
        "source": "world",
        "dtype": "fp32",
        "device": "cpu",
        "num_frames": 9,
        "height": 64,
        "width": 64,
        "fps": 8,
        "tiny_layers": 4,
        "tiny_heads": 4,
        "tiny_head_dim": 32,
        "tiny_text_dim": 64,
        "tiny_text_len": 48,
        "tiny_time_embed_dim": 64,
        "history_encoder": "world-clip",
        "history_dim": 128,
        "filter_threshold": 0.75,
        "max_history_tokens": 16,
        "max_history_frames": 9,
        "extractor_dim": 128,
        "extractor_layers": 2,
        "extractor_heads": 4,
        "decoupler_dim": 128,
        "decoupler_heads": 4,
    },
}
"""The section presets' model values (each model family's are in `msvg_bench.models.families`)."""

GENERATE_PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {"num_inference_steps": 4},
    "world": {"num_inference_steps": 20},
}
"""The section presets' sampling values (each model family's are in `msvg_bench.models.families`)."""
