"""`pip install <the project's wheel>` without the constraints file resolves to ONE OpenCV 4.x distribution,
and that distribution alone, in a fresh virtual environment, has the HOG people detector the `person`
detector uses and finds a person in a photograph.

The full install would download gigabytes (torch, CUDA libraries), so pip resolves the wheel's
dependencies from package metadata only (`--dry-run --report`); then only the resolved OpenCV and numpy
are installed into the fresh environment. Needs the package registry and about two minutes: `slow`
(CI runs it).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.integration]
pytest.importorskip("skimage")

REPO_ROOT = Path(__file__).resolve().parents[2]
FIGURE_HEIGHT, TOP, LEFT = 140, 90, 30

HOG_SCRIPT = """
import importlib.metadata as metadata, json, sys
import cv2
import numpy as np

hog = cv2.HOGDescriptor()
hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
found = {}
for path in sys.argv[1:]:
    frame = cv2.imread(path)
    scale = 256 / min(frame.shape[:2])  # as the person detector: the shorter side upscaled to 256 px
    frame = cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
    rects, weights = hog.detectMultiScale(frame, winStride=(8, 8), padding=(8, 8), scale=1.05)
    weights = np.asarray(weights, dtype=float).reshape(-1)
    found[path] = [[float(v) / scale for v in rect] for rect, w in zip(rects, weights) if w >= 0.5]
providers = sorted(d.metadata["Name"] for d in metadata.distributions() if "cv2/__init__.py" in {str(f) for f in d.files or []})
print(json.dumps({"version": cv2.__version__, "providers": providers, "found": found}))
"""


def run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run `command`, failing the test with its output when it fails."""
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)  # noqa: S603
    assert result.returncode == 0, f"{' '.join(map(str, command))} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def test_wheel_resolves_to_one_opencv_4_whose_hog_finds_a_person(tmp_path: Path) -> None:
    import cv2
    from photo_stories import background, place_figure, standing_figure

    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"), str(REPO_ROOT)])
    (wheel,) = (tmp_path / "dist").glob("msvg_bench-*.whl")
    run([sys.executable, "-m", "venv", str(tmp_path / "venv")])
    python = str(tmp_path / "venv" / "bin" / "python")
    report = tmp_path / "report.json"
    run([python, "-m", "pip", "install", "-q", "--dry-run", "--ignore-installed", "--report", str(report), str(wheel)])

    resolved = {item["metadata"]["name"].lower().replace("_", "-"): item["metadata"]["version"] for item in json.loads(report.read_text())["install"]}
    opencv = {name: version for name, version in resolved.items() if name.startswith("opencv")}
    assert len(opencv) == 1, f"more than one OpenCV distribution would be installed: {opencv}"
    ((name, version),) = opencv.items()
    assert 4 <= int(version.split(".")[0]) < 5, f"{name} {version}: the person detector needs OpenCV 4.x"
    assert "scenedetect" in resolved  # whose `opencv-python` requirement the same distribution satisfies

    run([python, "-m", "pip", "install", "-q", "--no-deps", f"{name}=={version}", f"numpy=={resolved['numpy']}"])
    person = tmp_path / "person.png"
    cv2.imwrite(str(person), place_figure(background("rocket"), standing_figure(FIGURE_HEIGHT), TOP, LEFT)[..., ::-1])
    nobody = tmp_path / "nobody.png"
    cv2.imwrite(str(nobody), background("rocket")[..., ::-1])
    out = json.loads(run([python, "-c", HOG_SCRIPT, str(person), str(nobody)], cwd=tmp_path).stdout)

    assert out["version"].split(".")[0] == "4" and out["providers"] == [name]
    figure_x = LEFT + 0.45 * FIGURE_HEIGHT / 2
    figure_y = TOP + FIGURE_HEIGHT / 2
    assert any(x <= figure_x <= x + w and y <= figure_y <= y + h for x, y, w, h in out["found"][str(person)]), out
    assert out["found"][str(nobody)] == [], out
