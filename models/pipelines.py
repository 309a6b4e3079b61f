"""Story generation with any registered method (`msvg_bench.models.methods`).

Every method shares the sampler, step count, resolution and per-scene seeds
(`msvg_bench.core.seeding.scene_seed(seed, i)`), so their clips differ only by the method. Scene by scene,
the method plans how the transformer is called (`GenerationMethod.plan_scene`); what earlier scenes
leave for later ones (prompt texts, final latents, and what a method adds in `after_scene`) is kept
in memory, never re-read from the written files.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch

from msvg_bench.benchmarks.stories import Scene, Story
from msvg_bench.core.errors import ConfigError
from msvg_bench.core.hashing import hash_json
from msvg_bench.core.paths import safe_join
from msvg_bench.core.seeding import scene_seed
from msvg_bench.core.video import write_gif, write_video
from msvg_bench.models.components import load_components
from msvg_bench.models.encoding import decode_latents
from msvg_bench.models.history import collate_history, history_sample
from msvg_bench.models.history import encode_scene_texts
from msvg_bench.models.methods import get_method
from msvg_bench.models.multiscene import history_tokens
from msvg_bench.models.sampler import denoise, initial_noise
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

    def __init__(self, cfg: Any, encoder: Any | None = None) -> None:
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
            from msvg_bench.models.precompute import load_history_encoder

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

    # ---- one scene ----------------------------------------------------------------------------
    def transformer_call(self, latents: torch.Tensor, text: torch.Tensor, t: torch.Tensor, history: torch.Tensor | None) -> torch.Tensor:
        """One batched transformer forward over the guidance branches; returns the prediction."""
        return self.components.transformer(latents, text, t, history_hidden_states=history, return_dict=False)[0]

    @torch.no_grad()
    def scene_latents(
        self, method: str, index: int, prompt_text: Any, negative: torch.Tensor, state: StoryState, seed: int, on_step: Any = None
    ) -> torch.Tensor:
        """Denoise scene `index` with `method`; returns latents [1, T', C, h, w]."""
        gen = self.cfg.generate
        comps = self.components
        noise_seed = scene_seed(seed, index)
        latents = initial_noise(self.latent_shape(), noise_seed, comps.device, comps.dtype)
        plan = get_method(method).plan_scene(self, index, prompt_text, negative, state, seed)
        return denoise(
            plan.model_fn,
            latents,
            comps.scheduler,
            gen.num_inference_steps,
            plan.branches,
            gen.guidance_scale,
            plan.history_guidance_scale,
            dynamic=gen.use_dynamic_cfg,
            eta=gen.eta,
            seed=noise_seed,
            latent_hook=plan.latent_hook,
            on_step=on_step,
        )

    def history_tokens(self, prompt_text: Any, state: StoryState) -> tuple[torch.Tensor | None, torch.Tensor]:
        """(history tokens H or None for the first scene, no-history tokens H0): each [1, L, D]."""
        sample = history_sample(prompt_text, state.texts, state.frame_embeds, self.model_cfg)
        batch = collate_history([sample], clip_dim=self.model_cfg.history_dim).to(self.components.device, self.components.dtype)
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
        latents = self.scene_latents(method, index, text, negative, state, seed, on_step)
        scene_latents = latents[0]  # T', C, h, w
        frames = decode_latents(self.components, scene_latents.permute(1, 0, 2, 3))
        get_method(method).after_scene(self, state, frames)
        state.texts.append(text)
        state.latents.append(scene_latents)
        return frames

    # ---- a story ------------------------------------------------------------------------------
    def generate(
        self, prompts: Sequence[str], out_dir: Path, method: str, seed: int, story_id: str, progress: Any = None
    ) -> Story:
        """Generate every scene, write clips + GIFs + the joined story, return the written Story."""
        get_method(method)  # unknown names raise UnknownNameError with a suggestion
        prompts = [str(p) for p in prompts]
        if not prompts:
            raise ConfigError(f"story {story_id!r}: no prompts")
        out_dir = Path(out_dir)
        story_dir = safe_join(out_dir, "videos", story_id, what="story id")
        fps = float(self.model_cfg.fps)
        texts = encode_scene_texts(self.components, prompts, self.model_cfg.filter_embedding)
        negative = encode_scene_texts(self.components, [self.cfg.generate.negative_prompt])[0].embeds[None]
        state = StoryState()
        scenes: list[Scene] = []
        clips: list[np.ndarray] = []
        steps_total = self.cfg.generate.num_inference_steps
        scene_task = progress.add_task(f"{story_id} ({method}) scenes", total=len(prompts)) if progress else None
        self.scene_seconds = []
        for index, (prompt, text) in enumerate(zip(prompts, texts, strict=True)):
            step_task = progress.add_task(f"  scene {index + 1}/{len(prompts)} steps", total=steps_total) if progress else None

            def on_step(_: int, task: Any = step_task) -> None:
                if progress is not None:
                    progress.advance(task)

            started = time.perf_counter()
            frames = self.run_scene(method, index, text, negative, state, seed, on_step)
            self.scene_seconds.append(time.perf_counter() - started)
            stem = scene_clip_name(index)
            write_video(story_dir / f"{stem}.mp4", frames, fps)
            write_gif(story_dir / f"{stem}.gif", frames, fps)
            clips.append(frames)
            scenes.append(
                Scene(path=f"videos/{story_id}/{stem}.mp4", caption=prompt, fps=fps, num_frames=int(frames.shape[0]))
            )
            if progress is not None:
                progress.remove_task(step_task)
                progress.advance(scene_task)
        joined = np.concatenate(clips, axis=0)
        write_video(story_dir / "story.mp4", joined, fps)
        write_gif(story_dir / "story.gif", joined, fps)
        if progress is not None:
            progress.remove_task(scene_task)
        meta = {"method": method, "seed": seed, "model_identity": self.components.model_id}
        return Story(id=story_id, scenes=tuple(scenes), root=out_dir, meta=meta)


_GENERATORS: dict[str, StoryGenerator] = {}


def get_generator(cfg: Any) -> StoryGenerator:
    """A `StoryGenerator` for this config's model section, built once per process."""
    key = hash_json(cfg.model.model_dump(mode="json"))
    if key not in _GENERATORS:
        _GENERATORS.clear()
        _GENERATORS[key] = StoryGenerator(cfg)
    generator = _GENERATORS[key]
    generator.cfg = cfg
    return generator


def generate_story(
    cfg: Any, prompts: Sequence[str], out_dir: str | Path, method: str | None = None, seed: int | None = None,
    story_id: str = "story", progress: Any = None,
) -> Story:
    """Generate one story with `method` (default `cfg.generate.method`) and `seed` (default `cfg.seed`).

    Writes `out_dir/videos/<story_id>/scene_XX.mp4` + `.gif` per scene and `story.mp4` + `story.gif`;
    returns the Story of the written clips (root `out_dir`, paths relative to it).
    """
    method = method or cfg.generate.method
    get_method(method)  # unknown names raise UnknownNameError with a suggestion
    return get_generator(cfg).generate(prompts, Path(out_dir), method, cfg.seed if seed is None else seed, story_id, progress)
