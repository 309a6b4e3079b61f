"""The StreamingT2V-style baseline: memory conditions the overlap (never replaces the model), the
randomized cut varies, and the long-term anchor keeps the scheduler's noise level."""

from __future__ import annotations

import torch
from diffusers import CogVideoXDDIMScheduler
from msvg_bench.models.component_specs import COGVIDEOX_SCHEDULER
from msvg_bench.models.methods.streaming import streaming_hook
from msvg_bench.models.sampler import denoise

SHAPE = (1, 3, 4, 4, 4)  # B, T', C, h, w


def _run(scheduler, model_value: float, memory: torch.Tensor, anchor: torch.Tensor, steps: int = 8) -> torch.Tensor:
    hook = streaming_hook(scheduler, memory, anchor, overlap=1, anchor_strength=0.2, anchor_steps=4, seed=3)
    start = torch.randn(SHAPE, generator=torch.Generator().manual_seed(0))

    def model_fn(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:  # a v-prediction that depends on the model
        return torch.full_like(x, model_value)

    return denoise(model_fn, start, scheduler, steps, 2, w1=1.0, dynamic=False, seed=1, latent_hook=hook)


def test_first_frames_depend_on_the_model_prediction() -> None:
    scheduler = CogVideoXDDIMScheduler(**COGVIDEOX_SCHEDULER)
    memory = torch.randn(SHAPE, generator=torch.Generator().manual_seed(1))
    anchor = memory[:, :1].clone()
    a = _run(scheduler, 0.0, memory, anchor)
    b = _run(scheduler, 0.5, memory, anchor)
    first = (a[:, 0] - b[:, 0]).abs().mean()
    assert first > 0.05, float(first)  # a memory overwrite at every step would make these equal
    # ... and memory still conditions it: the first frame is closer to the memory's last frame than
    # the same model gets without that memory
    unconditioned = _run(scheduler, 0.0, torch.zeros(SHAPE), torch.zeros(1, 1, 4, 4, 4))
    to_memory = (a[:, 0] - memory[:, -1]).pow(2).mean()
    assert to_memory < (unconditioned[:, 0] - memory[:, -1]).pow(2).mean()


def test_randomized_cut_takes_every_value_including_none() -> None:
    scheduler = CogVideoXDDIMScheduler(**COGVIDEOX_SCHEDULER)
    scheduler.set_timesteps(50)
    memory = torch.full((1, 4, 2, 2, 2), 5.0)  # far from anything the latents hold
    hook = streaming_hook(scheduler, memory, memory[:, :1], overlap=2, anchor_strength=0.0, anchor_steps=0, seed=7)
    latents = torch.zeros(1, 4, 2, 2, 2)
    cuts = set()
    t = scheduler.timesteps[40]
    for step in range(60):
        out = hook(latents, step, t)
        replaced = [bool((out[0, f] != 0).all()) for f in range(2)]
        cuts.add(sum(replaced))
        assert replaced in ([False, False], [True, False], [True, True])  # a prefix of the overlap
        assert (out[:, 2:] == 0).all()
    assert cuts == {0, 1, 2}


def test_anchor_blend_keeps_the_noise_level_of_the_schedule() -> None:
    scheduler = CogVideoXDDIMScheduler(**COGVIDEOX_SCHEDULER)
    shape = (1, 5, 16, 32, 32)
    zero = torch.zeros(shape)
    hook = streaming_hook(scheduler, zero, zero[:, :1], overlap=1, anchor_strength=0.5, anchor_steps=10, seed=2)
    for t in (999, 700, 400):
        sigma = float((1 - scheduler.alphas_cumprod[t]) ** 0.5)
        noisy = sigma * torch.randn(shape, generator=torch.Generator().manual_seed(t))  # x_t of a zero signal
        out = hook(noisy, 0, torch.tensor(t))
        assert abs(float(out[:, 1:].std()) / sigma - 1.0) < 0.02, (t, float(out[:, 1:].std()) / sigma)
