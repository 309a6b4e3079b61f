"""Components: tiny preset built locally, encoders' shapes, preprocessing, missing-weights errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from msvg_bench.config import resolve_config
from msvg_bench.core.errors import WeightsNotFoundError
from msvg_bench.models.components import load_components
from msvg_bench.models.encoding import (
    decode_latents,
    encode_prompts,
    encode_video_latents,
    preprocess_frames,
)


@pytest.fixture(scope="module")
def comps():
    return load_components(resolve_config().model)


def test_tiny_components_are_deterministic_and_leave_the_rng_alone(comps) -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    again = load_components(resolve_config().model, parts=("text_encoder", "transformer"))
    assert torch.equal(torch.rand(3), expected)
    for name in ("text_encoder", "transformer"):
        a, b = getattr(comps, name).state_dict(), getattr(again, name).state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a)
    other = load_components(resolve_config(overrides=["model.init_seed=1"]).model, parts=("transformer",))
    assert not torch.equal(other.transformer.proj_out.weight, comps.transformer.proj_out.weight)
    assert other.model_id != comps.model_id


def test_tokenizer_and_prompt_embeddings(comps) -> None:
    ids = comps.tokenizer("Actor 2 is running on the playground.")["input_ids"]
    assert comps.tokenizer.convert_ids_to_tokens(ids) == ["actor", "2", "is", "running", "on", "the", "playground", ".", "</s>"]
    assert comps.tokenizer.unk_token_id in comps.tokenizer("zorblax")["input_ids"]
    emb = encode_prompts(comps, ["Actor 1 is skiing on the snow.", ""])
    assert emb.shape == (2, 16, 32) and torch.isfinite(emb).all()
    assert not torch.allclose(emb[0], emb[1])


def test_preprocess_frames_samples_uniformly_and_centre_crops() -> None:
    frames = np.zeros((20, 24, 40, 3), dtype=np.uint8)
    for t in range(20):
        frames[t] = t * 10
    frames[:, :, :8] = 255  # left border is cropped away by a centre crop to 16x16 of a 16x26 resize
    out = preprocess_frames(frames, num_frames=5, height=16, width=16)
    assert out.shape == (3, 5, 16, 16)
    expected = [0, 5, 10, 14, 19]  # round(linspace(0, 19, 5))
    for i, t in enumerate(expected):
        assert torch.allclose(out[:, i, 4:12, 6:10], torch.full((3, 8, 4), t * 10 / 127.5 - 1), atol=1e-5)
    short = preprocess_frames(frames[:2], num_frames=4, height=16, width=16)
    assert short.shape == (3, 4, 16, 16)


def test_video_latents_roundtrip_shapes(comps) -> None:
    frames = np.random.default_rng(0).integers(0, 255, (12, 32, 48, 3), dtype=np.uint8)
    latents = encode_video_latents(comps, frames)
    assert latents.shape == (4, 3, 2, 2)
    assert torch.equal(latents, encode_video_latents(comps, frames))  # posterior mode: deterministic
    video = decode_latents(comps, latents)
    assert video.shape == (9, 16, 16, 3) and video.dtype == np.uint8


def test_missing_pretrained_parts_name_the_folder(tmp_path: Path) -> None:
    cfg = resolve_config(flags={"preset": "cogvideox-2b"}).model
    with pytest.raises(WeightsNotFoundError, match="model_dir"):
        load_components(cfg, parts=("vae",))
    (tmp_path / "tokenizer").mkdir()
    with pytest.raises(WeightsNotFoundError, match=f"{tmp_path / 'vae'}"):
        load_components(cfg.model_copy(update={"model_dir": tmp_path, "device": "cpu"}), parts=("vae",))


def test_gradient_checkpointing_matches(comps) -> None:
    from msvg_bench.models.history_transformer import HistoryCogVideoXTransformer3DModel

    def grads(checkpointing: bool) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        model = HistoryCogVideoXTransformer3DModel.from_base_config(comps.transformer.config)
        model.load_state_dict(comps.transformer.state_dict())
        with torch.no_grad():
            for block in model.transformer_blocks:
                block.attn1.processor.history_gate.fill_(0.3)
        if checkpointing:
            model.enable_gradient_checkpointing()
        model.train()
        g = torch.Generator().manual_seed(0)
        x, text, hist = torch.randn(1, 3, 4, 2, 2, generator=g), torch.randn(1, 16, 32, generator=g), torch.randn(1, 16, 32, generator=g)
        out = model(x, text, torch.tensor([300]), history_hidden_states=hist).sample
        out.square().mean().backward()
        return out.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    out_a, grads_a = grads(False)
    out_b, grads_b = grads(True)
    assert torch.allclose(out_a, out_b, atol=1e-6)
    assert grads_a.keys() == grads_b.keys() and any("history_proj" in k for k in grads_a)
    assert all(torch.allclose(grads_a[k], grads_b[k], atol=1e-5) for k in grads_a)
