"""An encoder's identity, preprocessing and width known from config and weight files equal the built encoder's.

`cache_identity` keys the `frames` cache entries on `encoder_spec` (no model built, no transformers
imported); these tests hold every registry entry's spec equal to what the built encoder reports, so the
two cannot drift, and check that the launcher's cache check builds nothing and finds caches made by
building the encoder (as every earlier version did).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from msvg_bench.eval.encoders import ENCODERS, load_encoder
from msvg_bench.eval.encoders.base import ENCODER_SPECS, encoder_spec

# ---- a small weights folder for each encoder that needs one ----------------------------------


def _clip_folder(root: Path) -> dict[str, Any]:
    from msvg_bench.eval.encoders import TinyClip

    return {"path": TinyClip(seed=1).save_pretrained(root / "clip")}


def _dino_folder(root: Path) -> dict[str, Any]:
    from transformers import Dinov2Config, Dinov2Model

    config = Dinov2Config(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                          image_size=32, patch_size=8)
    Dinov2Model(config).save_pretrained(root / "dino")
    return {"path": root / "dino"}


def _world_folder(root: Path) -> dict[str, Any]:
    from msvg_bench.eval.encoders.world import (
        WordTokenizer,
        WorldClipModel,
        save_world_clip,
    )

    tokenizer = WordTokenizer.from_texts(["a red door", "two blue cats"], max_length=8)
    model = WorldClipModel(len(tokenizer.vocab), 8, dim=16, width=32, channels=(8, 16))
    return {"path": save_world_clip(model, tokenizer, root / "world", {"dim": 16, "width": 32, "channels": [8, 16]})}


def _open_clip_checkpoint(root: Path) -> dict[str, Any]:
    import open_clip
    import torch

    arch = {"embed_dim": 16, "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16},
            "text_cfg": {"context_length": 16, "vocab_size": 64, "width": 32, "heads": 2, "layers": 1}}
    (root / "msvg-tiny-spec.json").write_text(json.dumps(arch))
    open_clip.add_model_config(root / "msvg-tiny-spec.json")
    torch.save(open_clip.create_model("msvg-tiny-spec").state_dict(), root / "msvg-tiny-spec.pt")
    return {"model": "msvg-tiny-spec", "path": root / "msvg-tiny-spec.pt"}


def _faces(root: Path) -> dict[str, Any]:
    from msvg_bench.eval.dlib_models import faces_available

    if reason := faces_available():
        pytest.skip(reason)
    return {"jitter": 1}


BUILD_OPTIONS: dict[str, Callable[[Path], dict[str, Any]]] = {
    "tiny-random": lambda root: {"seed": 3, "image_size": 48},
    "appearance-hist": lambda root: {"size": 64},
    "clip": _clip_folder,
    "clip4clip": _clip_folder,
    "clip-vit-b32": _clip_folder,
    "clip-vit-l14": _clip_folder,
    "dinov2-small": _dino_folder,
    "dinov2-base": _dino_folder,
    "world-clip": _world_folder,
    "open-clip": _open_clip_checkpoint,
    "face-id": _faces,
}
"""How each registered encoder is built here; a new registry entry needs a line (the test below fails without one)."""


@pytest.mark.parametrize("name", ENCODERS.names())
def test_spec_equals_the_built_encoder(name: str, tmp_path: Path) -> None:
    assert name in ENCODER_SPECS, f"encoder {name!r} has no EncoderSpec function (register one in ENCODER_SPECS)"
    assert name in BUILD_OPTIONS, f"encoder {name!r}: add how to build it to BUILD_OPTIONS"
    options = BUILD_OPTIONS[name](tmp_path)
    spec = encoder_spec(name, **options, device="cpu")
    encoder = load_encoder(name, **options, device="cpu")
    assert spec.identity == encoder.identity
    assert spec.preprocessing == encoder.preprocessing()
    assert spec.dim == encoder.dim


@pytest.mark.parametrize("variant", ["no preprocessor_config.json", "beside processor_config.json", "alone",
                                     "sizes as plain ints", "own mean and resample"])
def test_clip_folder_spec_reads_the_processor_as_transformers_does(variant: str, tmp_path: Path) -> None:
    folder = _clip_folder(tmp_path)["path"]  # holds processor_config.json (size 32), as save_pretrained writes it
    saved = {"image_processor_type": "CLIPImageProcessor", "size": {"shortest_edge": 40},
             "crop_size": {"height": 36, "width": 36}}  # a downloaded folder's preprocessor_config.json
    changed = {"no preprocessor_config.json": None, "beside processor_config.json": saved, "alone": saved,
               "sizes as plain ints": {**saved, "size": 40, "crop_size": 36},
               "own mean and resample": {**saved, "image_mean": [0.5, 0.5, 0.5], "resample": 2}}[variant]
    if changed is not None:
        (folder / "preprocessor_config.json").write_text(json.dumps(changed))
    if variant not in ("no preprocessor_config.json", "beside processor_config.json"):
        (folder / "processor_config.json").unlink()
    spec = encoder_spec("clip", path=folder)
    assert spec.preprocessing == load_encoder("clip", path=folder, device="cpu").preprocessing()


def test_spec_refuses_what_the_build_refuses(tmp_path: Path) -> None:
    from msvg_bench.core.errors import UnknownNameError, WeightsNotFoundError

    with pytest.raises(UnknownNameError, match="unknown encoder 'clip5'"):
        encoder_spec("clip5")
    with pytest.raises(WeightsNotFoundError, match="world-clip"):
        encoder_spec("world-clip", path=tmp_path / "absent")


def test_history_dim_mismatch_is_found_without_building_the_encoder() -> None:
    from msvg_bench.config import resolve_config
    from msvg_bench.core.errors import ConfigError
    from msvg_bench.models.precompute import cache_identity

    cfg = resolve_config(None, ["model.history_dim=64"], {"preset": "tiny"})
    with pytest.raises(ConfigError, match="history_dim=64 but encoder 'tiny-random' gives 512-d"):
        cache_identity(cfg.model)


# ---- cache keys stay those of caches made by building the encoder -----------------------------

MAIN_TINY_KEYS = {
    "frames": "97946bebf20bad8b6d1af243405ccf77445903dd6d53f68dd0b19fcc696d1afc",
    "latents": "4ae17654fd21d937755f470df55b59bdfe600e8b8f2b2a88730c66f96af1eae6",
    "text": "bf9acd7247dc0cafc833bb58f13a499bccebda48255459af4e69fc8e31cdbbda",
}
"""The tiny preset's keys for clip hash 0...0 and caption "a caption", as computed when the key identity came
from the built encoder: existing caches must keep being found."""


def test_tiny_preset_keys_are_unchanged() -> None:
    from msvg_bench.config import resolve_config
    from msvg_bench.models.precompute import cache_identity

    identity = cache_identity(resolve_config(None, [], {"preset": "tiny"}).model)
    assert {"frames": identity.frames_key("0" * 64), "latents": identity.latents_key("0" * 64),
            "text": identity.text_key("a caption")} == MAIN_TINY_KEYS


CHECK = """
import json, sys
from msvg_bench.config import resolve_config
from msvg_bench.launch.model_data import ensure_cache
ensure_cache(resolve_config(None, [f"data.root={sys.argv[1]}"], {"preset": "tiny"}), ("text", "frames"))
print(json.dumps({"heavy": sorted(m for m in ("transformers", "diffusers") if m in sys.modules)}))
"""


def test_launcher_cache_check_builds_no_encoder_and_finds_a_cache_made_with_the_built_one(tmp_path: Path) -> None:
    from msvg_bench.benchmarks.dataset import load_stories
    from msvg_bench.benchmarks.synth import synthesize
    from msvg_bench.config import resolve_config
    from msvg_bench.core.embedding_cache import EmbeddingCache
    from msvg_bench.models.history_encoder import load_history_encoder
    from msvg_bench.models.precompute import (
        ModelEncoders,
        cache_dataset,
        cache_identity,
    )

    root = tmp_path / "data"
    synthesize(root, stories=2, scenes=2, frames=9, height=32, width=48, seed=2)
    cfg = resolve_config(None, [f"data.root={root}"], {"preset": "tiny"})
    encoders = ModelEncoders(cfg.model)
    made_by_building = cache_identity(cfg.model, load_history_encoder(cfg.model))
    cache_dataset(load_stories(root), EmbeddingCache(root / "cache"), made_by_building, encoders, ("text", "frames"))

    env = {**os.environ, "MSVG_NO_PROGRESS": "1"}
    done = subprocess.run([sys.executable, "-c", CHECK, str(root)], check=False, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "computing" not in done.stdout  # every entry found: nothing to compute
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"heavy": []}
