"""The multi-scene model's training recipes on cached inputs: `extractor` (stage 1) and `joint` (stage 2).

Samples come from the embedding cache (`msvg_bench.launch.model_data`); nothing is decoded or
encoded by the big encoders here.

- extractor: trainable = the feature extractor (its frozen teacher is held outside the module, so
  ZeRO never partitions it); loss = `msvg_bench.models.extractor.stage1_loss` (matched 1 - cos).
- joint: trainable = `Stage2Module` (history transformer + decoupler); the frozen stage-1 extractor
  computes each sample's history / no-history features once, outside DeepSpeed; loss =
  `msvg_bench.models.multiscene.stage2_loss` (v-prediction MSE, text and history dropout), called
  per sample with that sample's generator so randomness never depends on how ranks split a batch.

Export: the model package's weights folder (`msvg_weights.json` + safetensors) that `generate` /
`eval` read through `model.weights`; for `joint` also the transformer in diffusers layout
(`transformer/`), for `extractor` the extractor alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from msvg_bench.benchmarks.dataset import load_stories
from msvg_bench.core.errors import DataError
from msvg_bench.launch.model_data import (
    CachedLatentSamples,
    SceneCache,
    cpu_model_config,
    data_root,
    ensure_cache,
    history_input,
)
from msvg_bench.launch.recipes import RECIPES, Recipe

if TYPE_CHECKING:
    import torch
    from msvg_bench.launch.config import TrainSetup
    from torch import nn

PROBE_TIMESTEP = 500


def enable_extractor_checkpointing(extractor: nn.Module) -> None:
    """Recompute each mixer layer in backward (CLIP backbones use their own switch)."""
    import torch

    mixer = extractor.mixer
    if hasattr(mixer, "gradient_checkpointing_enable"):
        mixer.gradient_checkpointing_enable()
        return
    layers = [m for m in mixer.modules() if isinstance(m, torch.nn.TransformerEncoderLayer)]
    for layer in layers:
        _checkpoint_forward(layer)


def _checkpoint_forward(module: nn.Module) -> None:
    import torch
    from torch.utils.checkpoint import checkpoint

    original = module.forward

    def forward(*args: Any, **kwargs: Any) -> Any:
        if module.training and torch.is_grad_enabled():
            return checkpoint(original, *args, use_reentrant=False, **kwargs)
        return original(*args, **kwargs)

    module.forward = forward


def detach_teacher(extractor: nn.Module) -> nn.Module:
    """Unregister the frozen teacher from the extractor's modules (kept as a plain attribute).

    The extractor still calls it, but it is no parameter of the trainable module, so DeepSpeed never
    partitions or checkpoints it. Returns the teacher.
    """
    teacher = extractor._modules.pop("teacher")
    object.__setattr__(extractor, "teacher", teacher)
    return teacher


def _model_identity(config: TrainSetup) -> str:
    from msvg_bench.models.component_specs import model_identity

    return model_identity(config.model)


@RECIPES.register()
class ExtractorRecipe(Recipe):
    """Stage 1: the feature extractor against its frozen teacher, on cached text + frame embeddings."""

    name = "extractor"

    def check_data(self, config: TrainSetup) -> None:
        """Before workers start: the data is usable and its embedding cache complete (computed if not)."""
        ensure_cache(config, ("text", "frames"))

    def num_samples(self, config: TrainSetup) -> int | None:
        """One per scene with at least one earlier scene (counted from the manifest)."""
        return sum(max(len(s.scenes) - 1, 0) for s in load_stories(data_root(config)))

    def build(self, config: TrainSetup) -> nn.Module:
        """`Stage1Module` around a seeded extractor whose teacher lives outside the module."""
        from msvg_bench.models.multiscene import Stage1Module, build_extractor

        extractor = build_extractor(cpu_model_config(config))
        self._teacher = detach_teacher(extractor)
        return Stage1Module(extractor)

    def build_frozen(self, config: TrainSetup, device: torch.device) -> dict[str, nn.Module]:
        """The teacher (frozen, on the training device)."""
        self._teacher.to(device)
        return {"teacher": self._teacher}

    def default_trainable_patterns(self, config: TrainSetup) -> list[str]:
        """Every extractor weight (the teacher is not part of the module)."""
        return [r"^extractor\."]

    def dataset(self, config: TrainSetup) -> list[dict[str, Any]]:
        """One sample per scene with at least one earlier scene: its history input and its own frames."""
        from msvg_bench.models.history import subsample_frames

        cache = SceneCache(config, ("text", "frames"))
        samples = []
        for story_scenes in cache.scenes:
            for index in range(1, len(story_scenes)):
                frames = subsample_frames(story_scenes[index]["frames"], config.model.max_history_frames)
                samples.append({"history": history_input(story_scenes, index, config.model), "frames": frames})
        if not samples:
            raise DataError(f"{data_root(config)}: no story has two or more scenes (stage 1 needs history)")
        return samples

    def collate(self, samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """Pad histories (`collate_history`) and current frames into one batch."""
        import torch
        from msvg_bench.models.history import collate_history

        clip_dim = samples[0]["frames"].shape[-1]
        history = collate_history([s["history"] for s in samples], clip_dim)
        n = max(s["frames"].shape[0] for s in samples)
        frames = torch.zeros(len(samples), n, clip_dim, dtype=history.current_text.dtype)
        valid = torch.zeros(len(samples), n, dtype=torch.bool)
        for i, s in enumerate(samples):
            frames[i, : s["frames"].shape[0]] = s["frames"]
            valid[i, : s["frames"].shape[0]] = True
        return {"history": history, "frames": frames, "frame_valid": valid}

    def to_device(self, batch: dict[str, Any], device: torch.device, dtype: torch.dtype | None) -> dict[str, Any]:
        """Move the history batch and frames."""
        out = dict(batch)
        out["history"] = batch["history"].to(device, dtype)
        out["frames"] = batch["frames"].to(device, dtype) if dtype is not None else batch["frames"].to(device)
        out["frame_valid"] = batch["frame_valid"].to(device)
        return out

    def loss(
        self,
        model: nn.Module,
        frozen: dict[str, nn.Module],
        batch: dict[str, Any],
        generators: list[torch.Generator],
        config: TrainSetup,
    ) -> torch.Tensor:
        """Stage-1 objective (deterministic: no noise, no dropout)."""
        return model(batch["history"], batch["frames"], batch["frame_valid"])

    def enable_gradient_checkpointing(self, model: nn.Module) -> None:
        """Checkpoint the mixer layers."""
        enable_extractor_checkpointing(model.extractor)

    def probe(self, module: nn.Module, dataset: Sequence[dict[str, Any]], config: TrainSetup) -> dict[str, torch.Tensor]:
        """The extractor's prediction for the first sample (a fixed input for export checks)."""
        import torch

        batch = self.collate([dataset[0]])
        param = next(module.parameters())
        with torch.no_grad():
            out = module.extractor(batch["history"].to(param.device, param.dtype))
        return {"prediction": out.float().cpu()}

    def export(self, state_dict: dict[str, torch.Tensor], out_dir: Path, config: TrainSetup) -> Path:
        """The extractor alone, as a weights folder (`model.weights` for stage 2 and generation)."""
        from msvg_bench.models.multiscene import build_extractor
        from msvg_bench.models.weights import export_weights

        extractor = build_extractor(cpu_model_config(config))
        prefix = "extractor."
        own = {k[len(prefix) :]: v for k, v in state_dict.items() if k.startswith(prefix)}
        missing, unexpected = extractor.load_state_dict(own, strict=False)
        bad = [k for k in missing if not k.startswith("teacher.")]
        if bad or unexpected:
            raise DataError(f"export: trained extractor state does not fit (missing {bad[:4]}, unexpected {unexpected[:4]})")
        folder = Path(out_dir)
        export_weights(folder, model_identity=_model_identity(config), extractor=extractor, extra={"stage": "extractor"})
        return folder

    def load_exported(self, path: Path, config: TrainSetup) -> nn.Module:
        """The `Stage1Module` rebuilt the way generation builds it (`model.weights` = the export)."""
        from msvg_bench.models.multiscene import Stage1Module, build_extractor

        model_cfg = cpu_model_config(config).model_copy(update={"weights": Path(path)})
        return Stage1Module(build_extractor(model_cfg)).eval()


@RECIPES.register()
class JointRecipe(Recipe):
    """Stage 2: history transformer + decoupler, v-prediction on cached latents, frozen extractor features."""

    name = "joint"

    def check_data(self, config: TrainSetup) -> None:
        """Before workers start: the data is usable and its embedding cache complete (computed if not)."""
        ensure_cache(config, ("text", "frames", "latents"))

    def num_samples(self, config: TrainSetup) -> int | None:
        """One per scene (counted from the manifest)."""
        return sum(len(s.scenes) for s in load_stories(data_root(config)))

    def build(self, config: TrainSetup) -> nn.Module:
        """`Stage2Module`: the history transformer (tiny or pretrained) and a seeded decoupler."""
        from msvg_bench.models.components import load_components
        from msvg_bench.models.multiscene import Stage2Module, build_decoupler

        model_cfg = cpu_model_config(config)
        comps = load_components(model_cfg, parts=("transformer", "scheduler"))
        return Stage2Module(comps.transformer, build_decoupler(model_cfg), comps.scheduler, model_cfg)

    def default_trainable_patterns(self, config: TrainSetup) -> list[str]:
        """Decoupler + history weights, and the base transformer when `model.train_base_transformer`."""
        if config.model.train_base_transformer:
            return [r"^decoupler\.", r"^transformer\."]
        return [r"^decoupler\.", r"^transformer\..*history_"]

    def default_lr_multipliers(self, config: TrainSetup) -> dict[str, float]:
        """The modules new to the backbone (decoupler, history weights) at `train.new_module_lr_multiplier`.

        They start at zero (the history gate, the decoupler's output, adaLN-Zero history modulation), so
        at a fine-tuning learning rate such as 2e-5 they would move too little to ever open the history path.
        """
        mult = config.train.new_module_lr_multiplier
        return {} if mult == 1.0 else {r"^decoupler\.": mult, r"^transformer\..*history_": mult}

    def monitor(self, model: nn.Module, config: TrainSetup) -> dict[str, float]:
        """`train/history_gate_abs`: mean |per-head history gate| over the transformer's blocks."""
        gates = [p.detach().float().abs().mean() for n, p in model.named_parameters() if n.endswith("history_gate") and p.numel()]
        return {"train/history_gate_abs": float(sum(gates) / len(gates))} if gates else {}

    def dataset(self, config: TrainSetup) -> Sequence[dict[str, Any]]:
        """One sample per scene: latents (read from the cache on access), prompt / negative embeddings,
        history and no-history features (computed once here by the frozen extractor)."""
        import torch
        from msvg_bench.launch.region_weights import scene_loss_weights
        from msvg_bench.models.encoding import encode_prompts
        from msvg_bench.models.history import collate_history
        from msvg_bench.models.multiscene import build_extractor, history_features

        model_cfg = cpu_model_config(config)
        cache = SceneCache(config, ("text", "frames", "latents"))
        # The frozen extractor runs here once, in fp32 whatever model.dtype is (its inputs are cast to
        # match); the features are cast to the training dtype with each batch.
        extractor = build_extractor(model_cfg).float().eval()
        negative = encode_prompts(cache.components, [config.generate.negative_prompt])[0].float()
        weight = config.train.character_loss_weight
        samples = []
        with torch.no_grad():
            for story, story_scenes in zip(cache.stories, cache.scenes, strict=True):
                for index in range(len(story_scenes)):
                    history = collate_history([history_input(story_scenes, index, model_cfg)], model_cfg.history_dim)
                    history = history.to(torch.device("cpu"), torch.float32)
                    with_history, without = history_features(extractor, history)
                    sample = {
                        "latents_key": story_scenes[index]["latents_key"],
                        "prompt_embeds": story_scenes[index]["text"].embeds.float(),
                        "negative_prompt_embeds": negative,
                        "history_features": with_history[0].float(),
                        "null_history_features": without[0].float(),
                    }
                    if weight != 1.0:
                        sample["loss_weight"] = scene_loss_weights(story.clip_path(index), model_cfg, weight)
                    samples.append(sample)
        if not samples:
            raise DataError(f"{data_root(config)}: no scenes to train on")
        return CachedLatentSamples(cache.cache, samples)

    def loss(
        self,
        model: nn.Module,
        frozen: dict[str, nn.Module],
        batch: dict[str, Any],
        generators: list[torch.Generator],
        config: TrainSetup,
    ) -> torch.Tensor:
        """The stage-2 loss of the micro-batch in one forward, each sample's draws from its own generator."""
        keys = ("latents", "prompt_embeds", "negative_prompt_embeds", "history_features", "null_history_features", "loss_weight")
        return model({k: batch[k] for k in keys if k in batch}, list(generators))

    def enable_gradient_checkpointing(self, model: nn.Module) -> None:
        """diffusers' block-level checkpointing in the transformer."""
        model.transformer.enable_gradient_checkpointing()

    def probe(self, module: nn.Module, dataset: Sequence[dict[str, Any]], config: TrainSetup) -> dict[str, torch.Tensor]:
        """The transformer's prediction for the first sample at a fixed timestep and noise (no dropout)."""
        import torch
        from msvg_bench.models.multiscene import history_tokens

        device = next(module.parameters()).device
        dtype = next(module.parameters()).dtype
        sample = dataset[0]
        latents = sample["latents"][None].permute(0, 2, 1, 3, 4).to(device, dtype)
        gen = torch.Generator().manual_seed(config.seed)
        noise = torch.randn(latents.shape, generator=gen).to(device, dtype)
        timesteps = torch.full((1,), PROBE_TIMESTEP, dtype=torch.long, device=device)
        noisy = module.scheduler.add_noise(latents, noise, timesteps)
        prompt = sample["prompt_embeds"][None].to(device, dtype)
        with torch.no_grad():
            history = history_tokens(module.decoupler, prompt, sample["history_features"][None].to(device, dtype))
            pred = module.transformer(noisy, prompt, timesteps, history_hidden_states=history, return_dict=False)[0]
        return {"prediction": pred.float().cpu()}

    def export(self, state_dict: dict[str, torch.Tensor], out_dir: Path, config: TrainSetup) -> Path:
        """Weights folder (transformer + decoupler + the frozen extractor) and `transformer/` in diffusers layout."""
        from msvg_bench.models.multiscene import build_extractor
        from msvg_bench.models.weights import export_weights

        module = self.build(config)
        module.load_state_dict(state_dict, strict=True)
        folder = Path(out_dir)
        export_weights(
            folder,
            model_identity=_model_identity(config),
            transformer=module.transformer,
            decoupler=module.decoupler,
            extractor=build_extractor(cpu_model_config(config)),
            extra={"stage": "joint"},
        )
        module.transformer.save_pretrained(str(folder / "transformer"), safe_serialization=True)
        return folder

    def load_exported(self, path: Path, config: TrainSetup) -> nn.Module:
        """`Stage2Module` rebuilt through the loaders generation uses (`model.weights` = the export)."""
        from msvg_bench.models.components import load_components
        from msvg_bench.models.multiscene import Stage2Module, build_decoupler

        model_cfg = cpu_model_config(config).model_copy(update={"weights": Path(path)})
        comps = load_components(model_cfg, parts=("transformer", "scheduler"))
        return Stage2Module(comps.transformer, build_decoupler(model_cfg), comps.scheduler, model_cfg).eval()
