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

Every suite file in the package folder is registered under its `name` in `SUITES`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from msvg_bench.benchmarks.stories import Scene, Story
from msvg_bench.errors import DataError
from msvg_bench.registry import Registry

SUITES: Registry[Path] = Registry("suite")
"""Suite files by suite name."""

SYNTH_PARAM_KEYS = ("stories", "scenes", "frames", "height", "width", "seed", "fps")
SYNTH_OPTIONAL_KEYS = ("register",)  # reference (default) | described


@dataclass
class Suite:
    """A loaded suite: its stories' prompts and annotations, and how to draw reference videos."""

    name: str
    version: str
    kind: str
    description: str
    path: Path
    stories: list[Story]
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def has_reference_videos(self) -> bool:
        """Whether the suite can draw its own videos (the synthetic world)."""
        return self.kind == "synthetic"

    def story_ids(self) -> list[str]:
        """Story ids in suite order."""
        return [s.id for s in self.stories]

    def limited(self, limit: int | None) -> Suite:
        """The first `limit` stories (all when None)."""
        if limit is None:
            return self
        return Suite(self.name, self.version, self.kind, self.description, self.path, self.stories[:limit], dict(self.params))

    def materialize(self, out_dir: str | Path) -> list[Story]:
        """Draw the synthetic suite's videos (+ box sidecars) under `out_dir`; reused when already there."""
        if self.kind != "synthetic":
            raise DataError(f"{self.path}: suite {self.name!r} has no reference videos; generate with --method or pass --videos")
        from msvg_bench.atomic import atomic_write_json

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
    from msvg_bench.atomic import atomic_write_json
    from msvg_bench.benchmarks.synth import plan_story, scene_spec, story_cast
    from msvg_bench.benchmarks.world import render_scene

    for story_index, story in enumerate(stories):
        _, plan = plan_story(story_index, len(story.scenes), params["seed"])
        cast = story_cast(plan, story_index, params["seed"])
        for j, planned in enumerate(plan):
            spec = scene_spec(planned, story_index, j, params["frames"], params["height"], params["width"], params["seed"], cast)
            boxes = render_scene(spec).boxes
            atomic_write_json(story.clip_path(j).with_suffix(".boxes.json"), {k: v.tolist() for k, v in boxes.items()}, indent=None)


def _suite_dir() -> Path:
    return Path(str(resources.files("msvg_bench.benchmarks") / "suites"))


def read_suite_file(path: Path) -> Suite:
    """Parse and check one suite file; one-line `DataError` naming the file on any problem."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read suite file ({exc})") from None
    for key in ("name", "version", "kind"):
        if not isinstance(doc.get(key), str):
            raise DataError(f"{path}: suite file needs a string {key!r}")
    kind = doc["kind"]
    if kind == "stories":
        stories = _parse_stories(path, doc.get("stories"))
        params: dict[str, Any] = {}
    elif kind == "synthetic":
        params = doc.get("params") or {}
        missing = [k for k in SYNTH_PARAM_KEYS if k not in params]
        if missing:
            raise DataError(f"{path}: synthetic suite params miss {', '.join(missing)}")
        stories = synthetic_stories(params)
    else:
        raise DataError(f"{path}: unknown suite kind {kind!r} (stories | synthetic)")
    return Suite(doc["name"], doc["version"], kind, doc.get("description", ""), path, stories, dict(params))


def synthetic_stories(params: dict[str, Any]) -> list[Story]:
    """The synthetic suite's prompts and annotations, planned without drawing."""
    from msvg_bench.benchmarks.casting import story_register
    from msvg_bench.benchmarks.synth import clip_name, plan_story, scene_caption, story_cast, story_id

    stories = []
    register = params.get("register", "reference")
    for i in range(int(params["stories"])):
        pattern, plan = plan_story(i, int(params["scenes"]), int(params["seed"]))
        cast = story_cast(plan, i, int(params["seed"]))
        sid = story_id(i)
        scenes = tuple(
            Scene(f"videos/{sid}/{clip_name(j)}", scene_caption(p, cast, story_register(register, i)), float(params["fps"]),
                  int(params["frames"]),
                  p.setting, tuple(p.characters))
            for j, p in enumerate(plan)
        )
        meta = {"source": "synth", "pattern": pattern, "register": story_register(register, i), "cast": cast.to_json()}
        stories.append(Story(sid, scenes, None, meta))
    return stories


def _parse_stories(path: Path, raw: Any) -> list[Story]:
    if not isinstance(raw, list) or not raw:
        raise DataError(f"{path}: 'stories' must be a non-empty list")
    stories, seen = [], set()
    for n, item in enumerate(raw):
        where = f"{path}: story {n}"
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            raise DataError(f"{where}: needs a string 'id'")
        if item["id"] in seen:
            raise DataError(f"{where}: duplicate id {item['id']!r}")
        seen.add(item["id"])
        scenes_raw = item.get("scenes")
        if not isinstance(scenes_raw, list) or not scenes_raw:
            raise DataError(f"{where} ({item['id']}): 'scenes' must be a non-empty list")
        scenes = []
        for j, sc in enumerate(scenes_raw):
            if not isinstance(sc, dict) or not isinstance(sc.get("caption"), str) or not sc["caption"].strip():
                raise DataError(f"{where} ({item['id']}) scene {j}: needs a non-empty 'caption'")
            chars = sc.get("characters") or []
            if not isinstance(chars, list) or not all(isinstance(c, str) for c in chars):
                raise DataError(f"{where} ({item['id']}) scene {j}: 'characters' must be a list of ids")
            scenes.append(Scene(f"scene_{j:02d}.mp4", sc["caption"], None, None, sc.get("setting"), tuple(chars)))
        meta = {k: v for k, v in item.items() if k not in ("id", "scenes")}
        stories.append(Story(item["id"], tuple(scenes), None, meta))
    return stories


def load_suite(name_or_path: str | Path) -> Suite:
    """A suite by registered name, or from a suite JSON file path."""
    candidate = Path(name_or_path)
    if candidate.suffix == ".json" or candidate.is_file():
        if not candidate.is_file():
            raise DataError(f"{candidate}: suite file not found")
        return read_suite_file(candidate)
    return read_suite_file(SUITES.get(str(name_or_path)))


def list_suites() -> list[Suite]:
    """Every registered suite, loaded."""
    return [read_suite_file(SUITES.get(name)) for name in SUITES.names()]


def _register_package_suites() -> None:
    folder = _suite_dir()
    if not folder.is_dir():
        return
    for file in sorted(folder.glob("*.json")):
        try:
            name = json.loads(file.read_text(encoding="utf-8")).get("name")
        except (OSError, json.JSONDecodeError):
            continue
        if isinstance(name, str):
            SUITES.add(name, file)


_register_package_suites()
