"""Unit tests of the HTML report: structure, embedded plots and media, escaping (no MLflow)."""

from __future__ import annotations

import base64
import io
from html.parser import HTMLParser

import numpy as np
import pytest

from msvg_bench.comparison.report import Media, StoryMedia, render_html
from msvg_bench.comparison.stats import RunResults, compare_runs
from PIL import Image

METRICS = {
    "mawe": {"metric": "mawe", "version": "1", "higher_is_better": False, "encoder": None, "backend": "raft"},
    "clip": {"metric": "prompt_alignment", "version": "1", "higher_is_better": True, "encoder": "e", "backend": None},
}


def make_run(name: str, values: dict[str, dict[str, float]], prompt: str = "Actor 1 runs.") -> RunResults:
    """A run with one scene per story and the given metric values."""
    stories = [
        {"id": sid, "status": "ok", "error": None, "prompts": [prompt], "annotations": [{"setting": "snow", "characters": ["a1", "a2"]}],
         "values": vals, "scenes": []}
        for sid, vals in values.items()
    ]  # fmt: skip
    results = {
        "schema": "msvg-bench/results", "schema_version": 1, "suite": {"name": "synthetic", "version": "1"},
        "method": name, "model_identity": "tiny", "config_hash": "abc", "seed": 1, "non_semantic": True,
        "metrics": METRICS, "stories": stories, "aggregate": {}, "created": "2026-01-01T00:00:00Z",
    }  # fmt: skip
    return RunResults(run_id=(name * 32)[:32], run_name=name, experiment_id="1", artifact_uri="", results=results)


class Collector(HTMLParser):
    """Collect tags with their attributes and the text of table cells."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))


def test_report_structure_plots_and_media() -> None:
    a = make_run("plain", {"s1": {"mawe": 10.0, "clip": 20.0}, "s2": {"mawe": 12.0, "clip": 21.0}}, prompt="<script>x</script>")
    b = make_run("msvg", {"s1": {"mawe": 8.0, "clip": 22.0}, "s2": {"mawe": 15.0, "clip": 23.0}})
    comparison = compare_runs([a, b], n_boot=50)
    gif = io.BytesIO()
    Image.new("RGB", (8, 8), (255, 0, 0)).save(gif, format="GIF")
    gif_media = Media("story.gif", "image/gif", gif.getvalue())
    mp4_media = Media("story.mp4", "video/mp4", b"\x00\x00\x00\x18ftypmp42")
    media = {
        (a.run_id, "s1"): StoryMedia(gif_media, {0: Media("scene_00.gif", "image/gif", gif.getvalue())}),
        (b.run_id, "s1"): StoryMedia(mp4_media, {}),
    }
    page = render_html(comparison, media=media)
    parser = Collector()
    parser.feed(page)
    ids = [attrs.get("id") for _, attrs in parser.tags]
    assert {"comparison-table", "runs-table", "plot-metrics", "plot-deltas", "story-s1", "story-s2"} <= set(ids)
    plots = [attrs for tag, attrs in parser.tags if tag == "img" and attrs.get("class") == "plot"]
    assert len(plots) == 2
    for attrs in plots:
        prefix = "data:image/png;base64,"
        assert attrs["src"].startswith(prefix)
        image = Image.open(io.BytesIO(base64.b64decode(attrs["src"][len(prefix) :])))
        assert image.format == "PNG" and image.width > 200 and image.height > 100
    previews = [(tag, attrs["src"][:22]) for tag, attrs in parser.tags if attrs.get("class") == "video-preview"]
    assert previews == [("img", "data:image/gif;base64,"), ("video", "data:video/mp4;base64,")]
    scene_clips = [(tag, attrs["src"][:22]) for tag, attrs in parser.tags if attrs.get("class") == "scene-preview"]
    assert scene_clips == [("img", "data:image/gif;base64,")]  # s1 scene 1 of run a; run b lacks scene clips
    assert page.count("no video logged") == 3  # s1 scene 1 of run b, and story s2 in both runs
    assert "<script>x</script>" not in page and "&lt;script&gt;x&lt;/script&gt;" in page
    assert "setting: snow; characters: a1, a2" in page
    assert "random-init encoders" in page
    rows = [attrs for tag, attrs in parser.tags if tag == "tr"]
    assert len(rows) >= 3
    table = page.split('id="comparison-table"')[1].split("</table>")[0]
    pair = comparison.others[0].metrics["mawe"]
    assert "<th>MDE</th>" in table and f"<td title=\"defined: 2 (ref), 2 (run); paired n=2; sd(Δ)={pair.sd_diff:.3g}" in table
    assert f">{pair.mde:.3g}</td>" in table


def test_forced_report_is_marked() -> None:
    a = make_run("plain", {"s1": {"mawe": 10.0, "clip": 20.0}})
    b = make_run("msvg", {"s1": {"mawe": 8.0, "clip": 22.0}})
    b.results["suite"]["version"] = "2"
    page = render_html(compare_runs([a, b], force=True, n_boot=10))
    assert '<div class="note forced">FORCED: these runs are not comparable: suite version differs' in page


def distance_point(mean: float, half: float = 0.02, n: int = 2) -> dict:
    """One entry of a results file's `distance` field."""
    return {"mean": mean, "ci_low": mean - half, "ci_high": mean + half, "n_stories": n, "n_pairs": 3 * n}


def test_distance_field_is_used_as_stated_and_plotted(tmp_path) -> None:
    from msvg_bench.comparison.plots import write_distance_png
    from msvg_bench.comparison.render import to_json

    a = make_run("plain", {"s1": {"mawe": 10.0, "clip": 20.0}, "s2": {"mawe": 12.0, "clip": 21.0}})
    a.results["distance"] = {"scene_consistency": {"shared": {"2": distance_point(0.6), "1": distance_point(0.9)}, "nonshared": {}}}
    b = make_run("msvg", {"s1": {"mawe": 8.0, "clip": 22.0}, "s2": {"mawe": 15.0, "clip": 23.0}})
    for story, (near, far) in zip(b.results["stories"], ((0.81, 0.79), (0.83, 0.77)), strict=True):
        story["details"] = {"scene_consistency": {"by_distance": {"1": {"shared": near, "n_shared": 2}, "2": {"shared": far, "n_shared": 1}}}}
    comparison = compare_runs([a, b], n_boot=50)
    data = to_json(comparison)["distance"]["scene_consistency"]
    stated, computed = data["curves"]
    assert stated["source"] == "results" and stated["shared"] == {"1": distance_point(0.9), "2": distance_point(0.6)}
    assert computed["source"] == "stories" and computed["shared"]["2"]["mean"] == pytest.approx(0.78)
    assert computed["shared"]["1"]["n_pairs"] == 4 and computed["nonshared"] == {}
    assert data["differences"][0]["shared"] == {}  # the reference has no per-story values to pair with
    page = render_html(comparison)
    parser = Collector()
    parser.feed(page)
    plots = {attrs.get("id"): attrs["src"] for tag, attrs in parser.tags if tag == "img" and attrs.get("class") == "plot"}
    assert set(plots) == {"plot-metrics", "plot-deltas", "plot-distance-scene_consistency"}
    image = Image.open(io.BytesIO(base64.b64decode(plots["plot-distance-scene_consistency"].split(",", 1)[1])))
    assert image.format == "PNG" and image.width > 300
    target = write_distance_png(comparison, tmp_path / "docs" / "distance.png")
    with Image.open(target) as png:
        assert png.format == "PNG" and png.width > 500


@pytest.mark.parametrize(
    ("distance", "message"),
    [
        ({"scene_consistency": {"shared": {"one": distance_point(0.9)}}}, "distance.scene_consistency.shared: distance 'one' is not a positive integer"),
        ({"scene_consistency": {"shared": {"1": {"mean": 0.9}}}}, "distance.scene_consistency.shared.1: expected an object with mean, ci_low"),
        ({"scene_consistency": {"shared": {"1": {**distance_point(0.9), "mean": "high"}}}}, "distance.scene_consistency.shared.1.mean: expected a number, got 'high'"),
        ({"scene_consistency": [0.9]}, "distance.scene_consistency: expected an object with shared/nonshared"),
    ],
)
def test_bad_distance_field_names_the_run_and_the_field(distance: dict, message: str) -> None:
    from msvg_bench.core.errors import DataError

    a = make_run("plain", {"s1": {"mawe": 10.0, "clip": 20.0}})
    a.results["distance"] = distance
    with pytest.raises(DataError) as info:
        compare_runs([a, make_run("msvg", {"s1": {"mawe": 8.0, "clip": 22.0}})], n_boot=10)
    assert str(info.value).startswith(f"run {a.run_id} (plain) results: ") and message in str(info.value)


def test_distance_trend_is_far_minus_adjacent_per_story_and_far_pairs_are_paired() -> None:
    """A run whose distant pairs drift (continuity) shows a negative trend; one that holds shows ≈ 0; the
    numbers equal a hand computation over the stories' pairs (pair-weighted far means, then the story mean)."""
    from msvg_bench.comparison.render import render_text, to_json

    holds = {"s1": {1: (0.80, 3), 4: (0.80, 1), 5: (0.78, 1)}, "s2": {1: (0.70, 2), 4: (0.72, 2)}, "s3": {2: (0.9, 1)}}
    drifts = {"s1": {1: (0.90, 3), 4: (0.50, 1), 5: (0.40, 1)}, "s2": {1: (0.85, 2), 4: (0.45, 2)}, "s3": {2: (0.9, 1)}}
    runs = []
    for method, curves in (("plain", holds), ("streaming", drifts)):
        run = make_run(method, {sid: {"mawe": 1.0, "clip": 2.0} for sid in curves})
        for story in run.results["stories"]:
            story["details"] = {"scene_consistency": {"by_distance": {
                str(d): {"shared": v, "n_shared": n} for d, (v, n) in curves[story["id"]].items()}}}
        runs.append(run)
    data = to_json(compare_runs(runs, n_boot=200))["distance"]["scene_consistency"]

    def far(curve: dict[int, tuple[float, int]]) -> float:
        pairs = [(v, n) for d, (v, n) in curve.items() if d >= 4]
        return sum(v * n for v, n in pairs) / sum(n for _, n in pairs)

    for curve, story_curves in zip(data["curves"], (holds, drifts), strict=True):
        expected = np.mean([far(c) - c[1][0] for c in story_curves.values() if 1 in c])  # s3 has no adjacent pair
        assert curve["trend_far_minus_near"]["delta"] == pytest.approx(expected)
        assert curve["trend_far_minus_near"]["n_paired"] == 2
    assert abs(data["curves"][0]["trend_far_minus_near"]["delta"]) < 0.02
    assert data["curves"][1]["trend_far_minus_near"]["delta"] < -0.3
    gap = np.mean([far(drifts[s]) - far(holds[s]) for s in ("s1", "s2")])
    assert data["differences"][0]["far"]["delta"] == pytest.approx(gap) and gap < -0.2
    assert "≥4−1" in render_text(compare_runs(runs, n_boot=50))
