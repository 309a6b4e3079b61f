"""`msvg-bench compare` on eval runs in a temporary MLflow store: statistics, refusal, report, logging."""

from __future__ import annotations

import base64
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from compare_fixtures import STORY_IDS, log_eval_run, make_results, random_values
from msvg_bench.cli import main

pytestmark = pytest.mark.integration
N_BOOT = 400
SEED = 11


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Four eval runs: A (reference), B (one failed story), C (gifs+mp4), D (suite version 2)."""
    tmp = tmp_path_factory.mktemp("compare_store")
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    values = {name: random_values(seed, shift) for name, seed, shift in (("A", 1, 0.0), ("B", 2, 2.0), ("C", 3, -1.0), ("D", 4, 0.0))}
    results = {
        "A": make_results("plain", values["A"]),
        "B": make_results("streaming", values["B"], failed=("story03",)),
        "C": make_results("msvg", values["C"]),
        "D": make_results("msvg", values["D"], suite_version="2"),
    }
    media = {"A": "gif", "B": "gif", "C": "mp4", "D": "none"}
    ids = {
        name: log_eval_run(uri, tmp, f"eval-{name}", results[name], media=media[name], seed=i)
        for i, name in enumerate("ABCD")
    }
    return {"uri": uri, "tmp": tmp, "ids": ids, "results": results, "values": values}


def independent_ci(diffs: list[float]) -> tuple[float, float]:
    """Paired bootstrap written out row by row with the same seed (percentile method)."""
    rng = np.random.default_rng(SEED)
    means = sorted(float(np.mean([diffs[i] for i in rng.integers(0, len(diffs), size=len(diffs))])) for _ in range(N_BOOT))
    pos_lo, pos_hi = 0.025 * (N_BOOT - 1), 0.975 * (N_BOOT - 1)

    def interp(pos: float) -> float:
        lo, hi = math.floor(pos), math.ceil(pos)
        return means[lo] + (means[hi] - means[lo]) * (pos - lo)

    return interp(pos_lo), interp(pos_hi)


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run the CLI in-process; return (exit code, stdout, stderr)."""
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_three_runs_json_statistics(store: dict, capsys: pytest.CaptureFixture[str]) -> None:
    ids = store["ids"]
    code, out, err = run_cli(
        ["compare", ids["A"], "eval-B", ids["C"], "--format", "json", "--seed", str(SEED), "--bootstraps", str(N_BOOT),
         "--tracking-uri", store["uri"], "--no-log"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    data = json.loads(out)
    assert [r["run_id"] for r in data["runs"]] == [ids["A"], ids["B"], ids["C"]]
    assert data["forced"] is False and data["non_semantic"] is True
    directions = {m["key"]: m["direction"] for m in data["metrics"]}
    assert directions == {"scuts": "↓", "mawe": "↓", "prompt_alignment": "↑", "scene_consistency": "↑"}
    values = store["values"]
    for comp, name in zip(data["comparisons"], ("B", "C"), strict=True):
        stories = [s for s in STORY_IDS if not (name == "B" and s == "story03")]
        for key, info in {m["key"]: m for m in data["metrics"]}.items():
            diffs = [values[name][s][key] - values["A"][s][key] for s in stories]
            pair = comp["metrics"][key]
            assert pair["n_paired"] == len(stories)
            assert pair["delta"] == pytest.approx(np.mean(diffs), rel=1e-12)
            assert (pair["ci_low"], pair["ci_high"]) == pytest.approx(independent_ci(diffs), rel=1e-12)
            better = [(d > 0) if info["higher_is_better"] else (d < 0) for d in diffs]
            decisive = sum(d != 0 for d in diffs)
            assert pair["win_rate"] == pytest.approx(sum(better) / decisive)
            assert pair["value"] == pytest.approx(store["results"][name]["aggregate"][key]["mean"])
    # B's prompt_alignment is shifted up by 2 on every story: it wins everywhere, the CI excludes 0.
    pa = data["comparisons"][0]["metrics"]["prompt_alignment"]
    assert pa["ci_low"] > 0


def test_refuses_suite_version_mismatch_then_force(store: dict, capsys: pytest.CaptureFixture[str]) -> None:
    ids = store["ids"]
    code, out, err = run_cli(["compare", ids["A"], ids["D"], "--tracking-uri", store["uri"], "--no-log"], capsys)
    assert code == 1
    assert err.count("\n") == 1 and err.startswith("error: runs are not comparable")
    assert "suite version differs (eval-A: synthetic v1, eval-D: synthetic v2)" in err
    code, out, err = run_cli(
        ["compare", ids["A"], ids["D"], "--force", "--format", "md", "--tracking-uri", store["uri"], "--no-log"], capsys
    )
    assert code == 0, err
    assert "FORCED" in out and "suite version differs" in out
    code, out, err = run_cli(["compare", ids["A"], ids["D"], "--force", "--tracking-uri", store["uri"], "--no-log"], capsys)
    assert code == 0 and "FORCED: NOT COMPARABLE" in out.replace("\n", " ")


def test_unknown_run_and_missing_results(store: dict, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["compare", "eval-A", "nope", "--tracking-uri", store["uri"], "--no-log"], capsys)
    assert code == 1 and "no run with id or name 'nope'" in err
    from msvg_bench.core.tracking import start_run

    with start_run("eval", None, run_name="empty", tracking_uri=store["uri"]) as tracker:
        empty_id = tracker.run_id
    code, _, err = run_cli(["compare", "eval-A", empty_id, "--tracking-uri", store["uri"], "--no-log"], capsys)
    assert code == 1 and f"run {empty_id} (empty) has no results/results.json artifact" in err


def test_logs_comparison_run_with_report(store: dict, capsys: pytest.CaptureFixture[str]) -> None:
    ids = store["ids"]
    out_file = store["tmp"] / "table.md"
    code, out, err = run_cli(
        ["compare", "eval-A", "eval-B", "eval-C", "--format", "md", "--out", str(out_file), "--tracking-uri", store["uri"]],
        capsys,
    )
    assert code == 0, err
    assert out_file.read_text().count("\n| ") >= 4
    run_id = re.search(r"comparison run: ([0-9a-f]{32})", err).group(1)
    report_path = Path(re.search(r"HTML report: (\S+)", err).group(1))
    from mlflow.tracking import MlflowClient

    client = MlflowClient(store["uri"])
    run = client.get_run(run_id)
    assert client.get_experiment(run.info.experiment_id).name == "msvg-bench/compare"
    assert run.data.tags["msvg.compared_runs"] == ",".join(ids[n] for n in "ABC")
    assert run.data.tags["msvg.reference_run"] == ids["A"]
    assert f"runs/{ids['B']})" in run.data.tags["mlflow.note.content"]
    names = {a.path for a in client.list_artifacts(run_id, "report")}
    assert names == {"report/report.html", "report/comparison.json", "report/comparison.md"}
    html = report_path.read_text()
    assert report_path.is_file() and 'id="comparison-table"' in html
    # Each story shows every run: A and B as GIF previews (story + 2 scenes), C as inline H.264 (story
    # only, so its 2 scene cells say so); D is not part of it.
    assert html.count('class="story"') == len(STORY_IDS)
    assert html.count("data:image/gif;base64,") == 2 * 3 * len(STORY_IDS)
    assert html.count("data:video/mp4;base64,") == len(STORY_IDS)
    assert html.count("no video logged") == 2 * len(STORY_IDS)
    gif = re.search(r"data:image/gif;base64,([A-Za-z0-9+/=]+)", html).group(1)
    assert base64.b64decode(gif)[:6] in (b"GIF89a", b"GIF87a")
    assert "generation failed: out of memory" in html  # B's failed story is shown as such
    assert "src=\"http" not in html and "<script" not in html  # self-contained


def test_html_output_file_with_video_cap(store: dict, capsys: pytest.CaptureFixture[str]) -> None:
    out_file = store["tmp"] / "report.html"
    code, out, err = run_cli(
        ["compare", "eval-A", "eval-C", "--format", "html", "--out", str(out_file), "--video-stories", "2",
         "--no-log", "--tracking-uri", store["uri"]],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    assert out == "" and "comparison run" not in err
    html = out_file.read_text()
    assert html.count('class="story"') == len(STORY_IDS)  # every story keeps its prompts and values
    assert html.count("data:image/gif;base64,") == 3 * 2  # A: story + 2 scenes, first 2 stories only
    assert html.count("data:video/mp4;base64,") == 2
