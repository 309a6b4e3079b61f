"""Writing data-set clips as H.264 whose bytes depend only on the frames.

libx264's macroblock-tree rate control (`mbtree`, on by default) makes the encoded bytes — and so
the decoded pixels — of the same frames differ from run to run on this stack (measured: 8 of 24
synthetic 64x96 clips encoded 12 times each gave more than one result; none with `mbtree=0`).
Data-set clips are hashed for cache keys and compared across runs, so they are written with
`mbtree=0`; everything else matches `msvg_bench.video.write_video` (yuv420p, faststart, CRF 18,
preset medium, atomic).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from msvg_bench.atomic import atomic_path
from msvg_bench.errors import VideoError

X264_OPTIONS = {"crf": "18", "preset": "medium", "x264-params": "mbtree=0"}


def write_clip(path: str | Path, frames: np.ndarray, fps: float) -> Path:
    """Encode uint8 (T, H, W, 3) frames as browser-playable, reproducible H.264 mp4, atomically."""
    import av

    path = Path(path)
    array = np.asarray(frames)
    if array.ndim != 4 or array.shape[-1] != 3 or array.shape[0] == 0 or array.dtype != np.uint8:
        raise VideoError(path, f"frames must be uint8 (T, H, W, 3) with T > 0, got {array.dtype} {tuple(array.shape)}")
    if array.shape[1] % 2 or array.shape[2] % 2:  # 4:2:0 needs even sides
        array = np.pad(array, ((0, 0), (0, array.shape[1] % 2), (0, array.shape[2] % 2), (0, 0)), mode="edge")
    with atomic_path(path) as tmp:
        container = av.open(str(tmp), mode="w", format="mp4", options={"movflags": "+faststart"})
        try:
            stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
            stream.height, stream.width = array.shape[1], array.shape[2]
            stream.pix_fmt = "yuv420p"
            stream.options = dict(X264_OPTIONS)
            for image in array:
                for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        finally:
            container.close()
    return path
