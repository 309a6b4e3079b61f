"""What a story-generation method is: the strategy object each entry of `METHODS` holds.

A method decides, scene by scene, how the shared sampler calls the transformer: how many guidance
branches it batches (`branches`), the model function over them (`model_fn`), an optional per-step
latent update (`latent_hook`), and what a finished scene leaves for later ones (`after_scene`). Its
settings are a sub-model (`Settings`), read from `generate.method_settings.<name>`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from msvg_bench.core.schema import StrictModel
from msvg_bench.models.methods.registry import METHODS

if TYPE_CHECKING:
    import numpy as np
    import torch
    from msvg_bench.models.config import GenerateConfig
    from msvg_bench.models.pipelines import StoryGenerator, StoryState


class NoSettings(StrictModel):
    """A method without settings of its own."""


@dataclass
class ScenePlan:
    """How the sampler denoises one scene: `branches` guidance branches batched in one `model_fn` call
    per step (2: negative/positive; 3: negative/positive/positive-without-history), and an optional
    `latent_hook(latents, step_index, next_t)` applied after every step; `history_guidance_scale` (w2)
    weighs the third branch."""

    model_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    branches: int
    history_guidance_scale: float = 0.0
    latent_hook: Callable[[torch.Tensor, int, torch.Tensor | None], torch.Tensor] | None = None
    text: torch.Tensor | None = None
    """With `history`: the per-branch transformer inputs [branches, L, D] when `model_fn` is the plain
    transformer call on them (`transformer_plan`); several stories' scenes then share one forward."""
    history: torch.Tensor | None = None


def transformer_plan(
    generator: StoryGenerator, text: torch.Tensor, history: torch.Tensor | None, branches: int, history_guidance_scale: float = 0.0
) -> ScenePlan:
    """A plan whose model function is the transformer on per-branch `text` and `history` tokens (or none),
    kept on the plan so scenes of several stories can be denoised in one batched forward."""
    return ScenePlan(
        lambda x, t: generator.transformer_call(x, text, t, history), branches, history_guidance_scale, text=text, history=history
    )


class GenerationMethod:
    """A generation method; subclasses set `name`, `description`, optionally `Settings`, and `plan_scene`."""

    name: ClassVar[str]
    description: ClassVar[str]
    Settings: ClassVar[type[StrictModel]] = NoSettings

    def settings(self, generate_cfg: GenerateConfig) -> Any:
        """This method's settings from `generate.method_settings.<name>` (defaults where absent)."""
        return self.Settings.model_validate(generate_cfg.method_settings.get(self.name, {}))

    def plan_scene(
        self, generator: StoryGenerator, index: int, prompt_text: Any, negative: torch.Tensor, state: StoryState, seed: int
    ) -> ScenePlan:
        """The model function, branch count and latent hook for scene `index` (0-based)."""
        raise NotImplementedError

    def after_scene(self, generator: StoryGenerator, state: StoryState, frames: np.ndarray) -> None:
        """Keep what later scenes of this method need beyond texts and latents (default: nothing)."""


METHODS.base = GenerationMethod  # entries resolve after this module loads: each must be a GenerationMethod
