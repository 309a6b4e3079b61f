"""The whole loop on a CPU in minutes: synthesize stories, cache their embeddings, fine-tune with DeepSpeed
ZeRO-2 on two processes, generate and score a suite with the method and its baselines, compare.

By default the demo starts from the story-world weights the repository ships (`world_weights/`; its
`manifest.json` names the commands: the world encoders from `msvg-bench demo --full --seed 2` (the VAE
from its VAE stage with the warping decoder), stage 1 + stage 2 from the recipe with the character-weighted
loss, `tests/perf/bench_recipe.py --seed 9`):
world-trained VAE and CLIP, a trained stage 1 + stage 2. It fine-tunes them briefly on freshly synthesized world stories, then generates
held-out 8-scene `world_long` stories with msvg and both baselines (plain, streaming) and scores them,
so the comparison, and consistency over scene distance, are semantic inside the world. With `world_weights=None`
it trains the random-init `tiny` model instead (plumbing only: its clips are noise).

Every stage runs the project's own commands (`msvg-bench data synth`, `data cache`, `train`, `eval`) in
subprocesses, each logging to MLflow as it always does; the comparison comes from
`msvg_bench.comparison`. Outputs go to `<out>/<stamp>/`, the logs of each stage to `<out>/<stamp>/logs/`,
the stage timings to `<out>/<stamp>/timings.json`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from msvg_bench.core.errors import MsvgError
from msvg_bench.core.schema import StrictModel
from msvg_bench.models.methods import method_names
from pydantic import Field
from msvg_bench.comparison.pipeline import run_compare
from msvg_bench.core.atomic import atomic_write_json
from msvg_bench.core.mlflow_store import experiment_name, make_client, newest_finished_runs
from msvg_bench.launch.config import TRAIN_PRESETS

LOG_TAIL_LINES = 15


SHIPPED_WORLD_WEIGHTS = Path(__file__).resolve().parent / "world_weights"
"""World weights the repository ships: `world/` (VAE, CLIP, detector), `joint/` (stage 1 + 2 export), `manifest.json`."""


WORLD_FINE_TUNE_LR = 5e-5
"""Learning rate of the demo's fine-tune of the world weights: the one their stage-2 training ended with."""


def shipped_world_weights() -> Path | None:
    """The shipped world weights folder, or None when this installation has none."""
    return SHIPPED_WORLD_WEIGHTS if (SHIPPED_WORLD_WEIGHTS / "manifest.json").is_file() else None


class DemoSettings(StrictModel):
    """Sizes of the demo (the defaults fit in about five minutes on a 2-core CPU)."""

    out_dir: Path = Field(Path("demo_out"), description="parent folder of the demo's outputs")
    tracking_uri: str | None = Field(None, description="MLflow store (default: $MLFLOW_TRACKING_URI, else ./mlflow.db)")
    seed: int = Field(42, description="global seed of every stage")
    world_weights: Path | None = Field(
        default_factory=shipped_world_weights,
        description="world weights folder to start from (world/ + joint/, from `demo --full`); None: the random-init tiny model",
    )
    stories: int = Field(4, ge=1, description="synthetic training stories of the fine-tune")
    scenes: int = Field(4, ge=2, description="scenes per synthetic training story")
    frames: int = Field(9, ge=1, description="frames per synthetic training scene (tiny model; the world's are fixed)")
    height: int = Field(32, ge=16, description="synthetic frame height (tiny model)")
    width: int = Field(32, ge=16, description="synthetic frame width (tiny model)")
    train_steps: int = Field(4, ge=1, description="optimizer steps of the fine-tune")
    nproc: int = Field(2, ge=1, description="training processes (DeepSpeed ranks)")
    zero: Literal[0, 2, 3] = Field(2, description="DeepSpeed ZeRO stage")
    eval_stories: int | None = Field(None, ge=1, description="held-out stories generated and scored per method (None: the model's default)")
    inference_steps: int | None = Field(None, ge=1, description="sampler steps per scene (None: the model's default)")
    methods: list[str] | None = Field(None, description="methods to evaluate (plain, else the first: reference; None: the model's default)")


@dataclass(frozen=True)
class DemoModel:
    """What the demo trains and scores: preset, suite, shared overrides, starting weights and default sizes."""

    preset: str
    suite: str
    overrides: list[str]
    start_weights: Path | None
    train_overrides: list[str]
    synth_flags: list[str]
    eval_stories: int
    inference_steps: int
    methods: list[str]


def demo_model(settings: DemoSettings) -> DemoModel:
    """The world model from `settings.world_weights`, or the tiny random-init one when there are none."""
    weights = settings.world_weights
    if weights is None:
        flags = ["--frames", str(settings.frames), "--height", str(settings.height), "--width", str(settings.width)]
        return DemoModel("tiny", "synthetic", [], None, [], flags, 3, 4, method_names())
    missing = [str(weights / part) for part in ("world/vae", "world/clip", "joint/msvg_weights.json") if not (weights / part).exists()]
    if missing:
        raise MsvgError(f"{weights}: not a world weights folder (missing {', '.join(missing)}); make one with `msvg-bench demo --full`")
    # The fine-tune continues at the rate stage 2 ended with (the world preset's cosine schedule ends at
    # 0.1 x 5e-4): at the peak rate Adam's first steps would move every weight by ~lr and undo the training.
    # 20 sampler steps as in the recipe's evaluation; msvg against both baselines on the same weights, on
    # long stories (8 scenes) so the comparison shows consistency over scene distance.
    return DemoModel("world", "world_long", [f"model.world_dir={weights / 'world'}"], weights / "joint",
                     [f"train.lr={WORLD_FINE_TUNE_LR}"], ["--register", "reference", "--boxes"], 4, 20,
                     ["msvg", "plain", "streaming"])


@dataclass
class StageTiming:
    """How long one stage took and where its log is."""

    name: str
    seconds: float
    log: Path | None = None


@dataclass
class DemoResult:
    """What the demo produced: runs, report, timings."""

    out_dir: Path
    tracking_uri: str
    train_run_id: str | None
    eval_run_ids: dict[str, str]
    compare_run_id: str | None
    compare_experiment_id: str | None
    report_path: Path | None
    comparison: Any
    timings: list[StageTiming] = field(default_factory=list)

    @property
    def total_seconds(self) -> float:
        """Wall time of all stages together."""
        return sum(t.seconds for t in self.timings)


def run_names(methods: list[str]) -> dict[str, str]:
    """MLflow run names of a demo: `demo-train` and `demo-<method>` (a rerun's runs are the newest by name)."""
    names = {"train": "demo-train"}
    names.update({method: f"demo-{method}" for method in methods})
    return names


def synth_args(settings: DemoSettings, model: DemoModel, data_dir: Path) -> list[str]:
    """`msvg-bench data synth` arguments: the fine-tune's training stories in the model's world."""
    return [
        "data", "synth", "--out", str(data_dir), "--preset", model.preset, "--stories", str(settings.stories),
        "--scenes", str(settings.scenes), "--seed", str(settings.seed), *model.synth_flags,
    ]  # fmt: skip


def cache_args(model: DemoModel, data_dir: Path) -> list[str]:
    """`msvg-bench data cache` arguments: the model's latents, text and history-frame embeddings."""
    return ["data", "cache", "--preset", model.preset, "--data", str(data_dir), *model.overrides]


def fine_tune_micro_batch(settings: DemoSettings, model: DemoModel) -> int:
    """The preset's micro-batch, shrunk so that one global batch fits the synthesized scenes."""
    preset = TRAIN_PRESETS.get(model.preset, {}).get("micro_batch", 1)
    return max(1, min(preset, settings.stories * settings.scenes // settings.nproc))


def train_args(settings: DemoSettings, model: DemoModel, data_dir: Path, train_dir: Path, uri: str, run_name: str) -> list[str]:
    """`msvg-bench train` arguments: the joint stage from the starting weights, ZeRO on `nproc` CPU processes."""
    args = [
        "train", "--preset", model.preset, "--seed", str(settings.seed),
        "--stage", "joint", "--zero", str(settings.zero), "--nproc-per-node", str(settings.nproc),
        "--device", "cpu", "--data", str(data_dir), "--output-dir", str(train_dir),
        "--steps", str(settings.train_steps), "--micro-batch", str(fine_tune_micro_batch(settings, model)),
        "--tracking-uri", uri, "--run-name", run_name, "train.warmup_steps=1", *model.overrides, *model.train_overrides,
    ]  # fmt: skip
    if model.start_weights is not None:
        args.append(f"model.weights={model.start_weights}")
    return args


def eval_args(settings: DemoSettings, model: DemoModel, method: str, weights: Path | None, eval_dir: Path, uri: str,
              run_name: str) -> list[str]:
    """`msvg-bench eval` arguments: generate the model's held-out suite with `method`, score it, log it."""
    args = [
        "eval", "--preset", model.preset, "--seed", str(settings.seed), "--tracking-uri", uri, "--run-name", run_name,
        "--suite", model.suite, "--method", method, "--limit", str(settings.eval_stories or model.eval_stories),
        "--output-dir", str(eval_dir), f"generate.num_inference_steps={settings.inference_steps or model.inference_steps}",
        *model.overrides,
    ]  # fmt: skip
    if weights is not None:
        args += ["--model", str(weights)]
    return args


def run_cli(name: str, args: list[str], log_dir: Path, env: dict[str, str]) -> StageTiming:
    """Run `msvg-bench <args>` in a subprocess with its output in `<log_dir>/<name>.log`; raise on failure."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"{name}.log"
    command = [sys.executable, "-m", "msvg_bench.cli", *args]
    start = time.perf_counter()
    with open(log, "w", encoding="utf-8") as handle:
        handle.write("$ msvg-bench " + " ".join(args) + "\n")
        handle.flush()
        code = subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT, env=env, check=False).returncode  # noqa: S603
    seconds = time.perf_counter() - start
    if code != 0:
        tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-LOG_TAIL_LINES:]
        last = next((line for line in reversed(tail) if line.strip()), "(no output)")
        raise MsvgError(f"demo stage {name!r} failed with exit code {code}: {last.strip()} (full log: {log})")
    return StageTiming(name, seconds, log)


def find_run_id(uri: str, kind: str, run_name: str) -> str:
    """The id of the newest finished run named `run_name` in experiment `msvg-bench/<kind>`."""
    runs = newest_finished_runs(make_client(uri), experiment_name(kind), {"attributes.run_name": run_name}, max_results=1)
    if not runs:
        raise MsvgError(f"{uri}: the {kind} stage logged no finished run named {run_name!r}")
    return runs[0].info.run_id


def tag_run(uri: str, run_id: str, stamp: str) -> None:
    """Mark a run as part of the demo started at `stamp` (tag `msvg.demo`)."""
    from msvg_bench.core.mlflow_store import make_client, with_retry

    with_retry(make_client(uri).set_tag, run_id, "msvg.demo", stamp)


def child_env() -> dict[str, str]:
    """Environment of the stages: CPU DeepSpeed, no progress bars in logs, offline hubs."""
    env = dict(os.environ)
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TRANSFORMERS_OFFLINE", "1")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    env["MSVG_NO_PROGRESS"] = "1"
    env.pop("MLFLOW_RUN_ID", None)
    return env


def run_demo(settings: DemoSettings, echo: Callable[[str], None] = print) -> DemoResult:
    """Run every stage in order, reporting each as it finishes; return the runs, report and timings."""
    from msvg_bench.core.mlflow_store import make_client, resolve_tracking_uri

    model = demo_model(settings)
    methods = settings.methods or model.methods
    known = method_names()
    if any(m not in known for m in methods) or len(methods) < 2:
        raise MsvgError(f"demo methods must be at least two of {', '.join(known)}; got {methods}")
    uri = resolve_tracking_uri(settings.tracking_uri)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    base = stamp
    while (settings.out_dir / stamp).exists():  # two demos started within one second
        stamp = f"{base}-{int(stamp.rsplit('-', 1)[-1]) + 1 if stamp != base else 2}"
    out = (settings.out_dir / stamp).resolve()
    out.mkdir(parents=True)
    logs = out / "logs"
    names = run_names(methods)
    env = child_env()
    timings: list[StageTiming] = []
    total = 4 + len(methods)
    start_from = f"the world weights in {settings.world_weights}" if model.start_weights else "the random-init tiny model"
    echo(f"msvg-bench demo: {start_from}; outputs in {out}, runs in {uri}")

    def report(index: int, timing: StageTiming, what: str) -> None:
        timings.append(timing)
        log = f" (log: {timing.log})" if timing.log else ""
        echo(f"[{index}/{total}] {what}: {timing.seconds:.1f}s{log}")

    data_dir = out / "data"
    timing = run_cli("data", synth_args(settings, model, data_dir), logs, env)
    report(1, timing, f"synthesized {settings.stories} {model.preset} stories x {settings.scenes} scenes")

    timing = run_cli("cache", cache_args(model, data_dir), logs, env)
    report(2, timing, f"cached the {model.preset} model's latents, text and history-frame embeddings")

    train_dir = out / "train"
    timing = run_cli("train", train_args(settings, model, data_dir, train_dir, uri, names["train"]), logs, env)
    report(3, timing, f"trained the {model.preset} model {settings.train_steps} steps, DeepSpeed ZeRO-{settings.zero} on {settings.nproc} processes")
    train_run_id = find_run_id(uri, "train", names["train"])
    tag_run(uri, train_run_id, stamp)
    weights = train_dir / "export"
    if not weights.exists():
        raise MsvgError(f"{weights}: training finished without exporting the model")

    eval_ids: dict[str, str] = {}
    for offset, method in enumerate(methods):
        args = eval_args(settings, model, method, weights, out / "eval" / method, uri, names[method])
        timing = run_cli(f"eval-{method}", args, logs, env)
        report(4 + offset, timing, f"generated + scored {settings.eval_stories or model.eval_stories} {model.suite} stories with {method}")
        eval_ids[method] = find_run_id(uri, "eval", names[method])
        tag_run(uri, eval_ids[method], stamp)

    start = time.perf_counter()
    reference = "plain" if "plain" in eval_ids else methods[0]
    order = [reference, *[m for m in methods if m != reference]]
    outcome = run_compare([eval_ids[m] for m in order], tracking_uri=uri, run_name="demo-compare")
    compare_experiment = None
    if outcome.run_id:
        tag_run(uri, outcome.run_id, stamp)
        compare_experiment = make_client(uri).get_run(outcome.run_id).info.experiment_id
    report(total, StageTiming("compare", time.perf_counter() - start), "compared the runs and logged the HTML report")

    result = DemoResult(
        out_dir=out, tracking_uri=uri, train_run_id=train_run_id, eval_run_ids=eval_ids,
        compare_run_id=outcome.run_id, compare_experiment_id=compare_experiment,
        report_path=outcome.report_path, comparison=outcome.comparison, timings=timings,
    )  # fmt: skip
    atomic_write_json(
        out / "timings.json",
        {
            "stages": {t.name: round(t.seconds, 2) for t in timings},
            "total_s": round(result.total_seconds, 2),
            "settings": settings.model_dump(mode="json"),
            "runs": {"train": train_run_id, "eval": eval_ids, "compare": outcome.run_id},
        },
    )
    return result
