"""Does the trained model use its history? v-prediction error with the story's own history, without
history, and with another story's history, on the same noisy latents.

Run: `python tests/perf/bench_history_effect.py --data DATA --weights JOINT_EXPORT --world-dir WORLD
[--preset world] [--timesteps 200 500 800] [--seed 0] [--out effect.json]`

For every scene with at least one earlier scene (a reference-register story's words say nothing of
the looks there, so only its history can), at each timestep and one fixed noise draw per scene:

- `mse_own`      MSE(v_pred(x_t, P+, H_own), v)      the scene's own history
- `mse_none`     MSE(v_pred(x_t, P+, H_0), v)        no history (the extractor's no-history features)
- `mse_other`    MSE(v_pred(x_t, P+, H_other), v)    the same prompts, with the past clips of another story
                                                      (same scene index, the next story in the data)
- `delta_eps`    mean |v_pred(H_own) - v_pred(H_0)|
- `stage1_own` / `stage1_none` / `stage1_other`: the frozen extractor's stage-1 loss (matched
  1 - cos to its teacher's read-out of the scene's own clip) with each of the three histories

Reported: means per register, the paired differences (none - own, other - own) with a 95 %
bootstrap interval over scenes. A model that uses history has both differences > 0 on reference
stories; on described stories the words already carry the looks, so the differences can be small.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

os.environ.setdefault("MSVG_NO_PROGRESS", "1")


def bootstrap_ci(values: list[float], seed: int = 0, n_boot: int = 2000) -> tuple[float, float]:
    """95 % percentile bootstrap interval of the mean."""
    import numpy as np

    data = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, len(data), size=(n_boot, len(data)))].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def main() -> None:
    """Measure and print the history effect as JSON."""
    import numpy as np
    import torch
    from msvg_bench.benchmarks.dataset import load_stories
    from msvg_bench.config import resolve_config
    from msvg_bench.launch.model_data import SceneCache, history_input
    from msvg_bench.launch.recipe_model import JointRecipe
    from msvg_bench.models.extractor import HistoryBatch, stage1_loss
    from msvg_bench.models.history import collate_history, subsample_frames
    from msvg_bench.models.multiscene import build_extractor, history_tokens

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--weights", type=Path, required=True, help="the joint stage's export folder")
    parser.add_argument("--world-dir", type=Path, default=None)
    parser.add_argument("--preset", default="world")
    parser.add_argument("--timesteps", type=int, nargs="+", default=[200, 500, 800])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    overrides = [f"data.root={args.data}", f"model.weights={args.weights}"]
    if args.world_dir is not None:
        overrides.append(f"model.world_dir={args.world_dir}")
    cfg = resolve_config(overrides=overrides, flags={"preset": args.preset}).training().setup
    recipe = JointRecipe()
    dataset = recipe.dataset(cfg)
    module = recipe.load_exported(args.weights, cfg)
    cache = SceneCache(cfg, ("text", "frames"))
    extractor = build_extractor(cfg.model.model_copy(update={"device": "cpu"})).eval()
    flat_scenes = [(story_scenes, j) for story_scenes in cache.scenes for j in range(len(story_scenes))]

    def foreign_batch(k: int, other: int) -> HistoryBatch:
        """Scene k's prompt and past prompts, with the past *frames* of story `other` (same scene index)."""
        own_scenes, j = flat_scenes[k]
        other_scenes, _ = flat_scenes[other]
        swapped = [{**own, "frames": theirs["frames"]} for own, theirs in zip(own_scenes[:j], other_scenes[:j], strict=True)]
        return collate_history([history_input([*swapped, own_scenes[j]], j, cfg.model)], cfg.model.history_dim)

    def stage1(k: int, batch: HistoryBatch) -> float:
        """The extractor's stage-1 loss for scene k's own clip given `batch`'s history."""
        own_scenes, j = flat_scenes[k]
        frames = subsample_frames(own_scenes[j]["frames"], cfg.model.max_history_frames)[None]
        with torch.no_grad():
            return float(stage1_loss(extractor, batch, frames, torch.ones(frames.shape[:2], dtype=torch.bool)))
    stories = load_stories(args.data)
    index = [(s, j) for s in stories for j in range(len(s.scenes))]
    assert len(index) == len(dataset), (len(index), len(dataset))
    by_position: dict[int, list[int]] = {}
    for k, (_, j) in enumerate(index):
        by_position.setdefault(j, []).append(k)

    rows = []
    gen = torch.Generator().manual_seed(args.seed)
    for k, (story, j) in enumerate(index):
        if j == 0:
            continue
        peers = by_position[j]
        other = peers[(peers.index(k) + 1) % len(peers)]
        sample = dataset[k]
        latents = sample["latents"][None].permute(0, 2, 1, 3, 4)
        prompt = sample["prompt_embeds"][None]
        own_batch = collate_history([history_input(flat_scenes[k][0], j, cfg.model)], cfg.model.history_dim)
        other_batch = foreign_batch(k, other)
        with torch.no_grad():
            features = {"own": sample["history_features"][None], "none": sample["null_history_features"][None],
                        "other": extractor(other_batch)}
        noise = torch.randn(latents.shape, generator=gen)
        row = {"register": story.meta.get("register", "reference"), "scene": j, "stage1_own": stage1(k, own_batch),
               "stage1_none": stage1(k, own_batch.without_history()), "stage1_other": stage1(k, other_batch)}
        with torch.no_grad():
            for t in args.timesteps:
                steps = torch.full((1,), t)
                noisy = module.scheduler.add_noise(latents, noise, steps)
                target = module.scheduler.get_velocity(latents, noise, steps)
                preds = {name: module.transformer(noisy, prompt, steps, history_hidden_states=history_tokens(module.decoupler, prompt, f),
                                                  return_dict=False)[0] for name, f in features.items()}
                for name, pred in preds.items():
                    row[f"mse_{name}"] = row.get(f"mse_{name}", 0.0) + float((pred - target).pow(2).mean()) / len(args.timesteps)
                row["delta_eps"] = row.get("delta_eps", 0.0) + float((preds["own"] - preds["none"]).abs().mean()) / len(args.timesteps)
        rows.append(row)

    report: dict[str, dict[str, float | int | list[float]]] = {}
    for register in sorted({r["register"] for r in rows}):
        part = [r for r in rows if r["register"] == register]
        none_gain = [r["mse_none"] - r["mse_own"] for r in part]
        other_gain = [r["mse_other"] - r["mse_own"] for r in part]
        report[register] = {
            "scenes": len(part),
            "mse_own": float(np.mean([r["mse_own"] for r in part])),
            "mse_none": float(np.mean([r["mse_none"] for r in part])),
            "mse_other": float(np.mean([r["mse_other"] for r in part])),
            "none_minus_own": float(np.mean(none_gain)),
            "none_minus_own_ci95": list(bootstrap_ci(none_gain, args.seed)),
            "other_minus_own": float(np.mean(other_gain)),
            "other_minus_own_ci95": list(bootstrap_ci(other_gain, args.seed)),
            "delta_eps": float(np.mean([r["delta_eps"] for r in part])),
            **{f"stage1_{h}": float(np.mean([r[f"stage1_{h}"] for r in part])) for h in ("own", "none", "other")},
        }
    text = json.dumps({"timesteps": args.timesteps, "weights": str(args.weights), "by_register": report}, indent=2)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
