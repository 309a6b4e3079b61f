"""The versioned results JSON of an evaluation (schema `msvg-bench/results`, version 1).

Layout::

    {"schema": "msvg-bench/results", "schema_version": 1, "suite": {"name", "version"},
     "method", "model_identity", "config_hash", "seed", "non_semantic",
     "metrics": {<key>: {"metric", "version", "higher_is_better", "encoder", "backend"}},
     "stories": [{"id", "status": "ok"|"failed", "error", "prompts", "annotations",
                  "values": {<key>: float}, "unavailable": {<key>: reason}, "details": {<metric>: {...}},
                  "scenes": [{"index", "values", "unavailable", "details"}]}],
     "aggregate": {<key>: {"mean", "std", "n"}},
     "distance": {<metric>: {"shared"|"nonshared": {<d>: {"mean", "ci_low", "ci_high", "n_stories", "n_pairs"}}}},
     "created": iso-time, "encoders": {...}, "shard": {...} | null, "ignored": {<story id>: reason}}

`values` hold only defined numbers (a story without non-shared pairs has no `*_nonshared` key);
a key the story defines but that could not be measured is in `unavailable` with the reason (never a
number), and `details` hold per-metric diagnostics (e.g. which detector found the characters);
aggregates are over `ok` stories that have a value for the key: mean, sample standard deviation (ddof 1; 0
when n is 1) and n; `distance` holds each pair metric's consistency by scene distance
(`msvg_bench.eval.distance`). `stories` are exactly the suite's (a story whose videos are missing is
`failed`); `ignored` names the stories of a videos folder that are not in the suite, and so were not
scored. Two results are comparable when `comparable(a, b)` is empty.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from msvg_bench.core.atomic import atomic_write_text
from msvg_bench.core.errors import DataError
from msvg_bench.eval.distance import distance_curves
from pydantic import BaseModel, ConfigDict, Field, ValidationError

SCHEMA_NAME = "msvg-bench/results"
SCHEMA_VERSION = 1


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, protected_namespaces=())


class SuiteRef(_Model):
    """Which suite (and which version of it) the stories came from."""

    name: str
    version: str


class MetricInfo(_Model):
    """How one metric key was computed: metric name and version, direction, encoder identity, backend."""

    metric: str
    version: str
    higher_is_better: bool
    encoder: str | None = None
    backend: str | None = None


class SceneResult(_Model):
    """Per-scene values of one story."""

    index: int
    values: dict[str, float] = Field(default_factory=dict)
    unavailable: dict[str, str] = Field(default_factory=dict, description="key -> why it could not be measured in this scene")
    details: dict[str, Any] = Field(default_factory=dict, description="metric -> diagnostics")


class StoryResult(_Model):
    """One story: status, its prompts and annotations, per-story and per-scene values."""

    id: str
    status: Literal["ok", "failed"]
    error: str | None = None
    prompts: list[str] = Field(default_factory=list)
    annotations: list[dict[str, Any]] = Field(default_factory=list)
    values: dict[str, float] = Field(default_factory=dict)
    unavailable: dict[str, str] = Field(default_factory=dict, description="key -> why the story could not be scored on it")
    details: dict[str, Any] = Field(default_factory=dict, description="metric -> diagnostics (detector used, per-character values)")
    scenes: list[SceneResult] = Field(default_factory=list)
    seed: int | None = None


class Aggregate(_Model):
    """Mean, sample standard deviation and count of a key over the stories that define it."""

    mean: float
    std: float
    n: int


class Results(_Model):
    """A whole evaluation result file."""

    schema_name: Literal["msvg-bench/results"] = Field(SCHEMA_NAME, alias="schema")
    schema_version: Literal[1] = SCHEMA_VERSION
    suite: SuiteRef
    method: str
    model_identity: str
    config_hash: str
    seed: int
    non_semantic: bool
    metrics: dict[str, MetricInfo] = Field(default_factory=dict)
    stories: list[StoryResult] = Field(default_factory=list)
    aggregate: dict[str, Aggregate] = Field(default_factory=dict)
    distance: dict[str, Any] = Field(default_factory=dict, description="metric -> part -> distance -> story-level mean, CI, counts")
    created: str = Field(default_factory=lambda: now_iso())
    encoders: dict[str, dict[str, Any]] = Field(default_factory=dict, description="role -> encoder description")
    shard: dict[str, int] | None = Field(None, description="{'index', 'count'} when this file holds one shard")
    ignored: dict[str, str] = Field(default_factory=dict, description="story id -> why the videos' story was not scored (not in the suite)")

    def to_json(self) -> dict[str, Any]:
        """The JSON document (field `schema` spelt as in the file)."""
        return self.model_dump(mode="json", by_alias=True)

    @property
    def failed(self) -> list[StoryResult]:
        """Stories that could not be scored."""
        return [s for s in self.stories if s.status == "failed"]

    def story(self, story_id: str) -> StoryResult | None:
        """The result of one story, if present."""
        return next((s for s in self.stories if s.id == story_id), None)


def unavailable_counts(results: Results) -> dict[str, tuple[int, int]]:
    """Per metric key with any unavailable story: (stories with a value, `ok` stories that define the key)."""
    ok = [s for s in results.stories if s.status == "ok"]
    keys = {key for s in ok for key in s.unavailable}
    return {key: (sum(1 for s in ok if key in s.values), sum(1 for s in ok if key in s.values or key in s.unavailable)) for key in sorted(keys)}


def now_iso() -> str:
    """The current UTC time, ISO 8601 with seconds."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def aggregate(stories: Iterable[StoryResult], keys: Sequence[str] | None = None) -> dict[str, Aggregate]:
    """Mean, sample std (ddof 1, 0 for one value) and n of each key over `ok` stories, in story order."""
    ok = [s for s in stories if s.status == "ok"]
    if keys is None:
        ordered: dict[str, None] = {}
        for story in ok:
            ordered.update(dict.fromkeys(story.values))
        keys = list(ordered)
    out: dict[str, Aggregate] = {}
    for key in keys:
        values = [s.values[key] for s in ok if key in s.values and math.isfinite(s.values[key])]
        if not values:
            continue
        mean = math.fsum(values) / len(values)
        std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0
        out[key] = Aggregate(mean=mean, std=std, n=len(values))
    return out


def finalize(results: Results, story_order: Sequence[str] | None = None) -> Results:
    """Order stories (suite order when given) and recompute the aggregates over the metric keys."""
    if story_order is not None:
        rank = {sid: i for i, sid in enumerate(story_order)}
        results.stories.sort(key=lambda s: (rank.get(s.id, len(rank)), s.id))
    results.aggregate = aggregate(results.stories, list(results.metrics) or None)
    results.distance = distance_curves(results.stories)
    return results


def write_results(path: str | Path, results: Results) -> Path:
    """Write results JSON atomically (a reader sees the old file or the whole new one)."""
    path = Path(path)
    atomic_write_text(path, json.dumps(results.to_json(), indent=2, ensure_ascii=False) + "\n")
    return path


def read_results(path: str | Path) -> Results:
    """Read and validate a results file; one-line `DataError` naming the file on any problem."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: results file not found")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not valid JSON ({exc})") from None
    return parse_results(data, str(path))


def parse_results(data: Any, source: str) -> Results:
    """Validate a parsed results document (file or MLflow artifact); one-line `DataError` naming `source`."""
    if not isinstance(data, dict) or data.get("schema") != SCHEMA_NAME:
        raise DataError(f"{source}: not an msvg-bench results file (schema {data.get('schema') if isinstance(data, dict) else None!r})")
    if data.get("schema_version") != SCHEMA_VERSION:
        raise DataError(f"{source}: results schema_version {data.get('schema_version')!r} is not supported (expected {SCHEMA_VERSION})")
    try:
        results = Results.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise DataError(f"{source}: invalid results at {where}: {first['msg']}") from None
    seen: set[str] = set()
    for story in results.stories:
        if story.id in seen:
            raise DataError(f"{source}: story id {story.id!r} appears twice")
        seen.add(story.id)
    return results


def merge_results(parts: Sequence[Results], story_order: Sequence[str] | None = None) -> Results:
    """Join shard results of one evaluation into one (same suite, method, config, metrics)."""
    if not parts:
        raise DataError("no results to merge")
    first = parts[0]
    for other in parts[1:]:
        problems = comparable(first, other)
        for field in ("method", "config_hash", "model_identity", "seed"):
            if getattr(first, field) != getattr(other, field):
                problems.append(f"{field} {getattr(first, field)!r} vs {getattr(other, field)!r}")
        if problems:
            raise DataError(f"cannot merge shards: {'; '.join(problems)}")
    stories: dict[str, StoryResult] = {}
    for part in parts:
        for story in part.stories:
            previous = stories.get(story.id)
            if previous is None or (previous.status == "failed" and story.status == "ok"):
                stories[story.id] = story
    merged = first.model_copy(deep=True)
    merged.stories = list(stories.values())
    merged.shard = None
    merged.created = now_iso()
    for part in parts:
        merged.encoders.update(part.encoders)
        merged.ignored.update(part.ignored)
    return finalize(merged, story_order)


def comparable(a: Results, b: Results) -> list[str]:
    """Reasons two results cannot be compared (suite version, metric versions, encoders, backends)."""
    problems = []
    if (a.suite.name, a.suite.version) != (b.suite.name, b.suite.version):
        problems.append(f"suite {a.suite.name}@{a.suite.version} vs {b.suite.name}@{b.suite.version}")
    for key in sorted(set(a.metrics) & set(b.metrics)):
        ma, mb = a.metrics[key], b.metrics[key]
        for field in ("version", "encoder", "backend"):
            if getattr(ma, field) != getattr(mb, field):
                problems.append(f"{key}: {field} {getattr(ma, field)!r} vs {getattr(mb, field)!r}")
    return problems
