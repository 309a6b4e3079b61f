"""Batched story generation (`generate.story_batch`): scene k of several stories is denoised in one
batch, and every story's latents and metrics equal those of generating it alone (each story keeps its
own seeds and history; stories of different lengths batch together); eval still fails a broken story
alone and resumes story by story."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from history_export import joint_export
from msvg_bench.cli import main
from msvg_bench.config import resolve_config
from msvg_bench.eval.results import read_results
from msvg_bench.models.pipelines import StoryGenerator, StoryRequest
from story_prompts import FOUR_SCENE_STORY

pytestmark = pytest.mark.integration

STEPS = 2
TOLERANCE = 1e-5
# ragged: 3, 1 and 2 scenes, each story its own seed
REQUESTS = [
    StoryRequest("three", tuple(FOUR_SCENE_STORY[:3]), 11),
    StoryRequest("one", tuple(FOUR_SCENE_STORY[3:]), 12),
    StoryRequest("two", tuple(FOUR_SCENE_STORY[1:3]), 13),
]
SUITE = {
    "name": "ragged-mini",
    "version": "0.1",
    "kind": "stories",
    "description": "stories of 3, 1 and 2 scenes",
    "stories": [
        {"id": r.story_id, "scenes": [{"caption": p, "setting": None, "characters": []} for p in r.prompts]} for r in REQUESTS
    ],
}


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny joint export whose history pathway is open, so history leaking between stories would show."""
    base = StoryGenerator(resolve_config(overrides=[f"generate.num_inference_steps={STEPS}"]).generation())
    return joint_export(base, tmp_path_factory.mktemp("joint") / "weights")


@pytest.fixture(scope="module")
def generator(weights: Path) -> StoryGenerator:
    # eta > 0: the sampler draws step noise, which must come from each story's own generator
    overrides = [f"generate.num_inference_steps={STEPS}", f"model.weights={weights}", "generate.eta=0.5"]
    return StoryGenerator(resolve_config(overrides=overrides).generation())


def _record_latents(monkeypatch: pytest.MonkeyPatch) -> list[torch.Tensor]:
    """Every scene's final latents, in the order scenes are decoded."""
    from msvg_bench.models import encoding

    seen: list[torch.Tensor] = []
    decode = encoding.decode_latents
    monkeypatch.setattr(encoding, "decode_latents", lambda comps, latents: (seen.append(latents.clone()), decode(comps, latents))[1])
    return seen


def _count_forwards(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The batch size (rows) of every transformer forward of any generator."""
    rows: list[int] = []
    forward = StoryGenerator.transformer_call
    monkeypatch.setattr(StoryGenerator, "transformer_call", lambda self, x, *args: (rows.append(x.shape[0]), forward(self, x, *args))[1])
    return rows


@pytest.mark.parametrize("method", ["msvg", "plain", "streaming"])
def test_batched_stories_equal_story_by_story(
    generator: StoryGenerator, method: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _record_latents(monkeypatch)
    alone: dict[str, list[torch.Tensor]] = {}
    for request in REQUESTS:
        seen.clear()
        story = generator.generate(request.prompts, tmp_path / "alone", method, request.seed, request.story_id)
        assert len(story.scenes) == len(request.prompts)
        alone[request.story_id] = list(seen)
    seen.clear()
    rows = _count_forwards(monkeypatch)
    stories = generator.generate_many(REQUESTS, tmp_path / "batched", method)
    # one forward per step and scene position, over every story that has that scene
    branches = 3 if method == "msvg" else 2
    first = 2 if method == "msvg" else branches  # msvg's first scene has no history: two branches
    assert rows == [3 * first] * STEPS + [2 * branches] * STEPS + [1 * branches] * STEPS
    order = [(r.story_id, k) for k in range(3) for r in REQUESTS if k < len(r.prompts)]  # position-major, finished stories leave
    assert len(seen) == len(order) == 6
    for latents, (story_id, k) in zip(seen, order, strict=True):
        assert (latents - alone[story_id][k]).abs().max().item() <= TOLERANCE, f"{method} {story_id} scene {k}"
    for story, request in zip(stories, REQUESTS, strict=True):
        assert story.id == request.story_id and story.meta["seed"] == request.seed and story.prompts == list(request.prompts)
        assert [s.path for s in story.scenes] == [f"videos/{request.story_id}/scene_{k:02d}.mp4" for k in range(len(request.prompts))]
        assert all((tmp_path / "batched" / "videos" / request.story_id / name).is_file() for name in ("story.mp4", "story.gif"))


def _eval(suite: Path, out: Path, weights: Path, batch: int, *extra: str) -> int:
    return main([
        "eval", "--suite", str(suite), "--method", "msvg", "--model", str(weights), "-o", str(out), "--no-videos",
        "--tracking-uri", f"sqlite:///{out.parent / 'mlflow.db'}", f"generate.num_inference_steps={STEPS}",
        "generate.eta=0.5", "eval.mawe_size=64", f"generate.story_batch={batch}", *extra,
    ])  # fmt: skip


def _values(path: Path) -> dict[tuple[Any, ...], float]:
    """Every story- and scene-level value of a results file."""
    values: dict[tuple[Any, ...], float] = {}
    for story in read_results(path).stories:
        values.update({(story.id, key): value for key, value in story.values.items()})
        for scene in story.scenes:
            values.update({(story.id, scene.index, key): value for key, value in scene.values.items()})
    return values


def test_eval_batched_equals_unbatched_on_every_metric_and_fails_a_broken_story_alone(
    weights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from msvg_bench.eval import runner
    from msvg_bench.models import history

    suite = tmp_path / "ragged-mini.json"
    suite.write_text(json.dumps(SUITE))
    rows = _count_forwards(monkeypatch)
    assert _eval(suite, tmp_path / "one", weights, 1) == 0
    assert len(rows) == 6 * STEPS  # six scenes, one at a time
    rows.clear()
    assert _eval(suite, tmp_path / "three", weights, 3) == 0
    assert len(rows) == 3 * STEPS and max(rows) == 3 * 2  # three scene positions, the first over all three stories
    one, three = _values(tmp_path / "one" / "results.json"), _values(tmp_path / "three" / "results.json")
    batched = read_results(tmp_path / "three" / "results.json")
    assert all(s.status == "ok" for s in batched.stories)
    # not bit-identical (float rounding), so neither resumed into nor mistaken for story-by-story results
    unbatched = read_results(tmp_path / "one" / "results.json")
    assert batched.config_hash != unbatched.config_hash and batched.model_identity != unbatched.model_identity
    assert len(one) > 20 and one.keys() == three.keys()
    numeric = [key for key, value in one.items() if value is not None]
    assert numeric and all(abs(one[key] - three[key]) <= TOLERANCE for key in numeric), "batched values differ"

    # a story that cannot be generated fails alone; the others of its batch are generated and scored
    encode = history.encode_scene_texts
    broken = REQUESTS[2].prompts[0]  # "two"'s first scene (also "three"'s second: fail only a story that starts with it)

    def failing(components: Any, prompts: list[str], *args: Any) -> Any:
        if prompts and prompts[0] == broken:
            raise torch.cuda.OutOfMemoryError("out of memory")
        return encode(components, prompts, *args)

    monkeypatch.setattr(history, "encode_scene_texts", failing)
    assert _eval(suite, tmp_path / "broken", weights, 3) == 1
    results = read_results(tmp_path / "broken" / "results.json")
    assert {s.id: s.status for s in results.stories} == {"three": "ok", "one": "ok", "two": "failed"}
    assert "out of memory" in next(s.error for s in results.stories if s.id == "two")
    assert all(abs(one[key] - value) <= TOLERANCE for key, value in _values(tmp_path / "broken" / "results.json").items() if value is not None)

    # resume: only the failed story is generated and scored again
    monkeypatch.setattr(history, "encode_scene_texts", encode)
    scored: list[str] = []
    score = runner.score_story
    monkeypatch.setattr(runner, "score_story", lambda source, *args, **kw: (scored.append(source.id), score(source, *args, **kw))[1])
    rows.clear()
    assert _eval(suite, tmp_path / "broken", weights, 3) == 0
    assert scored == ["two"] and len(rows) == 2 * STEPS  # its two scenes; the others' clips and values are kept
    assert _values(tmp_path / "broken" / "results.json").keys() == one.keys()


def test_story_batch_is_bounded(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["generate", "--out", str(tmp_path / "out"), "-p", "A scene.", "generate.story_batch=0"]) != 0
    assert "generate.story_batch" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_story_batch_benchmark_times_both_ways_in_one_run() -> None:
    """`measure_story_batch` (what the device script calls) reports a ratio per batch size and equal latents."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "perf" / "bench_story_batch.py"
    spec = importlib.util.spec_from_file_location("bench_story_batch", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    report = module.measure_story_batch("cpu", "fp32", [2], scenes=2, steps=1, repeats=1, threads=1)
    (row,) = report["rows"]
    assert row["story_batch"] == 2 and row["one_by_one_s"] > 0 and row["together_s"] > 0
    assert row["throughput_ratio"] == pytest.approx(row["one_by_one_s"] / row["together_s"], rel=0.05)
    assert row["max_abs_latent_diff"] <= TOLERANCE


def test_generate_batch_with_a_broken_story_writes_the_others(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    from msvg_bench.benchmarks.dataset import load_stories
    from msvg_bench.core.errors import DataError
    from msvg_bench.models import history

    prompts = tmp_path / "stories.json"
    prompts.write_text(json.dumps({"first": ["A red ball."], "broken": ["BROKEN scene."], "third": ["A blue cube.", "A green cone."]}))
    encode = history.encode_scene_texts

    def failing(components: Any, texts: list[str], *args: Any) -> Any:
        if "BROKEN scene." in texts:
            raise DataError("cannot encode 'BROKEN scene.'")
        return encode(components, texts, *args)

    monkeypatch.setattr(history, "encode_scene_texts", failing)
    code = main(["generate", "--out", str(tmp_path / "out"), "-p", str(prompts), "generate.story_batch=3", "generate.num_inference_steps=1"])
    assert code == 1
    assert "failed: broken: cannot encode 'BROKEN scene.'" in capsys.readouterr().err
    assert {story.id: len(story.scenes) for story in load_stories(tmp_path / "out")} == {"first": 1, "third": 2}
