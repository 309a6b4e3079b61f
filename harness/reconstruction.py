"""The instrument's ceiling: a suite's ground-truth videos and their VAE reconstructions, as video
folders any eval can score (`eval --suite S --videos DIR --method ground-truth`).

A generator that decodes through a VAE cannot show more than the VAE keeps: scoring the ground truth
and its reconstruction with every metric gives the best a generated story can reach (the
reconstruction row) and how much of the distance to the ground truth is the VAE's, not the method's.
Both folders hold clips only (no box sidecars), so characters are found by the same detector that
finds them in generated videos and the rows stay comparable with generated runs.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from msvg_bench.benchmarks.dataset import write_manifest
from msvg_bench.benchmarks.stories import Scene, Story
from msvg_bench.core.progress import progress

if TYPE_CHECKING:
    from msvg_bench.benchmarks.suite import Suite
    from msvg_bench.config import Config

GROUND_TRUTH = "ground_truth"
RECONSTRUCTION = "reconstruction"


def _relocated(story: Story, root: Path) -> Story:
    scenes = tuple(Scene(s.path, s.caption, s.fps, s.num_frames, s.setting, s.characters, s.captioned) for s in story.scenes)
    return Story(story.id, scenes, root, dict(story.meta))


def write_ceiling_folders(cfg: Config, suite: Suite, out: Path, limit: int | None = None) -> dict[str, Path]:
    """Draw the suite's ground truth and write it and its VAE reconstruction (the model config's VAE)
    under `out/ground_truth` and `out/reconstruction`; return both folders. Reuses finished folders."""
    import torch
    from msvg_bench.core.video import read_video, write_video
    from msvg_bench.models.components import load_components
    from msvg_bench.models.encoding import decode_latents, encode_video_latents

    stories = suite.limited(limit).materialize(out / "drawn")
    folders = {GROUND_TRUTH: out / GROUND_TRUTH, RECONSTRUCTION: out / RECONSTRUCTION}
    if all((folder / "manifest.jsonl").is_file() for folder in folders.values()):
        return folders
    components = load_components(cfg.model, parts=("vae",))
    with progress() as bar, torch.no_grad():
        task = bar.add_task("reconstruct scenes", total=sum(len(s.scenes) for s in stories))
        for story in stories:
            for index, scene in enumerate(story.scenes):
                source = story.clip_path(index)
                frames = read_video(source)
                fps = scene.fps or 8.0
                target = folders[GROUND_TRUTH] / scene.path
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)
                rebuilt = decode_latents(components, encode_video_latents(components, frames))
                write_video(folders[RECONSTRUCTION] / scene.path, rebuilt, fps)
                bar.advance(task)
    for folder in folders.values():
        write_manifest(folder, [_relocated(story, folder) for story in stories])
    return folders
