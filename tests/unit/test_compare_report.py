"""Unit tests of the HTML report: structure, embedded plots and media, escaping (no MLflow)."""

from __future__ import annotations

import base64
import io
from html.parser import HTMLParser

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


def test_forced_report_is_marked() -> None:
    a = make_run("plain", {"s1": {"mawe": 10.0, "clip": 20.0}})
    b = make_run("msvg", {"s1": {"mawe": 8.0, "clip": 22.0}})
    b.results["suite"]["version"] = "2"
    page = render_html(compare_runs([a, b], force=True, n_boot=10))
    assert '<div class="note forced">FORCED: these runs are not comparable: suite version differs' in page
