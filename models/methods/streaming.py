"""`streaming`: a StreamingT2V-style, training-free baseline.

Plain CFG, plus after every step the first `overlap` latent frames are conditioned on the previous
scene's last latent frames noised to the current level (short-term memory, randomized blending: the
cut between memory and the model's own frames is drawn at random each step, and may leave them all
to the model), and during the first `anchor_steps` of the steps the other frames are pulled towards
the noised first latent frame of scene 1 with their noise level kept (long-term anchor memory).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from msvg_bench.core.schema import StrictModel
from msvg_bench.core.seeding import derive_seed
from msvg_bench.models.methods.base import GenerationMethod, ScenePlan
from msvg_bench.models.methods.plain import independent_plan
from pydantic import Field

if TYPE_CHECKING:
    import torch
    from msvg_bench.models.pipelines import StoryGenerator, StoryState


class StreamingSettings(StrictModel):
    """Settings of the streaming baseline."""

    overlap: int = Field(1, ge=1, description="latent frames of the previous scene used as short-term memory")
    anchor_strength: float = Field(0.2, ge=0.0, le=1.0, description="blend weight of the scene-1 anchor latent (long-term memory)")
    anchor_steps: float = Field(0.5, ge=0.0, le=1.0, description="fraction of the first denoising steps the anchor is blended in")


class Streaming(GenerationMethod):
    """Short-term memory of the previous scene's last latents, long-term memory of scene 1's first."""

    name = "streaming"
    description = "StreamingT2V-style: previous-scene frames as short-term, scene-1 anchor as long-term memory"
    Settings = StreamingSettings

    def plan_scene(
        self, generator: StoryGenerator, index: int, prompt_text: Any, negative: torch.Tensor, state: StoryState, seed: int
    ) -> ScenePlan:
        """Plain branches; from the second scene on, the memory hook after every step."""
        plan = independent_plan(generator, prompt_text, negative)
        if state.latents:
            settings = self.settings(generator.cfg.generate)
            plan.latent_hook = streaming_hook(
                generator.components.scheduler,
                memory=state.latents[-1][None],
                anchor=state.latents[0][None, :1],
                overlap=settings.overlap,
                anchor_strength=settings.anchor_strength,
                anchor_steps=int(round(settings.anchor_steps * generator.cfg.generate.num_inference_steps)),
                seed=derive_seed(seed, "streaming", index),
            )
        return plan


def streaming_hook(
    scheduler: Any,
    memory: torch.Tensor,
    anchor: torch.Tensor,
    overlap: int,
    anchor_strength: float,
    anchor_steps: int,
    seed: int,
) -> Any:
    """The per-step latent update of the streaming baseline.

    memory: previous scene's latents [1, T', C, h, w] (its last `overlap` frames are the short-term
    memory); anchor: scene 1's first latent frame [1, 1, C, h, w] (the long-term memory).

    After every sampler step but the last, at the next step's noise level t:
    - *randomized blending* of the overlap: a cut c is drawn uniformly from {0, ..., n} (n = overlap
      frames); frames [0, c) take the previous scene's last frames noised to level t, frames [c, n) keep
      the model's own latents. c = 0 leaves the model alone, so the overlap is conditioned on the
      memory, never overwritten at every step; the last step is always the model's.
    - the *anchor*, during the first `anchor_steps` steps: the other frames become
      (1 - a) x + a x_anchor(t) plus fresh noise sigma_t * sqrt(1 - (1 - a)^2 - a^2) * e, so the blend
      pulls their content towards scene 1 while their noise keeps the scheduler's level sigma_t
      (a plain blend of two independently noised latents would shrink it).
    """
    import torch

    generator = torch.Generator(device="cpu").manual_seed(seed % (2**63))
    tail = memory[:, -overlap:]
    noise_tail = torch.randn(tail.shape, generator=generator).to(tail)
    noise_anchor = torch.randn(anchor.shape, generator=generator).to(anchor)
    alphas = scheduler.alphas_cumprod

    def hook(latents: torch.Tensor, index: int, next_t: torch.Tensor | None) -> torch.Tensor:
        if next_t is None:
            return latents
        n = min(overlap, latents.shape[1], tail.shape[1])
        t = next_t.reshape(1).to(latents.device)
        noised_tail = scheduler.add_noise(tail[:, -n:], noise_tail[:, -n:], t).to(latents.dtype)
        cut = int(torch.randint(0, n + 1, (1,), generator=generator))  # randomized blending boundary
        out = latents.clone()
        out[:, :cut] = noised_tail[:, :cut]
        if index < anchor_steps and anchor_strength > 0 and latents.shape[1] > n:
            a = anchor_strength
            noised_anchor = scheduler.add_noise(anchor, noise_anchor, t).to(latents.dtype)
            sigma = float((1.0 - alphas[int(t)]) ** 0.5)
            refill = sigma * max(1.0 - (1.0 - a) ** 2 - a**2, 0.0) ** 0.5
            fresh = torch.randn(out[:, n:].shape, generator=generator).to(latents)
            out[:, n:] = (1 - a) * out[:, n:] + a * noised_anchor.expand_as(out[:, n:]) + refill * fresh
        return out

    return hook


METHOD = Streaming()
