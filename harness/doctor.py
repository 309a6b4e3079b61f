"""What the environment offers the benchmark: library versions, the OpenCV in use, local weights, detectors.

`msvg-bench info` prints all of it; `eval` names the OpenCV it scores with in its first line. A number
computed with a different library, or with a detector that silently was not there, is a different
number: these are the facts to check first when two machines disagree.
"""

from __future__ import annotations

import importlib.metadata as metadata
from collections.abc import Callable

from msvg_bench.core.errors import MsvgError, WeightsNotFoundError
from msvg_bench.demo import shipped_world_weights
from msvg_bench.eval.dlib_models import faces_available

LIBRARIES: tuple[tuple[str, ...], ...] = (
    ("torch",),
    ("torchvision",),
    ("deepspeed",),
    ("diffusers",),
    ("transformers",),
    ("mlflow",),
    ("scenedetect",),
    ("av",),
    ("dlib-bin", "dlib"),
    ("face-recognition-models",),
)
"""Distributions whose version `info` reports; alternatives that provide the same module share a row."""


def installed_version(*names: str) -> tuple[str, str] | None:
    """(name, version) of the first of the distributions `names` that is installed, else None."""
    for name in names:
        try:
            return name, metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def library_versions() -> list[tuple[str, str]]:
    """(library, version or "not installed") for each of `LIBRARIES`."""
    rows = []
    for names in LIBRARIES:
        found = installed_version(*names)
        rows.append((names[0], "not installed") if found is None else (found[0], found[1]))
    return rows


def cv2_distributions(path: list[str] | None = None) -> list[tuple[str, str]]:
    """Installed distributions that ship the `cv2` package, as (name, version), sorted: a healthy environment has one.

    Two of them (e.g. opencv-python and opencv-python-headless) write into the same `cv2` folder, and which
    one's files are imported depends on the order they were installed in. `path`: the folders to look
    in (default: `sys.path`).
    """
    found = set()
    for dist in metadata.distributions(**({} if path is None else {"path": path})):
        name = dist.metadata["Name"] or ""
        if not name.lower().startswith("opencv"):
            continue
        if any(str(path).replace("\\", "/").startswith("cv2/") for path in dist.files or []):
            found.add((name, dist.version))
    return sorted(found)


def opencv_line(path: list[str] | None = None) -> str:
    """One line on the OpenCV in use: its version, whether the HOG people detector exists, and which
    distributions provide `cv2` (a warning when there is more than one; `path` as for `cv2_distributions`)."""
    try:
        import cv2
    except ImportError as exc:
        return f"OpenCV: cannot import cv2 ({exc})"
    hog = hasattr(cv2, "HOGDescriptor") and hasattr(cv2, "HOGDescriptor_getDefaultPeopleDetector")
    dists = cv2_distributions(path)
    provided = ", ".join(f"{name} {version}" for name, version in dists) or "no installed distribution"
    line = f"OpenCV {cv2.__version__} (from {provided}; HOG people detector: {'yes' if hog else 'no'})"
    if len(dists) > 1:
        line += f"; warning: {len(dists)} distributions share the cv2 folder, keep only opencv-python<5"
    return line


def _found(lookup: Callable[[], object]) -> str:
    """'yes: <path>' when calling `lookup` finds weights, else 'no: <the first clause of why>'."""
    try:
        return f"yes: {lookup()}"
    except WeightsNotFoundError as exc:
        return f"no: not found locally ({len(exc.tried)} places looked in; the weights home is $MSVG_WEIGHTS_DIR)"
    except MsvgError as exc:
        return f"no: {exc}"


def weights_status() -> list[tuple[str, str]]:
    """(component, 'yes: <path>' or 'no: <reason>') for every pretrained component looked up locally."""
    from msvg_bench.eval.detectors.owlvit import find_owlvit_weights
    from msvg_bench.eval.encoders.clip import KNOWN_CLIP_WEIGHTS, find_weights_folder
    from msvg_bench.eval.encoders.dino import KNOWN_DINO_WEIGHTS
    from msvg_bench.eval.flow import find_raft_weights

    shipped = shipped_world_weights()
    rows = [("story-world weights (shipped)", f"yes: {shipped}" if shipped is not None else "no: not in this installation")]
    for name, (repo, env_var, subdir) in {**KNOWN_CLIP_WEIGHTS, **KNOWN_DINO_WEIGHTS}.items():
        rows.append((f"encoder {name}", _found(lambda n=name, r=repo, e=env_var, s=subdir: find_weights_folder(f"encoder {n}", None, e, s, r))))
    rows.append(("detector owlvit", _found(find_owlvit_weights)))
    rows.append(("flow raft-large", _found(lambda: find_raft_weights(None))))
    missing = faces_available()
    rows.append(("dlib face models", "yes" if missing is None else f"no: {missing}"))
    return rows


def world_detector_note() -> str:
    """How to use the `world` detector here: the shipped one's folder, or what to train."""
    shipped = shipped_world_weights()
    folder = None if shipped is None else shipped / "world" / "detector"
    if folder is not None and (folder / "model.safetensors").is_file():
        return f"yes, with eval.detector_path={folder} (the shipped one) or another `train --stage world-detector` export"
    return "with eval.detector_path: a `train --stage world-detector` export"


def detectors_status() -> list[tuple[str, str]]:
    """(detector, whether `eval.detector=<name>` works here and what it needs) for every registered detector."""
    from msvg_bench.eval.detectors import DETECTORS
    from msvg_bench.eval.detectors.owlvit import find_owlvit_weights
    from msvg_bench.eval.detectors.person import hog_people_missing

    missing = {"face": faces_available(), "person": hog_people_missing()}
    notes = {
        "annotated": "yes: where clips have <clip>.boxes.json sidecars",
        "full-frame": "yes: a scene-level proxy, only when chosen",
        "world": world_detector_note(),
        "auto": "yes: annotated > owlvit (when configured) > face > person, per story",
        "owlvit": _found(find_owlvit_weights),
    }
    rows = []
    for name in DETECTORS.names():
        if name in missing:
            rows.append((name, "yes" if missing[name] is None else f"no: {missing[name]}"))
        else:
            rows.append((name, notes.get(name, "registered")))
    return rows

