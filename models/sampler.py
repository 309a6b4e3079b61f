"""The denoising loop shared by the method and the baselines (same sampler, steps and seeds).

One batched model call per step over all guidance branches; the scheduler is diffusers'
CogVideoX DDIM (v-prediction). Initial noise comes from the scene's own seed.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import torch
from msvg_bench.models.guidance import combine_branches, guidance_scales

ModelFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""(latent batch [n_branches * B, T, C, h, w], timestep batch [n_branches * B]) -> model output."""

LatentHook = Callable[[torch.Tensor, int, torch.Tensor | None], torch.Tensor]
"""(latents after a step, step index, next timestep or None at the end) -> latents (e.g. memory blending)."""


def initial_noise(shape: tuple[int, ...], seed: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Gaussian noise from a CPU generator seeded with `seed` (identical on every device)."""
    generator = torch.Generator(device="cpu").manual_seed(seed % (2**63))
    return torch.randn(shape, generator=generator, dtype=torch.float32).to(device=device, dtype=dtype)


def denoise(
    model_fn: ModelFn,
    latents: torch.Tensor,
    scheduler: Any,
    num_steps: int,
    num_branches: int,
    w1: float,
    w2: float = 0.0,
    dynamic: bool = True,
    eta: float = 0.0,
    seed: int = 0,
    latent_hook: LatentHook | None = None,
    on_step: Callable[[int], None] | None = None,
) -> torch.Tensor:
    """Run `num_steps` guided DDIM steps from `latents` [B, T, C, h, w]; return the final latents.

    Each step makes exactly one `model_fn` call on the `num_branches` copies of the latents
    (branch-major), combines them (`guidance.combine_branches`) with the step's scales.
    """
    scheduler = copy.deepcopy(scheduler)
    scheduler.set_timesteps(num_steps, device=latents.device)
    timesteps = scheduler.timesteps
    latents = latents * scheduler.init_noise_sigma
    generator = torch.Generator(device="cpu").manual_seed((seed + 1) % (2**63))
    for index, t in enumerate(timesteps):
        model_input = torch.cat([latents] * num_branches) if num_branches > 1 else latents
        model_input = scheduler.scale_model_input(model_input, t)
        t_batch = t.expand(model_input.shape[0]).to(latents.device)
        output = model_fn(model_input, t_batch).float()
        s1, s2 = guidance_scales(w1, w2, index, len(timesteps), dynamic)
        guided = combine_branches(output, num_branches, s1, s2)
        latents = scheduler.step(guided, t, latents.float(), eta=eta, generator=generator, return_dict=False)[0]
        latents = latents.to(model_input.dtype)
        if latent_hook is not None:
            next_t = timesteps[index + 1] if index + 1 < len(timesteps) else None
            latents = latent_hook(latents, index, next_t)
        if on_step is not None:
            on_step(index)
    return latents
