"""Video I/O shared by every component: decode to uint8 THWC, encode H.264 mp4 and GIF previews.

Decoding and encoding use PyAV (its wheels carry libx264), so written mp4s play in browsers.
Every failure is a `VideoError` naming the file and the problem.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
from msvg_bench.core.atomic import atomic_path
from msvg_bench.core.errors import VideoError


@dataclass(frozen=True)
class VideoInfo:
    """Container-level facts about a video file."""

    path: Path
    codec: str
    fps: float
    frame_count: int
    width: int
    height: int
    pixel_format: str

    @property
    def duration_s(self) -> float:
        """Length in seconds (frame count over frame rate)."""
        return self.frame_count / self.fps if self.fps else 0.0


def _check_file(path: Path) -> None:
    if not path.exists():
        raise VideoError(path, "no such file")
    if path.is_dir():
        raise VideoError(path, "is a directory, not a video file")
    if path.stat().st_size == 0:
        raise VideoError(path, "empty file (0 bytes)")


def _open(path: Path):  # noqa: ANN202 - av.container.InputContainer
    import av

    _check_file(path)
    try:
        container = av.open(str(path), mode="r")
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise VideoError(path, f"cannot be opened as a video ({_first_line(exc)})") from None
    if not container.streams.video:
        container.close()
        raise VideoError(path, "contains no video stream")
    return container


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0]


def probe_video(path: str | Path) -> VideoInfo:
    """Codec, frame rate, frame count and size of a video (frames are counted when the header lacks them)."""
    import av

    path = Path(path)
    container = _open(path)
    try:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        frames = int(stream.frames or 0)
        if frames <= 0:
            try:
                frames = sum(1 for _ in container.decode(stream))
            except av.error.FFmpegError as exc:
                raise VideoError(path, f"cannot be decoded ({_first_line(exc)})") from None
        if frames <= 0:
            raise VideoError(path, "contains no video frames")
        return VideoInfo(
            path=path,
            codec=stream.codec_context.name,
            fps=float(rate) if rate else 0.0,
            frame_count=frames,
            width=stream.codec_context.width,
            height=stream.codec_context.height,
            pixel_format=str(stream.codec_context.pix_fmt),
        )
    finally:
        container.close()


def read_video(path: str | Path, max_frames: int | None = None) -> np.ndarray:
    """Decode a video to a uint8 array of shape (T, H, W, 3), RGB."""
    import av

    path = Path(path)
    container = _open(path)
    frames: list[np.ndarray] = []
    try:
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="rgb24"))
            if max_frames is not None and len(frames) >= max_frames:
                break
    except av.error.FFmpegError as exc:
        raise VideoError(path, f"cannot be decoded after {len(frames)} frames ({_first_line(exc)})") from None
    finally:
        container.close()
    if not frames:
        raise VideoError(path, "contains no video frames")
    return np.stack(frames)


def _as_uint8_thwc(frames: np.ndarray, path: Path) -> np.ndarray:
    array = np.asarray(frames)
    if array.ndim != 4 or array.shape[-1] != 3:
        raise VideoError(path, f"frames must have shape (T, H, W, 3), got {tuple(array.shape)}")
    if array.shape[0] == 0:
        raise VideoError(path, "no frames to write")
    if array.dtype != np.uint8:
        raise VideoError(path, f"frames must be uint8, got {array.dtype}")
    return array


# libx264's macroblock-tree rate control makes the bytes (and decoded pixels) of the same frames
# differ from run to run; clips are hashed for cache keys and compared across runs, so it is off.
X264_OPTIONS = {"crf": "18", "preset": "medium", "x264-params": "mbtree=0"}


class VideoWriter:
    """Stream uint8 (H, W, 3) RGB frames into a reproducible, browser-playable H.264 mp4.

    yuv420p, faststart; the same frames always give the same bytes. Odd sides are padded by one
    replicated row/column (4:2:0 needs even sides). Use as a context manager: the file appears
    atomically on a clean exit; an exception inside the block leaves nothing behind.
    """

    def __init__(self, path: str | Path, fps: float) -> None:
        self.path = Path(path)
        self.fps = fps
        self.frames = 0
        self._atomic: Any = None
        self._container: Any = None
        self._stream: Any = None
        self._shape: tuple[int, int] | None = None

    def __enter__(self) -> VideoWriter:
        import av

        self._atomic = atomic_path(self.path)
        tmp = self._atomic.__enter__()
        self._container = av.open(str(tmp), mode="w", format="mp4", options={"movflags": "+faststart"})
        return self

    def write(self, frame: np.ndarray) -> None:
        """Append one uint8 (H, W, 3) RGB frame (all frames of a clip share one size)."""
        import av

        image = np.asarray(frame)
        if image.ndim != 3 or image.shape[-1] != 3:
            raise VideoError(self.path, f"frames must have shape (T, H, W, 3), got a frame of {tuple(image.shape)}")
        if image.dtype != np.uint8:
            raise VideoError(self.path, f"frames must be uint8, got {image.dtype}")
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

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
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


def write_video(path: str | Path, frames: np.ndarray, fps: float) -> Path:
    """Encode uint8 THWC frames as reproducible, browser-playable H.264 mp4, atomically (see `VideoWriter`)."""
    path = Path(path)
    array = _as_uint8_thwc(frames, path)
    with VideoWriter(path, fps) as writer:
        for image in array:
            writer.write(image)
    return path


def write_gif(path: str | Path, frames: np.ndarray, fps: float, max_side: int = 256) -> Path:
    """Write a small looping GIF preview (longest side at most `max_side`), atomically."""
    from PIL import Image

    path = Path(path)
    array = _as_uint8_thwc(frames, path)
    _, height, width, _ = array.shape
    scale = min(1.0, max_side / max(height, width))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    images = [Image.fromarray(image).resize(size, Image.Resampling.BILINEAR) if scale < 1 else Image.fromarray(image) for image in array]
    duration_ms = max(20, round(1000 / fps))
    with atomic_path(path) as tmp:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=duration_ms, loop=0)
    return path


def concat_videos(paths: list[Path]) -> np.ndarray:
    """Decode several clips and join them along time (all must share one frame size)."""
    clips = [read_video(p) for p in paths]
    shapes = {clip.shape[1:] for clip in clips}
    if len(shapes) > 1:
        raise VideoError(paths[0], f"clips differ in frame size {sorted(shapes)} and cannot be joined")
    return np.concatenate(clips, axis=0)
