"""Data-set clips are reproducible H.264: the same frames give the same bytes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from msvg_bench.benchmarks.clipio import write_clip
from msvg_bench.benchmarks.world import SceneSpec, render_scene
from msvg_bench.video import probe_video, read_video, write_video


def test_same_frames_give_the_same_bytes(tmp_path: Path) -> None:
    # a scene that gave run-to-run different bytes with libx264's default rate control on this stack
    frames = render_scene(SceneSpec("beach", ("actor3",), "waving", 9, 48, 64, seed=5)).frames
    digests = {write_clip(tmp_path / f"c{i}.mp4", frames, 8.0).read_bytes() for i in range(6)}
    assert len(digests) == 1
    info = probe_video(tmp_path / "c0.mp4")
    assert (info.codec, info.pixel_format, info.frame_count, info.fps) == ("h264", "yuv420p", 9, 8.0)
    ours = np.abs(read_video(tmp_path / "c0.mp4").astype(int) - frames).mean()
    default = np.abs(read_video(write_video(tmp_path / "d.mp4", frames, 8.0)).astype(int) - frames).mean()
    assert ours < 1.2 * default  # same quality as the default rate control


def test_odd_sides_are_padded(tmp_path: Path) -> None:
    frames = np.full((3, 17, 21, 3), 128, np.uint8)
    info = probe_video(write_clip(tmp_path / "odd.mp4", frames, 8.0))
    assert (info.height, info.width) == (18, 22)


def test_streaming_writer_matches_and_failures_leave_nothing(tmp_path: Path) -> None:
    import pytest
    from msvg_bench.benchmarks.clipio import ClipWriter
    from msvg_bench.errors import VideoError

    frames = render_scene(SceneSpec("forest", ("actor6",), "walking", 5, 32, 48, seed=2)).frames
    with ClipWriter(tmp_path / "s.mp4", 8.0) as writer:
        for frame in frames:
            writer.write(frame)
    assert writer.frames == 5
    assert (tmp_path / "s.mp4").read_bytes() == write_clip(tmp_path / "w.mp4", frames, 8.0).read_bytes()
    with pytest.raises(VideoError, match="earlier frames"), ClipWriter(tmp_path / "bad.mp4", 8.0) as writer:
        writer.write(frames[0])
        writer.write(frames[0][:16])
    with pytest.raises(VideoError, match="no frames"), ClipWriter(tmp_path / "empty.mp4", 8.0):
        pass
    with pytest.raises(KeyboardInterrupt), ClipWriter(tmp_path / "stop.mp4", 8.0) as writer:
        writer.write(frames[0])
        raise KeyboardInterrupt
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.mp4", "w.mp4"]
