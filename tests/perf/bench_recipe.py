"""Time the method's stages of the world recipe from the shipped world encoders (budget: 60 min on 2 idle cores).

The instruments (world VAE, CLIP, detector) stay fixed: `encoders` points the recipe at
`harness/world_weights/world`, so only the method trains: training data (`data synth`), its embedding
cache, stage 1 (extractor) and stage 2 (joint, character-weighted loss). With `--suites`, the
recipe then generates and scores those held-out suites with every method on the trained export and
compares them (the confirmatory experiment of docs/results.md runs this way).

Run: `python tests/perf/bench_recipe.py --out recipe_run --seed 5` (a rerun in the same folder
continues where it stopped). Prints each stage's wall time, the method stages' total and its ratio
to the budget, and the MLflow run ids.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

BUDGET_S = 3600.0
METHOD_STAGES = ("data", "cache", "extractor", "joint")


def main() -> int:
    """Run (or continue) the recipe from the shipped encoders and print its stage times."""
    from msvg_bench.demo import shipped_world_weights
    from msvg_bench.world_recipe import WorldRecipeSettings, run_world_recipe

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="the recipe's folder (a rerun continues in it)")
    parser.add_argument("--seed", type=int, required=True, help="training seed (data and every stage)")
    parser.add_argument("--tracking-uri", default=None, help="MLflow store (default: sqlite:///OUT/mlflow.db)")
    parser.add_argument("--suites", nargs="*", default=[], help="held-out suites to generate, score and compare")
    parser.add_argument("--methods", nargs="+", default=["plain", "msvg", "streaming"])
    parser.add_argument("--eval-stories", type=int, default=None, help="stories per suite (default: the whole suite)")
    args = parser.parse_args()
    weights = shipped_world_weights()
    if weights is None:
        print("the shipped world weights (harness/world_weights) are missing")
        return 1
    uri = args.tracking_uri or f"sqlite:///{(args.out / 'mlflow.db').resolve()}"
    args.out.mkdir(parents=True, exist_ok=True)
    settings = WorldRecipeSettings(out_dir=args.out, tracking_uri=uri, seed=args.seed, encoders=weights / "world",
                                   suites=args.suites, methods=args.methods, eval_stories=args.eval_stories)
    result = run_world_recipe(settings)
    summary = json.loads((args.out.resolve() / "recipe_summary.json").read_text())
    timings = summary["timings"]
    print(f"{'stage':<40} {'seconds':>9}")
    for name, seconds in timings.items():
        print(f"{name:<40} {seconds:>9.1f}")
    method = sum(timings.get(name, 0.0) for name in METHOD_STAGES)
    print(f"method stages ({', '.join(METHOD_STAGES)}): {method:.0f} s = {method / BUDGET_S:.2f} x the 60-min budget"
          + ("" if all(name in timings for name in METHOD_STAGES) else " (some stages were done by an earlier call)"))
    print("MLflow runs:", json.dumps(result.run_ids, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
