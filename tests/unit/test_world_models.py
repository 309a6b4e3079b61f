"""The story world's own encoders: the VAE keeps CogVideoX's latent contract, the world CLIP's
tokenizer and weights round-trip, and the setting-recognition metric counts what it claims."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from msvg_bench.core.errors import WeightsNotFoundError
from msvg_bench.models.world_vae import WorldVAE


@pytest.fixture(scope="module")
def vae() -> WorldVAE:
    torch.manual_seed(0)
    return WorldVAE().eval()


def test_vae_has_cogvideox_compression_and_causal_groups(vae: WorldVAE) -> None:
    video = torch.rand(2, 3, 9, 64, 64) * 2 - 1
    with torch.no_grad():
        z = vae.encode(video).latent_dist.mode()
        assert z.shape == (2, 16, 3, 8, 8)  # 1 + 8/4 latent frames, 1/8 resolution, 16 channels
        assert vae.decode(z).sample.shape == video.shape
        # latent frame 0 sees frame 0 alone, latent frame 1 frames 1-4, latent frame 2 frames 5-8
        for frame, changed in ((0, {0}), (3, {1}), (5, {2}), (8, {2})):
            other = video.clone()
            other[:, :, frame] = -other[:, :, frame]
            moved = (vae.encode(other).latent_dist.mode() - z).abs().amax(dim=(0, 1, 3, 4))
            assert {i for i in range(3) if moved[i] > 0} == changed, (frame, moved)
    with pytest.raises(ValueError, match="1 \\+ 4k frames"):
        vae.encode(torch.zeros(1, 3, 8, 64, 64))


def test_warp_moves_each_pixel_by_its_flow() -> None:
    from msvg_bench.models.world_vae import warp

    images = torch.rand(2, 3, 12, 10)
    flow = torch.zeros(2, 2, 12, 10)
    flow[:, 0], flow[:, 1] = 2.0, -1.0  # output pixel (i, j) reads input pixel (i - 1, j + 2)
    moved = warp(images, flow)
    torch.testing.assert_close(moved[:, :, 1:, :-2], images[:, :, :-1, 2:])
    flow[:, 0], flow[:, 1] = 0.5, 0.0  # half a pixel: the mean of the two neighbours
    torch.testing.assert_close(warp(images, flow)[..., :-1], (images[..., :-1] + images[..., 1:]) / 2)


def test_motion_warp_vae_continues_a_plain_one_exactly() -> None:
    torch.manual_seed(0)
    plain = WorldVAE(block_out_channels=(8, 16, 16, 16)).eval()
    config = {k: v for k, v in plain.config.items() if not k.startswith("_")} | {"motion_warp": True}
    warped = WorldVAE(**config).eval()
    missing = warped.load_state_dict(plain.state_dict(), strict=False).missing_keys
    assert sorted(missing) == ["flow.conv.bias", "flow.conv.weight"]
    video = torch.rand(1, 3, 9, 32, 32) * 2 - 1
    with torch.no_grad():
        z = plain.encode(video).latent_dist.mode()
        torch.testing.assert_close(warped.decode(z).sample, plain.decode(z).sample)
        torch.testing.assert_close(warped(video), plain(video))
    warped.train()
    warped(video).backward()
    assert warped.flow.conv.weight.grad.abs().sum() > 0  # the zero-initialised head learns


def test_world_clip_round_trips_and_names_missing_weights(tmp_path: Path) -> None:
    from msvg_bench.eval.encoders.world import (
        WordTokenizer,
        WorldClipModel,
        save_world_clip,
        world_clip,
    )

    tokenizer = WordTokenizer.from_texts(["Actor 2 is skiing on the snow.", "a tall person in a red shirt"], 12)
    ids, mask = tokenizer(["actor 2 is skiing on the moon ."])
    words = [tokenizer.vocab[i] for i in ids[0][mask[0]].tolist()]
    assert words == ["actor", "2", "is", "skiing", "on", "the", "<unk>", "."]
    torch.manual_seed(0)
    model = WorldClipModel(len(tokenizer.vocab), 12, dim=32, width=32, channels=(16, 16, 16, 16))
    save_world_clip(model, tokenizer, tmp_path / "clip", {"dim": 32, "width": 32, "channels": [16, 16, 16, 16]})
    encoder = world_clip(tmp_path / "clip")
    frames = np.random.default_rng(0).integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    with torch.no_grad():
        expected = torch.nn.functional.normalize(model.encode_image(torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 127.5 - 1), dim=-1)
    torch.testing.assert_close(encoder.encode_frames(frames), expected, rtol=1e-5, atol=1e-5)
    assert encoder.describe()["kind"] == "world-trained" and not encoder.non_semantic
    with pytest.raises(WeightsNotFoundError, match=str(tmp_path / "nowhere")):
        world_clip(tmp_path / "nowhere")


class _Ctx:
    """A metric context whose embeddings are given: frames of scene i are rows of `frames[i]`."""

    def __init__(self, texts: torch.Tensor, frames: dict[int, torch.Tensor]) -> None:
        self.texts, self.frames = texts, frames

    def text_embeddings(self, texts: list[str], role: str = "text") -> torch.Tensor:
        return self.texts

    def frame_embeddings(self, scene, role: str) -> torch.Tensor:  # noqa: ANN001
        return self.frames[scene.index]


def test_setting_recognition_counts_frames_on_the_annotated_setting() -> None:
    from msvg_bench.benchmarks.world_settings import SETTINGS
    from msvg_bench.eval.inputs import SceneInput, StoryInput
    from msvg_bench.eval.metrics.setting_recognition import SettingRecognition

    names = sorted(SETTINGS)
    texts = torch.eye(len(names))
    snow, beach = names.index("snow"), names.index("beach")
    frames = {0: torch.stack([texts[snow], texts[snow], texts[beach]]), 1: torch.stack([texts[beach]] * 4)}
    scenes = [SceneInput(0, "Actor 1 is skiing on the snow.", Path("a.mp4"), setting="snow"),
              SceneInput(1, "Actor 1 is walking on the beach.", Path("b.mp4"), setting="beach")]
    story = StoryInput("s", scenes)
    values = SettingRecognition().compute(story, _Ctx(texts, frames))
    assert values.scenes[0]["setting_recognition"] == pytest.approx(2 / 3)
    assert values.scenes[1]["setting_recognition"] == pytest.approx(1.0)
    assert values.story["setting_recognition"] == pytest.approx(5 / 6)


def test_world_detector_cells_and_boxes_round_trip() -> None:
    """Cells marked for two boxes come back as two boxes covering them (most confident first)."""
    from msvg_bench.eval.detectors.world import boxes_from_cells, cell_targets

    boxes = [(8.0, 4.0, 40.0, 20.0), (20.0, 40.0, 60.0, 56.0)]
    cells = cell_targets(boxes, 64)
    assert cells.shape == (16, 16)
    assert cells.sum() == 8 * 4 + 10 * 4  # cells whose centre (4k + 2) lies inside each box
    probs = cells * 0.9
    probs[cells > 0] -= np.where(np.arange(16)[None, :] >= 8, 0.2, 0.0).repeat(16, 0)[cells > 0]  # box 2 less sure
    found = boxes_from_cells(probs, 64, 64)
    assert found.tolist() == [[8, 4, 40, 20], [20, 40, 60, 56]]
    assert boxes_from_cells(probs, 128, 128).tolist() == [[16, 8, 80, 40], [40, 80, 120, 112]]  # scaled frames
    assert len(boxes_from_cells(np.zeros((16, 16)), 64, 64)) == 0


@pytest.mark.parametrize("motion_warp", [False, True])
def test_world_vae_recipe_trains_and_exports_the_configured_decoder(tmp_path: Path, motion_warp: bool) -> None:
    """`model.world_vae_motion_warp` reaches the recipe's model and its export: the exported VAE has the flow
    head or not, and decodes exactly as the trained state did."""
    from msvg_bench.benchmarks.synth import synthesize
    from msvg_bench.config import resolve_config
    from msvg_bench.launch.recipes import get_recipe

    root = tmp_path / "data"
    synthesize(root, stories=2, scenes=2, frames=9, height=64, width=64, seed=3)
    setup = resolve_config(overrides=["preset=world", f"data.root={root}",
                                      f"model.world_vae_motion_warp={motion_warp}"]).training().setup
    recipe = get_recipe("world-vae")
    model = recipe.build(setup)
    assert (model.flow is not None) == motion_warp
    if motion_warp:  # a trained flow head, so the export must carry it to decode the same
        torch.nn.init.normal_(model.flow.conv.weight, std=0.05)
    folder = recipe.export(model.state_dict(), tmp_path / "export", setup)
    loaded = recipe.load_exported(folder, setup)
    assert loaded.config.motion_warp is motion_warp
    video = torch.stack([s["video"] for s in recipe.dataset(setup)[:2]])
    with torch.no_grad():
        z = loaded.encode(video).latent_dist.mode()
        torch.testing.assert_close(loaded.decode(z).sample, model.eval().decode(z).sample)
