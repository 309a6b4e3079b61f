"""`msvg`: the multi-scene model. History tokens from the text filter, the extractor and the decoupler,
with history guidance: three branches (negative, positive with history, positive without) batched in
one forward per step; the first scene has no history and uses two."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from msvg_bench.core.schema import StrictModel
from msvg_bench.models.methods.base import GenerationMethod, ScenePlan, transformer_plan
from pydantic import Field

if TYPE_CHECKING:
    import numpy as np
    import torch
    from msvg_bench.models.pipelines import StoryGenerator, StoryState


class MsvgSettings(StrictModel):
    """Settings of the multi-scene method."""

    history_guidance_scale: float = Field(3.0, description="w2: history guidance")


class Msvg(GenerationMethod):
    """The multi-scene method."""

    name = "msvg"
    description = "multi-scene model: text filter + extractor + decoupler + history tokens, history guidance"
    Settings = MsvgSettings

    def plan_scene(
        self, generator: StoryGenerator, index: int, prompt_text: Any, negative: torch.Tensor, state: StoryState, seed: int
    ) -> ScenePlan:
        """Negative / positive(H) / positive(H0) branches; two (negative, positive with H0) for the first scene."""
        import torch

        positive = prompt_text.embeds[None]
        hist, hist0 = generator.history_tokens(prompt_text, state)
        if hist is None:
            text, history, branches = torch.cat([negative, positive]), torch.cat([hist0, hist0]), 2
        else:
            text, history, branches = torch.cat([negative, positive, positive]), torch.cat([hist, hist, hist0]), 3
        w2 = self.settings(generator.cfg.generate).history_guidance_scale
        return transformer_plan(generator, text, history, branches, w2)

    def after_scene(self, generator: StoryGenerator, state: StoryState, frames: np.ndarray) -> None:
        """Keep the per-frame history embeddings of the decoded frames (in memory, never re-read)."""
        state.frame_embeds.append(generator.encoder.encode_frames(frames).to(generator.components.device))


METHOD = Msvg()
