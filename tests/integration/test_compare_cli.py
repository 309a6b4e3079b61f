"""`msvg-bench compare` on eval runs in a temporary MLflow store: statistics, refusal, report, logging."""

from __future__ import annotations

import base64
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from compare_fixtures import DISTANCE_METRIC, STORY_IDS, by_distance_details, log_eval_run, make_results, random_values
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


FALLING = {1: 0.9, 2: 0.7, 3: 0.5}  # the reference forgets with distance
FLAT = {1: 0.8, 2: 0.8, 3: 0.8}  # the other run keeps its consistency


@pytest.fixture(scope="module")
def distance_store(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Two eval runs with per-story consistency by distance: P falls with distance, M is flat.

    P's story07 has no pair at distance 3; M failed story03 (its details must be ignored).
    """
    tmp = tmp_path_factory.mktemp("distance_store")
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    details = {
        "P": by_distance_details(FALLING, seed=5, drop={"story07": (3,)}),
        "M": by_distance_details(FLAT, seed=6),
    }
    results = {
        "P": make_results("plain", random_values(1), details=details["P"]),
        "M": make_results("msvg", random_values(2), details=details["M"], failed=("story03",)),
    }
    ids = {name: log_eval_run(uri, tmp, f"dist-{name}", results[name], media="none") for name in "PM"}
    return {"uri": uri, "tmp": tmp, "ids": ids, "details": details}


def shared_at(details: dict, distance: int, exclude: tuple[str, ...] = ()) -> dict[str, float]:
    """Story id -> shared value at `distance`, read straight from the fixture's details."""
    out = {}
    for sid in STORY_IDS:
        entry = details[sid][DISTANCE_METRIC]["by_distance"].get(str(distance))
        if entry is not None and sid not in exclude:
            out[sid] = entry["shared"]
    return out


def test_distance_curves_and_paired_differences(distance_store: dict, capsys: pytest.CaptureFixture[str]) -> None:
    ids, details = distance_store["ids"], distance_store["details"]
    code, out, err = run_cli(
        ["compare", ids["P"], ids["M"], "--format", "json", "--seed", str(SEED), "--bootstraps", str(N_BOOT),
         "--tracking-uri", distance_store["uri"], "--no-log"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    data = json.loads(out)["distance"][DISTANCE_METRIC]
    ref_curve, run_curve = data["curves"]
    assert (ref_curve["run_id"], ref_curve["source"], run_curve["source"]) == (ids["P"], "stories", "stories")
    (diff,) = data["differences"]
    for distance in (1, 2, 3):
        ref = shared_at(details["P"], distance)
        other = shared_at(details["M"], distance, exclude=("story03",))
        for curve, values in ((ref_curve, ref), (run_curve, other)):
            point = curve["shared"][str(distance)]
            assert point["mean"] == pytest.approx(np.mean(list(values.values())), rel=1e-12)
            assert (point["ci_low"], point["ci_high"]) == pytest.approx(independent_ci(list(values.values())), rel=1e-12)
            assert point["n_stories"] == len(values) and point["n_pairs"] == len(values) * (4 - distance)
        diffs = [other[s] - ref[s] for s in ref if s in other]
        got = diff["shared"][str(distance)]
        assert got["n_paired"] == (6 if distance == 3 else 7)  # story03 failed in M; story07 has no distance 3 in P
        assert got["delta"] == pytest.approx(np.mean(diffs), rel=1e-12)
        assert (got["ci_low"], got["ci_high"]) == pytest.approx(independent_ci(diffs), rel=1e-12)
    # flat minus falling: worse at distance 1, better and better further out, every CI clear of 0
    shared = diff["shared"]
    assert shared["1"]["ci_high"] < 0 < shared["2"]["ci_low"]
    assert shared["2"]["delta"] < shared["3"]["delta"] and shared["3"]["ci_low"] > 0
    assert run_curve["nonshared"]["1"]["mean"] == pytest.approx(run_curve["shared"]["1"]["mean"] - 0.3)


def test_distance_report_png_and_terminal_table(distance_store: dict, capsys: pytest.CaptureFixture[str]) -> None:
    from PIL import Image

    ids, tmp = distance_store["ids"], distance_store["tmp"]
    html_file, png_file = tmp / "report.html", tmp / "docs" / "distance.png"
    code, out, err = run_cli(
        ["compare", ids["P"], ids["M"], "--format", "html", "--out", str(html_file), "--distance-png", str(png_file),
         "--no-videos", "--no-log", "--tracking-uri", distance_store["uri"]],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    assert f"distance figure: {png_file}" in err
    with Image.open(png_file) as image:
        assert image.format == "PNG" and image.width > 300 and image.height > 200
        image.verify()
    page = html_file.read_text()
    src = re.search(rf'id="plot-distance-{DISTANCE_METRIC}"[^>]* src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert src is not None
    assert base64.b64decode(src.group(1))[:8] == b"\x89PNG\r\n\x1a\n"
    code, out, err = run_cli(["compare", ids["P"], ids["M"], "--no-videos", "--tracking-uri", distance_store["uri"]], capsys)
    assert code == 0, err
    from mlflow.tracking import MlflowClient

    run_id = re.search(r"comparison run: ([0-9a-f]{32})", err).group(1)
    names = {a.path for a in MlflowClient(distance_store["uri"]).list_artifacts(run_id, "report")}
    assert "report/distance.png" in names
    lines = out.splitlines()
    title = next(i for i, line in enumerate(lines) if f"{DISTANCE_METRIC}: shared pairs by scene distance" in line)
    assert title > next(i for i, line in enumerate(lines) if "win rate" in line)  # after the main table
    rows = {line.split()[1]: line for line in lines[title:] if re.match(r"^│\s+[123]\s+│", line)}
    assert sorted(rows) == ["1", "2", "3"]
    assert "dist-P" in "".join(lines[title : title + 4]) and "dist-M" in "".join(lines[title : title + 4])
    assert max(len(line) for line in lines) <= 120


def test_distance_png_without_distance_data_fails_cleanly(store: dict, capsys: pytest.CaptureFixture[str]) -> None:
    target = store["tmp"] / "nothing.png"
    code, out, err = run_cli(
        ["compare", "eval-A", "eval-C", "--distance-png", str(target), "--no-videos", "--tracking-uri", store["uri"]], capsys
    )
    assert code == 1 and err.count("\n") == 1
    assert f"--distance-png {target}: none of the compared runs has consistency-by-distance data" in err
    assert not target.exists() and "comparison run" not in err
