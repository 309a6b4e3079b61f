"""Evaluation suites: named, versioned lists of stories (prompts + setting/character annotations).

A suite file is JSON under `benchmarks/suites/` (or any path given to `load_suite`):

- kind `stories`:   `{"name", "version", "kind": "stories", "description", "stories": [{"id",
                    "scenes": [{"caption", "setting", "characters"}]}]}` — prompts to generate from
                    (or to match against `--videos`).
- kind `synthetic`: `{"name", "version", "kind": "synthetic", "description", "params": {"stories",
                    "scenes", "frames", "height", "width", "seed", "fps", "register"?}}` — the synthetic story world
                    (`msvg_bench.benchmarks.synth`). Its reference videos are drawn by `materialize`,
                    with each clip's character boxes written beside it (`<clip>.boxes.json`), so the
                    ground truth of shared settings and characters is known exactly.

A synthetic suite's stories are planned lazily (`PlannedStories`), so `limited(n)` plans only the
first n. Every suite file in the package folder is registered under its file name in `SUITES` (the
file's `name` must be the same).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, overload

from msvg_bench.benchmarks.schemas import SuiteFile
from msvg_bench.benchmarks.stories import Scene, Story
from msvg_bench.core.atomic import atomic_write_json
from msvg_bench.core.errors import DataError, ProblemsError
from msvg_bench.core.jsonpos import loads_with_lines, schema_problems
from msvg_bench.core.paths import id_problem
from msvg_bench.core.registry import Registry

SUITES: Registry[Path] = Registry("suite")
"""Suite files by suite name."""

SYNTH_PARAM_KEYS = ("stories", "scenes", "frames", "height", "width", "seed", "fps")
SYNTH_OPTIONAL_KEYS = ("register", "patterns")  # reference (default) | described; the default pattern cycle


@dataclass
class Suite:
    """A loaded suite: its stories' prompts and annotations, and how to draw reference videos."""

    name: str
    version: str
    kind: str
    description: str
    path: Path
    stories: Sequence[Story]
    params: dict[str, Any] = field(default_factory=dict)
    beyond_limit: tuple[str, ...] = ()
    """Ids of the suite's stories that `limited` left out (they belong to the suite but are not scored)."""

    @property
    def has_reference_videos(self) -> bool:
        """Whether the suite can draw its own videos (the synthetic world)."""
        return self.kind == "synthetic"

    def story_ids(self) -> list[str]:
        """Story ids in suite order."""
        return _ids(self.stories)

    def limited(self, limit: int | None) -> Suite:
        """The first `limit` stories (all when None); the ids of the others are kept in `beyond_limit`."""
        if limit is None:
            return self
        rest = tuple(_ids(self.stories[limit:])) + self.beyond_limit
        return Suite(self.name, self.version, self.kind, self.description, self.path, self.stories[:limit], dict(self.params), rest)

    def materialize(self, out_dir: str | Path) -> list[Story]:
        """Draw the synthetic suite's videos (+ box sidecars) under `out_dir`; reused when already there."""
        if self.kind != "synthetic":
            raise DataError(f"{self.path}: suite {self.name!r} has no reference videos; generate with --method or pass --videos")
        root = Path(out_dir)
        stamp = root / "suite.json"
        wanted = {"suite": self.name, "version": self.version, "params": {**self.params, "stories": len(self.stories)}}
        if stamp.is_file() and json.loads(stamp.read_text()) == wanted:
            from msvg_bench.benchmarks.dataset import load_stories

            return load_stories(root)
        from msvg_bench.benchmarks.synth import synthesize

        params = {**self.params, "stories": len(self.stories)}
        stories = synthesize(root, **params)
        write_synthetic_boxes(stories, self.params)
        atomic_write_json(stamp, wanted)
        return stories


def write_synthetic_boxes(stories: list[Story], params: dict[str, Any]) -> None:
    """Write each synthetic clip's per-frame character boxes as `<clip>.boxes.json` (re-drawn from its spec)."""
    from msvg_bench.benchmarks.synth import plan_story, scene_spec, story_cast
    from msvg_bench.benchmarks.world import render_scene

    for story_index, story in enumerate(stories):
        _, plan = plan_story(story_index, len(story.scenes), params["seed"], params.get("patterns"))
        cast = story_cast(plan, story_index, params["seed"])
        for j, planned in enumerate(plan):
            spec = scene_spec(planned, story_index, j, params["frames"], params["height"], params["width"], params["seed"], cast)
            boxes = render_scene(spec).boxes
            atomic_write_json(story.clip_path(j).with_suffix(".boxes.json"), {k: v.tolist() for k, v in boxes.items()}, indent=None)


def _suite_dir() -> Path:
    return Path(str(resources.files("msvg_bench.benchmarks") / "suites"))


def read_suite_file(path: Path) -> Suite:
    """Parse and check one suite file; every problem is reported at once, one line each naming the
    file and line (`ProblemsError`)."""
    from pydantic import ValidationError

    try:
        doc, lines = loads_with_lines(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read suite file ({exc})") from None
    if not isinstance(doc, dict):
        raise DataError(f"{path}:1: a suite file is a JSON object")
    try:
        parsed = SuiteFile.model_validate(doc)
    except ValidationError as exc:
        raise ProblemsError(str(path), schema_problems(exc, lines, str(path))) from None
    problems: list[str] = []
    if parsed.kind == "stories":
        if parsed.params is not None:
            problems.append(f"{path}:{lines[('params',)]}: params: only synthetic suites take params")
        if not parsed.stories:
            problems.append(f"{path}:{lines.get(('stories',), 1)}: stories: a stories suite needs a non-empty list")
        stories = _parse_stories(path, parsed.stories or [], lines, problems)
        params: dict[str, Any] = {}
    else:
        if parsed.params is None:
            problems.append(f"{path}:1: params: a synthetic suite needs params ({', '.join(SYNTH_PARAM_KEYS)})")
        if parsed.stories is not None:
            problems.append(f"{path}:{lines[('stories',)]}: stories: a synthetic suite draws its stories; remove this list")
        params = parsed.params.model_dump(by_alias=True, exclude_none=True) if parsed.params is not None else {}
        problems += _pattern_problems(path, params.get("patterns", []), lines)
        stories = synthetic_stories(params) if not problems else []
    if problems:
        raise ProblemsError(str(path), problems)
    return Suite(parsed.name, parsed.version, parsed.kind, parsed.description, path, stories, params)


def _pattern_problems(path: Path, patterns: list[str], lines: dict[Any, int]) -> list[str]:
    from msvg_bench.benchmarks.synth import PATTERNS

    return [f"{path}:{lines.get(('params', 'patterns', n), 1)}: params.patterns[{n}]: unknown pattern {name!r} "
            f"(choose from {', '.join(PATTERNS)})" for n, name in enumerate(patterns) if name not in PATTERNS]


class PlannedStories(Sequence[Story]):
    """Stories `start` to `stop` of a synthetic suite, each planned (prompts, annotations) when first used.

    Slicing (what `Suite.limited` does) gives another `PlannedStories` without planning anything,
    and `ids` needs no planning either, so `--limit 1` on a suite of many stories plans one.
    """

    def __init__(self, params: dict[str, Any], start: int = 0, stop: int | None = None) -> None:
        self.params = params
        self.start = start
        self.stop = int(params["stories"]) if stop is None else stop
        self._planned: dict[int, Story] = {}

    def __len__(self) -> int:
        return max(0, self.stop - self.start)

    @overload
    def __getitem__(self, index: int) -> Story: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Story]: ...

    def __getitem__(self, index: int | slice) -> Story | Sequence[Story]:
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step == 1:
                return PlannedStories(self.params, self.start + start, self.start + max(start, stop))
            return [self[i] for i in range(start, stop, step)]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"story {index} of {len(self)}")
        if index not in self._planned:
            self._planned[index] = plan_synthetic_story(self.params, self.start + index)
        return self._planned[index]

    def __iter__(self) -> Iterator[Story]:
        return (self[i] for i in range(len(self)))

    def ids(self) -> list[str]:
        """The stories' ids, without planning them."""
        from msvg_bench.benchmarks.synth import story_id

        return [story_id(i) for i in range(self.start, self.stop)]


def _ids(stories: Sequence[Story]) -> list[str]:
    return stories.ids() if isinstance(stories, PlannedStories) else [s.id for s in stories]


def synthetic_stories(params: dict[str, Any]) -> Sequence[Story]:
    """The synthetic suite's prompts and annotations, planned (without drawing) as they are used."""
    return PlannedStories(dict(params))


def plan_synthetic_story(params: dict[str, Any], i: int) -> Story:
    """Story `i` of the synthetic suite with `params`: its prompts and annotations, without drawing."""
    from msvg_bench.benchmarks.casting import story_register
    from msvg_bench.benchmarks.synth import (
        clip_name,
        plan_story,
        scene_caption,
        story_cast,
        story_id,
    )

    register = params.get("register", "reference")
    pattern, plan = plan_story(i, int(params["scenes"]), int(params["seed"]), params.get("patterns"))
    cast = story_cast(plan, i, int(params["seed"]))
    sid = story_id(i)
    scenes = tuple(
        Scene(f"videos/{sid}/{clip_name(j)}", scene_caption(p, cast, story_register(register, i)), float(params["fps"]),
              int(params["frames"]),
              p.setting, tuple(p.characters))
        for j, p in enumerate(plan)
    )
    meta = {"source": "synth", "pattern": pattern, "register": story_register(register, i), "cast": cast.to_json()}
    return Story(sid, scenes, None, meta)


def _parse_stories(path: Path, raw: list[Any], lines: dict[Any, int], problems: list[str]) -> list[Story]:
    stories, seen = [], set()
    for n, item in enumerate(raw):
        where = f"{path}:{lines.get(('stories', n, 'id'), lines.get(('stories', n), 1))}: stories[{n}].id"
        bad_id = id_problem(item.id)
        if bad_id is not None:
            problems.append(f"{where}: story id {bad_id} (ids name output folders)")
            continue
        if item.id in seen:
            problems.append(f"{where}: duplicate id {item.id!r}")
            continue
        seen.add(item.id)
        scenes = []
        for j, sc in enumerate(item.scenes):
            if not sc.caption.strip():
                line = lines.get(("stories", n, "scenes", j, "caption"), 1)
                problems.append(f"{path}:{line}: stories[{n}].scenes[{j}].caption: empty caption")
            scenes.append(Scene(f"scene_{j:02d}.mp4", sc.caption, None, None, sc.setting, tuple(sc.characters)))
        meta = dict(item.meta)
        if item.pattern is not None:
            meta["pattern"] = item.pattern
        stories.append(Story(item.id, tuple(scenes), None, meta))
    return stories


def load_suite(name_or_path: str | Path) -> Suite:
    """A suite by registered name, or from a suite JSON file path."""
    candidate = Path(name_or_path)
    if candidate.suffix == ".json" or candidate.is_file():
        if not candidate.is_file():
            raise DataError(f"{candidate}: suite file not found")
        return read_suite_file(candidate)
    return _registered_suite(str(name_or_path))


def _registered_suite(name: str) -> Suite:
    suite = read_suite_file(SUITES.get(name))
    if suite.name != name:
        raise DataError(f"{suite.path}: suite file names itself {suite.name!r} but is registered as {name!r} "
                        f"(its file name); rename the file or its name, so one name asks for it and labels its results")
    return suite


def list_suites() -> list[Suite]:
    """Every registered suite, loaded."""
    return [_registered_suite(name) for name in SUITES.names()]


def _register_package_suites() -> None:
    """Each `<name>.json` of the package folder under its file name; `load_suite` refuses a file whose
    `name` differs (so a suite is asked for, and its results are labelled, by one name) and reports a
    broken file with its line instead of the suite going missing."""
    folder = _suite_dir()
    if folder.is_dir():
        for file in sorted(folder.glob("*.json")):
            SUITES.add(file.stem, file)


_register_package_suites()
