"""Metrics, encoders and scoring of multi-scene stories.

- `encoders/`   the encoder registry (`load_encoder`): CLIP4Clip / CLIP / open_clip / DINOv2 from local
                weights, `tiny-random` CLIP for tests, `appearance-hist` handcrafted descriptor.
- `metrics/`    the metric registry (`METRICS`): scene_consistency, character_consistency, scuts,
                mawe, prompt_alignment (definitions in each module's docstring).
- `flow.py`     MAWE flow backends (RAFT-large from local weights, OpenCV DIS / Farneback).
- `detectors.py` character detectors (annotated boxes, full frame, OWL-ViT, auto).
- `inputs.py`   stories as metrics see them (lazy decode, content hashes, frame ranges of story videos).
- `sources.py`  where videos come from (suite reference videos, any system's folder, generation).
- `context.py`  configured components + the content-addressed cache of per-clip results.
- `runner.py`   resumable, shardable scoring of a suite; `results.py` the results JSON schema.
- `report.py`, `mlflow_log.py`  printed tables and the MLflow run.
"""
