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


class ClipWriter:
    """Stream uint8 (H, W, 3) frames into a reproducible H.264 mp4; the file appears atomically on close.

    Frames with odd sides are padded by one replicated row/column (4:2:0 needs even sides). Use as a
    context manager; an exception inside the block leaves no file behind.
    """

    def __init__(self, path: str | Path, fps: float) -> None:
        self.path = Path(path)
        self.fps = fps
        self.frames = 0
        self._atomic = None
        self._container = None
        self._stream = None
        self._shape: tuple[int, int] | None = None

    def __enter__(self) -> ClipWriter:
        import av

        self._atomic = atomic_path(self.path)
        tmp = self._atomic.__enter__()
        self._container = av.open(str(tmp), mode="w", format="mp4", options={"movflags": "+faststart"})
        return self

    def write(self, frame: np.ndarray) -> None:
        """Append one uint8 (H, W, 3) RGB frame (all frames of a clip share one size)."""
        import av

        image = np.asarray(frame)
        if image.ndim != 3 or image.shape[-1] != 3 or image.dtype != np.uint8:
            raise VideoError(self.path, f"frames must be uint8 (H, W, 3), got {image.dtype} {tuple(image.shape)}")
        if image.shape[0] % 2 or image.shape[1] % 2:
            image = np.pad(image, ((0, image.shape[0] % 2), (0, image.shape[1] % 2), (0, 0)), mode="edge")
        if self._stream is None:
            self._shape = image.shape[:2]
            self._stream = self._container.add_stream("libx264", rate=Fraction(self.fps).limit_denominator(1001))
            self._stream.height, self._stream.width = self._shape
            self._stream.pix_fmt = "yuv420p"
            self._stream.options = dict(X264_OPTIONS)
        elif image.shape[:2] != self._shape:
            raise VideoError(self.path, f"frame {self.frames} is {image.shape[:2]}, earlier frames {self._shape}")
        for packet in self._stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
            self._container.mux(packet)
        self.frames += 1

    def __exit__(self, exc_type, exc, tb) -> None:  # noqa: ANN001
        error: BaseException | None = exc
        try:
            if error is None:
                if self._stream is None:
                    raise VideoError(self.path, "no frames to write")
                for packet in self._stream.encode():
                    self._container.mux(packet)
        except BaseException as flush_error:  # noqa: BLE001 - re-raised below, after cleaning up
            error = flush_error
        try:
            self._container.close()
        except Exception as close_error:  # noqa: BLE001 - only raised when nothing failed before
            error = error or close_error
        if error is None:
            self._atomic.__exit__(None, None, None)  # renames the finished file into place
            return
        self._atomic.__exit__(type(error), error, error.__traceback__)  # removes the partial file
        if error is not exc:
            raise error


def write_clip(path: str | Path, frames: np.ndarray, fps: float) -> Path:
    """Encode uint8 (T, H, W, 3) frames as browser-playable, reproducible H.264 mp4, atomically."""
    path = Path(path)
    array = np.asarray(frames)
    if array.ndim != 4 or array.shape[0] == 0:
        raise VideoError(path, f"frames must be uint8 (T, H, W, 3) with T > 0, got {array.dtype} {tuple(array.shape)}")
    with ClipWriter(path, fps) as writer:
        for image in array:
            writer.write(image)
    return path
