"""Model benchmark: per-scene time of msvg vs plain, and scene 8 vs scene 2 (history cost must not grow).

Run: `python tests/perf/bench_model.py [--layers 4 --heads 8 --head-dim 64 --frames 17 --size 160 --steps 8]`

The tiny architecture is scaled up until the transformer forward dominates a denoising step
(CPU). Both methods run side by side in one process: for every scene index, the msvg scene and the
plain scene are timed back to back (same seed, same sampler), so machine load affects both alike.
A scene's time covers denoising, VAE decoding and (msvg) the history-encoder embeddings and history
features; file writing is excluded. Times are process CPU seconds (all threads), which the other
jobs on a shared machine disturb far less than wall-clock; wall-clock is reported beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("MSVG_NO_PROGRESS", "1")

sys.path.insert(0, str(Path(__file__).resolve().parent))  # its sibling, also when loaded from a file path
from bench_story_batch import PROMPTS  # noqa: E402


def main() -> None:
    """Time an 8-scene story with msvg and plain, print the ratios as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--head-dim", type=int, default=64)
    parser.add_argument("--frames", type=int, default=17)
    parser.add_argument("--size", type=int, default=160)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--text-len", type=int, default=16)
    args = parser.parse_args()

    import torch
    from msvg_bench.config import resolve_config
    from msvg_bench.models.history import encode_scene_texts
    from msvg_bench.models.pipelines import StoryGenerator, StoryState

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    cfg = resolve_config(
        overrides=[
            f"model.tiny_layers={args.layers}",
            f"model.tiny_heads={args.heads}",
            f"model.tiny_head_dim={args.head_dim}",
            f"model.tiny_text_len={args.text_len}",
            f"model.num_frames={args.frames}",
            f"model.height={args.size}",
            f"model.width={args.size}",
            f"generate.num_inference_steps={args.steps}",
        ]
    )
    gen = StoryGenerator(cfg.generation())
    texts = encode_scene_texts(gen.components, PROMPTS)
    negative = encode_scene_texts(gen.components, [""])[0].embeds[None]
    gen.encoder  # noqa: B018 - build the history encoder before timing
    states = {"msvg": StoryState(), "plain": StoryState()}
    times: dict[str, list[float]] = {"msvg": [], "plain": []}
    wall: dict[str, list[float]] = {"msvg": [], "plain": []}
    # warm-up (allocator, kernels): one scene per method, not timed
    for method in ("plain", "msvg"):
        gen.run_scene(method, 0, texts[0], negative, StoryState(), seed=0)

    for index, text in enumerate(texts):
        for method in ("msvg", "plain"):
            calls = []
            forward = gen.transformer_call
            gen.transformer_call = lambda *a, calls=calls, forward=forward: (calls.append(1), forward(*a))[1]
            started, cpu = time.perf_counter(), time.process_time()
            gen.run_scene(method, index, text, negative, states[method], seed=42)
            times[method].append(time.process_time() - cpu)
            wall[method].append(time.perf_counter() - started)
            del gen.transformer_call
            assert len(calls) == args.steps

    # transformer-forward share of a step, measured on the msvg history batch (3 branches)
    latents = torch.randn(3, *gen.latent_shape()[1:])
    text = torch.cat([negative, texts[1].embeds[None], texts[1].embeds[None]])
    hist = torch.zeros(3, args.text_len, text.shape[-1])
    with torch.no_grad():
        started = time.process_time()
        for _ in range(3):
            gen.components.transformer(latents, text, torch.tensor([500] * 3), history_hidden_states=hist)
        forward_s = (time.process_time() - started) / 3
        from msvg_bench.models.encoding import decode_latents

        started = time.process_time()
        decode_latents(gen.components, torch.randn(gen.latent_shape()[1:]).permute(1, 0, 2, 3))
        decode_s = time.process_time() - started

    with_history = slice(1, None)
    per_scene = {m: statistics.median(v[with_history]) for m, v in times.items()}
    result = {
        "machine": f"{os.cpu_count()}-core CPU (shared), no GPU, torch {torch.__version__}",
        "geometry": {
            "frames": args.frames,
            "size": args.size,
            "latent_shape": list(gen.latent_shape()),
            "video_tokens": gen.latent_shape()[1] * (gen.latent_shape()[3] // 2) * (gen.latent_shape()[4] // 2),
            "text_tokens": args.text_len,
            "layers": args.layers,
            "width": args.heads * args.head_dim,
            "steps": args.steps,
        },
        "scene_cpu_seconds": {m: [round(x, 3) for x in v] for m, v in times.items()},
        "scene_wall_seconds": {m: [round(x, 3) for x in v] for m, v in wall.items()},
        "vae_decode_cpu_seconds": round(decode_s, 3),
        "msvg_forward_cpu_seconds_per_step": round(forward_s, 3),
        "median_scene_cpu_seconds_scenes_2_to_8": {m: round(v, 3) for m, v in per_scene.items()},
        "msvg_over_plain": round(per_scene["msvg"] / per_scene["plain"], 3),
        "msvg_scene8_over_scene2": round(times["msvg"][7] / times["msvg"][1], 3),
        "transformer_forward_share_of_msvg_scene": round(forward_s * args.steps / per_scene["msvg"], 3),
        "msvg_over_plain_wall": round(statistics.median(wall["msvg"][with_history]) / statistics.median(wall["plain"][with_history]), 3),
        "targets": {"msvg_over_plain": 1.6, "msvg_scene8_over_scene2": 1.2},
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
