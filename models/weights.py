"""Loading and exporting weights: the CogVideoX transformer into the history model, trained modules.

Exported folder layout (what `train` writes and `generate --model PATH` reads):

    PATH/msvg_weights.json         manifest: format, model identity, files, module configs
    PATH/transformer.safetensors   history transformer (all weights, or only `history_*` ones)
    PATH/extractor.safetensors     stage-1 feature extraction module
    PATH/decoupler.safetensors     stage-2 decoupler
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from msvg_bench.core.atomic import atomic_path, atomic_write_json
from msvg_bench.core.errors import MsvgError, WeightsNotFoundError
from msvg_bench.models.families import ModelFamily
from torch import nn
from msvg_bench.core.seeding import derive_seed

WEIGHTS_MANIFEST = "msvg_weights.json"
WEIGHTS_FORMAT = "msvg-bench/weights"
HOW_TO_GET_TRAINED = "Train with `msvg-bench train` (it exports this folder) or leave model.weights unset for fresh modules."


class WeightsMismatchError(MsvgError):
    """A checkpoint's keys do not fit the model (unexpected or missing non-new keys)."""


def _read_state_dict(folder: Path, stem: str = "diffusion_pytorch_model") -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    single = folder / f"{stem}.safetensors"
    index = folder / f"{stem}.safetensors.index.json"
    if single.is_file():
        return load_file(str(single))
    if index.is_file():
        from msvg_bench.core.paths import index_shards

        state: dict[str, torch.Tensor] = {}
        for path in index_shards(index):
            if not path.is_file():
                raise WeightsNotFoundError("CogVideoX transformer shard", [path], "The download is incomplete.")
            state.update(load_file(str(path)))
        return state
    raise WeightsNotFoundError(
        "CogVideoX transformer", [single, index], "Expected diffusers safetensors weights in the transformer/ folder."
    )


def init_history_parameters(model: nn.Module, seed: int = 0) -> None:
    """(Re)initialise every history weight: gates and adaLN modulation zero, input projection Xavier."""
    generator = torch.Generator().manual_seed(derive_seed(seed, "history_proj") % (2**63))
    for name, param in model.named_parameters():
        if "history_" not in name:
            continue
        with torch.no_grad():
            if name.startswith("history_proj.weight"):
                values = torch.empty(param.shape, dtype=torch.float32)
                nn.init.xavier_uniform_(values, generator=generator)
                param.copy_(values.to(param.dtype))
            else:
                param.zero_()


def load_history_transformer(
    folder: Path, dtype: torch.dtype, seed: int = 0, family: ModelFamily | None = None
) -> tuple[nn.Module, list[str]]:
    """Build `HistoryCogVideoXTransformer3DModel` from a diffusers transformer folder of any CogVideoX family.

    The model is created on the meta device and the checkpoint assigned into it (no random init of
    billions of weights). With `family`, a folder whose positional embeddings or temporal patching
    differ from the family's raises `WeightsMismatchError`. Returns (model, missing_keys): missing
    keys must all be history weights (they are initialised by `init_history_parameters`); any other
    missing key or any unexpected key raises `WeightsMismatchError` naming them.
    """
    from msvg_bench.models.history_transformer import HistoryCogVideoXTransformer3DModel

    config_path = folder / "config.json"
    if not config_path.is_file():
        raise WeightsNotFoundError("CogVideoX transformer config", [config_path], "Expected a diffusers transformer folder.")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise WeightsMismatchError(f"{config_path}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
    problem = family.layout_problem(config) if family is not None else None
    if problem:
        raise WeightsMismatchError(f"{config_path}: {problem}")
    with torch.device("meta"):
        model = HistoryCogVideoXTransformer3DModel.from_base_config(config)
    state = {k: v.to(dtype) for k, v in _read_state_dict(folder).items()}
    missing, unexpected = model.load_state_dict(state, strict=False, assign=True)
    new_names = set(HistoryCogVideoXTransformer3DModel.new_parameter_names(model))
    not_new = [k for k in missing if k not in new_names]
    if unexpected or not_new:
        raise WeightsMismatchError(
            f"{folder}: checkpoint does not fit CogVideoX: unexpected keys {sorted(unexpected)[:8]}"
            f"{'...' if len(unexpected) > 8 else ''}; missing keys {sorted(not_new)[:8]}"
        )
    _materialize(model, dtype)
    init_history_parameters(model, seed)
    return model, sorted(missing)


def _materialize(model: nn.Module, dtype: torch.dtype) -> None:
    """Allocate the parameters still on the meta device (history ones) and rebuild computed buffers."""
    for module in model.modules():
        for name, param in list(module.named_parameters(recurse=False)):
            if param.is_meta:
                setattr(module, name, nn.Parameter(torch.zeros(param.shape, dtype=dtype), requires_grad=param.requires_grad))
    embed = model.patch_embed
    if getattr(embed, "pos_embedding", None) is not None and embed.pos_embedding.is_meta:
        embed.pos_embedding = embed._get_positional_embeddings(embed.sample_height, embed.sample_width, embed.sample_frames)
    leftover = [n for n, b in model.named_buffers() if b.is_meta]
    if leftover:
        raise WeightsMismatchError(f"buffers not restored after loading: {leftover}")


def save_module(module: nn.Module, path: Path, only: tuple[str, ...] | None = None) -> Path:
    """Write a module's state dict (optionally only keys containing one of `only`) as safetensors, atomically."""
    from safetensors.torch import save_file

    state = {
        k: v.detach().to("cpu").contiguous()
        for k, v in module.state_dict().items()
        if only is None or any(marker in k for marker in only)
    }
    with atomic_path(path) as tmp:
        save_file(state, str(tmp))
    return path


def load_module(module: nn.Module, path: Path, component: str, partial: bool = False) -> list[str]:
    """Load safetensors weights into `module`; unexpected keys are an error, and missing ones unless `partial`.

    Returns the keys of `module` the file did not provide.
    """
    from safetensors.torch import load_file

    if not path.is_file():
        raise WeightsNotFoundError(component, [path], HOW_TO_GET_TRAINED)
    state = load_file(str(path))
    missing, unexpected = module.load_state_dict(state, strict=False)
    if unexpected or (missing and not partial):
        raise WeightsMismatchError(
            f"{path}: {component} weights do not fit: unexpected keys {sorted(unexpected)[:8]}, missing keys {sorted(missing)[:8]}"
        )
    return list(missing)


def export_weights(
    folder: Path,
    *,
    model_identity: str,
    transformer: nn.Module | None = None,
    extractor: nn.Module | None = None,
    decoupler: nn.Module | None = None,
    transformer_history_only: bool = False,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write trained modules to `folder` in the layout above (each file atomic; manifest last)."""
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}
    if transformer is not None:
        only = ("history_",) if transformer_history_only else None
        save_module(transformer, folder / "transformer.safetensors", only)
        files["transformer"] = "transformer.safetensors"
    if extractor is not None:
        save_module(extractor, folder / "extractor.safetensors")
        files["extractor"] = "extractor.safetensors"
    if decoupler is not None:
        save_module(decoupler, folder / "decoupler.safetensors")
        files["decoupler"] = "decoupler.safetensors"
    manifest = {
        "format": WEIGHTS_FORMAT,
        "version": 1,
        "model_identity": model_identity,
        "files": files,
        "transformer_history_only": transformer_history_only,
        **(extra or {}),
    }
    atomic_write_json(folder / WEIGHTS_MANIFEST, manifest)
    return folder


def read_weights_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of an exported weights folder (WeightsNotFoundError when absent)."""
    path = folder / WEIGHTS_MANIFEST
    if not path.is_file():
        raise WeightsNotFoundError("trained msvg weights", [path], HOW_TO_GET_TRAINED)
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise WeightsMismatchError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
    if manifest.get("format") != WEIGHTS_FORMAT:
        raise WeightsMismatchError(f"{path}: not an msvg-bench weights manifest (format {manifest.get('format')!r})")
    return manifest


def load_transformer_weights(model: nn.Module, folder: Path) -> None:
    """Load an exported transformer (all weights or history-only) into the history transformer."""
    manifest = read_weights_manifest(folder)
    if "transformer" not in manifest["files"]:
        return
    load_module(model, folder / manifest["files"]["transformer"], "msvg transformer", partial=manifest["transformer_history_only"])


def load_optional_module(module: nn.Module, folder: Path | None, name: str) -> bool:
    """Load `name` (extractor / decoupler) from an exported folder if it has one; True when loaded."""
    if folder is None:
        return False
    manifest = read_weights_manifest(folder)
    if name not in manifest["files"]:
        return False
    load_module(module, folder / manifest["files"][name], f"msvg {name}")
    return True
