"""Classifier-free guidance: standard (2 branches) and history guidance (3 branches), dynamic scales.

History guidance, with P+ the prompt, P- the negative prompt, H the history features and H0 the
features computed without history:

    eps = eps(P-, H) + w1 * [eps(P+, H) - eps(P-, H)] + w2 * [eps(P+, H) - eps(P+, H0)]

Branch order in the batched forward: [(P-, H), (P+, H), (P+, H0)]. For the first scene (no
history, H = H0) the last term vanishes and two branches [(P-, H0), (P+, H0)] are run.

Dynamic CFG ramps the scales with the *step index* i of n steps (not the raw timestep):
f_i = (1 - cos(pi * (i / (n - 1)) ** 5)) / 2, w1_i = 1 + w1 * f_i, w2_i = w2 * f_i.
"""

from __future__ import annotations

import math

import torch


def dynamic_factor(step_index: int, num_steps: int) -> float:
    """The CogVideoX cosine ramp in [0, 1] evaluated at step index `step_index` of `num_steps`."""
    progress = step_index / max(num_steps - 1, 1)
    return (1.0 - math.cos(math.pi * progress**5.0)) / 2.0


def guidance_scales(w1: float, w2: float, step_index: int, num_steps: int, dynamic: bool) -> tuple[float, float]:
    """(w1, w2) used at this step: constant, or ramped by `dynamic_factor` on the step index."""
    if not dynamic:
        return w1, w2
    factor = dynamic_factor(step_index, num_steps)
    return 1.0 + w1 * factor, w2 * factor


def combine_text_guidance(eps_negative: torch.Tensor, eps_positive: torch.Tensor, w1: float) -> torch.Tensor:
    """Standard CFG: eps(P-) + w1 * [eps(P+) - eps(P-)]."""
    return eps_negative + w1 * (eps_positive - eps_negative)


def combine_history_guidance(
    eps_neg_h: torch.Tensor, eps_pos_h: torch.Tensor, eps_pos_h0: torch.Tensor, w1: float, w2: float
) -> torch.Tensor:
    """History guidance: eps(P-,H) + w1 [eps(P+,H) - eps(P-,H)] + w2 [eps(P+,H) - eps(P+,H0)]."""
    return eps_neg_h + w1 * (eps_pos_h - eps_neg_h) + w2 * (eps_pos_h - eps_pos_h0)


def combine_branches(outputs: torch.Tensor, num_branches: int, w1: float, w2: float) -> torch.Tensor:
    """Split a batched output [num_branches * B, ...] in branch order and combine it."""
    chunks = outputs.chunk(num_branches, dim=0)
    if num_branches == 1:
        return chunks[0]
    if num_branches == 2:
        return combine_text_guidance(chunks[0], chunks[1], w1)
    if num_branches == 3:
        return combine_history_guidance(chunks[0], chunks[1], chunks[2], w1, w2)
    raise ValueError(f"guidance combines 1, 2 or 3 branches, got {num_branches}")
