"""Model families: the registry and the one preset list, the published counts through `models info` and `plan`,
token grids, geometry checks, tiny variants of each kind, and loading a rotary folder per family."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from msvg_bench.config import PRESETS, resolve_config
from msvg_bench.core.errors import ConfigError
from msvg_bench.models.families import FAMILIES, get_family
from msvg_bench.presets import SECTION_PRESETS, preset_names, section_tables

# What each family's published checkpoint has (`published`: parameters, width, layers, heads) is declared
# on the family itself; tests/unit/test_registry_entries.py checks every registered family against it.


def _published(name: str) -> tuple[int, int, int, int]:
    """(base-transformer parameters, width, layers, heads) a family declares for its published checkpoint."""
    published = get_family(name).published
    return published["base_transformer"], published["width"], published["layers"], published["heads"]


def test_families_and_presets_come_from_one_list() -> None:
    assert {"cogvideox-2b", "cogvideox-5b", "cogvideox1.5-5b"} <= set(FAMILIES.names())
    names = preset_names()
    tiny_variants = [f.tiny_preset for f in map(get_family, FAMILIES.names()) if f.tiny_preset]
    assert names == [*SECTION_PRESETS, *tiny_variants, *FAMILIES.names()]  # section presets, tiny variants, families
    assert tiny_variants[:2] == ["tiny-rotary", "tiny-1.5"] and len(set(names)) == len(names)
    assert PRESETS.names() == sorted(names)
    for table in section_tables().values():  # family values live only in the family modules
        assert set(table) == set(SECTION_PRESETS)
    for name in FAMILIES.names():
        assert PRESETS.get(name)["model"]["family"] == name == resolve_config(flags={"preset": name}).model.family
    from msvg_bench.cli_options import PresetOption

    help_text = PresetOption.__metadata__[0].help
    assert all(name in help_text for name in names)


def test_family_presets_keep_the_2b_values_and_set_their_geometry() -> None:
    two, five, one_five = (resolve_config(flags={"preset": p}) for p in ("cogvideox-2b", "cogvideox-5b", "cogvideox1.5-5b"))
    assert (two.model.num_frames, two.model.height, two.model.width, two.model.fps) == (49, 480, 720, 8)
    assert (two.train.lr, two.train.new_module_lr_multiplier, two.generate.num_inference_steps) == (2e-5, 50.0, 50)
    assert two.eval.detector == "owlvit" and two.model.history_encoder == "clip4clip"
    assert (five.model.num_frames, five.model.height, five.model.width) == (49, 480, 720)
    assert (one_five.model.num_frames, one_five.model.height, one_five.model.width, one_five.model.fps) == (81, 768, 1360, 16)
    assert (one_five.data.synth.frames, one_five.data.synth.height, one_five.data.synth.width) == (81, 768, 1360)
    assert get_family("cogvideox-2b").scheduler["snr_shift_scale"] == 3.0
    assert get_family("cogvideox-5b").scheduler["snr_shift_scale"] == 1.0


def test_models_info_command_prints_the_5b_and_1_5_counts() -> None:
    from msvg_bench.cli import app
    from typer.testing import CliRunner

    for name in ("cogvideox-5b", "cogvideox1.5-5b"):
        result = CliRunner().invoke(app, ["models", "info", "--preset", name, "--json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.output)["base_transformer"] == _published(name)[0]


def test_token_grids_of_the_published_geometries() -> None:
    two = get_family("cogvideox-2b").token_grid(49, 480, 720)
    assert (two.latent_frames, two.padded_frames, two.frames, two.height, two.width, two.tokens) == (13, 13, 13, 30, 45, 17_550)
    assert get_family("cogvideox-5b").token_grid(49, 480, 720) == two
    one_five = get_family("cogvideox1.5-5b").token_grid(81, 768, 1360)
    assert (one_five.latent_frames, one_five.padded_frames, one_five.pad_frames) == (21, 22, 1)
    assert (one_five.frames, one_five.height, one_five.width, one_five.tokens) == (11, 48, 85, 11 * 48 * 85)
    assert get_family("cogvideox1.5-5b").token_grid(161, 768, 1360).padded_frames == 42  # 41 latent frames, padded


def test_geometry_and_family_are_validated() -> None:
    with pytest.raises(ConfigError, match=r"num_frames 80: CogVideoX1\.5-5B needs 4k\+1 frames"):
        resolve_config(flags={"preset": "cogvideox1.5-5b"}, overrides=["model.num_frames=80"])
    with pytest.raises(ConfigError, match="must be multiples of 16"):
        resolve_config(flags={"preset": "cogvideox-5b"}, overrides=["model.height=488"])
    with pytest.raises(ConfigError, match=r"'model\.family'.*did you mean 'cogvideox-5b'"):
        resolve_config(overrides=["model.family=cogvideox-5c"])
    with pytest.raises(ConfigError, match="multiple of 16"):
        from msvg_bench.models.component_specs import tiny_transformer_config

        tiny_transformer_config(resolve_config(flags={"preset": "tiny-rotary"}, overrides=["model.tiny_head_dim=8"]).model)


def test_tiny_variants_take_the_family_kind_and_tiny_stays_as_it_was() -> None:
    from msvg_bench.models.component_specs import tiny_transformer_config

    tiny = tiny_transformer_config(resolve_config().model)
    assert tiny == {
        "num_attention_heads": 4, "attention_head_dim": 8, "in_channels": 4, "out_channels": 4, "time_embed_dim": 2,
        "text_embed_dim": 32, "num_layers": 1, "sample_width": 2, "sample_height": 2, "sample_frames": 9,
        "patch_size": 2, "temporal_compression_ratio": 4, "max_text_seq_length": 16,
    }  # fmt: skip
    rotary = tiny_transformer_config(resolve_config(flags={"preset": "tiny-rotary"}).model)
    assert rotary == {**tiny, "num_attention_heads": 2, "attention_head_dim": 16, "use_rotary_positional_embeddings": True}
    one_five = tiny_transformer_config(resolve_config(flags={"preset": "tiny-1.5"}).model)
    assert one_five == {**rotary, "patch_size_t": 2, "patch_bias": False}


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("preset", "tokens", "patch_t"),
    [("cogvideox-5b", 13 * 30 * 45, 1), ("cogvideox1.5-5b", 11 * 48 * 85, 2)],
)
def test_plan_cli_for_the_5b_families(preset: str, tokens: int, patch_t: int) -> None:
    from msvg_bench.cli import app
    from typer.testing import CliRunner

    result = CliRunner().invoke(app, ["plan", "--preset", preset, "--gpus", "8", "--gpu-mem-gb", "80", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    count, width, layers, heads = _published(preset)
    history = (4096 * width + width) + layers * (2 * (512 * 3 * width + 3 * width) + heads)
    decoupler = 7_356_416  # the full-size presets' decoupler (512 wide, 8 heads, 512-d history features)
    assert data["family"] == preset and data["model"]["trainable_params"] == count + history + decoupler
    assert (data["model"]["num_layers"], data["model"]["hidden"], data["model"]["patch_t"]) == (layers, width, patch_t)
    assert data["tokens"]["video"] == tokens
    from msvg_bench.launch.plan import ModelShape, activation_bytes_per_sample

    shape = ModelShape(**data["model"])
    seq = tokens + 226 + 226
    output = tokens * 16 * 4 * patch_t * 4 * 3
    assert activation_bytes_per_sample(shape, data["frames"], data["height"], data["width"]) == (
        layers * seq * width * 2 + 34 * seq * width + output
    )
    assert all(r["max_micro_batch"] >= 1 for r in data["rows"] if r["zero"] == 3)


def _save_tiny_transformer(preset: str, root: Path) -> torch.nn.Module:
    from diffusers import CogVideoXTransformer3DModel
    from msvg_bench.models.component_specs import tiny_transformer_config

    torch.manual_seed(0)
    base = CogVideoXTransformer3DModel(**tiny_transformer_config(resolve_config(flags={"preset": preset}).model))
    base.save_pretrained(root / "transformer")
    return base


@pytest.mark.parametrize(("preset", "family"), [("tiny-rotary", "cogvideox-5b"), ("tiny-1.5", "cogvideox1.5-5b")])
def test_rotary_folders_load_for_their_family_only(preset: str, family: str, tmp_path: Path) -> None:
    from msvg_bench.models.components import load_components
    from msvg_bench.models.weights import WeightsMismatchError

    root = tmp_path / "cogvideox"
    base = _save_tiny_transformer(preset, root)
    cfg = resolve_config(flags={"preset": preset}).model.model_copy(update={"source": "pretrained", "model_dir": root})
    comps = load_components(cfg, parts=("transformer",))
    assert comps.missing_keys and all("history_" in k for k in comps.missing_keys)
    loaded = comps.transformer.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in base.state_dict().items())
    assert comps.transformer.config.use_rotary_positional_embeddings
    with pytest.raises(WeightsMismatchError, match=rf"{root / 'transformer' / 'config.json'}.*model\.family='cogvideox-2b'"):
        load_components(cfg.model_copy(update={"family": "cogvideox-2b"}), parts=("transformer",))


def test_missing_weights_name_the_family_and_where_they_were_looked_for(tmp_path: Path) -> None:
    from msvg_bench.core.errors import WeightsNotFoundError
    from msvg_bench.models.components import load_components

    cfg = resolve_config(flags={"preset": "cogvideox1.5-5b"}).model.model_copy(update={"model_dir": tmp_path, "device": "cpu"})
    where = tmp_path / "transformer"
    with pytest.raises(WeightsNotFoundError, match=rf"CogVideoX1\.5-5B transformer.*{where}.*THUDM/CogVideoX1\.5-5B"):
        load_components(cfg, parts=("transformer",))
