"""`msvg-bench info` reports what changes results: library versions, the OpenCV in use (version, HOG, which
distributions ship `cv2`), the weights and detectors available; `eval` names its OpenCV before scoring."""

from __future__ import annotations

import importlib.metadata as metadata
import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner


def providers_of_cv2() -> list[tuple[str, str]]:
    """Installed distributions whose files include cv2/__init__.py (read from their RECORDs here)."""
    return sorted(
        {(d.metadata["Name"], d.version) for d in metadata.distributions() if any(str(f) == "cv2/__init__.py" for f in d.files or [])}
    )


def line_of(output: str, label: str) -> str:
    """The table row of `output` that starts with `label` (whitespace and borders stripped)."""
    rows = [line.strip(" │|") for line in output.splitlines()]
    matches = [row for row in rows if row.startswith(label)]
    assert matches, f"no row {label!r} in:\n{output}"
    return matches[0]


def test_info_reports_versions_opencv_weights_and_detectors() -> None:
    import cv2
    from msvg_bench.cli import app
    from msvg_bench.demo import SHIPPED_WORLD_WEIGHTS

    result = CliRunner().invoke(app, ["info"], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    out = result.output
    for name in ("torch", "deepspeed", "diffusers", "transformers", "mlflow", "dlib-bin"):
        assert metadata.version(name) in line_of(out, name + " "), name
    opencv = line_of(out, "opencv ")
    assert f"OpenCV {cv2.__version__} " in opencv and "HOG people detector: yes" in opencv
    providers = providers_of_cv2()
    assert providers and all(f"{name} {version}" in opencv for name, version in providers), (providers, opencv)
    assert ("warning" in opencv) == (len(providers) > 1)
    assert line_of(out, "detector: person").endswith("yes")
    assert line_of(out, "detector: face").endswith("yes")  # dlib-bin and the face models are in .[dev]
    assert str(SHIPPED_WORLD_WEIGHTS) in line_of(out, "weights: story-world weights")
    assert "no: not found locally" in line_of(out, "detector: owlvit")  # no OWL-ViT weights on a test machine


def test_two_distributions_sharing_cv2_are_named_and_warned_about(tmp_path: Path) -> None:
    from msvg_bench.doctor import cv2_distributions, opencv_line

    for name, version, files in [
        ("opencv-contrib-python", "4.9.0.80", ["cv2/__init__.py"]),
        ("opencv-contrib-python-headless", "4.10.0.84", ["cv2/__init__.py"]),
        ("opencv-stubs", "0.1", ["cv2-stubs/__init__.pyi"]),  # ships no cv2
    ]:
        info = tmp_path / f"{name.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        (info / "RECORD").write_text("".join(f"{f},,\n" for f in files))
        for file in files:  # installed files exist (newer importlib_metadata lists only those)
            (tmp_path / file).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / file).touch()
    path = [str(tmp_path), *sys.path]
    found = cv2_distributions(path)
    assert ("opencv-contrib-python", "4.9.0.80") in found and ("opencv-contrib-python-headless", "4.10.0.84") in found
    assert "opencv-stubs" not in {name for name, _ in found}
    line = opencv_line(path)
    assert "opencv-contrib-python 4.9.0.80, opencv-contrib-python-headless 4.10.0.84" in line
    assert f"warning: {len(found)} distributions share the cv2 folder" in line


@pytest.mark.integration
def test_eval_names_the_opencv_it_scores_with(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import cv2
    from msvg_bench.benchmarks.synth import synthesize
    from msvg_bench.cli import main

    suite = tmp_path / "mini.json"
    params = {"stories": 1, "scenes": 2, "frames": 9, "height": 32, "width": 48, "seed": 0, "fps": 8.0}
    suite.write_text(json.dumps({"name": "mini", "version": "0.1", "kind": "synthetic", "description": "-", "params": params}))
    data = tmp_path / "videos"
    synthesize(data, **params)
    code = main(["eval", "--suite", str(suite), "--videos", str(data), "-o", str(tmp_path / "out"), "--no-videos",
                 "--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}", "--metrics", "scuts"])  # fmt: skip
    assert code == 0
    first = capsys.readouterr().err.strip().splitlines()[0]
    assert first.startswith("evaluating suite mini with OpenCV") and f"OpenCV {cv2.__version__} " in first, first
