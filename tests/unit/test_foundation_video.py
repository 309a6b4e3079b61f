"""Video I/O: H.264 round trip, metadata, GIF previews, one-line errors for bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from msvg_bench.core.errors import VideoError
from msvg_bench.core.video import (
    concat_videos,
    probe_video,
    read_video,
    write_gif,
    write_video,
)
from PIL import Image


def smooth_clip(frames: int = 12, height: int = 48, width: int = 64) -> np.ndarray:
    """A moving gradient: smooth content that H.264 reproduces closely."""
    t = np.arange(frames)[:, None, None]
    y = np.arange(height)[None, :, None]
    x = np.arange(width)[None, None, :]
    red = (x * 3 + t * 4) % 256
    green = (y * 4 + t * 2) % 256
    blue = np.full_like(red + green, 128)
    return np.stack(np.broadcast_arrays(red, green, blue), axis=-1).astype(np.uint8)


def test_round_trip_within_codec_tolerance(tmp_path: Path) -> None:
    clip = smooth_clip()
    path = write_video(tmp_path / "clip.mp4", clip, fps=8)
    decoded = read_video(path)
    assert decoded.shape == clip.shape
    assert decoded.dtype == np.uint8
    error = np.abs(decoded.astype(np.int16) - clip.astype(np.int16))
    assert error.mean() < 3.0
    assert np.percentile(error, 99) < 16


def test_metadata_is_h264_yuv420p(tmp_path: Path) -> None:
    path = write_video(tmp_path / "clip.mp4", smooth_clip(frames=10), fps=12)
    info = probe_video(path)
    assert info.codec == "h264"
    assert info.pixel_format == "yuv420p"
    assert info.frame_count == 10
    assert info.fps == pytest.approx(12.0)
    assert (info.width, info.height) == (64, 48)
    assert info.duration_s == pytest.approx(10 / 12)


def test_odd_sizes_are_padded_to_even(tmp_path: Path) -> None:
    clip = smooth_clip(frames=4, height=17, width=23)
    decoded = read_video(write_video(tmp_path / "odd.mp4", clip, fps=8))
    assert decoded.shape == (4, 18, 24, 3)


def test_gif_preview_is_small_and_animated(tmp_path: Path) -> None:
    path = write_gif(tmp_path / "p.gif", smooth_clip(frames=6, height=300, width=600), fps=6, max_side=128)
    with Image.open(path) as image:
        assert image.format == "GIF"
        assert max(image.size) == 128
        assert image.n_frames == 6


def test_concat_joins_in_time(tmp_path: Path) -> None:
    a = write_video(tmp_path / "a.mp4", smooth_clip(frames=5), fps=8)
    b = write_video(tmp_path / "b.mp4", smooth_clip(frames=7), fps=8)
    assert concat_videos([a, b]).shape[0] == 12


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "empty file (0 bytes)"), (b"\x00\x01not a video at all" * 50, "cannot be opened as a video")],
)
def test_bad_files_give_one_line_errors(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.mp4"
    path.write_bytes(content)
    for reader in (read_video, probe_video):
        with pytest.raises(VideoError) as info:
            reader(path)
        text = str(info.value)
        assert message in text and str(path) in text and "\n" not in text


def test_truncated_file_is_reported(tmp_path: Path) -> None:
    good = write_video(tmp_path / "good.mp4", smooth_clip(frames=20), fps=8)
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 3])
    with pytest.raises(VideoError, match="truncated.mp4"):
        read_video(truncated)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(VideoError, match="no such file"):
        read_video(tmp_path / "missing.mp4")


def test_write_rejects_wrong_shapes(tmp_path: Path) -> None:
    with pytest.raises(VideoError, match=r"\(T, H, W, 3\)"):
        write_video(tmp_path / "x.mp4", np.zeros((4, 8, 8), np.uint8), fps=8)
    with pytest.raises(VideoError, match="uint8"):
        write_video(tmp_path / "x.mp4", np.zeros((4, 8, 8, 3), np.float32), fps=8)
    assert not (tmp_path / "x.mp4").exists()


def test_same_frames_give_the_same_bytes(tmp_path: Path) -> None:
    from msvg_bench.benchmarks.world import SceneSpec, render_scene

    # a scene whose bytes varied run to run under libx264's default macroblock-tree rate control
    frames = render_scene(SceneSpec("beach", ("actor3",), "waving", 9, 48, 64, seed=5)).frames
    digests = {write_video(tmp_path / f"c{i}.mp4", frames, 8.0).read_bytes() for i in range(6)}
    assert len(digests) == 1


def test_streaming_writer_matches_and_failures_leave_nothing(tmp_path: Path) -> None:
    from msvg_bench.core.video import VideoWriter

    frames = smooth_clip(frames=5, height=32, width=48)
    with VideoWriter(tmp_path / "s.mp4", 8.0) as writer:
        for frame in frames:
            writer.write(frame)
    assert writer.frames == 5
    assert (tmp_path / "s.mp4").read_bytes() == write_video(tmp_path / "w.mp4", frames, 8.0).read_bytes()
    with pytest.raises(VideoError, match="earlier frames"), VideoWriter(tmp_path / "bad.mp4", 8.0) as writer:
        writer.write(frames[0])
        writer.write(frames[0][:16])
    with pytest.raises(VideoError, match="no frames"), VideoWriter(tmp_path / "empty.mp4", 8.0):
        pass
    with pytest.raises(KeyboardInterrupt), VideoWriter(tmp_path / "stop.mp4", 8.0) as writer:
        writer.write(frames[0])
        raise KeyboardInterrupt
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.mp4", "w.mp4"]
