"""History transformer: exact equivalence at init, loading from a diffusers folder, meta-device counts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from diffusers import CogVideoXTransformer3DModel
from msvg_bench.config import resolve_config
from msvg_bench.models.component_specs import tiny_transformer_config
from msvg_bench.models.components import load_components
from msvg_bench.models.history_transformer import HistoryCogVideoXTransformer3DModel
from msvg_bench.models.info import parameter_report
from msvg_bench.models.weights import WeightsMismatchError


@pytest.fixture(scope="module")
def pair() -> tuple[CogVideoXTransformer3DModel, HistoryCogVideoXTransformer3DModel]:
    cfg = resolve_config(overrides=["model.tiny_layers=2"]).model
    torch.manual_seed(0)
    base = CogVideoXTransformer3DModel(**tiny_transformer_config(cfg)).eval()
    history = HistoryCogVideoXTransformer3DModel(**tiny_transformer_config(cfg)).eval()
    missing, unexpected = history.load_state_dict(base.state_dict(), strict=False)
    assert not unexpected
    assert set(missing) == set(HistoryCogVideoXTransformer3DModel.new_parameter_names(history))
    return base, history


def _inputs(seed: int = 1) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(2, 3, 4, 2, 2, generator=g), torch.randn(2, 16, 32, generator=g), torch.tensor([17, 801])


def test_init_output_equals_base_for_any_history(pair) -> None:
    base, history = pair
    x, text, t = _inputs()
    with torch.no_grad():
        expected = base(x, text, t).sample
        for seed in range(3):
            feats = torch.randn(2, 16, 32, generator=torch.Generator().manual_seed(seed)) * (10**seed)
            got = history(x, text, t, history_hidden_states=feats).sample
            assert (got - expected).abs().max().item() <= 1e-6
        assert torch.equal(history(x, text, t).sample, expected)


def test_equivalence_holds_with_trained_history_weights_while_gates_are_closed(pair) -> None:
    base, history = pair
    model = HistoryCogVideoXTransformer3DModel(**history.config).eval()
    model.load_state_dict(history.state_dict())
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "history_" in name and "history_gate" not in name:
                p.normal_()
    x, text, t = _inputs(2)
    feats = torch.randn(2, 16, 32)
    with torch.no_grad():
        expected = base(x, text, t).sample
        assert (model(x, text, t, history_hidden_states=feats).sample - expected).abs().max() <= 1e-6
        for block in model.transformer_blocks:
            block.attn1.processor.history_gate.fill_(0.5)
        opened = model(x, text, t, history_hidden_states=feats).sample
        other = model(x, text, t, history_hidden_states=feats + 1.0).sample
    assert (opened - expected).abs().max() > 1e-3  # the gate is the path history takes into the video
    assert (opened - other).abs().max() > 1e-4


def test_new_weights_get_gradients(pair) -> None:
    _, history = pair
    model = HistoryCogVideoXTransformer3DModel(**history.config)
    model.load_state_dict(history.state_dict())
    x, text, t = _inputs(3)
    out = model(x, text, t, history_hidden_states=torch.randn(2, 16, 32)).sample
    out.square().mean().backward()
    gates = [b.attn1.processor.history_gate.grad for b in model.transformer_blocks]
    assert all(g is not None and g.abs().sum() > 0 for g in gates)


def test_loading_from_diffusers_folder_lists_new_keys_and_rejects_unexpected(tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    cfg = resolve_config().model
    torch.manual_seed(0)
    base = CogVideoXTransformer3DModel(**tiny_transformer_config(cfg))
    root = tmp_path / "cogvideox"
    base.save_pretrained(root / "transformer")
    comps = load_components(cfg.model_copy(update={"source": "pretrained", "model_dir": root}), parts=("transformer",))
    assert comps.missing_keys and all("history_" in k for k in comps.missing_keys)
    assert torch.equal(comps.transformer.proj_out.weight, base.proj_out.weight)
    weights = root / "transformer" / "diffusion_pytorch_model.safetensors"
    state = load_file(str(weights))
    state["surprise.weight"] = torch.zeros(2)
    save_file(state, str(weights))
    with pytest.raises(WeightsMismatchError, match="surprise.weight"):
        load_components(cfg.model_copy(update={"source": "pretrained", "model_dir": root}), parts=("transformer",))


def test_cogvideox_2b_counts_on_meta_device() -> None:
    cfg = resolve_config(flags={"preset": "cogvideox-2b"}).model
    report = parameter_report(cfg)
    assert report["base_transformer"] == 1_693_783_872
    assert report["allocated_bytes"] == 0
    width, time_dim, layers, heads, text_dim = 1920, 512, 30, 30, 4096
    history = (text_dim * width + width) + layers * (2 * (time_dim * 3 * width + 3 * width) + heads)
    assert report["history_weights"] == history
    assert report["total"] == report["base_transformer"] + report["new_modules_total"]


def test_models_info_command_prints_2b_count() -> None:
    from msvg_bench.cli import app
    from typer.testing import CliRunner

    result = CliRunner().invoke(app, ["models", "info", "--preset", "cogvideox-2b", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["base_transformer"] == 1_693_783_872
