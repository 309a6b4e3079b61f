"""Video I/O shared by every component: decode to uint8 THWC, encode H.264 mp4 and GIF previews.

Decoding and encoding use PyAV (its wheels carry libx264), so written mp4s play in browsers.
Every failure is a `VideoError` naming the file and the problem.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from msvg_bench.atomic import atomic_path
from msvg_bench.errors import VideoError


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


def read_fps(path: str | Path) -> float:
    """Frames per second of a video."""
    return probe_video(path).fps


def _as_uint8_thwc(frames: np.ndarray, path: Path) -> np.ndarray:
    array = np.asarray(frames)
    if array.ndim != 4 or array.shape[-1] != 3:
        raise VideoError(path, f"frames must have shape (T, H, W, 3), got {tuple(array.shape)}")
    if array.shape[0] == 0:
        raise VideoError(path, "no frames to write")
    if array.dtype != np.uint8:
        raise VideoError(path, f"frames must be uint8, got {array.dtype}")
    return array


def _pad_to_even(frames: np.ndarray) -> np.ndarray:
    """H.264 4:2:0 needs even sides: replicate the last row/column where a side is odd."""
    _, height, width, _ = frames.shape
    pad_h, pad_w = height % 2, width % 2
    if pad_h or pad_w:
        frames = np.pad(frames, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    return frames


def write_video(path: str | Path, frames: np.ndarray, fps: float, crf: int = 18) -> Path:
    """Encode uint8 THWC frames as browser-playable H.264 (yuv420p, faststart) mp4, atomically.

    Odd frame sides are padded by one replicated row/column (H.264 4:2:0 needs even sides).
    """
    import av

    path = Path(path)
    array = _pad_to_even(_as_uint8_thwc(frames, path))
    _, height, width, _ = array.shape
    rate = Fraction(fps).limit_denominator(1001)
    with atomic_path(path) as tmp:
        container = av.open(str(tmp), mode="w", format="mp4", options={"movflags": "+faststart"})
        try:
            stream = container.add_stream("libx264", rate=rate)
            stream.width, stream.height = width, height
            stream.pix_fmt = "yuv420p"
            stream.options = {"crf": str(crf), "preset": "medium"}
            for image in array:
                for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        finally:
            container.close()
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
