"""History transformer with 3D rotary embeddings (5b kind) and temporal patches (1.5 kind), on tiny models.

The reference is diffusers' own `CogVideoXTransformer3DModel` with the same weights, given the rotary
embedding diffusers' `CogVideoXPipeline` computes: with zero-initialised history modules the history
transformer (which computes its rotary embedding itself) must give the same output for any history.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
import torch
from diffusers import CogVideoXTransformer3DModel
from diffusers.pipelines.cogvideo.pipeline_cogvideox import CogVideoXPipeline
from msvg_bench.config import resolve_config
from msvg_bench.models.component_specs import tiny_transformer_config
from msvg_bench.models.families import get_family
from msvg_bench.models.families.positional import rotary_embedding
from msvg_bench.models.history_transformer import HistoryCogVideoXTransformer3DModel

HEIGHT, WIDTH = 32, 48  # pixels: latents 4 x 6, tokens 2 x 3 per latent frame (or temporal patch)
TEXT_DIM, TEXT_LEN = 32, 16


def pipeline_rotary(config: Any, height: int, width: int, latent_frames: int) -> tuple[torch.Tensor, torch.Tensor]:
    """diffusers' pipeline computation of the rotary embedding for a transformer config."""
    settings = SimpleNamespace(**{"patch_size_t": None, **dict(config)})  # diffusers' default when a config omits it
    fake = SimpleNamespace(transformer=SimpleNamespace(config=settings), vae_scale_factor_spatial=8)
    return CogVideoXPipeline._prepare_rotary_positional_embeddings(fake, height, width, latent_frames, torch.device("cpu"))


@pytest.fixture(scope="module", params=["tiny-rotary", "tiny-1.5"])
def pair(request: pytest.FixtureRequest) -> tuple[str, CogVideoXTransformer3DModel, HistoryCogVideoXTransformer3DModel]:
    overrides = ["model.tiny_layers=2", f"model.height={HEIGHT}", f"model.width={WIDTH}"]
    cfg = resolve_config(flags={"preset": request.param}, overrides=overrides).model
    torch.manual_seed(0)
    base = CogVideoXTransformer3DModel(**tiny_transformer_config(cfg)).eval()
    history = HistoryCogVideoXTransformer3DModel(**tiny_transformer_config(cfg)).eval()
    missing, unexpected = history.load_state_dict(base.state_dict(), strict=False)
    assert not unexpected and set(missing) == set(HistoryCogVideoXTransformer3DModel.new_parameter_names(history))
    return request.param, base, history


def _inputs(frames: int, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    latents = torch.randn(2, frames, 4, HEIGHT // 8, WIDTH // 8, generator=g)
    return latents, torch.randn(2, TEXT_LEN, TEXT_DIM, generator=g), torch.tensor([17, 801])


def test_zero_init_output_equals_diffusers_with_the_pipeline_rotary_embedding(pair) -> None:
    _, base, history = pair
    x, text, t = _inputs(4)
    rotary = pipeline_rotary(base.config, HEIGHT, WIDTH, 4)
    with torch.no_grad():
        expected = base(x, text, t, image_rotary_emb=rotary).sample
        without_rotary = base(x, text, t).sample
        for seed in range(3):
            feats = torch.randn(2, 16, TEXT_DIM, generator=torch.Generator().manual_seed(seed)) * (10**seed)
            got = history(x, text, t, history_hidden_states=feats).sample
            assert (got - expected).abs().max().item() <= 1e-6
        assert (history(x, text, t).sample - expected).abs().max().item() <= 1e-6
        assert torch.equal(history(x, text, t, image_rotary_emb=rotary).sample, history(x, text, t).sample)
    assert (without_rotary - expected).abs().max().item() > 1e-2  # the rotary embedding is not a no-op here


def test_open_gates_let_history_into_the_video_and_train_under_rotary(pair) -> None:
    _, base, history = pair
    model = HistoryCogVideoXTransformer3DModel(**history.config)
    model.load_state_dict(history.state_dict())
    with torch.no_grad():
        for block in model.transformer_blocks:
            block.attn1.processor.history_gate.fill_(0.5)
    x, text, t = _inputs(4, seed=2)
    feats = torch.randn(2, 16, TEXT_DIM)
    with torch.no_grad():
        expected = base(x, text, t, image_rotary_emb=pipeline_rotary(base.config, HEIGHT, WIDTH, 4)).sample
        opened = model(x, text, t, history_hidden_states=feats).sample
        other = model(x, text, t, history_hidden_states=feats + 1.0).sample
    assert (opened - expected).abs().max() > 1e-3 and (opened - other).abs().max() > 1e-4
    model.enable_gradient_checkpointing()
    model.train()
    out = model(x, text, t, history_hidden_states=feats).sample
    out.square().mean().backward()
    gates = [b.attn1.processor.history_gate.grad for b in model.transformer_blocks]
    assert all(g is not None and g.abs().sum() > 0 for g in gates)
    assert model.history_proj.weight.grad.abs().sum() > 0


def test_odd_latent_frames_are_padded_with_the_first_frame(pair) -> None:
    name, base, history = pair
    x, text, t = _inputs(3, seed=3)
    with torch.no_grad():
        got = history(x, text, t, history_hidden_states=torch.randn(2, 5, TEXT_DIM)).sample
        if name == "tiny-1.5":  # temporal patches of 2: [x0 | x0 x1 x2], the first prediction dropped
            padded = torch.cat([x[:, :1], x], dim=1)
            expected = base(padded, text, t, image_rotary_emb=pipeline_rotary(base.config, HEIGHT, WIDTH, 4)).sample[:, 1:]
        else:
            expected = base(x, text, t, image_rotary_emb=pipeline_rotary(base.config, HEIGHT, WIDTH, 3)).sample
    assert got.shape == x.shape
    assert (got - expected).abs().max().item() <= 1e-6


@pytest.mark.parametrize(
    ("family", "latent_frames", "height", "width"),
    [("cogvideox-5b", 13, 480, 720), ("cogvideox-5b", 13, 480, 480), ("cogvideox1.5-5b", 22, 768, 1360),
     ("cogvideox1.5-5b", 22, 480, 720)],
)  # fmt: skip
def test_full_size_rotary_embedding_equals_the_pipeline(family: str, latent_frames: int, height: int, width: int) -> None:
    config = get_family(family).transformer
    cos, sin = rotary_embedding(config, latent_frames, height // 8, width // 8)
    ref_cos, ref_sin = pipeline_rotary(config, height, width, latent_frames)
    grid = get_family(family).token_grid(4 * (latent_frames - 1) + 1, height, width)
    assert cos.shape == (grid.tokens, 64)
    assert torch.equal(cos, ref_cos) and torch.equal(sin, ref_sin)
    assert rotary_embedding(get_family("cogvideox-2b").transformer, 13, 60, 90) is None
