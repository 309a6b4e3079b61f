"""Story generation with any registered method (`msvg_bench.models.methods`).

Every method shares the sampler, step count, resolution and per-scene seeds
(`msvg_bench.core.seeding.scene_seed(seed, i)`), so their clips differ only by the method. Scene by scene,
the method plans how the transformer is called (`GenerationMethod.plan_scene`); what earlier scenes
leave for later ones (prompt texts, final latents, and what a method adds in `after_scene`) is kept
in memory, never re-read from the written files. Several stories can be generated together
(`generate.story_batch`): scene k of each is denoised in one batch, every story with its own state and
seeds, so the result equals generating them one by one.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch

from msvg_bench.benchmarks.stories import Scene, Story
from msvg_bench.core.errors import ConfigError, MsvgError
from msvg_bench.core.hashing import hash_json
from msvg_bench.core.paths import safe_join
from msvg_bench.core.seeding import scene_seed
from msvg_bench.core.video import write_gif, write_video
from msvg_bench.models.components import load_components
from msvg_bench.models.config import GenerationSettings
from msvg_bench.models import encoding
from msvg_bench.models import history as scene_history
from msvg_bench.models.methods import get_method
from msvg_bench.models.multiscene import history_tokens
from msvg_bench.models.sampler import denoise_batch, initial_noise
from msvg_bench.models.weights import read_weights_manifest


def scene_clip_name(index: int) -> str:
    """File stem of scene `index` (0-based): scene_00, scene_01, ..."""
    return f"scene_{index:02d}"


@dataclass
class StoryState:
    """What earlier scenes leave for later ones (all in memory, from caches)."""

    texts: list[Any] = field(default_factory=list)  # SceneText per scene
    frame_embeds: list[torch.Tensor] = field(default_factory=list)  # [T, C] per scene
    latents: list[torch.Tensor] = field(default_factory=list)  # [T', C, h, w] per scene (frames-first)


class StoryGenerator:
    """Holds the loaded components and generates stories with any method."""

    def __init__(self, cfg: GenerationSettings, encoder: Any | None = None) -> None:
        self.cfg = cfg
        self.model_cfg = cfg.model
        self.components = load_components(cfg.model)
        self._encoder = encoder
        self._extractor: Any = None
        self._decoupler: Any = None
        self.scene_seconds: list[float] = []

    # ---- lazily built parts -------------------------------------------------------------------
    @property
    def encoder(self) -> Any:
        """The history frame encoder (`model.history_encoder`)."""
        if self._encoder is None:
            from msvg_bench.models.history_encoder import load_history_encoder

            self._encoder = load_history_encoder(self.model_cfg)
        return self._encoder

    @property
    def extractor(self) -> Any:
        """The (frozen) feature extractor."""
        if self._extractor is None:
            from msvg_bench.models.multiscene import build_extractor

            self._extractor = self._place(build_extractor(self.model_cfg))
        return self._extractor

    @property
    def decoupler(self) -> Any:
        """The decoupler."""
        if self._decoupler is None:
            from msvg_bench.models.multiscene import build_decoupler

            self._decoupler = self._place(build_decoupler(self.model_cfg))
        return self._decoupler

    def _place(self, module: torch.nn.Module) -> torch.nn.Module:
        module.to(self.components.device, self.components.dtype).eval().requires_grad_(False)
        return module

    @cached_property
    def trained_history(self) -> bool:
        """Whether `model.weights` carries a trained decoupler (a joint export), i.e. the transformer was
        trained with history tokens always present (H0 standing for "no history")."""
        folder = self.model_cfg.weights
        return folder is not None and "decoupler" in read_weights_manifest(Path(folder))["files"]

    # ---- geometry -----------------------------------------------------------------------------
    def latent_shape(self) -> tuple[int, int, int, int, int]:
        """[1, T', C, h, w] of one scene's latents."""
        vae, transformer = self.components.vae, self.components.transformer
        spatial = 2 ** (len(vae.config.block_out_channels) - 1)
        temporal = int(vae.config.temporal_compression_ratio)
        frames = (self.model_cfg.num_frames - 1) // temporal + 1
        return (1, frames, transformer.config.in_channels, self.model_cfg.height // spatial, self.model_cfg.width // spatial)

    # ---- one scene (of one or several stories) ---------------------------------------------------
    def transformer_call(self, latents: torch.Tensor, text: torch.Tensor, t: torch.Tensor, history: torch.Tensor | None) -> torch.Tensor:
        """One batched transformer forward over the guidance branches; returns the prediction."""
        return self.components.transformer(latents, text, t, history_hidden_states=history, return_dict=False)[0]

    @torch.no_grad()
    def scene_latents(
        self, method: str, index: int, prompt_text: Any, negative: torch.Tensor, state: StoryState, seed: int, on_step: Any = None
    ) -> torch.Tensor:
        """Denoise scene `index` with `method`; returns latents [1, T', C, h, w]."""
        return self.batch_scene_latents(method, index, [SceneJob(prompt_text, state, seed)], negative, on_step)[0]

    @torch.no_grad()
    def batch_scene_latents(
        self, method: str, index: int, jobs: Sequence[SceneJob], negative: torch.Tensor, on_step: Any = None
    ) -> list[torch.Tensor]:
        """Denoise scene `index` of several stories together; each story's latents [1, T', C, h, w].

        One transformer forward per step covers every story's guidance branches (`batched_model_fn`);
        the initial noise, step noise, history and latent hook stay each story's own, so a story's
        latents equal `scene_latents` on it alone.
        """
        gen = self.cfg.generate
        comps = self.components
        chosen = get_method(method)
        seeds = [scene_seed(job.seed, index) for job in jobs]
        latents = [initial_noise(self.latent_shape(), noise_seed, comps.device, comps.dtype) for noise_seed in seeds]
        plans = [chosen.plan_scene(self, index, job.text, negative, job.state, job.seed) for job in jobs]
        if len({plan.branches for plan in plans}) != 1:
            raise ConfigError(f"method {method!r}: scene {index} plans differ in guidance branches across stories; generate them one at a time")
        return denoise_batch(
            self.batched_model_fn(plans),
            latents,
            comps.scheduler,
            gen.num_inference_steps,
            plans[0].branches,
            gen.guidance_scale,
            [plan.history_guidance_scale for plan in plans],
            dynamic=gen.use_dynamic_cfg,
            eta=gen.eta,
            seeds=seeds,
            latent_hooks=[plan.latent_hook for plan in plans],
            on_step=on_step,
        )

    def batched_model_fn(self, plans: Sequence[Any]) -> Any:
        """The model function over several stories' plans (item-major input): one transformer forward on
        their concatenated text / history tokens when every plan is a `transformer_plan`, else each
        plan's own function on its rows."""
        if len(plans) == 1:
            return plans[0].model_fn
        if all(plan.text is not None for plan in plans) and len({plan.history is None for plan in plans}) == 1:
            text = torch.cat([plan.text for plan in plans])
            history = None if plans[0].history is None else torch.cat([plan.history for plan in plans])
            return lambda x, t: self.transformer_call(x, text, t, history)
        sizes = [plan.branches for plan in plans]

        def each(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            parts = zip(plans, x.split(sizes), t.split(sizes), strict=True)
            return torch.cat([plan.model_fn(rows, steps) for plan, rows, steps in parts])

        return each

    def history_tokens(self, prompt_text: Any, state: StoryState) -> tuple[torch.Tensor | None, torch.Tensor]:
        """(history tokens H or None for the first scene, no-history tokens H0): each [1, L, D]."""
        sample = scene_history.history_sample(prompt_text, state.texts, state.frame_embeds, self.model_cfg)
        batch = scene_history.collate_history([sample], clip_dim=self.model_cfg.history_dim).to(self.components.device, self.components.dtype)
        positive = prompt_text.embeds[None]
        null = history_tokens(self.decoupler, positive, self.extractor(batch.without_history()))
        if not state.texts:
            return None, null
        return history_tokens(self.decoupler, positive, self.extractor(batch)), null

    @torch.no_grad()
    def run_scene(
        self, method: str, index: int, text: Any, negative: torch.Tensor, state: StoryState, seed: int, on_step: Any = None
    ) -> np.ndarray:
        """Generate scene `index` and decode it; update `state` for later scenes; return uint8 frames [T, H, W, 3].

        The prompt text, the final latents and what the method keeps (`after_scene`: msvg's per-frame
        history embeddings) stay in `state` in memory: later scenes never re-read written files.
        """
        return self.run_scenes(method, index, [SceneJob(text, state, seed)], negative, on_step)[0]

    @torch.no_grad()
    def run_scenes(
        self, method: str, index: int, jobs: Sequence[SceneJob], negative: torch.Tensor, on_step: Any = None
    ) -> list[np.ndarray]:
        """`run_scene` for scene `index` of several stories, denoised together; each story decoded and its state updated."""
        chosen = get_method(method)
        clips = []
        for job, latents in zip(jobs, self.batch_scene_latents(method, index, jobs, negative, on_step), strict=True):
            scene_latents = latents[0]  # T', C, h, w
            frames = encoding.decode_latents(self.components, scene_latents.permute(1, 0, 2, 3))
            chosen.after_scene(self, job.state, frames)
            job.state.texts.append(job.text)
            job.state.latents.append(scene_latents)
            clips.append(frames)
        return clips

    # ---- stories ------------------------------------------------------------------------------
    def generate(
        self, prompts: Sequence[str], out_dir: Path, method: str, seed: int, story_id: str, progress: Any = None
    ) -> Story:
        """Generate every scene, write clips + GIFs + the joined story, return the written Story."""
        return self.generate_many([StoryRequest(story_id, tuple(prompts), seed)], out_dir, method, progress)[0]

    def generate_many(self, requests: Sequence[StoryRequest], out_dir: Path, method: str, progress: Any = None) -> list[Story]:
        """Generate several stories together; write each one's clips, GIFs and joined story; return the Stories.

        Scene k of every story that has a scene k is denoised in one batch (`run_scenes`); a story
        leaves the batch after its last scene, so stories of different lengths batch together. Each
        story keeps its own seed and history: its clips equal those of `generate` on it alone.
        """
        get_method(method)  # unknown names raise UnknownNameError with a suggestion
        out_dir = Path(out_dir)
        fps = float(self.model_cfg.fps)
        runs = [_StoryRun.start(self, request, out_dir, method, progress) for request in requests]
        negative = scene_history.encode_scene_texts(self.components, [self.cfg.generate.negative_prompt])[0].embeds[None]
        steps_total = self.cfg.generate.num_inference_steps
        self.scene_seconds = []
        for index in range(max((len(run.texts) for run in runs), default=0)):
            active = [run for run in runs if index < len(run.texts)]
            label = f"  scene {index + 1} steps ({len(active)} stories)" if len(runs) > 1 else f"  scene {index + 1}/{len(runs[0].texts)} steps"
            step_task = progress.add_task(label, total=steps_total) if progress else None

            def on_step(_: int, task: Any = step_task) -> None:
                if progress is not None:
                    progress.advance(task)

            started = time.perf_counter()
            jobs = [SceneJob(run.texts[index], run.state, run.request.seed) for run in active]
            clips = self.run_scenes(method, index, jobs, negative, on_step)
            self.scene_seconds.append(time.perf_counter() - started)
            for run, frames in zip(active, clips, strict=True):
                stem = scene_clip_name(index)
                write_video(run.folder / f"{stem}.mp4", frames, fps)
                write_gif(run.folder / f"{stem}.gif", frames, fps)
                run.clips.append(frames)
                run.scenes.append(Scene(path=f"videos/{run.request.story_id}/{stem}.mp4", caption=run.prompts[index], fps=fps,
                                        num_frames=int(frames.shape[0])))
                if progress is not None:
                    progress.advance(run.task)
                if len(run.clips) == len(run.texts):  # the story's last scene: join it
                    joined = np.concatenate(run.clips, axis=0)
                    write_video(run.folder / "story.mp4", joined, fps)
                    write_gif(run.folder / "story.gif", joined, fps)
                    run.clips = []
                    if progress is not None:
                        progress.remove_task(run.task)
            if progress is not None:
                progress.remove_task(step_task)
        return [
            Story(id=run.request.story_id, scenes=tuple(run.scenes), root=out_dir,
                  meta={"method": method, "seed": run.request.seed, "model_identity": self.components.model_id})
            for run in runs
        ]


@dataclass(frozen=True)
class StoryRequest:
    """A story to generate: its id (the folder under `videos/`), its scene prompts and its seed."""

    story_id: str
    prompts: tuple[str, ...]
    seed: int


@dataclass
class SceneJob:
    """One story's part in a batched scene: the scene's prompt text, the story's state so far, its seed."""

    text: Any
    state: StoryState
    seed: int


@dataclass
class _StoryRun:
    """A story being generated in a batch: where it goes, its encoded prompts, state and written scenes."""

    request: StoryRequest
    prompts: list[str]
    folder: Path
    texts: list[Any]
    task: Any
    state: StoryState = field(default_factory=StoryState)
    clips: list[np.ndarray] = field(default_factory=list)
    scenes: list[Scene] = field(default_factory=list)

    @classmethod
    def start(cls, generator: StoryGenerator, request: StoryRequest, out_dir: Path, method: str, progress: Any) -> _StoryRun:
        """Check the request, encode its prompts and add its progress line (nothing is written yet)."""
        prompts = [str(p) for p in request.prompts]
        if not prompts:
            raise ConfigError(f"story {request.story_id!r}: no prompts")
        folder = safe_join(out_dir, "videos", request.story_id, what="story id")
        texts = scene_history.encode_scene_texts(generator.components, prompts, generator.model_cfg.filter_embedding)
        task = progress.add_task(f"{request.story_id} ({method}) scenes", total=len(prompts)) if progress else None
        return cls(request, prompts, folder, texts, task)


_GENERATORS: dict[str, StoryGenerator] = {}


def get_generator(cfg: GenerationSettings) -> StoryGenerator:
    """A `StoryGenerator` for this config's model section, built once per process."""
    key = hash_json(cfg.model.model_dump(mode="json"))
    if key not in _GENERATORS:
        _GENERATORS.clear()
        _GENERATORS[key] = StoryGenerator(cfg)
    generator = _GENERATORS[key]
    generator.cfg = cfg
    return generator


def generate_story(
    cfg: GenerationSettings, prompts: Sequence[str], out_dir: str | Path, method: str | None = None, seed: int | None = None,
    story_id: str = "story", progress: Any = None,
) -> Story:
    """Generate one story with `method` (default `cfg.generate.method`) and `seed` (default `cfg.seed`).

    Writes `out_dir/videos/<story_id>/scene_XX.mp4` + `.gif` per scene and `story.mp4` + `story.gif`;
    returns the Story of the written clips (root `out_dir`, paths relative to it).
    """
    method = method or cfg.generate.method
    get_method(method)  # unknown names raise UnknownNameError with a suggestion
    return get_generator(cfg).generate(prompts, Path(out_dir), method, cfg.seed if seed is None else seed, story_id, progress)


def generate_stories(
    cfg: GenerationSettings, requests: Sequence[StoryRequest], out_dir: str | Path, method: str | None = None, progress: Any = None
) -> list[Story]:
    """Generate `requests` together, as one batch (`StoryGenerator.generate_many`); one error fails them all."""
    method = method or cfg.generate.method
    get_method(method)
    return get_generator(cfg).generate_many(requests, Path(out_dir), method, progress)


def generate_in_batches(
    cfg: GenerationSettings, requests: Sequence[StoryRequest], out_dir: str | Path, method: str | None = None, progress: Any = None
) -> Iterator[tuple[StoryRequest, Story | MsvgError]]:
    """Generate `requests` `generate.story_batch` at a time; yield each with its Story or its error.

    A batch that fails with an `MsvgError` is generated again story by story, so a broken story fails
    alone and the others of its batch are still written.
    """
    size = cfg.generate.story_batch
    for start in range(0, len(requests), size):
        batch = list(requests[start : start + size])
        try:
            yield from zip(batch, generate_stories(cfg, batch, out_dir, method, progress), strict=True)
            continue
        except MsvgError as exc:
            if len(batch) == 1:
                yield batch[0], exc
                continue
        for request in batch:
            try:
                yield request, generate_stories(cfg, [request], out_dir, method, progress)[0]
            except MsvgError as exc:
                yield request, exc
