"""Real-footage-like test inputs from photographs that scikit-image ships (no download).

`skimage.data.astronaut()` is a 512 x 512 colour portrait (Eileen Collins); `skimage.data.lfw_subset()`
holds 200 grayscale 25 x 25 crops from Labeled Faces in the Wild, the first 100 faces, the last 100
non-faces. Heads are cut out, upscaled where needed, rotated, scaled, mirrored and pasted into other
scikit-image photographs used as backgrounds; over a scene's frames they drift sideways like a slow pan.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

HEIGHT, WIDTH = 240, 320


def astronaut_head() -> np.ndarray:
    """The astronaut's head and some margin (uint8 RGB), cut around her face."""
    from skimage import data

    image = data.astronaut()
    y0, x0, y1, x1 = 76, 175, 167, 266  # dlib's face box of the photograph
    size = y1 - y0
    return image[y0 - size // 2 : y1 + size // 3, x0 - size // 3 : x1 + size // 3].copy()


def lfw_face(index: int, size: int = 150) -> np.ndarray:
    """LFW face `index` (0-99) upscaled bicubically from 25 px to `size` px, as grey RGB."""
    from skimage import data

    face = (data.lfw_subset()[index] * 255).round().astype(np.uint8)
    face = cv2.resize(face, (size, size), interpolation=cv2.INTER_CUBIC)
    return np.stack([face] * 3, axis=-1)


def degrade(image: np.ndarray) -> np.ndarray:
    """What `lfw_face` does to a face: grey, down to 25 px, back up bicubically."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    small = cv2.resize(grey, (25, 25), interpolation=cv2.INTER_AREA)
    grey = cv2.resize(small, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_CUBIC)
    return np.stack([grey] * 3, axis=-1)


def background(name: str, height: int = HEIGHT, width: int = WIDTH) -> np.ndarray:
    """A scikit-image photograph (coffee, rocket, hubble_deep_field, immunohistochemistry) resized to the frame."""
    from skimage import data

    image = getattr(data, name)()
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    return cv2.resize(image[..., :3], (width, height), interpolation=cv2.INTER_AREA)


def paste(canvas: np.ndarray, face: np.ndarray, top: int, left: int, angle: float = 0.0, scale: float = 1.0, mirror: bool = False) -> np.ndarray:
    """`face` rotated by `angle` degrees, scaled and optionally mirrored, pasted with its top-left at (top, left)."""
    out = canvas.copy()
    piece = cv2.resize(face, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    if mirror:
        piece = np.ascontiguousarray(piece[:, ::-1])
    turn = cv2.getRotationMatrix2D((piece.shape[1] / 2, piece.shape[0] / 2), angle, 1.0)
    piece = cv2.warpAffine(piece, turn, (piece.shape[1], piece.shape[0]), borderMode=cv2.BORDER_REFLECT)
    h, w = min(piece.shape[0], out.shape[0] - top), min(piece.shape[1], out.shape[1] - left)
    out[top : top + h, left : left + w] = piece[:h, :w]
    return out


def standing_figure(height: int, shirt: tuple[int, int, int] = (200, 30, 40), trousers: tuple[int, int, int] = (25, 25, 30)) -> tuple[np.ndarray, np.ndarray]:
    """A standing person, `height` px tall and 0.45 x `height` wide, front view with arms down: (uint8 RGB, uint8 mask).

    scikit-image ships no photograph of a whole standing person (the astronaut is a bust, the cameraman is
    cut off at the thighs and bent over his camera), so the figure is drawn with adult proportions in a
    45 x 100 grid: head 13 units tall, shoulders 19 wide, legs from 50 to 94, shoes to 99.
    """
    unit = height / 100.0
    image = np.zeros((height, round(45 * unit), 3), np.uint8)
    mask = np.zeros(image.shape[:2], np.uint8)
    skin, shoe = (224, 172, 140), (60, 40, 30)

    def part(points: list[tuple[float, float]], colour: tuple[int, int, int]) -> None:
        polygon = np.array([[round(x * unit), round(y * unit)] for x, y in points], np.int32)
        cv2.fillPoly(image, [polygon], colour)
        cv2.fillPoly(mask, [polygon], 255)

    centre, axes = (round(22.5 * unit), round(7 * unit)), (round(5 * unit), round(6.5 * unit))
    cv2.ellipse(image, centre, axes, 0, 0, 360, skin, -1)
    cv2.ellipse(mask, centre, axes, 0, 0, 360, 255, -1)
    part([(20.5, 13), (24.5, 13), (24.5, 16), (20.5, 16)], skin)  # neck
    part([(13, 16), (32, 16), (31, 50), (14, 50)], shirt)  # torso
    part([(13, 16), (9, 19), (6, 46), (10, 47), (13, 24)], shirt)  # arms
    part([(32, 16), (36, 19), (39, 46), (35, 47), (32, 24)], shirt)
    part([(6, 46), (10, 47), (10, 51), (6, 51)], skin)  # hands
    part([(35, 47), (39, 46), (39, 51), (35, 51)], skin)
    part([(14, 50), (22, 50), (21.5, 94), (16, 94)], trousers)  # legs
    part([(23, 50), (31, 50), (29, 94), (23.5, 94)], trousers)
    part([(13, 94), (21.5, 94), (21.5, 99), (13, 99)], shoe)
    part([(23.5, 94), (32, 94), (32, 99), (23.5, 99)], shoe)
    return image, mask


def place_figure(canvas: np.ndarray, figure: tuple[np.ndarray, np.ndarray], top: int, left: int) -> np.ndarray:
    """`canvas` with the (image, mask) `figure` blended in at (top, left), its outline softened by one pixel."""
    image, mask = figure
    out = canvas.copy()
    h, w = min(mask.shape[0], out.shape[0] - top), min(mask.shape[1], out.shape[1] - left)
    alpha = (cv2.GaussianBlur(mask, (3, 3), 0)[:h, :w] / 255.0)[..., None]
    region = out[top : top + h, left : left + w]
    out[top : top + h, left : left + w] = (region * (1 - alpha) + image[:h, :w] * alpha).round().astype(np.uint8)
    return out


def scene_frames(
    backdrop: str, placements: list[tuple[np.ndarray, int, int, float, float, bool]], frames: int, drift: int = 3, zoom: float = 1.0
) -> np.ndarray:
    """`frames` frames of a backdrop with faces (face, top, left, angle, scale, mirror) drifting `drift` px per frame;
    `zoom` scales the frame size, the positions and the faces together."""
    base = background(backdrop, round(HEIGHT * zoom), round(WIDTH * zoom))
    placements = [(face, round(top * zoom), round(left * zoom), angle, scale * zoom, mirror) for face, top, left, angle, scale, mirror in placements]
    out = []
    for t in range(frames):
        frame = base
        for face, top, left, angle, scale, mirror in placements:
            frame = paste(frame, face, top, left + drift * t, angle, scale, mirror)
        out.append(frame)
    return np.stack(out)


def photo_story_scenes(frames: int = 6, zoom: float = 1.0) -> dict[str, list[tuple[str, list[str], np.ndarray]]]:
    """Two stories of (setting, characters, frames) scenes.

    `photo_cast`: the astronaut (`astro`) and an LFW face (`lfw0`) cross two settings and meet in the
    last scene; `photo_empty`: characters are annotated but no face is on screen. Frames are
    240 x 320 times `zoom`.
    """
    astro, other = astronaut_head(), lfw_face(0, 130)
    cast = [
        ("cafe", ["astro"], scene_frames("coffee", [(astro, 40, 40, 0.0, 1.0, False)], frames, zoom=zoom)),
        ("launch", ["lfw0"], scene_frames("rocket", [(other, 60, 150, 8.0, 0.9, False)], frames, zoom=zoom)),
        ("cafe", ["lfw0"], scene_frames("coffee", [(other, 30, 60, -6.0, 1.0, True)], frames, zoom=zoom)),
        ("launch", ["astro"], scene_frames("rocket", [(astro, 50, 120, 10.0, 0.85, True)], frames, zoom=zoom)),
        ("cafe", ["astro", "lfw0"], scene_frames("coffee", [(astro, 40, 10, -5.0, 0.8, False), (other, 70, 170, 4.0, 0.8, False)], frames, zoom=zoom)),
    ]
    empty = [
        ("cafe", ["astro"], scene_frames("coffee", [], frames, zoom=zoom)),
        ("launch", ["astro"], scene_frames("rocket", [], frames, zoom=zoom)),
        ("cafe", ["lfw0"], scene_frames("hubble_deep_field", [], frames, zoom=zoom)),
    ]
    return {"photo_cast": cast, "photo_empty": empty}


def write_photo_suite(folder: Path, frames: int = 6, fps: float = 8.0, zoom: float = 1.0, only: tuple[str, ...] | None = None) -> tuple[Path, Path, int]:
    """A suite file and one H.264 video per story under `folder` (the stories in `only`, default all);
    returns (suite, videos folder, frames per scene)."""
    from msvg_bench.core.video import write_video

    stories = photo_story_scenes(frames, zoom)
    if only is not None:
        stories = {k: v for k, v in stories.items() if k in only}
    videos = folder / "videos"
    videos.mkdir(parents=True, exist_ok=True)
    entries = []
    for story_id, scenes in stories.items():
        write_video(videos / f"{story_id}.mp4", np.concatenate([s[2] for s in scenes]), fps)
        entries.append(
            {
                "id": story_id,
                "scenes": [{"caption": f"{' and '.join(chars)} {setting}", "setting": setting, "characters": chars} for setting, chars, _ in scenes],
            }
        )
    suite = {"name": "photo-faces", "version": "0.1", "kind": "stories", "description": "faces from scikit-image photographs", "stories": entries}
    path = folder / "photo-faces.json"
    path.write_text(json.dumps(suite, indent=1))
    return path, videos, frames


def in_memory_story(scenes: list[tuple[str, list[str], np.ndarray]], story_id: str = "s"):
    """A `StoryInput` of decoded frames: one (setting, characters, frames) per scene, no files behind it."""
    from msvg_bench.eval.inputs import SceneInput, StoryInput

    inputs = []
    for index, (setting, characters, frames) in enumerate(scenes):
        scene = SceneInput(index, "", Path(f"/nonexistent/{story_id}_{index}.mp4"), setting=setting, characters=tuple(characters))
        scene._frames, scene._hash = frames, f"{story_id}-{index}"
        inputs.append(scene)
    return StoryInput(story_id, inputs)
