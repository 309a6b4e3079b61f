"""Face detection, face identity and character matching on real photographs (scikit-image's astronaut
and LFW subset); characters no detector finds are unavailable, never a number."""

from __future__ import annotations

import itertools
import sys

import numpy as np
import pytest
from photo_stories import (
    astronaut_head,
    background,
    degrade,
    in_memory_story,
    lfw_face,
    paste,
    photo_story_scenes,
)

pytest.importorskip("skimage")
dlib = pytest.importorskip("dlib")


@pytest.fixture(scope="module")
def face():  # noqa: ANN201
    from msvg_bench.eval.detectors import load_detector

    return load_detector("face")


@pytest.fixture(scope="module")
def face_id():  # noqa: ANN201
    from msvg_bench.eval.encoders import load_encoder

    return load_encoder("face-id")


def _first_face(detector, frame: np.ndarray) -> np.ndarray:  # noqa: ANN001
    boxes = detector.faces(frame)
    assert len(boxes) >= 1
    return boxes[:1]


def test_face_detector_finds_the_astronaut_where_she_is_and_nothing_in_empty_photographs(face) -> None:  # noqa: ANN001
    from skimage import data

    boxes = face.faces(data.astronaut())
    y0, x0, y1, x1 = boxes[0]
    # her face, as seen in the photograph: centred near (121, 220), about 90 px wide
    assert abs((y0 + y1) / 2 - 121) < 15 and abs((x0 + x1) / 2 - 220) < 15 and 60 < x1 - x0 < 120
    for name in ("coffee", "rocket", "hubble_deep_field"):
        assert len(face.faces(background(name))) == 0, name
    placed = paste(background("rocket"), astronaut_head(), 50, 120, angle=10.0, scale=0.85, mirror=True)
    (box,) = face.faces(placed)[:1]
    assert 50 <= box[0] < box[2] <= 50 + 0.85 * astronaut_head().shape[0] + 10
    assert 120 <= box[1] < box[3] <= 120 + 0.85 * astronaut_head().shape[1] + 10


def test_same_face_in_other_backgrounds_and_poses_is_closer_than_different_faces(face, face_id) -> None:  # noqa: ANN001
    head = astronaut_head()
    variants = [
        paste(background("coffee", 360, 480), head, 40, 60),
        paste(background("rocket", 360, 480), head, 100, 250, angle=12.0, scale=0.8),
        paste(background("hubble_deep_field", 360, 480), head, 20, 150, angle=-10.0, scale=1.3, mirror=True),
        paste(background("immunohistochemistry", 360, 480), head, 150, 30, angle=5.0, scale=0.9),
        paste(background("coffee", 360, 480), degrade(head), 60, 200, scale=1.2),  # as blurred and grey as the LFW faces
    ]
    same_person = [face_id.encode_crops(v[None], _first_face(face, v))[0] for v in variants]
    others = []
    for index in range(12):
        canvas = paste(np.full((300, 300, 3), 128, np.uint8), lfw_face(index), 75, 75)
        boxes = face.faces(canvas)
        if len(boxes):
            others.append(face_id.encode_crops(canvas[None], boxes[:1])[0])
    assert len(others) >= 10
    same = [float(a @ b) for a, b in itertools.combinations(same_person, 2)]
    different = [float(a @ b) for a in same_person for b in others]
    # measured: same person 0.93-0.999, astronaut vs LFW faces 0.78-0.90
    assert min(same) > max(different)
    assert np.mean(same) - np.mean(different) > 0.08

    # independent computation: dlib's own aligned descriptor (compute_face_descriptor with the landmarks)
    from msvg_bench.eval.dlib_models import model_file

    shape_predictor = dlib.shape_predictor(str(model_file("landmarks5")))
    net = dlib.face_recognition_model_v1(str(model_file("recognition")))
    frame = variants[1]
    y0, x0, y1, x1 = _first_face(face, frame)[0]
    shape = shape_predictor(frame, dlib.rectangle(int(x0), int(y0), int(x1) - 1, int(y1) - 1))
    reference = np.asarray(net.compute_face_descriptor(frame, shape))
    assert reference.shape == (128,)
    assert same_person[1].numpy() == pytest.approx(reference / np.linalg.norm(reference), abs=2e-3)


def _context(**overrides):  # noqa: ANN202
    from msvg_bench.eval.config import EvalConfig
    from msvg_bench.eval.context import MetricContext

    return MetricContext(EvalConfig(cache=False, **overrides))


@pytest.mark.slow
def test_two_faces_in_one_scene_are_matched_to_their_characters(face) -> None:  # noqa: ANN001
    from msvg_bench.eval.metrics import METRICS

    story = in_memory_story(photo_story_scenes(frames=3)["photo_cast"])
    metric = METRICS.get("face_consistency")()
    values = metric.compute(story, _context())
    # the astronaut is pasted on the left of the last scene (x 10..), the LFW face on the right (x 170..)
    embeddings, details, scene_details = metric.character_embeddings(story, _context())
    assert scene_details[4] == {"detector": "face", "detected": 2, "annotated": 2, "not_found": []}
    frame = story.scenes[4].frames[0]
    boxes = face.faces(frame)
    left, right = sorted(boxes.tolist(), key=lambda b: b[1])
    from msvg_bench.eval.encoders import load_encoder

    encoder = load_encoder("face-id")
    astro_here = encoder.encode_crops(frame[None], np.array([left]))[0]
    lfw_here = encoder.encode_crops(frame[None], np.array([right]))[0]
    assert float(embeddings[(4, "astro")] @ astro_here) > float(embeddings[(4, "astro")] @ lfw_here)
    assert float(embeddings[(4, "lfw0")] @ lfw_here) > float(embeddings[(4, "lfw0")] @ astro_here)
    # the contrast: the same face across scenes is closer than different faces
    assert values.story["face_consistency_gap"] > 0.1
    assert set(values.details["face_consistency"]["per_character"]) == {"astro", "lfw0"}
    assert values.details["face_consistency"]["count_match"] == {"scenes": 5, "of": 5}
    assert not values.unavailable


def test_assignment_follows_the_reference_not_the_box_order() -> None:
    from msvg_bench.eval.metrics.crop_assignment import SceneCrops, assign_candidates

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=16), rng.normal(size=16)

    def crops(rows: list[np.ndarray], frames: list[int]) -> SceneCrops:
        emb = np.stack([r / np.linalg.norm(r) for r in rows])
        return SceneCrops({}, emb, np.array(frames), np.ones(len(rows)), np.bincount(frames))

    noisy = lambda v: v + 0.3 * rng.normal(size=16)  # noqa: E731
    scenes = {
        0: crops([noisy(a), noisy(a)], [0, 1]),
        1: crops([noisy(b)], [0]),
        2: crops([noisy(b), noisy(a), noisy(a), noisy(b)], [0, 0, 1, 1]),  # B listed first in frame 0, A first in frame 1
    }
    assigned = assign_candidates(scenes, {0: ("A",), 1: ("B",), 2: ("A", "B")})
    assert assigned[2] == {"A": [1, 2], "B": [0, 3]}
    assert assigned[0] == {"A": [0, 1]} and assigned[1] == {"B": [0]}


def test_a_scene_with_no_detectable_character_is_unavailable_never_a_number() -> None:
    from msvg_bench.eval.metrics import METRICS

    scenes = photo_story_scenes(frames=2)
    cast, empty = scenes["photo_cast"], scenes["photo_empty"]
    for name in ("character_consistency", "face_consistency"):
        metric = METRICS.get(name)()
        whole = metric.compute(in_memory_story(empty, "e"), _context())
        assert not whole.story and set(whole.unavailable) == {name, f"{name}_nonshared", f"{name}_gap"}
        assert "no face detected" in whole.unavailable[name]
        assert all(name in reasons for reasons in whole.scene_unavailable.values()) and len(whole.scene_unavailable) == 3
        # one face-less scene in a story that has faces: that scene is unavailable, the rest is scored
        mixed = metric.compute(in_memory_story([*cast[:4], ("cafe", ["astro"], empty[0][2])], "m"), _context())
        assert name in mixed.story and 4 not in mixed.scenes
        assert mixed.scene_unavailable[4][name].startswith("astro:")
        assert mixed.scene_details[4][name]["detected"] == 0 and mixed.scene_details[4][name]["annotated"] == 1
    assert whole.details["face_consistency"]["detector"] is None


def test_full_frame_only_by_choice_and_labelled_a_scene_level_proxy() -> None:
    from msvg_bench.eval.metrics import METRICS

    empty = photo_story_scenes(frames=2)["photo_empty"]
    values = METRICS.get("character_consistency")().compute(in_memory_story(empty), _context(detector="full-frame"))
    assert "character_consistency" in values.story  # the user asked for whole frames: a number, labelled
    assert values.details["character_consistency"]["proxy"] == "scene-level proxy"
    assert "scene-level proxy" in METRICS.get("character_consistency")().component(_context(detector="full-frame"))[1]


def test_missing_face_packages_give_one_line_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    from msvg_bench.core.errors import MsvgError
    from msvg_bench.eval.dlib_models import faces_available, import_dlib

    monkeypatch.setitem(sys.modules, "dlib", None)
    with pytest.raises(MsvgError, match=r"pip install -e '\.\[faces\]'") as info:
        import_dlib()
    assert "\n" not in str(info.value)
    assert "pip install" in (faces_available() or "")
