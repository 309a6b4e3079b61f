"""`msvg-bench demo --full`: the story-world recipe from nothing, on a CPU, resumable.

Every component is trained by the project's own commands on the cast story world, so generated
clips depict the world and every metric is semantic inside it:

 1. data         `data synth`: training stories (mixed registers, character boxes), seed disjoint from
                 the held-out `world_reference` / `world_described` suites;
 2. world-vae    `train --stage world-vae`: the video autoencoder (CogVideoX's latent geometry);
 3. world-clip   `train --stage world-clip`: the contrastive frame/text encoder;
    world-detector  `train --stage world-detector`: the character detector generated clips need;
 4. quality      held-out VAE PSNR, zero-shot setting accuracy and look retrieval of the world CLIP,
                 the detector's recall (on the suites' reference videos), written to `world/quality.json`;
 5. cache        `data cache --preset world`: latents, text and history-frame embeddings;
 6. extractor    `train --stage extractor` (stage 1), then
 7. joint        `train --stage joint` (stage 2: history transformer + decoupler);
 8. eval         `eval` of both held-out suites with msvg, plain and streaming: the same trained backbone
                 (plain and streaming run it without history tokens), sampler, steps and seeds;
 9. compare      `compare` per suite, plain as the reference.

With `encoders` (a folder holding `vae/`, `clip/`, `detector/` and `quality.json`, e.g. the shipped
`world_weights/world`), stages 2-4 are skipped: the instruments stay fixed and only the method trains.
Stage 2 weights the character's latent cells (`train.character_loss_weight`, default 10: without it
the generator hardly learns to paint looks, docs/results.md run 4), and the world VAE the character's
pixels (the same weight: without it the VAE keeps less than half of a look, docs/results.md).

Outputs go to one fixed folder (`--out`, default `world_out/`); a stage whose output is complete is
skipped on a rerun, and an interrupted training stage resumes from its last checkpoint, so running
the same command again continues where it stopped. Each training stage and eval is an MLflow run.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import Field

from msvg_bench.benchmarks.suite import load_suite
from msvg_bench.comparison.pipeline import run_compare
from msvg_bench.core.atomic import atomic_write_json
from msvg_bench.core.errors import MsvgError
from msvg_bench.core.mlflow_store import make_client, resolve_tracking_uri, with_retry
from msvg_bench.core.schema import StrictModel
from msvg_bench.demo import child_env, find_run_id, run_cli
from msvg_bench.eval.results import read_results
from msvg_bench.models.methods import method_names

SUITES = ("world_reference", "world_described")
ENCODER_PARTS = ("vae", "clip", "detector")
CHARACTER_LOSS_WEIGHT = 10.0  # run 4: at 1 (plain MSE) stage 2 learns settings and hardly any looks
CLIP_MICRO_BATCH = 32  # contrastive: every other sample of a rank's micro-batch is a negative
QUALITY_STORIES = 24  # held-out stories the world encoders are measured on (96 scenes, 864 frames)
EXTRACTOR_LR = 1e-3  # stage 1 is a small model trained from scratch: at the preset's 5e-4 it learns to read history later


class WorldRecipeSettings(StrictModel):
    """Sizes of the world recipe (stage times on 2 CPU cores: docs/performance.md)."""

    out_dir: Path = Field(Path("world_out"), description="the recipe's folder (reruns continue in it)")
    tracking_uri: str | None = Field(None, description="MLflow store (default: $MLFLOW_TRACKING_URI, else ./mlflow.db)")
    seed: int = Field(1, description="seed of the training data and every stage (held-out suites use 7001, 7002)")
    stories: int = Field(1000, ge=2, description="training stories of 4 scenes (stage 1 needs about 1000 to learn to read history)")
    nproc: int = Field(2, ge=1, description="training processes (DeepSpeed ranks)")
    vae_steps: int = Field(12000, ge=1, description="world VAE optimizer steps (the warping VAE: 24.2 dB at 4000, 25 dB at 12000; "
                                                    "docs/results.md)")
    vae_motion_warp: bool = Field(True, description="train the world VAE whose decoder warps each frame by a displacement "
                                                    "field it predicts (docs/results.md: motion inside a latent frame)")
    clip_steps: int = Field(600, ge=1, description="world CLIP optimizer steps")
    detector_steps: int = Field(300, ge=1, description="world character detector optimizer steps")
    extractor_steps: int = Field(3000, ge=1, description="stage-1 optimizer steps")
    joint_steps: int = Field(6000, ge=1, description="stage-2 optimizer steps")
    character_loss_weight: float = Field(CHARACTER_LOSS_WEIGHT, ge=1.0,
                                         description="stage 2 and the world VAE: weight of the character's latent cells / pixels "
                                                     "in the loss (1: unweighted)")
    encoders: Path | None = Field(None, description="trained world encoders to use instead of training them "
                                                     "(a folder with vae/, clip/, detector/, quality.json)")
    eval_stories: int | None = Field(24, ge=1, description="stories of each held-out suite generated and scored per method "
                                                           "(None: the whole suite)")
    inference_steps: int = Field(20, ge=1, description="sampler steps per scene")
    suites: list[str] = Field(default_factory=lambda: list(SUITES), description="held-out suites to evaluate")
    methods: list[str] = Field(default_factory=method_names, description="methods to evaluate (plain is the reference)")


@dataclass
class WorldRecipeResult:
    """What the recipe produced: folders, MLflow run ids per stage, comparisons per suite, timings."""

    out_dir: Path
    tracking_uri: str
    run_ids: dict[str, str] = field(default_factory=dict)
    comparisons: dict[str, Any] = field(default_factory=dict)
    quality: dict[str, float] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)


def world_overrides(out: Path) -> list[str]:
    """The config overrides every world stage shares (the world encoders folder)."""
    return [f"model.world_dir={out / 'world'}"]


def _train_args(settings: WorldRecipeSettings, stage: str, steps: int, data: Path, run_dir: Path, uri: str,
                extra: list[str]) -> list[str]:
    args = [
        "train", "--preset", "world", "--seed", str(settings.seed), "--stage", stage, "--zero", "2",
        "--nproc-per-node", str(settings.nproc), "--device", "cpu", "--data", str(data), "-o", str(run_dir),
        "--steps", str(steps), "--tracking-uri", uri, "--run-name", run_name(stage), *extra,
    ]  # fmt: skip
    if (run_dir / "checkpoints").is_dir() and any((run_dir / "checkpoints").iterdir()):
        args += ["--resume", "latest"]
    return args


def run_name(stage: str) -> str:
    """MLflow run name of a world training stage: world-vae, world-clip, world-extractor, world-joint."""
    return stage if stage.startswith("world-") else f"world-{stage}"


def _exported(run_dir: Path) -> bool:
    return (run_dir / "export" / "export.json").is_file()


def _train_run_id(run_dir: Path) -> str:
    """The MLflow run id a training stage recorded in its run folder."""
    marker = run_dir / "mlflow_run_id"
    if not marker.is_file():
        raise MsvgError(f"{marker}: the training stage recorded no MLflow run")
    return marker.read_text(encoding="utf-8").strip()


def _copy_tree(source: Path, target: Path) -> None:
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(source, tmp)
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)


def run_world_recipe(settings: WorldRecipeSettings, echo: Callable[[str], None] = print) -> WorldRecipeResult:
    """Run (or continue) every stage of the world recipe in order; return runs, comparisons and timings."""
    known = method_names()
    if any(m not in known for m in settings.methods) or "plain" not in settings.methods or len(settings.methods) < 2:
        raise MsvgError(f"world recipe methods must include plain and another of {', '.join(known)}; got {settings.methods}")
    uri = resolve_tracking_uri(settings.tracking_uri)
    out = settings.out_dir.resolve()
    out.mkdir(parents=True, exist_ok=True)
    logs, env = out / "logs", child_env()
    result = WorldRecipeResult(out, uri)
    data, world = out / "data", out / "world"
    shared = world_overrides(out)

    def stage(name: str, what: str, done: bool, run: Callable[[], None]) -> None:
        if done:
            echo(f"[{name}] already done, skipped")
            return
        start = time.perf_counter()
        run()
        result.timings[name] = round(time.perf_counter() - start, 1)
        echo(f"[{name}] {what}: {result.timings[name]:.0f}s (logs: {logs})")

    stamp = {"stories": settings.stories, "seed": settings.seed}
    stamp_file = data / "recipe.json"
    stage("data", f"synthesized {settings.stories} training stories", stamp_file.is_file() and json.loads(stamp_file.read_text()) == stamp,
          lambda: (run_cli("data", ["data", "synth", "--out", str(data), "--preset", "world", "--stories", str(settings.stories),
                                    "--scenes", "4", "--register", "mixed", "--boxes", "--seed", str(settings.seed)], logs, env),
                   atomic_write_json(stamp_file, stamp)))
    encoder_stages = (("world-vae", settings.vae_steps, [f"train.character_loss_weight={settings.character_loss_weight}",
                                                         f"model.world_vae_motion_warp={settings.vae_motion_warp}"]),
                      ("world-clip", settings.clip_steps, ["--micro-batch", str(CLIP_MICRO_BATCH)]),
                      ("world-detector", settings.detector_steps, ["--micro-batch", str(CLIP_MICRO_BATCH)]))
    if settings.encoders is not None:
        _use_encoders(settings.encoders, world, echo)
        encoder_stages = ()
    for name, steps, extra in encoder_stages:
        run_dir = out / name
        stage(name, f"trained {name} {steps} steps", _exported(run_dir),
              lambda name=name, steps=steps, run_dir=run_dir, extra=extra: run_cli(
                  name, _train_args(settings, name, steps, data, run_dir, uri, extra), logs, env))
        result.run_ids[name] = _train_run_id(run_dir)
    for part in ENCODER_PARTS if encoder_stages else ():
        source = out / f"world-{part}" / "export" / part
        if not (world / part).is_dir() or (source.stat().st_mtime > (world / part).stat().st_mtime):
            _copy_tree(source, world / part)

    quality_file = world / "quality.json"
    stage("quality", "measured the world encoders on held-out videos", quality_file.is_file(),
          lambda: _write_quality(world, out / "heldout", quality_file, uri, result.run_ids))
    result.quality = json.loads(quality_file.read_text())

    cache_stamp = data / "cache.done"
    stage("cache", "cached latents, text and history-frame embeddings", cache_stamp.is_file(),
          lambda: (run_cli("cache", ["data", "cache", "--preset", "world", "--data", str(data), *shared], logs, env),
                   cache_stamp.write_text("ok\n")))
    extractor_dir, joint_dir = out / "extractor", out / "joint"
    stage("extractor", f"trained stage 1 {settings.extractor_steps} steps", _exported(extractor_dir),
          lambda: run_cli("extractor", _train_args(settings, "extractor", settings.extractor_steps, data, extractor_dir, uri,
                                                   [*shared, f"train.lr={EXTRACTOR_LR}"]), logs, env))
    result.run_ids["extractor"] = _train_run_id(extractor_dir)
    joint_extra = [*shared, f"model.weights={extractor_dir / 'export'}",
                   f"train.character_loss_weight={settings.character_loss_weight}"]
    stage("joint", f"trained stage 2 {settings.joint_steps} steps", _exported(joint_dir),
          lambda: run_cli("joint", _train_args(settings, "joint", settings.joint_steps, data, joint_dir, uri, joint_extra),
                          logs, env))
    result.run_ids["joint"] = _train_run_id(joint_dir)

    for suite in settings.suites:
        ids = {}
        for method in settings.methods:
            name = f"world-{suite}-{method}"
            eval_dir = out / "eval" / suite / method
            limit = [] if settings.eval_stories is None else ["--limit", str(settings.eval_stories)]
            args = ["eval", "--preset", "world", "--seed", str(settings.seed), "--tracking-uri", uri, "--run-name", name,
                    "--suite", suite, "--method", method, *limit, "-o", str(eval_dir),
                    f"generate.num_inference_steps={settings.inference_steps}", *shared,
                    "--model", str(joint_dir / "export")]  # every method on the same trained backbone
            stage(f"eval {suite} {method}", f"generated + scored {settings.eval_stories or 'all'} stories",
                  _scored_all(eval_dir, suite, settings.eval_stories), lambda name=name, args=args: run_cli(name, args, logs, env))
            ids[method] = find_run_id(uri, "eval", name)
            result.run_ids[name] = ids[method]
        order = ["plain", *[m for m in settings.methods if m != "plain"]]
        outcome = run_compare([ids[m] for m in order], tracking_uri=uri, run_name=f"world-{suite}-compare")
        result.comparisons[suite] = outcome.comparison
    atomic_write_json(out / "recipe_summary.json", {
        "settings": settings.model_dump(mode="json"), "runs": result.run_ids, "quality": result.quality,
        "timings": result.timings,
    })  # fmt: skip
    return result


def _scored_all(eval_dir: Path, suite: str, limit: int | None) -> bool:
    """Whether the eval in `eval_dir` holds every story it was asked for (results are written story by
    story, so an interrupted eval leaves a partial file: its stage is not done, and a rerun resumes it)."""
    path = eval_dir / "results.json"
    if not path.is_file():
        return False
    wanted = set(load_suite(suite).limited(limit).story_ids())
    return wanted <= {story.id for story in read_results(path).stories}


def _use_encoders(source: Path, world: Path, echo: Callable[[str], None]) -> None:
    """Copy trained world encoders (and their quality.json) into the recipe's world folder, once."""
    missing = [part for part in (*ENCODER_PARTS, "quality.json") if not (source / part).exists()]
    if missing:
        raise MsvgError(f"{source}: not a world encoders folder (missing {', '.join(missing)})")
    for part in ENCODER_PARTS:
        if not (world / part).is_dir():
            _copy_tree(source / part, world / part)
    if not (world / "quality.json").is_file():
        shutil.copyfile(source / "quality.json", world / "quality.json")
    echo(f"[encoders] the world VAE, CLIP and detector of {source}")


def _write_quality(world: Path, heldout: Path, target: Path, uri: str, run_ids: dict[str, str]) -> None:
    """Measure the world encoders on the held-out suite's reference videos; log to their train runs."""
    from msvg_bench.world_quality import measure_world_encoders

    stories = load_suite("world_reference").limited(QUALITY_STORIES).materialize(heldout)
    quality = measure_world_encoders(world, stories)
    client = make_client(uri)
    for key, value in quality.items():
        run = run_ids["world-vae"] if key.startswith("vae") else run_ids["world-clip"]
        with_retry(client.log_metric, run, f"eval/heldout_{key}", float(value))
    atomic_write_json(target, quality)
