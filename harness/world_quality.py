"""Held-out quality of the world encoders: VAE reconstruction, CLIP setting and look recognition.

Measured on stories the encoders never saw (a held-out suite's reference videos, drawn from another
seed), against the world's exact ground truth:

- `vae_psnr_db`: PSNR (dB, 0-255) of the VAE's reconstruction of each clip at the model geometry;
- `clip_setting_top1`: zero-shot setting classification of every frame (texts: "on the snow", ...);
- `clip_lit_setting_top1`: the same over setting x light (24 classes: "on the snow at dusk", ...);
- `clip_look_top1` / `clip_look_chance`: each annotated character crop retrieves its look's
  description among all 48 looks; `clip_look_top1_reconstructed`: the same crops cut from the VAE's
  reconstruction (can a generator on this VAE show a look well enough for it to be recognised?);
- `detector_recall`: the world detector finds a box holding the centre of each annotated character.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from msvg_bench.benchmarks.casting import LOOK_POOL_SIZE, StoryCast, describe, look
from msvg_bench.benchmarks.world_settings import SETTING_VARIANTS, SETTINGS
from msvg_bench.core.video import read_video


def measure_world_encoders(world_dir: Path, stories: list[Any], frames: int = 9, size: int = 64) -> dict[str, float]:
    """The measurements above for the encoders in `world_dir` (vae/, clip/) on `stories` (with box sidecars)."""
    import json

    import torch
    from msvg_bench.eval.encoders.world import world_clip
    from msvg_bench.models.encoding import preprocess_frames
    from msvg_bench.models.world_vae import WorldVAE, psnr_db, reconstruct

    vae = WorldVAE.from_pretrained(str(world_dir / "vae")).eval()
    clip = world_clip(world_dir / "clip")
    setting_ids = sorted(SETTINGS)
    setting_text = clip.encode_text([SETTINGS[s].phrase for s in setting_ids])
    lit = [(s, v) for s in setting_ids for v in range(len(SETTING_VARIANTS))]
    lit_text = clip.encode_text([f"{SETTINGS[s].phrase} {SETTING_VARIANTS[v].phrase}" for s, v in lit])
    look_text = clip.encode_text([describe(look(i)) for i in range(LOOK_POOL_SIZE)])
    detector = None
    if (world_dir / "detector").is_dir():
        from msvg_bench.eval.detectors.world import world_detector

        detector = world_detector(world_dir / "detector")
    psnrs, setting_hits, lit_hits, look_hits, recon_hits, found = [], [], [], [], [], []
    for story in stories:
        cast = StoryCast(**story.meta["cast"])
        for index, scene in enumerate(story.scenes):
            raw = read_video(story.clip_path(index))
            video = preprocess_frames(raw, frames, size, size)
            recon = reconstruct(vae, video[None])[0]
            psnrs.append(psnr_db(recon, video))
            clip_frames = ((video.permute(1, 2, 3, 0) + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).numpy()
            recon_frames = ((recon.permute(1, 2, 3, 0) + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).numpy()
            emb = clip.encode_frames(clip_frames)
            setting_hits += (emb @ setting_text.T).argmax(1).eq(setting_ids.index(scene.setting)).tolist()
            lit_hits += (emb @ lit_text.T).argmax(1).eq(lit.index((scene.setting, cast.variants[scene.setting]))).tolist()
            sidecar = story.clip_path(index).with_suffix(".boxes.json")
            if sidecar.is_file():
                boxes = json.loads(sidecar.read_text(encoding="utf-8"))
                for role in scene.characters:
                    picks = np.linspace(0, len(raw) - 1, 3).round().astype(int)
                    crops = clip.encode_crops(raw[picks], np.asarray(boxes[role])[picks])
                    if len(crops):
                        look_hits += (crops @ look_text.T).argmax(1).eq(cast.looks[role]).tolist()
                    if raw.shape[:3] == recon_frames.shape[:3]:  # boxes are in the clip's own geometry
                        crops = clip.encode_crops(recon_frames[picks], np.asarray(boxes[role])[picks])
                        if len(crops):
                            recon_hits += (crops @ look_text.T).argmax(1).eq(cast.looks[role]).tolist()
                    if detector is not None and raw.shape[1:3] == (size, size):
                        found += [_centre_found(detector, raw[t], boxes[role][t]) for t in picks]
    return {
        "vae_psnr_db": float(np.mean(psnrs)),
        "clip_setting_top1": float(np.mean(setting_hits)),
        "clip_lit_setting_top1": float(np.mean(lit_hits)),
        "clip_look_top1": float(np.mean(look_hits)) if look_hits else float("nan"),
        "clip_look_chance": 1.0 / LOOK_POOL_SIZE,
        **({"clip_look_top1_reconstructed": float(np.mean(recon_hits))} if recon_hits else {}),
        **({"detector_recall": float(np.mean(found))} if found else {}),
    }


def _centre_found(detector: Any, frame: np.ndarray, box: Any) -> bool:
    """Whether a detected box contains the centre of the annotated `box` (y0, x0, y1, x1)."""
    cy, cx = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return any(y0 <= cy < y1 and x0 <= cx < x1 for y0, x0, y1, x1 in detector.boxes(frame[None])[0])
