"""`msvg-bench eval` end to end: MLflow run, broken story + resume, 2-process shards, any system's videos."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from msvg_bench.cli import main
from msvg_bench.eval.results import read_results

pytestmark = pytest.mark.integration

SUITE = {
    "name": "synthetic-mini",
    "version": "0.1",
    "kind": "synthetic",
    "description": "tiny synthetic suite for tests",
    "params": {"stories": 4, "scenes": 3, "frames": 9, "height": 32, "width": 48, "seed": 0, "fps": 8.0},
}
FAST = ["eval.mawe_size=64"]  # plumbing tests: MAWE's definition (720) is covered by the metric tests


@pytest.fixture(scope="module")
def suite_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("suite") / "synthetic-mini.json"
    path.write_text(json.dumps(SUITE))
    return path


@pytest.fixture(scope="module")
def single(tmp_path_factory: pytest.TempPathFactory, suite_file: Path) -> tuple[Path, str]:
    """One in-process run of the whole suite with every metric, logged to a private store."""
    root = tmp_path_factory.mktemp("single")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    code = main(["eval", "--suite", str(suite_file), "-o", str(root / "out"), "--tracking-uri", uri, *FAST])
    assert code == 0
    return root / "out", uri


def test_mlflow_run_has_aggregates_stories_results_and_videos(single: tuple[Path, str]) -> None:
    from mlflow.tracking import MlflowClient

    out, uri = single
    results = read_results(out / "results.json")
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("msvg-bench/eval")
    (run,) = client.search_runs([exp.experiment_id])
    assert run.info.status == "FINISHED"
    tags = run.data.tags
    assert tags["msvg.suite"] == "synthetic-mini" and tags["msvg.suite_version"] == "0.1"
    assert tags["msvg.method"] == "reference" and tags["msvg.non_semantic"] == "true"
    assert tags["msvg.config_hash"] == results.config_hash
    for key in ("scuts", "mawe", "prompt_alignment", "scene_consistency", "character_consistency"):
        assert run.data.metrics[f"eval/{key}"] == pytest.approx(results.aggregate[key].mean)
    history = client.get_metric_history(run.info.run_id, "eval/story/mawe")
    assert sorted(m.step for m in history) == [0, 1, 2, 3]
    assert [a.path for a in client.list_artifacts(run.info.run_id, "results")] == ["results/results.json"]
    files = {a.path.rsplit("/", 1)[1] for a in client.list_artifacts(run.info.run_id, "videos/synth_0001")}
    assert {"story.mp4", "story.gif", "scene_00.mp4", "scene_00.gif", "scene_02.mp4"} <= files
    assert set(results.metrics["mawe"].backend.split("@")[1:]) == {"64"}


def test_broken_story_fails_alone_and_resume_scores_only_it(tmp_path: Path, suite_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from msvg_bench.benchmarks.synth import synthesize
    from msvg_bench.eval import runner

    data = tmp_path / "videos"
    synthesize(data, stories=3, scenes=3, frames=9, height=32, width=48, seed=0, fps=8.0)
    clip = data / "videos" / "synth_0001" / "scene_01.mp4"
    good = clip.read_bytes()
    clip.write_bytes(good[: len(good) // 3])  # truncated: corrupt
    scored: list[str] = []
    original = runner.score_story

    def spy(source, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        scored.append(source.id)
        return original(source, *args, **kwargs)

    monkeypatch.setattr(runner, "score_story", spy)
    args = ["eval", "--suite", str(suite_file), "--limit", "3", "--videos", str(data), "-o", str(tmp_path / "out"), "--no-videos",
            "--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}", "--metrics", "scuts,scene_consistency,mawe", *FAST]
    assert main(args) == 1
    first = read_results(tmp_path / "out" / "results.json")
    status = {s.id: s.status for s in first.stories}
    assert status == {"synth_0000": "ok", "synth_0001": "failed", "synth_0002": "ok"}
    error = first.story("synth_0001").error
    assert "scene_01.mp4" in error and "\n" not in error
    assert first.aggregate["scuts"].n == 2
    assert scored == ["synth_0000", "synth_0001", "synth_0002"]

    clip.write_bytes(good)  # fixed
    scored.clear()
    assert main([*args, "train.steps=7", "train.eval_every=2"]) == 0  # training settings: no evaluation reads them
    assert scored == ["synth_0001"]
    second = read_results(tmp_path / "out" / "results.json")
    assert all(s.status == "ok" for s in second.stories) and second.aggregate["scuts"].n == 3
    assert second.story("synth_0000") == first.story("synth_0000")


def test_wrong_frame_count_is_a_failed_story(tmp_path: Path, suite_file: Path) -> None:
    from msvg_bench.benchmarks.synth import synthesize
    from msvg_bench.core.video import read_video, write_video

    data = tmp_path / "videos"
    synthesize(data, stories=2, scenes=3, frames=9, height=32, width=48, seed=0, fps=8.0)
    clip = data / "videos" / "synth_0000" / "scene_02.mp4"
    write_video(clip, read_video(clip)[:5], 8)
    code = main(["eval", "--suite", str(suite_file), "--limit", "2", "--videos", str(data), "-o", str(tmp_path / "out"), "--no-videos",
                 "--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}", "--metrics", "scene_consistency"])
    assert code == 1
    res = read_results(tmp_path / "out" / "results.json")
    assert res.story("synth_0000").status == "failed" and "5 frames" in res.story("synth_0000").error
    assert res.story("synth_0001").status == "ok"


@pytest.mark.slow
def test_two_process_shards_merge_to_the_single_process_aggregates(tmp_path: Path, suite_file: Path, single: tuple[Path, str]) -> None:
    out = tmp_path / "sharded"
    env = {**os.environ, "MSVG_NO_PROGRESS": "1", "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "msvg_bench.cli", "eval", "--suite", str(suite_file), "-o", str(out), "--shard", f"{i}/2", *FAST],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        for i in range(2)
    ]
    for proc in procs:
        output, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, output
    shard0 = read_results(out / "results.shard-0-of-2.json")
    assert [s.id for s in shard0.stories] == ["synth_0000", "synth_0002"]
    assert main(["eval", "--suite", str(suite_file), "-o", str(out), "--merge", "--no-videos", *FAST]) == 0
    merged = read_results(out / "results.json")
    whole = read_results(single[0] / "results.json")
    assert merged.aggregate == whole.aggregate
    assert [s.id for s in merged.stories] == [s.id for s in whole.stories]
    assert [s.values for s in merged.stories] == [s.values for s in whole.stories]


@pytest.mark.slow
def test_torchrun_two_ranks_give_the_single_process_aggregates(tmp_path: Path, suite_file: Path, single: tuple[Path, str]) -> None:
    out = tmp_path / "torchrun"
    env = {**os.environ, "MSVG_NO_PROGRESS": "1", "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29517",
           "-m", "msvg_bench.cli", "eval", "--suite", str(suite_file), "-o", str(out), "--no-videos", *FAST]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    merged = read_results(out / "results.json")
    assert merged.aggregate == read_results(single[0] / "results.json").aggregate
    assert sorted(p.name for p in out.glob("results.shard-*")) == ["results.shard-0-of-2.json", "results.shard-1-of-2.json"]


def test_one_video_per_story_split_at_scene_lengths(tmp_path: Path, suite_file: Path, single: tuple[Path, str]) -> None:
    from msvg_bench.core.video import read_video, write_video

    reference = single[0] / "reference" / "videos"
    folder = tmp_path / "joined"
    for sid in ("synth_0000", "synth_0003"):
        clips = [read_video(reference / sid / f"scene_{j:02d}.mp4") for j in range(3)]
        write_video(folder / f"{sid}.mp4", np.concatenate(clips), 8)
    code = main(["eval", "--suite", str(suite_file), "--videos", str(folder), "--scene-lengths", "9", "--method", "some-system",
                 "-o", str(tmp_path / "out"), "--no-videos", "--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}",
                 "--metrics", "scene_consistency,scuts"])
    assert code == 1  # two of the suite's stories have no video: failed, not left out
    res = read_results(tmp_path / "out" / "results.json")
    whole = read_results(single[0] / "results.json")
    assert res.method == "some-system" and [s.id for s in res.stories] == ["synth_0000", "synth_0001", "synth_0002", "synth_0003"]
    assert [s.id for s in res.failed] == ["synth_0001", "synth_0002"]
    assert "synth_0001" in res.story("synth_0001").error and "missing" in res.story("synth_0001").error
    for story in (res.story("synth_0000"), res.story("synth_0003")):
        expected = whole.story(story.id).values
        assert story.annotations == whole.story(story.id).annotations
        assert story.values["scuts"] == 0.0
        for key in ("scene_consistency", "scene_consistency_nonshared", "scene_consistency_gap"):
            assert story.values[key] == pytest.approx(expected[key], abs=0.05)  # re-encoded: close, not equal
    # each split scene is the right part of the story video
    from msvg_bench.eval.inputs import split_story_video

    split = split_story_video("synth_0003", folder / "synth_0003.mp4", [9, 9, 9])
    originals = [read_video(reference / "synth_0003" / f"scene_{j:02d}.mp4").astype(int) for j in range(3)]
    for j, scene in enumerate(split.scenes):
        assert scene.frames.shape[0] == 9
        assert np.abs(scene.frames - originals[j]).mean() < 4 < np.abs(scene.frames - originals[(j + 1) % 3]).mean()


@pytest.fixture()
def mixed_videos(tmp_path: Path) -> Path:
    """A data root holding suite stories synth_0000 and synth_0001, and a story `other_0001` of no suite
    (the suite's synth_0002 and synth_0003 are absent)."""
    from msvg_bench.benchmarks.synth import synthesize

    data = tmp_path / "videos"
    synthesize(data, stories=3, scenes=3, frames=9, height=32, width=48, seed=0, fps=8.0)
    manifest = data / "manifest.jsonl"
    lines = [json.loads(line) for line in manifest.read_text().splitlines()]
    lines[2]["id"] = "other_0001"
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return data


def _eval_videos(tmp_path: Path, suite_file: Path, videos: Path, *extra: str) -> int:
    return main(["eval", "--suite", str(suite_file), "--videos", str(videos), "-o", str(tmp_path / "out"), "--no-videos",
                 "--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}", "--metrics", "scuts", *extra])


def test_videos_are_scored_as_exactly_the_suites_stories(tmp_path: Path, suite_file: Path, mixed_videos: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert _eval_videos(tmp_path, suite_file, mixed_videos) == 1
    res = read_results(tmp_path / "out" / "results.json")
    assert [s.id for s in res.stories] == ["synth_0000", "synth_0001", "synth_0002", "synth_0003"]
    assert [s.id for s in res.failed] == ["synth_0002", "synth_0003"]
    for sid in ("synth_0002", "synth_0003"):
        assert f"story {sid!r} of suite 'synthetic-mini' is missing (no manifest entry)" in res.story(sid).error
    assert res.aggregate["scuts"].n == 2
    assert list(res.ignored) == ["other_0001"] and "not a story of suite 'synthetic-mini'" in res.ignored["other_0001"]
    err = capsys.readouterr().err
    assert "not scoring 1 story that suite 'synthetic-mini' does not have: other_0001" in err


def test_limit_scores_the_first_stories_of_a_videos_folder(tmp_path: Path, suite_file: Path, mixed_videos: Path) -> None:
    assert _eval_videos(tmp_path, suite_file, mixed_videos, "--limit", "2") == 0
    res = read_results(tmp_path / "out" / "results.json")
    assert [(s.id, s.status) for s in res.stories] == [("synth_0000", "ok"), ("synth_0001", "ok")]
    assert list(res.ignored) == ["other_0001"]  # the suite's stories beyond --limit are not foreign


def test_other_metrics_into_the_same_folder_are_refused(tmp_path: Path, suite_file: Path, mixed_videos: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    from mlflow.tracking import MlflowClient

    assert _eval_videos(tmp_path, suite_file, mixed_videos, "--limit", "1") == 0
    before = (tmp_path / "out" / "results.json").read_bytes()
    capsys.readouterr()
    assert _eval_videos(tmp_path, suite_file, mixed_videos, "--limit", "1", "--metrics", "scene_consistency") == 1
    (line,) = [text for text in capsys.readouterr().err.strip().splitlines() if not text.startswith("evaluating suite")]
    assert str(tmp_path / "out") in line and "metrics scuts" in line and "scene_consistency" in line and "another -o" in line
    assert (tmp_path / "out" / "results.json").read_bytes() == before  # the earlier results are kept
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert len(client.search_runs([client.get_experiment_by_name("msvg-bench/eval").experiment_id])) == 1  # no run for it
    assert _eval_videos(tmp_path, suite_file, mixed_videos, "--limit", "1") == 0  # the same metrics resume as before


def test_generate_then_score_with_a_method(tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    code = main(["eval", "--suite", "multi_scene", "--method", "plain", "--limit", "1", "-o", str(tmp_path / "out"),
                 "--tracking-uri", uri, "--metrics", "scene_consistency,prompt_alignment"])
    assert code == 0
    res = read_results(tmp_path / "out" / "results.json")
    assert res.method == "plain" and res.stories[0].id == "ms_001" and res.stories[0].status == "ok"
    client = MlflowClient(tracking_uri=uri)
    (run,) = client.search_runs([client.get_experiment_by_name("msvg-bench/eval").experiment_id])
    logged = {a.path.rsplit("/", 1)[1] for a in client.list_artifacts(run.info.run_id, "videos/ms_001")}
    assert {"story.mp4", "story.gif", "scene_00.mp4", "scene_00.gif"} <= logged
    # the generated folder is in the data format and can be re-scored as any system's videos
    again = main(["eval", "--suite", "multi_scene", "--limit", "1", "--videos", str(tmp_path / "out" / "generated"), "-o", str(tmp_path / "again"),
                  "--no-videos", "--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}", "--metrics", "scene_consistency,prompt_alignment"])
    assert again == 0
    rescored = read_results(tmp_path / "again" / "results.json")
    assert rescored.stories[0].values == pytest.approx(res.stories[0].values)


def test_listings_and_print_config(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "--list-suites"]) == 0
    assert "multi_scene" in capsys.readouterr().out
    assert main(["eval", "--list-metrics"]) == 0
    listed = capsys.readouterr().out
    assert all(m in listed for m in ("mawe", "scuts", "prompt_alignment"))
    assert main(["eval", "--preset", "cogvideox-2b", "--print-config"]) == 0
    assert "scene_encoder: clip4clip" in capsys.readouterr().out
    assert main(["eval", "--suite", "multi_scen"]) == 1
    assert "unknown suite 'multi_scen'; did you mean 'multi_scene'" in capsys.readouterr().err


def test_missing_source_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "--suite", "multi_scene", "-o", str(tmp_path)]) == 1
    assert "pass --method" in capsys.readouterr().err
    shutil.rmtree(tmp_path, ignore_errors=True)


def test_model_option_resolves_a_training_run(tmp_path: Path, tracking_uri: str) -> None:
    from msvg_bench.core.errors import ConfigError
    from msvg_bench.core.tracking import start_run
    from msvg_bench.evaluation import resolve_model

    export = tmp_path / "export"
    export.mkdir()
    with start_run("train", tracking_uri=tracking_uri) as tracker:
        tracker.set_tags({"msvg.export_dir": str(export)})
    assert resolve_model(tracker.run_id, tracking_uri) == str(export)
    assert resolve_model(str(export), tracking_uri) == str(export)
    with pytest.raises(ConfigError, match="neither an existing weights folder nor a run id"):
        resolve_model("0123456789abcdef", tracking_uri)


def test_missing_clip_and_malformed_prompts_fail_only_their_stories(tmp_path: Path, suite_file: Path) -> None:
    from mlflow.tracking import MlflowClient
    from msvg_bench.benchmarks.synth import synthesize

    data = tmp_path / "videos"
    synthesize(data, stories=3, scenes=3, frames=9, height=32, width=48, seed=0, fps=8.0)
    (data / "manifest.jsonl").unlink()  # the seed's prompts-folder format
    (data / "videos" / "synth_0001" / "scene_02.mp4").unlink()
    (data / "prompts" / "synth_0002.json").write_text('{"synth_0002/scene_00.mp4": "A dog", ')
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    code = main(["eval", "--suite", str(suite_file), "--limit", "3", "--videos", str(data), "-o", str(tmp_path / "out"), "--no-videos",
                 "--tracking-uri", uri, "--metrics", "scene_consistency"])
    assert code == 1
    res = read_results(tmp_path / "out" / "results.json")  # valid, complete
    status = {s.id: s.status for s in res.stories}
    assert status == {"synth_0000": "ok", "synth_0001": "failed", "synth_0002": "failed"}
    assert "scene_02.mp4: missing clip" in res.story("synth_0001").error
    assert "synth_0002.json: not valid JSON" in res.story("synth_0002").error
    assert res.aggregate["scene_consistency"].n == 1
    client = MlflowClient(tracking_uri=uri)
    (run,) = client.search_runs([client.get_experiment_by_name("msvg-bench/eval").experiment_id])
    assert run.info.status == "FAILED"
    assert run.data.tags["msvg.error"].startswith("2 of 3 stories failed")


@pytest.mark.slow
def test_interrupted_eval_leaves_a_killed_run(tmp_path: Path, suite_file: Path) -> None:
    import signal
    import time

    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    out = tmp_path / "out"
    env = {**os.environ, "MSVG_NO_PROGRESS": "1", "MLFLOW_TRACKING_URI": uri, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "msvg_bench.cli", "eval", "--suite", str(suite_file), "-o", str(out)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (out / "results.json").is_file() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert proc.returncode != 0
    client = MlflowClient(tracking_uri=uri)
    (run,) = client.search_runs([client.get_experiment_by_name("msvg-bench/eval").experiment_id])
    assert run.info.status == "KILLED"
