"""Held-out PSNR and look retrieval of world VAE folders, with the recipe's own measure.

Each VAE is measured as `world/quality.json` is (`harness/world_quality.measure_world_encoders`) on the
first N `world_reference` stories, beside the shipped world CLIP and detector:

    python tests/perf/measure_world_vae.py harness/world_weights/world/vae other_vae --stories 96
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path


def main() -> int:
    """Print one JSON line of quality figures per VAE folder."""
    from msvg_bench.benchmarks.suite import load_suite
    from msvg_bench.demo import shipped_world_weights
    from msvg_bench.world_quality import measure_world_encoders

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("vaes", nargs="+", type=Path, help="VAE folders (diffusers layout)")
    parser.add_argument("--stories", type=int, default=24, help="held-out world_reference stories (the recipe measures 24)")
    args = parser.parse_args()
    weights = shipped_world_weights()
    if weights is None:
        print("the shipped world weights (harness/world_weights) are missing")
        return 1
    work = Path(tempfile.mkdtemp(prefix="measure-vae-"))
    try:
        stories = load_suite("world_reference").limited(args.stories).materialize(work / "heldout")
        for vae in args.vaes:
            world = work / "world"
            shutil.rmtree(world, ignore_errors=True)
            for part in ("clip", "detector"):
                shutil.copytree(weights / "world" / part, world / part)
            shutil.copytree(vae, world / "vae")
            quality = measure_world_encoders(world, stories)
            print(json.dumps({"vae": str(vae), "stories": args.stories, **{k: round(v, 4) for k, v in quality.items()}}), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
