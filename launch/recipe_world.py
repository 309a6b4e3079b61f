"""Training recipes of the story world's own encoders: `world-vae` and `world-clip`.

Both read the clips of a cast-world data folder (`msvg-bench data synth`), brought to the model's
geometry (`model.num_frames` x `model.height` x `model.width`), and train with the same distributed
loop, checkpoints, resume and MLflow runs as the model's stages.

- world-vae: `msvg_bench.models.world_vae.WorldVAE` for reconstruction (L1 + MSE + a small KL; with
  `train.character_loss_weight` > 1 the pixels inside a character box weigh more). The
  export sets the latent scaling factor to 1 / std of the training latents, as CogVideoX's is, and
  writes `<export>/vae/` in diffusers layout. Every `train.eval_every` steps (the world preset: 1000)
  and at the last step it logs `eval/heldout_psnr_db`, its reconstructions' PSNR on 8 held-out
  `world_reference` stories (`world/quality.json` measures 24 the same way).
- world-clip: `msvg_bench.eval.encoders.world.WorldClipModel`, contrastive between frames (and
  character crops, from the clips' box sidecars) and texts drawn each step from the scene's
  described caption and its parts (the setting, the setting with its light, each look, the action).
  The texts come from the story's casting (`meta.cast`), so reference-register data trains it too.
  Export: `<export>/clip/` (weights, config, word vocabulary), loaded by the `world-clip` encoder.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from msvg_bench.benchmarks.dataset import load_stories
from msvg_bench.benchmarks.world_actions import ACTIONS
from msvg_bench.core.atomic import atomic_write_json
from msvg_bench.core.errors import DataError
from msvg_bench.core.progress import progress
from msvg_bench.core.seeding import derive_seed
from msvg_bench.launch.model_data import cpu_model_config, data_root
from msvg_bench.launch.recipes import RECIPES, Recipe

if TYPE_CHECKING:
    import numpy as np
    import torch
    from msvg_bench.launch.config import TrainSetup
    from torch import nn

VAE_KL_WEIGHT = 1e-6
SCALING_STORIES = 64  # stories whose latents set the VAE's scaling factor
HELDOUT_STORIES = 8  # world_reference stories (32 clips) the VAE is evaluated on every `train.eval_every` steps
HELDOUT_BATCH = 8  # clips reconstructed at once
CLIP_DIM, CLIP_WIDTH, CLIP_CHANNELS, CLIP_TEXT_LENGTH = 128, 128, (32, 64, 96, 128), 48
CLIP_FRAMES_PER_SCENE = 3


def _data_root(config: TrainSetup) -> Path:
    return data_root(config)


def load_world_clips(config: TrainSetup, max_stories: int | None = None) -> tuple[list[Any], list[np.ndarray]]:
    """The data folder's stories (the first `max_stories`) and each scene's frames at the model's
    geometry (uint8 [T, H, W, 3])."""
    import numpy as np
    import torch
    from msvg_bench.core.video import read_video
    from msvg_bench.models.encoding import preprocess_frames

    stories = load_stories(_data_root(config))[:max_stories]
    m = config.model
    clips = []
    with progress() as bar:
        task = bar.add_task("read clips", total=sum(len(s.scenes) for s in stories))
        for story in stories:
            for index in range(len(story.scenes)):
                video = preprocess_frames(read_video(story.clip_path(index)), m.num_frames, m.height, m.width)
                clips.append(((video.permute(1, 2, 3, 0) + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8).numpy())
                bar.advance(task)
    return stories, [np.asarray(c) for c in clips]


def heldout_world_clips(config: TrainSetup, stories: int) -> list[torch.Tensor]:
    """Each scene of the first `stories` stories of the held-out `world_reference` suite (another seed than any
    training data), brought to the model's geometry: [3, T, H, W] in [-1, 1]. Rendered in a temporary folder."""
    import tempfile

    from msvg_bench.benchmarks.suite import load_suite
    from msvg_bench.core.video import read_video
    from msvg_bench.models.encoding import preprocess_frames

    m = config.model
    with tempfile.TemporaryDirectory(prefix="msvg-heldout-") as folder:
        held = load_suite("world_reference").limited(stories).materialize(Path(folder))
        return [preprocess_frames(read_video(story.clip_path(index)), m.num_frames, m.height, m.width)
                for story in held for index in range(len(story.scenes))]


def scaled_box(box: Sequence[int], geometry: tuple[float, float, float]) -> tuple[float, ...] | None:
    """A box of the source clip mapped to the preprocessed frame (`geometry`: scale, top, left)."""
    scale, top, left = geometry
    y0, x0, y1, x1 = (float(v) for v in box)
    if y1 - y0 < 2 or x1 - x0 < 2:
        return None
    return y0 * scale - top, x0 * scale - left, y1 * scale - top, x1 * scale - left


def clip_geometry(story: Any, index: int, shape: tuple[int, int]) -> tuple[float, float, float]:
    """(scale, top, left) of `preprocess_frames` for a clip: resize to cover `shape`, centre crop."""
    from msvg_bench.core.video import probe_video

    info = probe_video(story.clip_path(index))
    h, w = shape
    scale = max(h / info.height, w / info.width)
    return scale, (round(info.height * scale) - h) / 2, (round(info.width * scale) - w) / 2


# -- world-vae ----------------------------------------------------------------------------------


class _WorldRecipe(Recipe):
    """What the world's encoder recipes share: a data folder to read, a model seeded from the config."""

    def check_data(self, config: TrainSetup) -> None:
        """The data folder must exist."""
        _data_root(config)

    def seeded(self, config: TrainSetup, factory: Any) -> nn.Module:
        """`factory()` built under a seed derived from `config.seed` and the recipe's name."""
        import torch

        torch.manual_seed(derive_seed(config.seed, "init", self.name) % (2**63))
        return factory()




@RECIPES.register()
class WorldVAERecipe(_WorldRecipe):
    """The world's video autoencoder, trained for reconstruction on the data folder's clips."""

    name = "world-vae"
    _heldout: list[torch.Tensor] | None = None  # the held-out clips, rendered at the first evaluation

    def build(self, config: TrainSetup) -> nn.Module:
        """A seeded `WorldVAE` with CogVideoX's compression (warping its frames with `model.world_vae_motion_warp`)."""
        from msvg_bench.models.world_vae import WorldVAE

        return self.seeded(config, lambda: WorldVAE(motion_warp=config.model.world_vae_motion_warp))

    def dataset(self, config: TrainSetup) -> list[dict[str, Any]]:
        """One sample per scene: its clip [3, T, H, W] in [-1, 1]; with `train.character_loss_weight` > 1 also
        its character mask [T, H, W] (uint8, from the box sidecar; all 0 without one)."""
        import torch
        from msvg_bench.launch.region_weights import clip_character_mask

        stories, clips = load_world_clips(config)
        if not clips:
            raise DataError(f"{_data_root(config)}: no clips to train the world VAE on")
        samples = [{"video": torch.from_numpy(c).permute(3, 0, 1, 2).float() / 127.5 - 1.0} for c in clips]
        if config.train.character_loss_weight != 1.0:
            paths = [story.clip_path(index) for story in stories for index in range(len(story.scenes))]
            model_cfg = cpu_model_config(config)
            for sample, path in zip(samples, paths, strict=True):
                sample["character_mask"] = clip_character_mask(path, model_cfg)
        return samples

    def loss(self, model: nn.Module, frozen: dict[str, nn.Module], batch: dict[str, Any],
             generators: list[torch.Generator], config: TrainSetup) -> torch.Tensor:
        """Reconstruction + a small KL (deterministic: no noise is drawn); character pixels weigh
        `train.character_loss_weight` (see `msvg_bench.launch.region_weights`)."""
        from msvg_bench.launch.region_weights import region_weights

        mask = batch.get("character_mask")
        weights = None if mask is None else region_weights(mask.float(), config.train.character_loss_weight)
        return model(batch["video"], VAE_KL_WEIGHT, weights)

    def evaluate(self, model: nn.Module, config: TrainSetup) -> dict[str, float]:
        """`eval/heldout_psnr_db`: the mean PSNR of the VAE's reconstructions of the first `HELDOUT_STORIES`
        stories of the held-out `world_reference` suite, measured as `world/quality.json` measures it on 24."""
        import numpy as np
        import torch
        from msvg_bench.models.world_vae import psnr_db, reconstruct

        if self._heldout is None:
            self._heldout = heldout_world_clips(config, HELDOUT_STORIES)
        weight, clips, psnrs = next(model.parameters()), self._heldout, []
        for start in range(0, len(clips), HELDOUT_BATCH):
            batch = torch.stack(clips[start : start + HELDOUT_BATCH])
            recon = reconstruct(model, batch.to(weight.device, weight.dtype)).cpu()
            psnrs += [psnr_db(r, clip) for r, clip in zip(recon, batch, strict=True)]
        return {"eval/heldout_psnr_db": float(np.mean(psnrs))}

    def export(self, state_dict: dict[str, torch.Tensor], out_dir: Path, config: TrainSetup) -> Path:
        """`<out_dir>/vae/` (diffusers layout) with `scaling_factor` = 1 / std of the training latents."""
        import torch
        from msvg_bench.models.world_vae import WorldVAE

        vae = WorldVAE(motion_warp=config.model.world_vae_motion_warp)
        vae.load_state_dict(state_dict)
        vae.eval()
        _, clips = load_world_clips(config, max_stories=SCALING_STORIES)  # enough clips for a stable std
        videos = [torch.from_numpy(c).permute(3, 0, 1, 2).float() / 127.5 - 1.0 for c in clips]
        with torch.no_grad():
            latents = torch.cat([vae.encode(torch.stack(videos[i : i + 16])).latent_dist.mode() for i in range(0, len(videos), 16)])
        vae.register_to_config(scaling_factor=float(1.0 / latents.std()))
        folder = Path(out_dir) / "vae"
        vae.save_pretrained(str(folder))
        atomic_write_json(Path(out_dir) / "world_vae.json", {"scaling_factor": vae.config.scaling_factor, "seed": config.seed})
        return folder

    def load_exported(self, path: Path, config: TrainSetup) -> nn.Module:
        """The exported `WorldVAE`."""
        from msvg_bench.models.world_vae import WorldVAE

        return WorldVAE.from_pretrained(str(path)).eval()


# -- world-clip ---------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def world_vocabulary() -> tuple[str, ...]:
    """Every word a world caption can hold (described captions of every look, setting, light and action)."""
    from msvg_bench.benchmarks.casting import LOOK_POOL_SIZE, described_caption, look
    from msvg_bench.benchmarks.world import caption
    from msvg_bench.benchmarks.world_settings import SETTING_VARIANTS, SETTINGS
    from msvg_bench.eval.encoders.world import PAD, UNK, words

    texts = [described_caption(s, v, [look(i)], a) for i in range(LOOK_POOL_SIZE) for s in SETTINGS
             for v in range(len(SETTING_VARIANTS)) for a in ACTIONS if i % 7 == 0 or (s, v, a) == ("snow", 0, "skiing")]
    texts += [caption(s, ("actor1", "actor2"), a) for s in SETTINGS for a in ACTIONS]
    texts += [f"Actor {k}" for k in range(1, 10)]
    found = sorted({w for t in texts for w in words(t)})
    return (PAD, UNK, *found)


def scene_texts(story: Any, index: int) -> dict[str, Any]:
    """What can be said about scene `index`: described caption, setting, lit setting, each look, action."""
    from msvg_bench.benchmarks.casting import StoryCast, describe, described_caption
    from msvg_bench.benchmarks.world_settings import SETTING_VARIANTS, SETTINGS

    scene = story.scenes[index]
    cast_doc = story.meta.get("cast")
    actions = story.meta.get("actions")
    if not cast_doc or not actions or scene.setting not in SETTINGS:
        return {"full": scene.caption, "parts": [scene.caption], "looks": {}}
    cast = StoryCast(**cast_doc)
    variant = cast.variants[scene.setting]
    people = cast.characters(scene.characters)
    setting = SETTINGS[scene.setting].phrase
    parts = [setting, f"{setting} {SETTING_VARIANTS[variant].phrase}", ACTIONS[actions[index]].verb]
    parts += [describe(p) for p in people]
    full = described_caption(scene.setting, variant, people, actions[index]) if people else scene.caption
    return {"full": full, "parts": parts, "looks": {role: describe(p) for role, p in zip(scene.characters, people, strict=True)}}


def _crop(frame: np.ndarray, box: Sequence[float]) -> np.ndarray | None:
    """The box of a frame at the CLIP's input size (the crop `Encoder.encode_crops` takes at evaluation)."""
    from msvg_bench.eval.encoders.base import crop_resize

    return crop_resize(frame, [round(v) for v in box], size=64)


@RECIPES.register()
class WorldClipRecipe(_WorldRecipe):
    """The world's contrastive frame/text encoder (see the module docstring)."""

    name = "world-clip"

    def tokenizer(self) -> Any:
        """The word tokenizer over `world_vocabulary()`."""
        from msvg_bench.eval.encoders.world import WordTokenizer

        return WordTokenizer(world_vocabulary(), CLIP_TEXT_LENGTH)

    def build(self, config: TrainSetup) -> nn.Module:
        """A seeded `WorldClipModel`."""
        from msvg_bench.eval.encoders.world import WorldClipModel

        return self.seeded(config, lambda: WorldClipModel(len(world_vocabulary()), CLIP_TEXT_LENGTH, CLIP_DIM, CLIP_WIDTH, CLIP_CHANNELS))

    def dataset(self, config: TrainSetup) -> list[dict[str, Any]]:
        """Frames (3 per scene) with the scene's texts, and character crops (box sidecars) with their look."""
        import numpy as np
        from msvg_bench.eval.encoders.world import to_pixels

        stories, clips = load_world_clips(config)
        samples: list[dict[str, Any]] = []
        flat = [(story, j) for story in stories for j in range(len(story.scenes))]
        for (story, j), clip in zip(flat, clips, strict=True):
            texts = scene_texts(story, j)
            picks = np.linspace(0, len(clip) - 1, CLIP_FRAMES_PER_SCENE).round().astype(int)
            for t in picks:
                samples.append({"pixels": to_pixels(clip[t : t + 1])[0], "texts": [texts["full"], *texts["parts"]]})
            sidecar = story.clip_path(j).with_suffix(".boxes.json")
            if not sidecar.is_file() or not texts["looks"]:
                continue
            boxes = json.loads(sidecar.read_text(encoding="utf-8"))
            source_frames = len(next(iter(boxes.values())))
            geometry = clip_geometry(story, j, clip.shape[1:3])
            for role, desc in texts["looks"].items():
                for t in picks:
                    src = int(round(t * (source_frames - 1) / max(len(clip) - 1, 1)))
                    box = scaled_box(boxes[role][src], geometry)
                    crop = None if box is None else _crop(clip[t], box)
                    if crop is not None:
                        samples.append({"pixels": to_pixels(crop[None])[0], "texts": [desc]})
        if not samples:
            raise DataError(f"{_data_root(config)}: no frames to train the world CLIP on")
        return samples

    def collate(self, samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """Stack pixels; keep each sample's candidate texts."""
        import torch

        return {"pixels": torch.stack([s["pixels"] for s in samples]), "texts": [s["texts"] for s in samples]}

    def loss(self, model: nn.Module, frozen: dict[str, nn.Module], batch: dict[str, Any],
             generators: list[torch.Generator], config: TrainSetup) -> torch.Tensor:
        """InfoNCE with one text per sample drawn by its generator (the full caption half of the time)."""
        import torch

        chosen = []
        for texts, g in zip(batch["texts"], generators, strict=True):
            r = torch.rand((), generator=g).item()
            chosen.append(texts[0] if r < 0.5 or len(texts) == 1 else texts[1 + int(torch.randint(len(texts) - 1, (), generator=g))])
        ids, mask = self.tokenizer()(chosen)
        device = batch["pixels"].device
        same = torch.tensor([[a == b for b in chosen] for a in chosen], device=device)
        return model(batch["pixels"], ids.to(device), mask.to(device), same)

    def export(self, state_dict: dict[str, torch.Tensor], out_dir: Path, config: TrainSetup) -> Path:
        """`<out_dir>/clip/`: what the `world-clip` encoder loads."""
        from msvg_bench.eval.encoders.world import save_world_clip

        model = self.build(config)
        model.load_state_dict(state_dict)
        config_doc = {"dim": CLIP_DIM, "width": CLIP_WIDTH, "channels": list(CLIP_CHANNELS)}
        return save_world_clip(model, self.tokenizer(), Path(out_dir) / "clip", config_doc)

    def load_exported(self, path: Path, config: TrainSetup) -> nn.Module:
        """The exported model (through the encoder's loader)."""
        from msvg_bench.eval.encoders.world import world_clip

        return world_clip(path).model


# -- world-detector -----------------------------------------------------------------------------

DETECTOR_WIDTH = 48


@RECIPES.register()
class WorldDetectorRecipe(_WorldRecipe):
    """The world's character detector: which 4x4 cells of a frame belong to a character (box sidecars)."""

    name = "world-detector"

    def build(self, config: TrainSetup) -> nn.Module:
        """A seeded `WorldDetectorNet`."""
        from msvg_bench.eval.detectors.world import WorldDetectorNet

        return self.seeded(config, lambda: WorldDetectorNet(DETECTOR_WIDTH))

    def dataset(self, config: TrainSetup) -> list[dict[str, Any]]:
        """Three frames per scene with the cells its characters' boxes cover (scenes without sidecars skipped)."""
        import numpy as np
        import torch
        from msvg_bench.eval.detectors.world import cell_targets
        from msvg_bench.eval.encoders.world import to_pixels

        stories, clips = load_world_clips(config)
        flat = [(story, j) for story in stories for j in range(len(story.scenes))]
        samples: list[dict[str, Any]] = []
        for (story, j), clip in zip(flat, clips, strict=True):
            sidecar = story.clip_path(j).with_suffix(".boxes.json")
            if not sidecar.is_file():
                continue
            boxes = json.loads(sidecar.read_text(encoding="utf-8"))
            source_frames = max((len(v) for v in boxes.values()), default=0)
            geometry = clip_geometry(story, j, clip.shape[1:3])
            for t in np.linspace(0, len(clip) - 1, CLIP_FRAMES_PER_SCENE).round().astype(int):
                src = int(round(t * (source_frames - 1) / max(len(clip) - 1, 1))) if source_frames else 0
                scaled = [scaled_box(rows[src], geometry) for rows in boxes.values()]
                target = cell_targets([b for b in scaled if b is not None], clip.shape[1])
                samples.append({"pixels": to_pixels(clip[t : t + 1])[0], "target": torch.from_numpy(target)})
        if not samples:
            raise DataError(f"{_data_root(config)}: no box sidecars to train the world detector on (data synth --boxes)")
        return samples

    def loss(self, model: nn.Module, frozen: dict[str, nn.Module], batch: dict[str, Any],
             generators: list[torch.Generator], config: TrainSetup) -> torch.Tensor:
        """Class-balanced BCE over the cells."""
        return model(batch["pixels"], batch["target"])

    def export(self, state_dict: dict[str, torch.Tensor], out_dir: Path, config: TrainSetup) -> Path:
        """`<out_dir>/detector/`: what the `world` detector loads."""
        from msvg_bench.eval.detectors.world import save_world_detector

        model = self.build(config)
        model.load_state_dict(state_dict)
        return save_world_detector(model, Path(out_dir) / "detector", DETECTOR_WIDTH)

    def load_exported(self, path: Path, config: TrainSetup) -> nn.Module:
        """The exported network."""
        from msvg_bench.eval.detectors.world import world_detector

        return world_detector(path).model
