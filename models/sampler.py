"""The denoising loop shared by the method and the baselines (same sampler, steps and seeds).

One batched model call per step over all guidance branches (with `denoise_batch`, over several
stories' scenes too); the scheduler is diffusers' CogVideoX DDIM (v-prediction). Initial noise comes
from the scene's own seed.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
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
    return denoise_batch(
        model_fn, [latents], scheduler, num_steps, num_branches, w1, [w2], dynamic, eta, [seed], [latent_hook], on_step
    )[0]


def denoise_batch(
    model_fn: ModelFn,
    latents: Sequence[torch.Tensor],
    scheduler: Any,
    num_steps: int,
    num_branches: int,
    w1: float,
    w2: Sequence[float],
    dynamic: bool = True,
    eta: float = 0.0,
    seeds: Sequence[int] = (0,),
    latent_hooks: Sequence[LatentHook | None] = (None,),
    on_step: Callable[[int], None] | None = None,
) -> list[torch.Tensor]:
    """`denoise` for several stories' scenes at once, one `model_fn` call per step over all of them.

    `latents[i]`, `w2[i]`, `seeds[i]` and `latent_hooks[i]` belong to item i. The model input is
    item-major, each item's rows branch-major (item i's `num_branches` copies, then item i + 1's);
    everything after the forward is per item: its own guidance combination, scheduler copy, step-noise
    generator (from its own seed) and latent hook, so an item's result does not depend on the others.
    """
    items = len(latents)
    if not len(w2) == len(seeds) == len(latent_hooks) == items:
        raise ValueError(f"denoise_batch: {items} latents need as many w2 / seeds / latent_hooks")
    schedulers = [copy.deepcopy(scheduler) for _ in range(items)]
    for each in schedulers:
        each.set_timesteps(num_steps, device=latents[0].device)
    timesteps = schedulers[0].timesteps
    current = [x * each.init_noise_sigma for x, each in zip(latents, schedulers, strict=True)]
    generators = [torch.Generator(device="cpu").manual_seed((seed + 1) % (2**63)) for seed in seeds]
    for index, t in enumerate(timesteps):
        inputs = [
            each.scale_model_input(torch.cat([x] * num_branches) if num_branches > 1 else x, t)
            for x, each in zip(current, schedulers, strict=True)
        ]
        model_input = torch.cat(inputs) if items > 1 else inputs[0]
        t_batch = t.expand(model_input.shape[0]).to(model_input.device)
        output = model_fn(model_input, t_batch).float()
        next_t = timesteps[index + 1] if index + 1 < len(timesteps) else None
        start = 0
        for i, x in enumerate(current):
            rows = inputs[i].shape[0]
            s1, s2 = guidance_scales(w1, w2[i], index, len(timesteps), dynamic)
            guided = combine_branches(output[start : start + rows] if items > 1 else output, num_branches, s1, s2)
            start += rows
            stepped = schedulers[i].step(guided, t, x.float(), eta=eta, generator=generators[i], return_dict=False)[0]
            stepped = stepped.to(inputs[i].dtype)
            hook = latent_hooks[i]
            current[i] = hook(stepped, index, next_t) if hook is not None else stepped
        if on_step is not None:
            on_step(index)
    return current
