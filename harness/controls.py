"""`msvg-bench controls`: score model-free corrupted copies of a suite's stories beside the originals.

The stories come from where `eval` would take them without generating (the suite's reference videos,
`--videos` footage, or a method's already generated stories). Each story is scored as it is and once
per control (`msvg_bench.eval.controls`), with the configured metrics, encoders and detectors and
the evaluation's embedding cache, so unchanged scenes are never encoded twice. The result is
`controls.json` (schema `msvg-bench/controls`), `controls.html`, a terminal table and an MLflow run
in the `msvg-bench/controls` experiment.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from msvg_bench.benchmarks.suite import load_suite
from msvg_bench.controls_report import controls_html, print_controls
from msvg_bench.core.atomic import atomic_write_json, atomic_write_text
from msvg_bench.core.errors import DataError, MsvgError
from msvg_bench.core.progress import progress
from msvg_bench.core.tracking import start_run
from msvg_bench.eval.controls.spec import select_controls
from msvg_bench.eval.controls.spec import WORSE
from msvg_bench.eval.controls.summary import changes
from msvg_bench.eval.controls.summary import summarize
from msvg_bench.eval.results import now_iso
from msvg_bench.eval.runner import encoder_descriptions, is_non_semantic, metric_infos
from msvg_bench.eval.runner import score_story
from msvg_bench.evaluation import build_sources

if TYPE_CHECKING:
    from msvg_bench.config import Config
    from msvg_bench.eval.controls.spec import Control
    from msvg_bench.eval.inputs import StoryInput
    from msvg_bench.eval.sources import StorySource

SCHEMA = "msvg-bench/controls"
JSON_NAME, HTML_NAME = "controls.json", "controls.html"


def _echo(message: str, err: bool = False) -> None:
    import sys

    print(message, file=sys.stderr if err else sys.stdout, flush=True)


def load_inputs(sources: list[StorySource], echo: Callable[..., None]) -> list[tuple[StorySource, StoryInput]]:
    """Each source's story input (frames stay lazy); a story that does not load is reported and left out."""
    loaded = []
    for source in sources:
        try:
            loaded.append((source, source.load()))
        except MsvgError as exc:
            echo(f"story {source.id} left out: {exc}", err=True)
    return loaded


def _score(story: StoryInput, template: Any, metrics: list, ctx: Any, seed: int) -> Any:
    from msvg_bench.eval.controls.footage import copy_story
    from msvg_bench.eval.sources import StorySource

    return score_story(StorySource(story.id, template, lambda: copy_story(story)), metrics, ctx, seed)


def score_controls(cfg: Config, stories: list[tuple[StorySource, StoryInput]], controls: list[Control], metrics: list,
                   ctx: Any, video_root: Path) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """Per story: the original's values and, per control, the scene changed, the donor and the changes.

    Every original is scored first, so donor scenes come only from stories on which the control's target
    metric is defined. Returns the story records and the seconds spent on the originals and on the controls.
    """
    from msvg_bench.eval.controls.build import build
    from msvg_bench.eval.controls.footage import NotApplicable, SceneWriter

    writer = SceneWriter(video_root)
    records, timing = [], {"original_s": 0.0, "controls_s": 0.0}
    with progress() as bar:
        task = bar.add_task("controls", total=len(stories) * (1 + len(controls)))
        originals = []
        start = time.perf_counter()
        for source, story in stories:
            originals.append(_score(story, source.template, metrics, ctx, cfg.seed))
            bar.advance(task)
        timing["original_s"] = time.perf_counter() - start
        start = time.perf_counter()
        for (source, story), original in zip(stories, originals, strict=True):
            record: dict[str, Any] = {"id": story.id, "status": original.status, "error": original.error,
                                      "values": original.values, "controls": {}}
            for control in controls:
                entry: dict[str, Any]
                try:
                    if original.status != "ok":
                        raise NotApplicable("the original story failed")
                    made = build(control, story, donor_pool(control, stories, originals), cfg.seed, writer)
                    scored = _score(made.story, source.template, metrics, ctx, cfg.seed)
                    if scored.status != "ok":
                        entry = {"applied": False, "reason": f"scoring failed: {scored.error}"}
                    else:
                        entry = {"applied": True, "scene": made.scene, "donor": made.donor,
                                 "changes": changes(original.values, scored.values)}
                except NotApplicable as exc:
                    entry = {"applied": False, "reason": str(exc)}
                record["controls"][control.name] = entry
                bar.advance(task)
            for _, other in stories:  # bound memory: donors' frames decode again when next needed
                other.release()
            records.append(record)
        timing["controls_s"] = time.perf_counter() - start
    return records, timing


def donor_pool(control: Control, stories: list[tuple[StorySource, StoryInput]], originals: list[Any]) -> list[StoryInput]:
    """The stories a control may take donor scenes from: those on which one of its target metrics is defined
    (a scene from footage where the metric finds nothing, e.g. no face on screen, would test nothing)."""
    usable = [story for (_, story), original in zip(stories, originals, strict=True)
              if original.status == "ok" and any(key in original.values for key in control.targets)]
    return usable or [story for _, story in stories]


def document(suite: Any, label: str, identity: str, encoders: dict[str, Any], non_semantic: bool, infos: dict[str, Any],
             controls: list[Control], records: list[dict[str, Any]], timing: dict[str, float]) -> dict[str, Any]:
    """The `msvg-bench/controls` document: settings, per-control summaries and per-story records."""
    keys = [k for k in WORSE if k in infos]
    summaries = {}
    for control in controls:
        entries = [r["controls"].get(control.name, {}) for r in records]
        deltas = [e["changes"] for e in entries if e.get("applied")]
        summary = summarize(control, deltas, keys)
        skipped: dict[str, int] = {}
        for e in entries:
            if not e.get("applied") and e:
                skipped[e["reason"]] = skipped.get(e["reason"], 0) + 1
        summary["skipped"] = skipped
        summaries[control.name] = summary
    return {"schema": SCHEMA, "schema_version": 1, "suite": {"name": suite.name, "version": suite.version},
            "method": label, "model_identity": identity, "encoders": encoders, "non_semantic": non_semantic,
            "metrics": {k: {"higher_is_better": infos[k].higher_is_better, "encoder": infos[k].encoder, "backend": infos[k].backend} for k in keys},
            "controls": summaries, "stories": records, "timing": timing, "created": now_iso()}


def run_controls(cfg: Config, method: str | None, names: list[str] | None, echo: Callable[..., None] = _echo) -> int:
    """Build and score the controls of the configured suite; write, print and log them. Returns the exit code."""
    from msvg_bench.eval.context import MetricContext
    from msvg_bench.eval.metrics import resolve_metrics
    try:
        controls = select_controls(names)
    except ValueError as exc:
        raise DataError(f"--only: {exc}") from None
    suite = load_suite(cfg.eval.suite).limited(cfg.eval.limit)
    output_dir = Path(cfg.eval.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    metrics = resolve_metrics(cfg.eval.metrics)
    cache_root = Path(cfg.eval.cache_dir) if cfg.eval.cache_dir else output_dir / "cache"
    ctx = MetricContext(cfg.eval, cache_root, default_paths={"clip4clip": cfg.model.clip4clip_dir})
    sources, label, identity, ignored = build_sources(cfg, suite, method, output_dir, generate=False)
    if ignored:
        echo(f"{cfg.eval.videos}: not checking {len(ignored)} stories that suite {suite.name!r} does not have: "
             + ", ".join(sorted(ignored)))
    stories = load_inputs(sources, echo)
    if not stories:
        raise DataError(f"suite {suite.name!r}: no story could be loaded for the controls")
    infos = metric_infos(metrics, ctx)
    encoders = encoder_descriptions(metrics, ctx)
    with start_run("controls", cfg.record(), run_name=cfg.tracking.run_name or f"{suite.name} {label} controls") as tracker:
        records, timing = score_controls(cfg, stories, controls, metrics, ctx, output_dir / "controls")
        doc = document(suite, label, identity, encoders, is_non_semantic(encoders), infos, controls, records, timing)
        json_path, html_path = output_dir / JSON_NAME, output_dir / HTML_NAME
        atomic_write_json(json_path, doc)
        atomic_write_text(html_path, controls_html(doc))
        print_controls(doc, json_path)
        log_controls(tracker, doc, json_path, html_path)
        if tracker.run_id:
            echo(f"MLflow run {tracker.run_id} (experiment msvg-bench/controls)")
    failed = [r["id"] for r in records if r["status"] != "ok"]
    if failed:
        echo(f"{len(failed)} of {len(records)} stories failed to score: {', '.join(failed[:5])}", err=True)
        return 1
    return 0


def log_controls(tracker: Any, doc: dict[str, Any], json_path: Path, html_path: Path) -> None:
    """Tags like an eval run's, `controls/<control>/<key>/{detection_rate,median_effect,collateral}`, the files."""
    import math

    tags = {"msvg.suite": doc["suite"]["name"], "msvg.suite_version": doc["suite"]["version"], "msvg.method": doc["method"],
            "msvg.model_identity": doc["model_identity"], "msvg.non_semantic": str(doc["non_semantic"]).lower()}
    for role, description in doc["encoders"].items():
        tags[f"msvg.encoder.{role}"] = str(description.get("identity"))
    tracker.set_tags(tags)
    values: dict[str, float] = {}
    for name, summary in doc["controls"].items():
        for key, row in summary["targets"].items():
            values[f"controls/{name}/{key}/detection_rate"] = row["rate"]
            values[f"controls/{name}/{key}/median_effect"] = row["median_effect"]
        for key, row in summary["collateral"].items():
            values[f"controls/{name}/{key}/collateral"] = row["median_change"]
    tracker.log_metrics({k: v for k, v in values.items() if math.isfinite(v)})
    tracker.log_artifact(json_path, "controls")
    tracker.log_artifact(html_path, "controls")
