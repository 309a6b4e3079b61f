"""User-written inputs: ids and clip paths stay inside their folders; suite and manifest files are
strict (unknown keys, wrong types) and every problem is reported at once with its file and line."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from msvg_bench.benchmarks.dataset import load_stories, validate_dataset
from msvg_bench.benchmarks.suite import load_suite
from msvg_bench.cli import main
from msvg_bench.core.errors import DataError, ProblemsError
from msvg_bench.core.video import write_video


def _clip(path: Path, frames: int = 3) -> Path:
    return write_video(path, np.zeros((frames, 16, 16, 3), np.uint8), fps=8)


def _files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")}


def _suite(tmp_path: Path, stories: object, name: str = "suite.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps({"name": "mine", "version": "1", "kind": "stories", "stories": stories}, indent=1))
    return path


def _line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), start=1) if needle in line)


ABSOLUTE = "<absolute>"  # stands for an absolute path under the test's own temporary folder


@pytest.mark.parametrize("story_id", ["../../../escape", ABSOLUTE, "a/b", ".."])
def test_eval_refuses_story_ids_that_are_paths_and_writes_nothing_outside(
    tmp_path: Path, story_id: str, capsys: pytest.CaptureFixture[str]
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    escape_abs = tmp_path / "escape-abs"
    story_id = str(escape_abs) if story_id == ABSOLUTE else story_id
    suite = _suite(work, [{"id": story_id, "scenes": [{"caption": "A dog runs."}]}])
    before = _files_under(tmp_path)
    out = work / "out"
    code = main(["eval", "--suite", str(suite), "--method", "plain", "--preset", "tiny", "-o", str(out),
                 "--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}"])
    err = capsys.readouterr().err
    assert code == 1
    assert f"{suite}:{_line_of(suite, json.dumps(story_id)[1:-1])}: stories[0].id: story id" in err
    created = _files_under(tmp_path) - before
    assert all(out in p.parents or p == out for p in created), sorted(created)
    assert not escape_abs.exists()


def test_a_bad_id_that_reaches_generation_fails_that_story_only(tmp_path: Path) -> None:
    """Defence in depth: a Suite built in code (not parsed) with a climbing id still cannot write outside."""
    from msvg_bench.benchmarks.stories import Scene, Story
    from msvg_bench.benchmarks.suite import Suite
    from msvg_bench.config import resolve_config
    from msvg_bench.eval.sources import generated_sources
    from msvg_bench.models.pipelines import generate_story

    cfg = resolve_config(flags={"preset": "tiny"})
    suite = Suite("s", "1", "stories", "", tmp_path / "s.json", [Story("../../outside", (Scene("x.mp4", "A cat."),))])
    root = tmp_path / "a" / "b" / "generated"
    (source,) = generated_sources(
        suite, cfg.seed, "plain", root, "id", lambda prompts, out, seed, story_id: generate_story(cfg.generation(), prompts, out, "plain", seed, story_id)
    )
    with pytest.raises(DataError, match="outside|leaves"):
        source.load()
    assert not (tmp_path / "outside").exists() and not (tmp_path / "a" / "outside").exists()


def test_manifest_clip_paths_cannot_leave_the_data_root(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _clip(data / "videos/ok/s.mp4")
    outside = _clip(tmp_path / "secret" / "s.mp4")
    (data / "videos" / "link").symlink_to(outside.parent, target_is_directory=True)
    lines = [
        {"id": "up", "scenes": [{"path": "../../../../etc/passwd", "caption": "x"}]},
        {"id": "abs", "scenes": [{"path": str(outside), "caption": "x"}]},
        {"id": "sym", "scenes": [{"path": "videos/link/s.mp4", "caption": "x"}]},
        {"id": "ok", "scenes": [{"path": "videos/ok/s.mp4", "caption": "x"}]},
    ]
    (data / "manifest.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    with pytest.raises(ProblemsError) as info:
        load_stories(data)
    problems = info.value.problems
    assert len(problems) == 3, problems
    assert f"{data / 'manifest.jsonl'}:1: story 'up' scenes[0].path: '../../../../etc/passwd' leaves the data folder" in problems[0]
    assert f"manifest.jsonl:2: story 'abs' scenes[0].path: {str(outside)!r} is absolute" in problems[1]
    assert "manifest.jsonl:3: story 'sym'" in problems[2] and "outside the data folder" in problems[2]


def test_prompts_keys_cannot_leave_the_data_root(tmp_path: Path) -> None:
    (tmp_path / "prompts").mkdir()
    _clip(tmp_path / "videos/v/a.mp4")
    (tmp_path / "prompts" / "v.json").write_text(json.dumps({"v/a.mp4": "fine", "../../etc/passwd": "x", "/etc/hosts": "y"}))
    problems = validate_dataset(tmp_path, decode=False)
    assert any("v.json: clip '../../etc/passwd' leaves the data folder" in p for p in problems), problems
    assert any("v.json: clip '/etc/hosts' is absolute" in p for p in problems), problems


def test_generate_refuses_ids_that_are_paths(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prompts = tmp_path / "p.json"
    prompts.write_text(json.dumps({"../escape": ["A dog runs."]}))
    assert main(["generate", "--preset", "tiny", "-o", str(tmp_path / "out"), "-p", str(prompts)]) == 1
    assert "story id '../escape' contains a path separator" in capsys.readouterr().err
    assert not (tmp_path / "escape").exists()


def test_generate_refuses_a_repeated_story_id_naming_key_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """JSON keeps only the last of two equal keys: the first story would be dropped without a word."""
    prompts = tmp_path / "p.json"
    prompts.write_text('{\n  "a": ["A dog runs."],\n  "b": ["A cat sits."],\n  "a": ["A bird flies."]\n}\n')
    assert main(["generate", "--preset", "tiny", "-o", str(tmp_path / "out"), "-p", str(prompts)]) == 1
    err = capsys.readouterr().err
    assert f"{prompts}:4: duplicate key 'a'" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()  # nothing generated


def test_unknown_suite_keys_are_errors_with_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    suite = _suite(tmp_path, [{"id": "a", "scenes": [{"caption": "c", "settng": "beach"}, {"caption": "d"}]}])
    assert main(["eval", "--suite", str(suite), "--videos", str(tmp_path), "-o", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == f"error: 1 problem(s) in {suite}:"
    assert err[1] == f"{suite}:{_line_of(suite, 'settng')}: stories[0].scenes[0].settng: unknown key"
    assert not (tmp_path / "o" / "results.json").exists()


def test_wrong_typed_suite_fields_are_all_reported_one_line_each(tmp_path: Path) -> None:
    stories = [
        {"id": "a", "scenes": [{"caption": 123, "setting": {"name": "beach"}}]},
        {"id": "b", "scenes": [{"caption": "ok", "characters": "dog"}]},
    ]
    suite = _suite(tmp_path, stories)
    with pytest.raises(ProblemsError) as info:
        load_suite(suite)
    problems = info.value.problems
    assert len(problems) == 3, problems
    assert problems[0].startswith(f"{suite}:{_line_of(suite, '123')}: stories[0].scenes[0].caption: Input should be a valid string")
    assert problems[1].startswith(f"{suite}:{_line_of(suite, 'setting')}: stories[0].scenes[0].setting: Input should be a valid string")
    assert problems[2].startswith(f"{suite}:{_line_of(suite, 'characters')}: stories[1].scenes[0].characters: Input should be a valid list")
    assert all("\n" not in p for p in problems)
    with pytest.raises(ProblemsError, match=r"two.json:\d+: stories: Input should be a valid list"):
        load_suite(_suite(tmp_path, "two", name="two.json"))


def test_wrong_typed_manifest_fields_name_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _clip(tmp_path / "videos/a/s.mp4")
    lines = [
        {"id": "a", "scenes": [{"path": "videos/a/s.mp4", "caption": "x"}]},
        {"id": "b", "scenes": [{"path": "videos/a/s.mp4", "caption": "y", "fps": "fast", "num_frames": [25]}]},
        {"id": "c", "scenes": [{"path": "videos/a/s.mp4", "caption": 5, "setting": {"k": 1}}], "extra": 1},
    ]
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(x) + "\n" for x in lines))
    assert main(["data", "validate", str(tmp_path), "--no-decode"]) == 1
    err = capsys.readouterr().err
    for expected in (
        f"{manifest}:2: story 'b' scenes[0].fps: Input should be a valid number",
        f"{manifest}:2: story 'b' scenes[0].num_frames: Input should be a valid integer",
        f"{manifest}:3: story 'c' scenes[0].caption: Input should be a valid string",
        f"{manifest}:3: story 'c' scenes[0].setting: Input should be a valid string",
        f"{manifest}:3: story 'c' extra: unknown key",
    ):
        assert expected in err, err
    assert "empty caption" not in err


def test_uncaptioned_scenes_are_a_warning_not_a_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _clip(tmp_path / "videos/a/s.mp4")
    (tmp_path / "manifest.jsonl").write_text(json.dumps({"id": "a", "scenes": [{"path": "videos/a/s.mp4", "caption": None}]}) + "\n")
    assert main(["data", "validate", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert "warning:" in captured.err and "story 'a' has 1 uncaptioned scene(s)" in captured.err
    assert "1 warning(s)" in captured.out
    (story,) = load_stories(tmp_path)
    assert not story.scenes[0].captioned


def test_symlinked_data_root_itself_is_fine(tmp_path: Path) -> None:
    real = tmp_path / "real"
    _clip(real / "videos/a/s.mp4")
    (real / "manifest.jsonl").write_text(json.dumps({"id": "a", "scenes": [{"path": "videos/a/s.mp4", "caption": "x"}]}) + "\n")
    os.symlink(real, tmp_path / "alias")
    assert [s.id for s in load_stories(tmp_path / "alias")] == ["a"]


def _alias_bomb() -> str:
    """About 300 bytes of YAML that stand for 9**9 strings once its aliases are expanded."""
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    for prev, name in zip("abcdefgh", "bcdefghi"):
        lines.append(f"{name}: &{name} [{','.join(['*' + prev] * 9)}]")
    return "\n".join(lines) + "\n"


def test_a_yaml_alias_bomb_is_refused_naming_file_and_line(tmp_path: Path) -> None:
    from msvg_bench.config import read_config_file
    from msvg_bench.core.errors import ConfigError

    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(_alias_bomb())
    assert len(bomb.read_bytes()) < 400
    with pytest.raises(ConfigError) as info:
        read_config_file(bomb)
    assert str(info.value).startswith(f"{bomb}: not valid YAML (line 2): YAML aliases (*a) are not allowed")


def test_yaml_the_project_writes_has_no_aliases_and_loads_back() -> None:
    from msvg_bench.core.yaml_safe import dump_yaml, load_yaml

    shared = {"metrics": ["mawe", "scuts"]}
    text = dump_yaml({"eval": shared, "copy": shared})
    assert "&" not in text and "*" not in text
    assert load_yaml(text) == {"eval": shared, "copy": shared}


def test_config_aliases_are_refused_on_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("eval:\n  limit: &n 2\ntrain:\n  steps: *n\n")
    assert main(["eval", "--config", str(config), "--print-config"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: {config}: not valid YAML (line 4): YAML aliases (*n) are not allowed here"]


def test_a_story_video_symlinked_from_outside_the_videos_folder_is_refused(tmp_path: Path) -> None:
    from msvg_bench.eval.sources import video_sources

    suite = load_suite(_suite(tmp_path, [{"id": "a", "scenes": [{"caption": "A dog runs."}]},
                                         {"id": "b", "scenes": [{"caption": "A cat sits."}]}]))
    videos = tmp_path / "videos"
    _clip(videos / "real" / "b.mp4")
    (videos / "b.mp4").symlink_to(videos / "real" / "b.mp4")  # a link inside the folder is fine
    sources, _ = video_sources(suite, videos)
    assert [s.id for s in sources] == ["a", "b"] and len(sources[1].load().scenes) == 1  # b's link is scored
    secret = _clip(tmp_path / "secret" / "a.mp4")
    link = videos / "a.mp4"
    link.symlink_to(secret)
    with pytest.raises(DataError) as info:
        video_sources(suite, videos)
    assert str(info.value).startswith(f"{link}: symlink resolves outside the videos folder") and "\n" not in str(info.value)


def _sharded_transformer(root: Path) -> tuple[Path, dict]:
    """A tiny CogVideoX transformer saved in several shards under `root/transformer`; its index."""
    import torch
    from diffusers import CogVideoXTransformer3DModel
    from msvg_bench.config import resolve_config
    from msvg_bench.models.component_specs import tiny_transformer_config

    torch.manual_seed(0)
    base = CogVideoXTransformer3DModel(**tiny_transformer_config(resolve_config().model))
    base.save_pretrained(root / "transformer", max_shard_size="20KB")
    index = root / "transformer" / "diffusion_pytorch_model.safetensors.index.json"
    return index, json.loads(index.read_text())


@pytest.mark.parametrize("how", ["climbing", "absolute", "symlink"])
def test_weight_shards_outside_the_weights_folder_are_refused(tmp_path: Path, how: str) -> None:
    from msvg_bench.config import resolve_config
    from msvg_bench.models.components import load_components

    root = tmp_path / "cogvideox"
    index, doc = _sharded_transformer(root)
    shard = sorted(set(doc["weight_map"].values()))[0]
    outside = tmp_path / "elsewhere.safetensors"
    os.replace(index.parent / shard, outside)
    if how == "symlink":
        (index.parent / shard).symlink_to(outside)
        named = shard
    else:
        named = "../../elsewhere.safetensors" if how == "climbing" else str(outside)
        doc["weight_map"] = {k: named if v == shard else v for k, v in doc["weight_map"].items()}
        index.write_text(json.dumps(doc))
    cfg = resolve_config().model.model_copy(update={"source": "pretrained", "model_dir": root})
    with pytest.raises(DataError) as info:
        load_components(cfg, parts=("transformer",))
    assert str(info.value).startswith(f"{index}: weight_map[") and repr(named) in str(info.value)


def test_library_loaded_weight_folders_check_their_index_too(tmp_path: Path) -> None:
    from msvg_bench.config import resolve_config
    from msvg_bench.models.components import load_components

    root = tmp_path / "cogvideox"
    folder = root / "text_encoder"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    index = folder / "model.safetensors.index.json"
    index.write_text(json.dumps({"metadata": {}, "weight_map": {"shared.weight": "../../../secret.safetensors"}}))
    cfg = resolve_config().model.model_copy(update={"source": "pretrained", "model_dir": root})
    with pytest.raises(DataError, match=f"^{index}: weight_map\\['shared.weight'\\]: shard '../../../secret.safetensors' leaves"):
        load_components(cfg, parts=("text_encoder",))
