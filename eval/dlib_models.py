"""Access to dlib and the model files of `face-recognition-models` (the optional `faces` extra).

Nothing here downloads: dlib comes from the `dlib-bin` wheel, the detector, landmark and
face-recognition model files from the `face-recognition-models` wheel. A missing package raises a
one-line `MsvgError` with the install command.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from msvg_bench.core.errors import MsvgError
from msvg_bench.core.hashing import hash_bytes

INSTALL_HINT = "pip install -e '.[faces]' (or: pip install dlib-bin face-recognition-models)"

MODEL_FILES = {
    "cnn": "mmod_human_face_detector.dat",
    "landmarks5": "shape_predictor_5_face_landmarks.dat",
    "recognition": "dlib_face_recognition_resnet_model_v1.dat",
}


def import_dlib() -> Any:
    """The `dlib` module, or a one-line error saying how to install it."""
    try:
        import dlib
    except ImportError:
        raise MsvgError(f"the face detector / face-id encoder need dlib, which is not installed: {INSTALL_HINT}") from None
    return dlib


def model_file(kind: str) -> Path:
    """Path of one model file of `face-recognition-models` (`cnn`, `landmarks5`, `recognition`).

    The package is located without importing it (its `__init__` needs `pkg_resources`, which recent
    setuptools no longer ship).
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise MsvgError(f"the face detector / face-id encoder need the face-recognition-models package, which is not installed: {INSTALL_HINT}")
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / MODEL_FILES[kind]
    if not path.is_file():
        raise MsvgError(f"{path}: model file missing from face-recognition-models; reinstall it: {INSTALL_HINT}")
    return path


def file_identity(path: Path) -> str:
    """A short content identity of a model file (hash of its size and first/last MiB)."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        head = handle.read(1 << 20)
        handle.seek(max(0, size - (1 << 20)))
        tail = handle.read(1 << 20)
    return hash_bytes(f"{size}:".encode() + head + tail)[:12]


def faces_available() -> str | None:
    """None when dlib and the model files are importable, else the one-line reason."""
    try:
        import_dlib()
        model_file("landmarks5")
    except MsvgError as exc:
        return str(exc)
    return None
