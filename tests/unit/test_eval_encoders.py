"""Encoder registry: tiny-random CLIP, folder round trip, handcrafted descriptor, missing-weights errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from msvg_bench.core.errors import MsvgError, UnknownNameError, WeightsNotFoundError
from msvg_bench.eval.encoders import ENCODERS, TinyClip, load_encoder


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (5, 40, 56, 3), dtype=np.uint8)


def test_registry_names_and_did_you_mean() -> None:
    for name in ("clip4clip", "tiny-random", "appearance-hist", "clip-vit-b32", "clip-vit-l14", "clip", "dinov2-base"):
        assert name in ENCODERS
    with pytest.raises(UnknownNameError, match="did you mean 'clip4clip'"):
        load_encoder("clip4clp")


def test_tiny_random_contract(frames: np.ndarray) -> None:
    enc = load_encoder("tiny-random")
    assert enc.name == "tiny-random" and enc.non_semantic and enc.kind == "random-init" and enc.dim == 512
    out = enc.encode_frames(frames)
    assert out.shape == (5, 512) and out.dtype == torch.float32
    assert torch.allclose(out.norm(dim=-1), torch.ones(5), atol=1e-5)
    text = enc.encode_text(["Actor 1 is running on the playground.", "a cat"])
    assert text.shape == (2, 512) and torch.allclose(text.norm(dim=-1), torch.ones(2), atol=1e-5)
    # batching does not change the numbers
    small = TinyClip(seed=0, batch_size=2)
    assert small.identity == enc.identity
    assert torch.allclose(small.encode_frames(frames), out, atol=1e-5)


def test_tiny_random_is_deterministic_and_seeded(frames: np.ndarray) -> None:
    a, b, c = TinyClip(seed=0), TinyClip(seed=0), TinyClip(seed=1)
    assert torch.equal(a.encode_frames(frames), b.encode_frames(frames))
    assert a.identity != c.identity
    assert not torch.allclose(a.encode_frames(frames), c.encode_frames(frames))
    # building it does not disturb the global RNG
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    TinyClip(seed=5)
    assert torch.equal(torch.rand(3), expected)


def test_saved_folder_loads_as_clip_with_same_embeddings(tmp_path: Path, frames: np.ndarray) -> None:
    tiny = TinyClip(seed=3)
    folder = tiny.save_pretrained(tmp_path / "tiny-clip")
    loaded = load_encoder("clip", path=str(folder))
    assert loaded.kind == "random-init" and loaded.non_semantic
    assert torch.allclose(loaded.encode_frames(frames), tiny.encode_frames(frames), atol=1e-5)
    texts = ["a red coat", "Actor 2 is skiing on the snow."]
    assert torch.allclose(loaded.encode_text(texts), tiny.encode_text(texts), atol=1e-5)


def test_missing_weights_error_names_encoder_paths_and_remedy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MSVG_WEIGHTS_DIR", str(tmp_path / "weights"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("MSVG_CLIP4CLIP_DIR", raising=False)
    with pytest.raises(WeightsNotFoundError) as info:
        load_encoder("clip4clip")
    message = str(info.value)
    assert "\n" not in message
    assert "clip4clip" in message and str(tmp_path / "weights" / "clip4clip-webvid150k") in message
    assert "Searchium-ai/clip4clip-webvid150k" in message and "MSVG_CLIP4CLIP_DIR" in message
    with pytest.raises(WeightsNotFoundError, match=str(tmp_path / "nowhere")):
        load_encoder("clip4clip", path=str(tmp_path / "nowhere"))


def test_clip4clip_loads_a_local_vision_folder(tmp_path: Path, frames: np.ndarray) -> None:
    """A CLIP4Clip-layout folder (vision tower with projection) loads and gives image_embeds, normalised."""
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    cfg = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=4, image_size=32, patch_size=8, projection_dim=512)
    torch.manual_seed(0)
    model = CLIPVisionModelWithProjection(cfg).eval()
    model.save_pretrained(tmp_path / "c4c")
    enc = load_encoder("clip4clip", path=str(tmp_path / "c4c"))
    assert enc.kind == "learned" and not enc.non_semantic and enc.dim == 512 and not enc.supports_text
    out = enc.encode_frames(frames)
    pixels = enc.pixel_values(frames)
    assert pixels.shape == (5, 3, 32, 32)
    with torch.no_grad():
        ref = torch.nn.functional.normalize(model(pixel_values=pixels).image_embeds, dim=-1)
    assert torch.allclose(out, ref, atol=1e-5)
    with pytest.raises(MsvgError, match="no text tower"):
        enc.encode_text(["x"])


def test_appearance_hist_measures_appearance() -> None:
    enc = load_encoder("appearance-hist")
    assert enc.kind == "handcrafted" and enc.non_semantic
    rng = np.random.default_rng(1)
    red = np.zeros((1, 48, 64, 3), np.uint8)
    red[..., 0] = 200
    red2 = np.clip(red.astype(int) + rng.integers(-4, 5, red.shape), 0, 255).astype(np.uint8)
    blue = np.zeros_like(red)
    blue[..., 2] = 200
    e = enc.encode_frames(np.concatenate([red, red2, blue]))
    assert torch.allclose(e.norm(dim=-1), torch.ones(3), atol=1e-5)
    assert float(e[0] @ e[1]) > 0.9 > float(e[0] @ e[2])


def test_appearance_hist_crops_ignore_surroundings() -> None:
    """The same figure on two backgrounds matches better than two figures on one background."""
    enc = load_encoder("appearance-hist")

    def scene(bg: tuple[int, int, int], fg: tuple[int, int, int]) -> np.ndarray:
        img = np.empty((1, 96, 96, 3), np.uint8)
        img[:] = bg
        img[0, 30:80, 40:56] = fg
        return img

    box = np.array([[20, 36, 90, 60]])
    a = enc.encode_crops(scene((20, 160, 30), (230, 40, 40)), box)
    b = enc.encode_crops(scene((240, 240, 250), (230, 40, 40)), box)
    c = enc.encode_crops(scene((20, 160, 30), (40, 40, 230)), box)
    assert float(a[0] @ b[0]) > float(a[0] @ c[0]) + 0.3


def test_open_clip_from_a_local_checkpoint(tmp_path: Path, frames: np.ndarray) -> None:
    """A (tiny, random) open_clip architecture saved to a file loads offline and embeds frames and text."""
    import json

    import open_clip

    config_dir = tmp_path / "configs"
    config_dir.mkdir()
    (config_dir / "msvg-test-tiny.json").write_text(json.dumps({
        "embed_dim": 64,
        "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 8},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
    }))
    open_clip.add_model_config(config_dir)
    torch.manual_seed(0)
    model = open_clip.create_model("msvg-test-tiny").eval()
    torch.save(model.state_dict(), tmp_path / "tiny.pt")
    enc = load_encoder("open-clip", model="msvg-test-tiny", path=str(tmp_path / "tiny.pt"))
    assert enc.dim == 64 and enc.supports_text and enc.identity.startswith("open-clip:msvg-test-tiny:")
    out = enc.encode_frames(frames)
    with torch.no_grad():
        ref = torch.nn.functional.normalize(model.encode_image(enc.pixel_values(frames)), dim=-1)
        text_ref = torch.nn.functional.normalize(model.encode_text(open_clip.get_tokenizer("msvg-test-tiny")(["a cat"])), dim=-1)
    assert torch.allclose(out, ref, atol=1e-5)
    assert torch.allclose(enc.encode_text(["a cat"]), text_ref, atol=1e-5)
    with pytest.raises(WeightsNotFoundError, match="open-clip"):
        load_encoder("open-clip", model="ViT-B-32", path=str(tmp_path / "missing.bin"))
