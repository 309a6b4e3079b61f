"""Training recipes: what the distributed loop trains, on which samples, with which loss.

A recipe builds the trainable module (the only thing handed to DeepSpeed) and the frozen parts
(encoders, teachers: kept out of ZeRO partitioning), loads the cached samples, computes the loss of
a micro-batch from per-sample generators, and exports the consolidated weights in the layout the
generation pipeline loads. `extractor` and `joint` train the model's stage-1 and stage-2 objectives;
`mlp` is a synthetic regression used for benchmarks and for checking the machinery itself.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from msvg_bench.core.atomic import atomic_path, atomic_write_json
from msvg_bench.core.registry import Registry
from msvg_bench.core.seeding import derive_seed

if TYPE_CHECKING:
    import torch
    from msvg_bench.launch.config import TrainSetup
    from torch import nn


class Recipe:
    """Base class of a training recipe (override every method marked as required)."""

    name = "recipe"

    def check_data(self, config: TrainSetup) -> None:
        """Raise a `DataError` naming what is missing before any worker starts (default: nothing needed)."""

    def num_samples(self, config: TrainSetup) -> int | None:
        """The number of training samples, counted cheaply before launch (default None: known once workers build the data)."""
        return None

    def build(self, config: TrainSetup) -> nn.Module:
        """Required: the trainable module, initialised deterministically from `config.seed`."""
        raise NotImplementedError

    def build_frozen(self, config: TrainSetup, device: torch.device) -> dict[str, nn.Module]:
        """Frozen helpers (encoders, teachers) on `device`, in eval mode; never given to DeepSpeed."""
        return {}

    def default_trainable_patterns(self, config: TrainSetup) -> list[str]:
        """Regexes selecting the trainable parameters of `build()`'s module by name."""
        return [".*"]

    def default_lr_multipliers(self, config: TrainSetup) -> dict[str, float]:
        """Regex -> learning-rate multiplier of parameter groups (`train.lr_multipliers` overrides; default: none)."""
        return {}

    def monitor(self, model: nn.Module, config: TrainSetup) -> dict[str, float]:
        """Extra training metrics logged with the loss (cheap; called on every rank; default: none)."""
        return {}

    def evaluate(self, model: nn.Module, config: TrainSetup) -> dict[str, float]:
        """Held-out metrics of `model` (named `eval/...`), every `train.eval_every` steps; called on every rank
        (ZeRO-3 gathers parameters collectively), in eval mode without gradients; default: none."""
        return {}

    def dataset(self, config: TrainSetup) -> Sequence[dict[str, Any]]:
        """Required: the training samples (dicts of tensors of equal shapes per key)."""
        raise NotImplementedError

    def collate(self, samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """Samples -> one micro-batch (default: stack tensors key by key)."""
        return collate(samples)

    def to_device(self, batch: dict[str, Any], device: torch.device, dtype: torch.dtype | None) -> dict[str, Any]:
        """Move a micro-batch to the training device (floating tensors cast to `dtype` when given)."""
        return to_device(batch, device, dtype)

    def loss(
        self,
        model: nn.Module,
        frozen: dict[str, nn.Module],
        batch: dict[str, Any],
        generators: list[torch.Generator],
        config: TrainSetup,
    ) -> torch.Tensor:
        """Required: mean loss over the micro-batch; randomness only from `generators` (one per sample)."""
        raise NotImplementedError

    def probe(self, module: nn.Module, dataset: Sequence[dict[str, Any]], config: TrainSetup) -> dict[str, torch.Tensor]:
        """Deterministic outputs of `module` on a fixed input, saved with the export to check reloading.

        Called on every rank (ZeRO-3 gathers parameters collectively); default: nothing.
        """
        return {}

    def enable_gradient_checkpointing(self, model: nn.Module) -> None:
        """Turn on activation recomputation in `model` (default: not supported, nothing to do)."""

    def export(self, state_dict: dict[str, torch.Tensor], out_dir: Path, config: TrainSetup) -> Path:
        """Required: write the consolidated weights under `out_dir`; return the folder a loader reads."""
        raise NotImplementedError

    def load_exported(self, path: Path, config: TrainSetup) -> nn.Module:
        """Required: rebuild the module from what `export` wrote (for `generate`, `eval` and checks)."""
        raise NotImplementedError


RECIPES: Registry[type[Recipe]] = Registry("training recipe", named=True)
BUILTIN_RECIPE_MODULES: tuple[str, ...] = ("msvg_bench.launch.recipe_model", "msvg_bench.launch.recipe_world")


def get_recipe(name: str) -> Recipe:
    """An instance of the recipe registered as `name` (did-you-mean error when unknown)."""
    _load_builtin_recipes()
    return RECIPES.get(name)()


def _load_builtin_recipes() -> None:
    import importlib

    for module in BUILTIN_RECIPE_MODULES:
        importlib.import_module(module)


def collate(samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Stack tensors key by key; other values become lists."""
    import torch

    batch: dict[str, Any] = {}
    for key in samples[0]:
        values = [sample[key] for sample in samples]
        batch[key] = torch.stack(values) if isinstance(values[0], torch.Tensor) else values
    return batch


def to_device(batch: dict[str, Any], device: Any, dtype: Any = None) -> dict[str, Any]:
    """Move the tensors of `batch` to `device` (floating tensors also cast to `dtype` when given)."""
    import torch

    out: dict[str, Any] = {}
    for key, value in batch.items():
        if isinstance(value, torch.Tensor):
            value = value.to(device)
            if dtype is not None and value.is_floating_point():
                value = value.to(dtype)
        out[key] = value
    return out


# -- mlp: synthetic regression ---------------------------------------------------------------------


def _mlp_module(width: int, depth: int, in_dim: int, out_dim: int, dropout: float) -> nn.Module:
    from torch import nn

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = nn.Linear(width, width)
            self.act = nn.GELU()
            self.drop = nn.Dropout(dropout)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + self.drop(self.act(self.linear(x)))

    class MLP(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inp = nn.Linear(in_dim, width)
            self.blocks = nn.ModuleList(Block() for _ in range(depth))
            self.out = nn.Linear(width, out_dim)
            self.gradient_checkpointing = False

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            from torch.utils.checkpoint import checkpoint

            h = self.inp(x)
            for block in self.blocks:
                if self.gradient_checkpointing and self.training:
                    h = checkpoint(block, h, use_reentrant=False)
                else:
                    h = block(h)
            return self.out(h)

    return MLP()


@RECIPES.register()
class MLPRecipe(Recipe):
    """Regress a fixed random non-linear function with a residual MLP (dropout + input noise)."""

    name = "mlp"
    in_dim = 16
    out_dim = 8
    dropout = 0.1
    noise_std = 0.05

    def num_samples(self, config: TrainSetup) -> int | None:
        """`train.mlp_samples`."""
        return config.train.mlp_samples

    def build(self, config: TrainSetup) -> nn.Module:
        """A residual MLP of `train.mlp_width` x `train.mlp_depth`, seeded from the config."""
        import torch

        torch.manual_seed(derive_seed(config.seed, "init", self.name))
        return _mlp_module(config.train.mlp_width, config.train.mlp_depth, self.in_dim, self.out_dim, self.dropout)

    def default_trainable_patterns(self, config: TrainSetup) -> list[str]:
        """Everything but the input projection (so the frozen path is exercised too)."""
        return [r"^blocks\.", r"^out\."]

    def dataset(self, config: TrainSetup) -> list[dict[str, Any]]:
        """`train.mlp_samples` inputs and targets y = tanh(A x) drawn from the config seed."""
        import torch

        gen = torch.Generator().manual_seed(derive_seed(config.seed, "mlp-data"))
        n = config.train.mlp_samples
        x = torch.randn(n, self.in_dim, generator=gen)
        a = torch.randn(self.in_dim, self.out_dim, generator=gen) / self.in_dim**0.5
        y = torch.tanh(x @ a * 2.0)
        return [{"x": x[i], "y": y[i]} for i in range(n)]

    def loss(
        self,
        model: nn.Module,
        frozen: dict[str, nn.Module],
        batch: dict[str, Any],
        generators: list[torch.Generator],
        config: TrainSetup,
    ) -> torch.Tensor:
        """MSE on inputs perturbed by per-sample Gaussian noise."""
        import torch

        x = batch["x"]
        noise = torch.stack([torch.randn(x.shape[1:], generator=g) for g in generators]).to(x.device, x.dtype)
        pred = model(x + self.noise_std * noise)
        return torch.nn.functional.mse_loss(pred.float(), batch["y"].float())

    def probe(self, module: nn.Module, dataset: Sequence[dict[str, Any]], config: TrainSetup) -> dict[str, torch.Tensor]:
        """The MLP's output on the first sample's input (no noise, eval-mode dropout)."""
        import torch

        device = next(module.parameters()).device
        was_training = module.training
        module.eval()
        with torch.no_grad():
            out = module(dataset[0]["x"][None].to(device))
        module.train(was_training)
        return {"prediction": out.float().cpu()}

    def enable_gradient_checkpointing(self, model: nn.Module) -> None:
        """Recompute each residual block in backward."""
        model.gradient_checkpointing = True

    def export(self, state_dict: dict[str, torch.Tensor], out_dir: Path, config: TrainSetup) -> Path:
        """`<out_dir>/mlp/model.safetensors` + `config.json`."""
        from safetensors.torch import save_file

        folder = Path(out_dir) / "mlp"
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(folder / "model.safetensors") as tmp:
            save_file({k: v.detach().contiguous().cpu() for k, v in state_dict.items()}, str(tmp))
        atomic_write_json(
            folder / "config.json",
            {"width": config.train.mlp_width, "depth": config.train.mlp_depth, "in_dim": self.in_dim, "out_dim": self.out_dim},
        )
        return folder

    def load_exported(self, path: Path, config: TrainSetup) -> nn.Module:
        """The MLP rebuilt from `config.json` with the exported weights."""
        from safetensors.torch import load_file

        meta = json.loads((Path(path) / "config.json").read_text())
        model = _mlp_module(meta["width"], meta["depth"], meta["in_dim"], meta["out_dim"], self.dropout)
        model.load_state_dict(load_file(str(Path(path) / "model.safetensors")))
        return model.eval()
