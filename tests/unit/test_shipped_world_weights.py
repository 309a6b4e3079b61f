"""The world weights the repository ships: complete, unaltered (sha256 from their manifest), within 20 MiB."""

from __future__ import annotations

import hashlib
import json

from msvg_bench.demo import (
    SHIPPED_WORLD_WEIGHTS,
    DemoSettings,
    demo_model,
    shipped_world_weights,
)

MAX_BYTES = 20 * 2**20


def test_shipped_weights_match_their_manifest() -> None:
    folder = shipped_world_weights()
    assert folder == SHIPPED_WORLD_WEIGHTS
    manifest = json.loads((folder / "manifest.json").read_text())
    files = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and p.name != "manifest.json"}
    assert files == set(manifest["sha256"])
    for name, digest in manifest["sha256"].items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest, name
    assert sum((folder / name).stat().st_size for name in files) <= MAX_BYTES
    assert manifest["made_by"]["world"].startswith("msvg-bench demo --full")
    assert manifest["made_by"]["joint"].startswith("python tests/perf/bench_recipe.py")
    assert manifest["recipe"]["joint"]["character_loss_weight"] > 1  # stage 2 as the recipe trains it
    assert set(manifest["config_hashes"]) == {"world-vae", "world-clip", "world-detector", "extractor", "joint"}


def test_the_demo_starts_from_them_by_default() -> None:
    model = demo_model(DemoSettings())
    assert model.preset == "world" and model.start_weights == SHIPPED_WORLD_WEIGHTS / "joint"
    quality = json.loads((SHIPPED_WORLD_WEIGHTS / "world" / "quality.json").read_text())
    assert quality["clip_setting_top1"] >= 0.9 and quality["clip_look_top1"] > 10 * quality["clip_look_chance"]
