"""Evaluation configuration section: suite, metrics, encoders, flow backend, detector and outputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from msvg_bench.core.schema import StrictModel
from pydantic import Field


class EvalConfig(StrictModel):
    """What `msvg-bench eval` scores, with which encoders/backends, and where it writes."""

    suite: str = Field("multi_scene", description="suite name (see --list-suites) or a suite JSON file")
    metrics: list[str] | None = Field(None, description="subset of metric names (default: all)")
    limit: int | None = Field(None, ge=1, description="score only the first N stories of the suite")
    output_dir: Path = Field(Path("runs/eval"), description="results.json, generated videos and shard files go here")
    videos: Path | None = Field(None, description="score existing videos: manifest, prompts-folder or story-video folder")
    scene_lengths: list[int] | None = Field(None, description="frames per scene when --videos holds one video per story")
    scene_encoder: str = Field("appearance-hist", description="encoder for scene_consistency (CLIP4Clip in real use)")
    character_encoder: str = Field("appearance-hist", description="encoder for character crops (CLIP-I / DINOv2 class)")
    text_encoder: str = Field("tiny-random", description="CLIP encoder for prompt_alignment")
    encoder_paths: dict[str, Path] = Field(default_factory=dict, description="local weights folder per encoder name")
    flow_backend: str = Field("opencv-dis", description="MAWE flow: raft-large (reference, local weights) | opencv-dis | opencv-farneback")
    flow_weights: Path | None = Field(None, description="RAFT-large checkpoint file (default: the weights home / torch hub cache)")
    scuts_min_scene_len: int = Field(
        15, ge=1, le=1000,
        description="PySceneDetect min_scene_len for scuts (15, the library default; a clip shows a cut only at frames max(m,2)..n-3)",
    )
    mawe_size: int = Field(720, ge=8, description="frames are resized to size x size before flow (720 in the definition)")
    detector: str = Field(
        "auto",
        description="character detector: auto (annotated boxes > learned (detector_path) > face > person > unavailable) | "
        "annotated | face | person | owlvit | full-frame (scene-level proxy)",
    )
    detector_path: Path | None = Field(None, description="local weights folder of a learned detector (owlvit; also used by auto)")
    face_model: Literal["hog", "cnn"] = Field("hog", description="dlib face detector for face / auto / face_consistency: hog (CPU) | cnn")
    face_upsample: int = Field(1, ge=0, le=3, description="times dlib doubles a frame before face detection (1: faces from ~40 px; 0: from ~80 px, 4x faster)")
    person_refine: Literal["grabcut", "none"] = Field("grabcut", description="person / auto: refine each HOG box to the person by GrabCut | none (the HOG window)")
    face_encoder: str = Field("face-id", description="identity encoder of face crops for face_consistency")
    crop_frames: int = Field(8, ge=1, description="frames per scene sampled (uniformly) for character crops")
    device: str = Field("cpu", description="cpu | cuda | auto for encoders and flow")
    batch_size: int = Field(32, ge=1, description="frames per encoder forward")
    cache_dir: Path | None = Field(None, description="embedding cache (default: <output_dir>/cache)")
    cache: bool = Field(True, description="cache embeddings/flow statistics by content hash + encoder identity")
    resume: bool = Field(True, description="keep finished stories of an existing results.json and score the rest")
    log_videos: bool = Field(True, description="log per-story H.264 mp4 + GIF artifacts to MLflow")
    shard: str | None = Field(None, description="i/n: score every n-th story starting at i (merge with --merge)")


EVAL_PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {"scuts_min_scene_len": 2},
    "world": {"scuts_min_scene_len": 2, "scene_encoder": "world-clip", "character_encoder": "world-clip", "text_encoder": "world-clip", "detector": "world"},
}
"""The section presets' evaluation values (each model family's are in `msvg_bench.models.families`)."""
