"""Score a suite story by story: resumable, one failure does not stop the suite, shardable.

`run_suite` writes the results file after every story (atomically), so an interrupted or partly
failed run resumes where it stopped: stories already `ok` in a compatible results file are kept and
only the rest are scored. Shard i of n scores stories i, i+n, i+2n, ... into its own file;
`merge_shards` joins them into the same results (and aggregates) one process would write.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from msvg_bench.core.errors import ConfigError, DataError, MsvgError
from msvg_bench.core.progress import progress
from msvg_bench.core.seeding import derive_seed
from msvg_bench.eval.metrics.base import MetricContractError, check_values
from msvg_bench.eval.results import (
    MetricInfo,
    Results,
    SceneResult,
    StoryResult,
    SuiteRef,
    finalize,
    merge_results,
    read_results,
    write_results,
)

if TYPE_CHECKING:
    from msvg_bench.benchmarks.suite import Suite
    from msvg_bench.eval.context import MetricContext
    from msvg_bench.eval.metrics import Metric
    from msvg_bench.eval.sources import StorySource

RESULTS_NAME = "results.json"


@dataclass
class RunOutcome:
    """What `run_suite` did: the results, which stories it scored now, and component timings."""

    results: Results
    path: Path
    scored: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    timers: dict[str, float] = field(default_factory=dict)
    cache: dict[str, int] = field(default_factory=dict)


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """`"i/n"` -> (i, n) with 0 <= i < n; None stays None."""
    if text is None:
        return None
    try:
        index, count = (int(x) for x in text.split("/"))
    except ValueError:
        raise ConfigError(f"eval.shard {text!r} is not of the form i/n (e.g. 0/2)") from None
    if count < 1 or not 0 <= index < count:
        raise ConfigError(f"eval.shard {text!r}: need 0 <= i < n")
    return index, count


def shard_path(output_dir: Path, shard: tuple[int, int]) -> Path:
    """The results file of one shard."""
    return output_dir / f"results.shard-{shard[0]}-of-{shard[1]}.json"


def results_path(output_dir: Path, shard: tuple[int, int] | None) -> Path:
    """Where a (shard's) results file goes."""
    return shard_path(output_dir, shard) if shard else output_dir / RESULTS_NAME


@dataclass(frozen=True)
class ScoringSettings:
    """What `run_suite` reads of the resolved config.

    `config_hash` identifies the scoring (the app layer's `scoring_config_hash`: settings that change
    no story's values normalised); `story_batch` is `generate.story_batch`, `resume` is `eval.resume`.
    """

    config_hash: str
    seed: int
    resume: bool = True
    story_batch: int = 1


def metric_infos(metrics: Sequence[Metric], ctx: MetricContext) -> dict[str, MetricInfo]:
    """Per key: metric name, version, direction, encoder identity and backend."""
    infos: dict[str, MetricInfo] = {}
    for metric in metrics:
        encoder, backend = metric.component(ctx)
        for key, higher in metric.keys().items():
            infos[key] = MetricInfo(metric=metric.name, version=metric.version, higher_is_better=higher, encoder=encoder, backend=backend)
    return infos


def encoder_descriptions(metrics: Sequence[Metric], ctx: MetricContext) -> dict[str, dict[str, Any]]:
    """What each encoder role / the flow backend is (identity, kind, non-semantic flag)."""
    out: dict[str, dict[str, Any]] = {}
    for metric in metrics:
        out.update(metric.describe_components(ctx))
    return out


def is_non_semantic(encoders: dict[str, dict[str, Any]]) -> bool:
    """True when any encoder or backend is random-init or handcrafted."""
    return any(bool(d.get("non_semantic")) for d in encoders.values())


def one_line_error(exc: BaseException) -> str:
    """`Type: message` on one line (MsvgErrors already name the file)."""
    text = " ".join(str(exc).split()) or "(no message)"
    return text if isinstance(exc, MsvgError) else f"{type(exc).__name__}: {text}"


def score_story(source: StorySource, metrics: Sequence[Metric], ctx: MetricContext, seed: int | None = None) -> StoryResult:
    """Every metric on one story; any exception makes the story `failed` with a one-line error."""
    template = source.template
    result = StoryResult(
        id=source.id,
        status="ok",
        prompts=template.prompts,
        annotations=[{"setting": s.setting, "characters": list(s.characters)} for s in template.scenes],
        seed=seed,
    )
    story = None
    try:
        story = source.load()
        result.prompts = story.prompts
        result.annotations = [s.annotation() for s in story.scenes]
        scenes: dict[int, SceneResult] = {s.index: SceneResult(index=s.index) for s in story.scenes}
        for metric in metrics:
            values = metric.compute(story, ctx)
            check_values(metric, values)
            result.values.update(values.story)
            result.unavailable.update(values.unavailable)
            result.details.update(values.details)
            for index, scene_values in values.scenes.items():
                scenes.setdefault(index, SceneResult(index=index)).values.update(scene_values)
            for index, reasons in values.scene_unavailable.items():
                scenes.setdefault(index, SceneResult(index=index)).unavailable.update(reasons)
            for index, info in values.scene_details.items():
                scenes.setdefault(index, SceneResult(index=index)).details.update(info)
        result.scenes = [scenes[i] for i in sorted(scenes)]
    except (KeyboardInterrupt, SystemExit, MetricContractError):
        raise  # a metric breaking its contract is a bug in the metric, not a broken story: the run stops
    except Exception as exc:  # noqa: BLE001 - one broken story must not stop the suite
        result.status = "failed"
        result.error = one_line_error(exc)
        result.values, result.scenes, result.unavailable, result.details = {}, [], {}, {}
        if not isinstance(exc, MsvgError):
            result.error += " @ " + _where(exc)
    finally:
        if story is not None:
            story.release()
        ctx.clear_memo()
    return result


def _where(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    return f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "?"


def metric_names(metrics: Sequence[Metric]) -> dict[str, str]:
    """{result key: metric name} of the keys `metrics` write."""
    return {key: metric.name for metric in metrics for key in metric.keys()}


def refuse_other_metrics(path: Path, keys: dict[str, str]) -> None:
    """Refuse (ConfigError) to replace results at `path` that hold other metric keys than `keys` ({key: metric}).

    Re-running into the same folder with other `--metrics` would otherwise overwrite the earlier numbers.
    An unreadable file is not results to keep; it is left to the resume logic.
    """
    if not path.is_file():
        return
    try:
        old = read_results(path)
    except DataError:
        return
    if set(old.metrics) == set(keys):
        return

    def names(by_key: dict[str, str]) -> str:
        return ",".join(sorted(set(by_key.values()))) or "none"

    before = names({key: info.metric for key, info in old.metrics.items()})
    raise ConfigError(
        f"{path.parent}: already holds {path.name} of metrics {before}, this evaluation measures {names(keys)}; "
        f"write it to another -o/--out (or remove {path} to replace those results)"
    )


def compatible_previous(path: Path, fresh: Results) -> Results | None:
    """The existing results at `path` when they were made the same way (else None)."""
    if not path.is_file():
        return None
    try:
        old = read_results(path)
    except DataError:
        return None
    same = (
        old.config_hash == fresh.config_hash
        and old.suite == fresh.suite
        and old.method == fresh.method
        and old.model_identity == fresh.model_identity
        and old.seed == fresh.seed
        and old.metrics == fresh.metrics
    )
    return old if same else None


def run_suite(
    scoring: ScoringSettings,
    suite: Suite,
    sources: Sequence[StorySource],
    metrics: Sequence[Metric],
    ctx: MetricContext,
    output_dir: Path,
    method: str,
    model_identity: str,
    shard: tuple[int, int] | None = None,
    on_story: Callable[[StoryResult], None] | None = None,
    ignored: dict[str, str] | None = None,
) -> RunOutcome:
    """Score `sources` (this shard's share) with `metrics`, writing results after every story.

    `ignored` ({story id: reason}: videos that are not suite stories) is recorded in the results.
    Results of other metrics already at the results path are not replaced (`refuse_other_metrics`).
    """
    order = [s.id for s in sources]
    mine = [s for i, s in enumerate(sources) if shard is None or i % shard[1] == shard[0]]
    encoders = encoder_descriptions(metrics, ctx)
    fresh = Results(
        suite=SuiteRef(name=suite.name, version=suite.version),
        method=method,
        model_identity=model_identity,
        config_hash=scoring.config_hash,
        seed=scoring.seed,
        non_semantic=is_non_semantic(encoders),
        metrics=metric_infos(metrics, ctx),
        encoders=encoders,
        shard={"index": shard[0], "count": shard[1]} if shard else None,
        ignored=dict(ignored or {}),
    )
    path = results_path(output_dir, shard)
    refuse_other_metrics(path, {key: info.metric for key, info in fresh.metrics.items()})
    previous = compatible_previous(path, fresh) if scoring.resume else None
    done = {s.id: s for s in previous.stories if s.status == "ok"} if previous else {}
    results = fresh
    results.stories = [done[s.id] for s in mine if s.id in done]
    outcome = RunOutcome(results, path, kept=[s.id for s in results.stories])
    todo = [s for s in mine if s.id not in done]
    write_results(path, finalize(results, order))
    from msvg_bench.eval.sources import prepare_together

    batch = scoring.story_batch
    with progress() as bar:
        task = bar.add_task(f"eval {suite.name}", total=len(todo))
        for number, source in enumerate(todo):
            if number % batch == 0:  # generated stories: the next `generate.story_batch` ones together
                prepare_together(todo[number : number + batch])
            seed = derive_seed(scoring.seed, "eval", suite.name, source.id) % (2**31)
            story_result = score_story(source, metrics, ctx, seed)
            results.stories = [s for s in results.stories if s.id != source.id] + [story_result]
            write_results(path, finalize(results, order))
            outcome.scored.append(source.id)
            if on_story is not None:
                on_story(story_result)
            bar.advance(task)
    outcome.timers = dict(ctx.timers)
    outcome.cache = ctx.cache_stats()
    return outcome


def find_shards(output_dir: Path) -> list[Path]:
    """Shard result files in `output_dir` (all of one shard count), in shard order."""
    files = sorted(output_dir.glob("results.shard-*-of-*.json"))
    if not files:
        raise DataError(f"{output_dir}: no shard results (results.shard-I-of-N.json) to merge")
    counts = {f.stem.rsplit("-of-", 1)[1] for f in files}
    if len(counts) != 1:
        raise DataError(f"{output_dir}: shard files of different shard counts {sorted(counts)}; remove the stale ones")
    count = int(counts.pop())
    present = {int(f.stem.split("shard-")[1].split("-of-")[0]) for f in files}
    missing = sorted(set(range(count)) - present)
    if missing:
        raise DataError(f"{output_dir}: shards {missing} of {count} are missing")
    return sorted(files, key=lambda f: int(f.stem.split("shard-")[1].split("-of-")[0]))


def merge_shards(output_dir: Path, story_order: Sequence[str] | None = None) -> tuple[Results, Path]:
    """Join every shard file of `output_dir` into `results.json` (suite order when given)."""
    parts = [read_results(p) for p in find_shards(output_dir)]
    merged = merge_results(parts, story_order)
    path = output_dir / RESULTS_NAME
    refuse_other_metrics(path, {key: info.metric for key, info in merged.metrics.items()})
    write_results(path, merged)
    return merged, path
