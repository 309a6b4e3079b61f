"""Does the trained model take the *right* character's look from its history? A counterfactual test.

Run: `python tests/perf/bench_history_binding.py --weights JOINT_EXPORT --world-dir WORLD
[--stories 240] [--seed 7001] [--register reference|described] [--timesteps 200 500 800] [--out F.json]
[model.key=value ...]`

Held-out stories are drawn with the story world's own planner and casting (seed 7001 by default:
the `world_reference` suite's seed, disjoint from training data). A *character probe* is a scene
whose character appeared in an earlier scene while the history also shows another character (the
crossed stories' scenes 3 and 4: "Actor 2 is running on the playground." after Actor 1 on the
playground and Actor 2 on the snow): in the reference register only the right earlier scene says
what the character looks like. A *setting probe* is a scene whose setting appeared earlier. For
each probe two versions of the scene are drawn from the same spec and motion seed:

- `true`:        the scene as the story casts it;
- `distractor`:  the character played by the other earlier character's look (character probe), or
                 the setting in another variant of its class (setting probe).

Both versions are encoded and noised with the same noise. With d(c) = MSE_c(distractor) − MSE_c(true)
for a conditioning c (v-prediction, averaged over the timesteps), the report gives, per probe kind:

- `stage2_binding` = d(own history) − d(no history): how much the story's history moves the
  denoiser toward the true version (> 0: it takes the right look from the right scene; a model that
  copies any look its history shows gets ≈ 0). Paired on the same targets, so the interval is tight.
- `stage1_binding`: the same contrast for the frozen extractor's stage-1 loss (matched 1 − cos to
  its teacher's read-out of each version): does the history *feature* point at the true version?
- `stage2_text_binding` (with `--register described`, where the caption spells the true look or
  variant out): d(true caption) − d(caption of the distractor's look), no history: can the denoiser
  render the look from words at all? It bounds what history can do through the same generator.

Means with 95 % bootstrap intervals over probes, and how often d(own) > 0 (`*_prefers_true`).
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("MSVG_NO_PROGRESS", "1")


def main() -> None:
    """Measure and print the binding effect as JSON."""
    import numpy as np
    import torch
    from msvg_bench.benchmarks.casting import StoryCast
    from msvg_bench.benchmarks.synth import plan_story, scene_caption, scene_spec, story_cast
    from msvg_bench.benchmarks.world import render_scene
    from msvg_bench.benchmarks.world_settings import SETTING_VARIANTS
    from msvg_bench.comparison.stats import bootstrap_mean_ci
    from msvg_bench.config import resolve_config
    from msvg_bench.launch.recipe_model import JointRecipe
    from msvg_bench.models.extractor import stage1_loss
    from msvg_bench.models.history import (
        collate_history,
        history_sample,
        scene_text_from_cache,
        subsample_frames,
    )
    from msvg_bench.models.multiscene import (
        build_extractor,
        history_features,
        history_tokens,
    )
    from msvg_bench.models.precompute import (
        ModelEncoders,
        clip_preprocessing,
        preprocess_clip,
    )

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, required=True, help="the joint stage's export folder")
    parser.add_argument("--world-dir", type=Path, required=True)
    parser.add_argument("--preset", default="world")
    parser.add_argument("--stories", type=int, default=240, help="stories drawn (only those with probes are used)")
    parser.add_argument("--seed", type=int, default=7001, help="story seed (held out from training data)")
    parser.add_argument("--timesteps", type=int, nargs="+", default=[200, 500, 800])
    parser.add_argument("--register", choices=["reference", "described"], default="reference",
                        help="captions: reference (names only) or described (the true look in words: a text-only control)")
    parser.add_argument("--noise-seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("overrides", nargs="*", help="config overrides (e.g. model.filter_threshold=0.9)")
    args = parser.parse_args()

    cfg = resolve_config(overrides=[f"model.weights={args.weights}", f"model.world_dir={args.world_dir}", *args.overrides],
                         flags={"preset": args.preset}).training().setup
    model_cfg = cfg.model.model_copy(update={"device": "cpu"})
    module = JointRecipe().load_exported(args.weights, cfg)
    extractor = build_extractor(model_cfg).float().eval()
    encoders = ModelEncoders(model_cfg)
    prep = clip_preprocessing(model_cfg)
    frames_n, height, width = model_cfg.num_frames, model_cfg.height, model_cfg.width

    def clip(spec):
        return preprocess_clip(render_scene(spec).frames, prep)

    def text(caption: str):
        return scene_text_from_cache(encoders.components, encoders.text([caption])[0], model_cfg.filter_embedding)

    rows: list[dict[str, float | str]] = []
    gen = torch.Generator().manual_seed(args.noise_seed)
    for index in range(args.stories):
        pattern, plan = plan_story(index, 4, args.seed)
        cast = story_cast(plan, index, args.seed)
        specs = [scene_spec(p, index, j, frames_n, height, width, args.seed, cast) for j, p in enumerate(plan)]
        clips = [clip(s) for s in specs]
        texts = [text(scene_caption(p, cast, args.register)) for p in plan]
        history_frames = [encoders.frames(c) for c in clips]
        for j in range(1, len(plan)):
            if len(plan[j].characters) != 1:
                continue
            role = plan[j].characters[0]
            earlier = {c for p in plan[:j] for c in p.characters}
            others = sorted(earlier - {role})
            probes = []  # (kind, distractor spec, the story's cast with the distractor's look or variant)
            if role in earlier and others:
                swapped = StoryCast({**cast.looks, role: cast.looks[others[0]]}, cast.variants)
                probes.append(("character", scene_spec(plan[j], index, j, frames_n, height, width, args.seed, swapped), swapped))
            if plan[j].setting in {p.setting for p in plan[:j]}:
                variant = (cast.variants[plan[j].setting] + 1) % len(SETTING_VARIANTS)
                relit = StoryCast(cast.looks, {**cast.variants, plan[j].setting: variant})
                probes.append(("setting", replace(specs[j], variant=variant), relit))
            if not probes:
                continue
            sample = history_sample(texts[j], texts[:j], history_frames[:j], model_cfg)
            batch = collate_history([sample], model_cfg.history_dim)
            with torch.no_grad():
                own, none = history_features(extractor, batch)
            prompt = texts[j].embeds[None].float()
            for kind, distractor_spec, distractor_cast in probes:
                conditions = {"own": (prompt, own), "none": (prompt, none)}
                if args.register == "described":  # the words of the distractor's look, no history
                    worded = text(scene_caption(plan[j], distractor_cast, "described"))
                    worded_batch = collate_history([history_sample(worded, texts[:j], history_frames[:j], model_cfg)],
                                                   model_cfg.history_dim)
                    with torch.no_grad():
                        conditions["worded"] = (worded.embeds[None].float(), extractor(worded_batch.without_history()))
                versions = {"true": clips[j], "distractor": clip(distractor_spec)}
                row: dict[str, float | str] = {"kind": kind, "story": index, "scene": j, "pattern": pattern}
                noise = None
                for name, frames in versions.items():
                    emb = subsample_frames(encoders.frames(frames), model_cfg.max_history_frames)[None]
                    valid = torch.ones(emb.shape[:2], dtype=torch.bool)
                    with torch.no_grad():
                        row[f"s1_own_{name}"] = float(stage1_loss(extractor, batch, emb, valid))
                        row[f"s1_none_{name}"] = float(stage1_loss(extractor, batch.without_history(), emb, valid))
                    latents = encoders.latents(frames)[None].permute(0, 2, 1, 3, 4)
                    if noise is None:
                        noise = torch.randn(latents.shape, generator=gen)
                    for condition, (words, features) in conditions.items():
                        tokens = history_tokens(module.decoupler, words, features)
                        total = 0.0
                        for t in args.timesteps:
                            steps = torch.full((1,), t)
                            noisy = module.scheduler.add_noise(latents, noise, steps)
                            target = module.scheduler.get_velocity(latents, noise, steps)
                            with torch.no_grad():
                                pred = module.transformer(noisy, words, steps, history_hidden_states=tokens, return_dict=False)[0]
                            total += float((pred - target).pow(2).mean()) / len(args.timesteps)
                        row[f"mse_{condition}_{name}"] = total
                rows.append(row)

    report: dict[str, dict[str, object]] = {}
    for kind in ("character", "setting"):
        part = [r for r in rows if r["kind"] == kind]
        if not part:
            continue
        entry: dict[str, object] = {"probes": len(part), "stories": len({r["story"] for r in part})}
        for stage, prefix in (("stage2", "mse"), ("stage1", "s1")):
            d_own = [r[f"{prefix}_own_distractor"] - r[f"{prefix}_own_true"] for r in part]
            d_none = [r[f"{prefix}_none_distractor"] - r[f"{prefix}_none_true"] for r in part]
            binding = [a - b for a, b in zip(d_own, d_none, strict=True)]
            for name, values in (("d_own", d_own), ("d_none", d_none), ("binding", binding)):
                entry[f"{stage}_{name}"] = float(np.mean(values))
                entry[f"{stage}_{name}_ci95"] = list(bootstrap_mean_ci(values))
            entry[f"{stage}_prefers_true"] = float(np.mean([d > 0 for d in d_own]))
        if "mse_worded_true" in part[0]:  # words of the true look vs the distractor's, same targets, no history
            words = [(r["mse_none_distractor"] - r["mse_none_true"]) - (r["mse_worded_distractor"] - r["mse_worded_true"])
                     for r in part]
            entry["stage2_text_binding"] = float(np.mean(words))
            entry["stage2_text_binding_ci95"] = list(bootstrap_mean_ci(words))
        report[kind] = entry
    text_out = json.dumps({"weights": str(args.weights), "seed": args.seed, "register": args.register, "timesteps": args.timesteps,
                           "overrides": args.overrides, "by_probe": report}, indent=2)
    print(text_out)
    if args.out is not None:
        args.out.write_text(text_out + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
