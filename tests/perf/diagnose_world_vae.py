"""Why the world VAE loses a character's look: more training, or more capacity? (issue: the VAE ceiling)

The confirmatory experiment found the world VAE (21.4 dB on held-out clips) keeps less than half of a
look: look retrieval with the world CLIP drops from 99.7 % on the ground truth to 43.4 % on the VAE's
reconstructions. This script trains a world VAE further, or a wider one from scratch, with the world-vae
recipe's own data and loss (`launch/recipe_world.py`), in one process, and measures at each evaluation
point what `harness/world_quality.py` measures on held-out `world_reference` stories: PSNR and look
retrieval on the reconstructions (with the shipped world CLIP). A curve still rising at the end says
"train longer"; a wider VAE rising faster at equal steps says "capacity".

Run (the training data of any world recipe, e.g. `data synth --preset world --register mixed --boxes`):

    python tests/perf/diagnose_world_vae.py --data exp6/data --steps 1200 --eval-every 300              # continue the shipped VAE
    python tests/perf/diagnose_world_vae.py --data exp6/data --steps 1200 --from-scratch --widths 32,128,192,256
    python tests/perf/diagnose_world_vae.py --data exp6/data --steps 1000 --schedule cosine --character-loss-weight 10
    python tests/perf/diagnose_world_vae.py --data exp6/data --steps 2000 --schedule cosine --character-loss-weight 10 --motion-warp

The loss is the world-vae recipe's (`WorldVAERecipe.loss`): with `--character-loss-weight` > 1 the pixels
inside a character box weigh that much more (the box sidecars of the data folder).

First prints what blur alone keeps of the held-out clips (k x k block means, the mean of each group of
4 frames) and the ground truth's frame-to-frame change, then one row per evaluation point (step, train loss,
held-out PSNR, look retrieval on reconstructions, and per frame of the clip: the reconstruction's PSNR and
frame-to-frame change) and writes them to `--out` as JSON.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def main() -> int:
    """Train the VAE variant and print its held-out curve."""
    import torch
    from msvg_bench.benchmarks.suite import load_suite
    from msvg_bench.config import resolve_config
    from msvg_bench.core.atomic import atomic_write_json
    from msvg_bench.demo import shipped_world_weights
    from msvg_bench.launch.recipes import collate, get_recipe
    from msvg_bench.launch.sampling import lr_factor
    from msvg_bench.models.world_vae import WorldVAE
    from msvg_bench.world_quality import measure_world_encoders

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="a world training data folder (clips + manifest)")
    parser.add_argument("--steps", type=int, default=1200)
    parser.add_argument("--eval-every", type=int, default=300)
    parser.add_argument("--batch", type=int, default=8, help="clips per step (the recipe: 8 per rank)")
    parser.add_argument("--lr", type=float, default=5e-4, help="AdamW learning rate (the world preset's)")
    parser.add_argument("--warmup", type=int, default=50, help="linear warm-up steps (the world preset's)")
    parser.add_argument("--schedule", choices=["constant", "linear", "cosine"], default="constant",
                        help="learning rate after the warm-up (cosine: the world preset's, to 0.1 x at --steps)")
    parser.add_argument("--character-loss-weight", type=float, default=1.0,
                        help="weight of the character pixels in the reconstruction loss (1: unweighted)")
    parser.add_argument("--from-scratch", action="store_true", help="a fresh VAE instead of the shipped one")
    parser.add_argument("--vae", type=Path, default=None, help="a VAE folder to continue (default: the shipped one)")
    parser.add_argument("--widths", default="32,64,96,128", help="block_out_channels of a fresh VAE")
    parser.add_argument("--motion-warp", action="store_true",
                        help="decode with per-frame displacement fields (a continued VAE gets a zero-initialised flow head)")
    parser.add_argument("--motion-loss-weight", type=float, default=0.0,
                        help="add this weight x the L1 error of the frame-to-frame changes inside each group of 4 frames")
    parser.add_argument("--heldout-stories", type=int, default=12, help="world_reference stories measured")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("diagnose_world_vae.json"))
    parser.add_argument("--save", type=Path, help="also save the VAE at each evaluation point to this folder (the latest one is kept)")
    args = parser.parse_args()

    weights = shipped_world_weights()
    if weights is None:
        print("the shipped world weights (harness/world_weights) are missing")
        return 1
    torch.manual_seed(args.seed)
    if args.from_scratch:
        vae = WorldVAE(block_out_channels=tuple(int(w) for w in args.widths.split(",")), motion_warp=args.motion_warp)
    else:
        vae = WorldVAE.from_pretrained(str(args.vae or weights / "world" / "vae"))
        if args.motion_warp and not vae.config.motion_warp:
            plain = vae
            vae = WorldVAE(**{k: v for k, v in plain.config.items() if not k.startswith("_")} | {"motion_warp": True})
            vae.load_state_dict(plain.state_dict(), strict=False)  # everything but the new flow head
    work = Path(tempfile.mkdtemp(prefix="diagnose-vae-"))
    heldout = load_suite("world_reference").limited(args.heldout_stories).materialize(work / "heldout")
    clips = heldout_clips(heldout)
    print("what blur alone keeps of the held-out clips (PSNR of a fixed, untrained reconstruction):")
    for name, psnr in blur_baselines(clips).items():
        print(f"  {name:<40} {psnr:6.2f} dB")
    print("mean |frame t+1 - frame t| per transition (latent frames start at frames 1 and 5):")
    print("  ground truth    " + " ".join(f"{v:.4f}" for v in frame_changes(clips)))
    setup = resolve_config(overrides=["preset=world", f"data.root={args.data}",
                                      f"train.character_loss_weight={args.character_loss_weight}"]).training().setup
    recipe = get_recipe("world-vae")
    samples = recipe.dataset(setup)
    world = work / "world"
    shutil.copytree(weights / "world" / "clip", world / "clip")

    def measure(step: int, loss: float) -> dict[str, float]:
        vae.eval()
        vae.save_pretrained(str(world / "vae"))
        quality = measure_world_encoders(world, heldout)
        recon_jumps, frame_psnr = frame_profile(vae, clips)
        vae.train()
        row = {"step": step, "train_loss": loss, "psnr_db": quality["vae_psnr_db"],
               "look_top1_reconstructed": quality.get("clip_look_top1_reconstructed", float("nan")),
               "look_top1_ground_truth": quality["clip_look_top1"],
               "frame_psnr_db": frame_psnr, "reconstruction_jumps": recon_jumps}
        print(f"{step:>6} {loss:>10.4f} {row['psnr_db']:>8.2f} {row['look_top1_reconstructed']:>8.3f} "
              f"{row['look_top1_ground_truth']:>8.3f}  ({time.monotonic() - start:.0f} s)", flush=True)
        print("         per-frame PSNR " + " ".join(f"{v:.2f}" for v in frame_psnr)
              + " | reconstruction's |frame t+1 - frame t| " + " ".join(f"{v:.4f}" for v in recon_jumps), flush=True)
        return row

    print(f"{len(samples)} training clips, {len(heldout)} held-out stories; "
          f"{'fresh VAE ' + args.widths if args.from_scratch else args.vae or 'the shipped VAE'}, "
          f"{sum(p.numel() for p in vae.parameters()):,} parameters")
    print(f"{'step':>6} {'loss':>10} {'PSNR dB':>8} {'look rec':>8} {'look GT':>8}")
    optimizer = torch.optim.AdamW(vae.parameters(), lr=args.lr)
    min_lr_ratio = setup.train.min_lr_ratio
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, args.warmup, args.steps, args.schedule, min_lr_ratio))
    order, rows, running, start = random.Random(args.seed), [], float("nan"), time.monotonic()
    rows.append(measure(0, running))
    vae.train()
    for step in range(1, args.steps + 1):
        batch = collate(order.sample(samples, args.batch))
        loss = recipe.loss(vae, {}, batch, [], setup)
        if args.motion_loss_weight:
            loss = loss + args.motion_loss_weight * motion_error(vae, batch["video"])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        running = loss.item() if running != running else 0.95 * running + 0.05 * loss.item()
        if step % args.eval_every == 0 or step == args.steps:
            rows.append(measure(step, running))
            atomic_write_json(args.out, {"args": {k: str(v) for k, v in vars(args).items()}, "rows": rows})
            if args.save:
                vae.save_pretrained(str(args.save))
    shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(rows[-1]))
    return 0


def motion_error(vae: object, video: torch.Tensor) -> torch.Tensor:
    """L1 error of the reconstruction's frame-to-frame changes inside each latent frame's group of 4 frames:
    a reconstruction that renders the group still pays the whole motion."""
    z = vae.encode(video).latent_dist.mean
    groups = vae._decode_groups(z.permute(0, 2, 1, 3, 4).reshape(-1, z.shape[1], *z.shape[-2:]))
    target = vae._groups(video)

    def changes(x: torch.Tensor) -> torch.Tensor:
        frames = x.reshape(x.shape[0], -1, vae.config.temporal_compression_ratio, *x.shape[-2:])
        return frames[:, :, 1:] - frames[:, :, :-1]

    return (changes(groups) - changes(target)).abs().mean()


def heldout_clips(stories: list, frames: int = 9, size: int = 64) -> torch.Tensor:
    """The stories' clips at the VAE's geometry, as `measure_world_encoders` reads them: [N, 3, T, H, W] in [-1, 1]."""
    import torch
    from msvg_bench.core.video import read_video
    from msvg_bench.models.encoding import preprocess_frames

    return torch.stack([preprocess_frames(read_video(story.clip_path(index)), frames, size, size)
                        for story in stories for index in range(len(story.scenes))])


def blur_baselines(clips: torch.Tensor) -> dict[str, float]:
    """Mean PSNR (dB, 0-255) over `clips` of reconstructions that keep only coarse content: each k x k pixel
    block's mean upsampled again (bilinear), and each group of 4 frames (the frames one latent frame
    encodes) replaced by its mean."""
    import torch
    import torch.nn.functional as F

    def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
        mse = ((a - b) * 127.5).pow(2).flatten(1).mean(dim=1).clamp_min(1e-10)
        return float((10 * torch.log10(255.0**2 / mse)).mean())

    n, c, t, h, w = clips.shape
    frames = clips.permute(0, 2, 1, 3, 4).reshape(n * t, c, h, w)
    rows = {}
    for k in (2, 4, 8):
        blurred = F.interpolate(F.avg_pool2d(frames, k), scale_factor=k, mode="bilinear", align_corners=False)
        rows[f"{k} x {k} block means"] = psnr(blurred.reshape(n, t, c, h, w), frames.reshape(n, t, c, h, w))
    groups = clips[:, :, 1:].reshape(n, c, (t - 1) // 4, 4, h, w)
    rows["mean of each group of 4 frames"] = psnr(groups.mean(3, keepdim=True).expand_as(groups), groups)
    return rows


def frame_changes(video: torch.Tensor) -> list[float]:
    """Mean absolute change between consecutive frames of clips [N, 3, T, H, W] (in [-1, 1] units), per
    transition: motion a VAE moves to its latent-frame boundaries shows as small changes inside a group of
    4 frames and a jump between groups."""
    return (video[:, :, 1:] - video[:, :, :-1]).abs().mean(dim=(0, 1, 3, 4)).tolist()


def frame_profile(vae: object, clips: torch.Tensor) -> tuple[list[float], list[float]]:
    """Per frame of the VAE's reconstructions of `clips`: their `frame_changes` and PSNR (dB, 0-255)."""
    import torch

    with torch.no_grad():
        recon = torch.cat([vae.decode(vae.encode(clips[i : i + 16]).latent_dist.mode()).sample.clamp(-1, 1)
                           for i in range(0, len(clips), 16)])
    mse = ((recon - clips) * 127.5).pow(2).mean(dim=(0, 1, 3, 4)).clamp_min(1e-10)
    return frame_changes(recon), (10 * torch.log10(255.0**2 / mse)).tolist()


if __name__ == "__main__":
    raise SystemExit(main())
