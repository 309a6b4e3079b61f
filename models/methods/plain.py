"""`plain`: CogVideoX, each scene independently from its prompt with standard CFG (two branches).

With untrained history modules it runs without history tokens; when `model.weights` carries a
trained decoupler (a joint export), it reads the no-history tokens H0 instead, the input the joint
stage trained for "no history" (history dropout), so plain and msvg share every weight and differ
only by the history.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from msvg_bench.models.methods.base import GenerationMethod, ScenePlan, transformer_plan

if TYPE_CHECKING:
    import torch
    from msvg_bench.models.pipelines import StoryGenerator, StoryState


def independent_plan(generator: StoryGenerator, prompt_text: Any, negative: torch.Tensor) -> ScenePlan:
    """Negative / positive branches of one scene on its own (H0 tokens on a joint export, else none)."""
    import torch
    from msvg_bench.models.pipelines import StoryState

    text = torch.cat([negative, prompt_text.embeds[None]])
    history = generator.history_tokens(prompt_text, StoryState())[1].expand(2, -1, -1) if generator.trained_history else None
    return transformer_plan(generator, text, history, 2)


class Plain(GenerationMethod):
    """The no-memory baseline."""

    name = "plain"
    description = "CogVideoX, each scene independently from its prompt"

    def plan_scene(
        self, generator: StoryGenerator, index: int, prompt_text: Any, negative: torch.Tensor, state: StoryState, seed: int
    ) -> ScenePlan:
        """Every scene independently: the past is ignored."""
        return independent_plan(generator, prompt_text, negative)


METHOD = Plain()
