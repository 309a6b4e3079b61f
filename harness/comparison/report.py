"""The HTML comparison report: one self-contained file (inline CSS, PNG plots and videos as data URIs).

Sections: the runs, the comparison table (with each pair's minimum detectable effect), plots (each
run's mean per metric with a bootstrap 95% interval; per-story differences against the reference;
per metric with distance data, shared-pair consistency over scene distance), then one block per story with every run's
video side by side (its GIF preview, else its H.264 mp4 inline), and per scene the prompt, the
annotations and each run's clip of that scene.
"""

from __future__ import annotations

import base64
import html
import math
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from msvg_bench import __version__
from msvg_bench.comparison.plots import distance_metrics_with_data, plot_distance, plot_metric_bars, plot_story_deltas
from msvg_bench.comparison.render import POWER_NOTE, TABLE_HEADER, fmt, headline_notes, power_title, table_rows
from msvg_bench.comparison.runs import quiet_downloads
from msvg_bench.comparison.stats import Comparison, RunResults

MEDIA_TYPES = {".gif": "image/gif", ".mp4": "video/mp4", ".png": "image/png", ".webp": "image/webp"}
PREVIEW_SUFFIXES = (".gif", ".mp4")
SCENE_NAME = re.compile(r"^scene_(\d+)\.(?:gif|mp4)$")

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1d2330;background:#fff}
h1{font-size:1.5em;margin-bottom:4px}h2{margin-top:32px;border-bottom:1px solid #dde;padding-bottom:4px}
table{border-collapse:collapse;margin:8px 0;font-size:0.9em}
th,td{border:1px solid #ccd;padding:4px 8px;text-align:right}th{background:#f0f2f7}
td:first-child,th:first-child,td.text,th.text{text-align:left}
.note{background:#fff4d6;border:1px solid #f0c36d;padding:8px 12px;margin:8px 0;border-radius:4px}
.forced{background:#fde2e1;border-color:#e5867f;font-weight:bold}
tr.metric-start td{border-top:2px solid #99a}
.win{color:#137333}.loss{color:#b3261e}
.plot{max-width:100%;border:1px solid #eee;margin:8px 0}
.story{border:1px solid #dde;border-radius:6px;padding:12px;margin:16px 0}
.videos{display:flex;flex-wrap:wrap;gap:16px}
.video-cell{text-align:center;font-size:0.85em}
.video-preview{width:256px;height:auto;border:1px solid #ccd;background:#000;image-rendering:pixelated}
.scene-preview{width:128px;height:auto;border:1px solid #ccd;background:#000;image-rendering:pixelated}
td.scene-clip{text-align:center}
.missing{width:240px;height:120px;display:flex;align-items:center;justify-content:center;background:#f4f4f4;color:#777}
code{font-size:0.85em}
"""


@dataclass(frozen=True)
class Media:
    """A video file's bytes and media type."""

    name: str
    media_type: str
    data: bytes

    def data_uri(self) -> str:
        """The file as a base64 `data:` URI."""
        return f"data:{self.media_type};base64,{base64.b64encode(self.data).decode('ascii')}"


def _esc(value: Any) -> str:
    return html.escape("" if value is None else str(value))


# -- plots ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoryMedia:
    """One run's previews of one story: the whole story, and each scene by index."""

    story: Media | None
    scenes: dict[int, Media]


def _pick(names: set[str], stem: str) -> str | None:
    for suffix in PREVIEW_SUFFIXES:
        if f"{stem}{suffix}" in names:
            return f"{stem}{suffix}"
    return None


def fetch_story_media(client: Any, run: RunResults, story_id: str, download_dir: Path, scenes: bool = True) -> StoryMedia:
    """The run's `videos/<story_id>/` previews: `story.gif` (else `story.mp4`) and `scene_NN.gif` (else mp4)."""
    from mlflow.exceptions import MlflowException

    folder = f"videos/{story_id}"
    try:
        names = {Path(item.path).name for item in client.list_artifacts(run.run_id, folder)}
    except (MlflowException, OSError):
        return StoryMedia(None, {})

    def load(name: str | None) -> Media | None:
        if name is None:
            return None
        try:
            local = client.download_artifacts(run.run_id, f"{folder}/{name}", str(download_dir))
        except (MlflowException, OSError):
            return None
        data = Path(local).read_bytes()
        return Media(name=name, media_type=MEDIA_TYPES[Path(name).suffix], data=data) if data else None

    scene_media: dict[int, Media] = {}
    if scenes:
        indices = sorted({int(m.group(1)) for m in (SCENE_NAME.match(n) for n in names) if m})
        for index in indices:
            media = load(_pick(names, f"scene_{index:02d}"))
            if media is not None:
                scene_media[index] = media
    return StoryMedia(load(_pick(names, "story")), scene_media)


def _media_html(media: Media | None, label: str, css_class: str = "video-preview") -> str:
    if media is None:
        return '<div class="missing">no video logged</div>'
    uri = media.data_uri()
    alt = _esc(f"{label}: {media.name}")
    if media.media_type.startswith("video/"):
        return f'<video class="{css_class}" src="{uri}" controls loop muted autoplay playsinline title="{alt}"></video>'
    return f'<img class="{css_class}" src="{uri}" alt="{alt}">'


# -- HTML ----------------------------------------------------------------------------------------


def _runs_html(comparison: Comparison) -> str:
    rows = []
    for index, run in enumerate(comparison.runs):
        results = run.results
        suite = results.get("suite", {})
        run_id = f"<code>{_esc(run.run_id)}</code>"
        rows.append(
            "<tr>"
            f'<td class="text">{_esc(run.label)}{" (reference)" if index == 0 else ""}</td>'
            f'<td class="text">{run_id}</td>'
            f'<td class="text">{_esc(results.get("method"))}</td>'
            f'<td class="text">{_esc(suite.get("name"))} v{_esc(suite.get("version"))}</td>'
            f'<td class="text">{_esc(results.get("model_identity"))}</td>'
            f'<td class="text"><code>{_esc(results.get("config_hash"))}</code></td>'
            f'<td class="text">{_esc(results.get("seed"))}</td>'
            f'<td class="text">{_esc(encoder_kinds(results))}</td>'
            "</tr>"
        )
    return (
        '<table id="runs-table"><thead><tr>'
        + "".join(f'<th class="text">{name}</th>' for name in ("run", "id", "method", "suite", "model", "config hash", "seed", "encoders"))
        + "</tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
    )


def encoder_kinds(results: dict) -> str:
    """The kinds of a run's encoders (learned, world-trained, random-init, handcrafted), for the runs table."""
    kinds = sorted({str(d["kind"]) for d in (results.get("encoders") or {}).values() if isinstance(d, dict) and d.get("kind")})
    if kinds:
        return ", ".join(kinds)
    return "random-init" if results.get("non_semantic") else "pretrained"


def _comparison_table_html(comparison: Comparison) -> str:
    header = "".join(
        (f'<th class="text">{_esc(name)}</th>' if i < 3 else f"<th>{_esc(name)}</th>") for i, name in enumerate(TABLE_HEADER)
    )
    body = []
    for row in table_rows(comparison):
        info, pair = row.info, row.pair
        klass = ""
        if pair is not None and math.isfinite(pair.delta) and pair.delta != 0:
            klass = ' class="win"' if (pair.delta > 0) == info.higher_is_better else ' class="loss"'
        cells = [
            f'<td class="text" title="{_esc(info.metric)} v{_esc(info.version)}">{_esc(row.cells[0])}</td>',
            f'<td class="text">{_esc(row.cells[1])}</td>',
            f'<td class="text">{_esc(row.cells[2])}</td>',
            f"<td>{_esc(row.cells[3])}</td>",
            f"<td{klass}>{_esc(row.cells[4])}</td>",
            f"<td>{_esc(row.cells[5])}</td>",
            f"<td>{_esc(row.cells[6])}</td>",
            f'<td title="{_esc(power_title(pair))}">{_esc(row.cells[7])}</td>',
        ]
        style = ' class="metric-start"' if pair is None else ""
        body.append(f"<tr{style}>" + "".join(cells) + "</tr>")
    return f'<table id="comparison-table"><thead><tr>{header}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _annotation_text(annotation: Any) -> str:
    if isinstance(annotation, dict):
        parts = []
        for key, value in annotation.items():
            if isinstance(value, list | tuple):
                value = ", ".join(str(v) for v in value)
            parts.append(f"{key}: {value}")
        return "; ".join(parts)
    if isinstance(annotation, list | tuple):
        return ", ".join(str(v) for v in annotation)
    return "" if annotation is None else str(annotation)


def _story_records(comparison: Comparison) -> list[tuple[str, dict[str, dict[str, Any]]]]:
    """Story ids in the reference's order (then any only other runs have), with each run's record."""
    order: list[str] = []
    records: dict[str, dict[str, dict[str, Any]]] = {}
    for run in comparison.runs:
        for story in run.stories:
            story_id = str(story["id"])
            if story_id not in records:
                order.append(story_id)
                records[story_id] = {}
            records[story_id][run.run_id] = story
    return [(story_id, records[story_id]) for story_id in order]


def _story_html(
    comparison: Comparison,
    story_id: str,
    records: dict[str, dict[str, Any]],
    media: dict[tuple[str, str], StoryMedia],
) -> str:
    runs = comparison.runs
    empty = StoryMedia(None, {})
    base = next(records[run.run_id] for run in runs if run.run_id in records)
    cells = []
    for run in runs:
        record = records.get(run.run_id)
        status = "not in this run" if record is None else record.get("status", "ok")
        error = "" if record is None or not record.get("error") else f'<br><span class="loss">{_esc(record.get("error"))}</span>'
        cells.append(
            '<div class="video-cell">'
            + _media_html(media.get((run.run_id, story_id), empty).story, run.label)
            + f"<br><b>{_esc(run.label)}</b> ({_esc(run.results.get('method'))}) — {_esc(status)}{error}</div>"
        )
    prompts = base.get("prompts") or []
    annotations = base.get("annotations") or []
    with_scenes = any(media.get((run.run_id, story_id), empty).scenes for run in runs)
    scene_rows = []
    for index, prompt in enumerate(prompts):
        note = _annotation_text(annotations[index]) if index < len(annotations) else ""
        clips = ""
        if with_scenes:
            clips = "".join(
                f'<td class="scene-clip">{_media_html(media.get((run.run_id, story_id), empty).scenes.get(index), run.label, "scene-preview")}</td>'
                for run in runs
            )
        scene_rows.append(f'<tr><td>{index + 1}</td><td class="text">{_esc(prompt)}</td><td class="text">{_esc(note)}</td>{clips}</tr>')
    clip_header = "".join(f"<th>{_esc(run.label)}</th>" for run in runs) if with_scenes else ""
    value_rows = []
    for info in comparison.metrics:
        values = []
        for run in runs:
            record = records.get(run.run_id) or {}
            value = (record.get("values") or {}).get(info.key)
            reason = (record.get("unavailable") or {}).get(info.key)
            if value is None and reason:
                values.append(f'<td class="unavailable" title="{_esc(reason)}">unavailable</td>')
            else:
                values.append(f"<td>{_esc(fmt(float(value)) if value is not None else 'n/a')}</td>")
        value_rows.append(f'<tr><td class="text">{_esc(info.key)} {info.arrow}</td>{"".join(values)}</tr>')
    for metric in dict.fromkeys(info.metric for info in comparison.metrics):
        picks = [((records.get(run.run_id) or {}).get("details") or {}).get(metric) for run in runs]
        if any(isinstance(p, dict) and "detector" in p for p in picks):
            cells = "".join(
                f"<td>{_esc((p.get('detector') or 'none found') if isinstance(p, dict) else 'n/a')}"
                f"{' (' + _esc(p['proxy']) + ')' if isinstance(p, dict) and p.get('proxy') else ''}</td>"
                for p in picks
            )
            value_rows.append(f'<tr><td class="text">{_esc(metric)}: detector</td>{cells}</tr>')
    value_header = "".join(f"<th>{_esc(run.label)}</th>" for run in runs)
    return (
        f'<div class="story" id="story-{_esc(story_id)}"><h3>Story {_esc(story_id)}</h3>'
        f'<div class="videos">{"".join(cells)}</div>'
        f'<table class="prompts"><thead><tr><th>scene</th><th class="text">prompt</th><th class="text">annotations</th>{clip_header}</tr></thead>'
        f'<tbody>{"".join(scene_rows)}</tbody></table>'
        f'<table class="story-values"><thead><tr><th>metric</th>{value_header}</tr></thead>'
        f'<tbody>{"".join(value_rows)}</tbody></table></div>'
    )


def render_html(
    comparison: Comparison,
    media: dict[tuple[str, str], StoryMedia] | None = None,
    title: str | None = None,
) -> str:
    """The complete report as one HTML string (plots drawn here; `media` keyed by (run id, story id))."""
    media = media or {}
    notes = "".join(
        f'<div class="note{" forced" if note.startswith("FORCED") else ""}">{_esc(note)}</div>'
        for note in headline_notes(comparison)
    )
    bars = base64.b64encode(plot_metric_bars(comparison)).decode("ascii")
    deltas = base64.b64encode(plot_story_deltas(comparison)).decode("ascii")
    distance = "".join(
        f'<img class="plot" id="plot-distance-{_esc(metric)}" alt="{_esc(metric)}: shared-pair consistency by scene distance" '
        f'src="data:image/png;base64,{base64.b64encode(plot_distance(comparison, metric)).decode("ascii")}">'
        for metric in distance_metrics_with_data(comparison)
    )
    stories = "".join(_story_html(comparison, story_id, records, media) for story_id, records in _story_records(comparison))
    heading = title or "msvg-bench comparison: " + " vs ".join(run.label for run in comparison.runs)
    created = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{_esc(heading)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{_esc(heading)}</h1>"
        f"<p>msvg-bench {_esc(__version__)}, {_esc(created)}. Reference: <b>{_esc(comparison.reference.label)}</b>. "
        f"Δ = run − reference, mean over stories both runs scored; 95% CI by paired bootstrap "
        f"({comparison.n_boot} resamples, seed {comparison.seed}); win rate = wins / (wins + losses), ties not counted; "
        f"↑ higher is better, ↓ lower is better. {_esc(POWER_NOTE)}.</p>"
        f"{notes}<h2>Runs</h2>{_runs_html(comparison)}"
        f"<h2>Metrics</h2>{_comparison_table_html(comparison)}"
        f'<h2>Plots</h2><img class="plot" id="plot-metrics" alt="per-metric means with 95% CI" src="data:image/png;base64,{bars}">'
        f'<img class="plot" id="plot-deltas" alt="per-story differences" src="data:image/png;base64,{deltas}">{distance}'
        f"<h2>Stories</h2>{stories}</body></html>\n"
    )


def collect_media(
    client: Any, runs: Sequence[RunResults], story_ids: Sequence[str], scenes: bool = True
) -> dict[tuple[str, str], StoryMedia]:
    """Each run's preview of each story, fetched from MLflow artifacts."""
    quiet_downloads()
    media: dict[tuple[str, str], StoryMedia] = {}
    with tempfile.TemporaryDirectory(prefix="msvg-report-") as tmp:
        for run in runs:
            for story_id in story_ids:
                target = Path(tmp) / run.run_id / story_id
                target.mkdir(parents=True, exist_ok=True)
                media[(run.run_id, story_id)] = fetch_story_media(client, run, story_id, target, scenes)
    return media


def build_report(
    comparison: Comparison,
    client: Any | None = None,
    *,
    videos: bool = True,
    scene_videos: bool = True,
    max_video_stories: int | None = None,
    title: str | None = None,
) -> str:
    """The report for `comparison`, with the runs' story (and scene) videos fetched through `client` when `videos`.

    `max_video_stories` embeds videos for the first N stories only (the rest keep prompts and values),
    which bounds the size of the single-file report on large suites.
    """
    media: dict[tuple[str, str], StoryMedia] = {}
    if videos and client is not None:
        story_ids = [story_id for story_id, _ in _story_records(comparison)][:max_video_stories]
        media = collect_media(client, comparison.runs, story_ids, scenes=scene_videos)
    return render_html(comparison, media=media, title=title)
