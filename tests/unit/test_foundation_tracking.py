"""MLflow tracking in a temporary SQLite store: content, statuses, limits, rank-0 only."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from msvg_bench.config import resolve_config
from msvg_bench.core.errors import MsvgError
from msvg_bench.core.mlflow_store import experiment_name, resolve_tracking_uri
from msvg_bench.core.tracking import (
    MAX_PARAM_VALUE_CHARS,
    Tracker,
    param_value,
    start_run,
)


def test_run_records_params_metrics_tags_artifacts(tracking_uri: str, tmp_path: Path) -> None:
    cfg = resolve_config(overrides=["train.steps=5", "seed=9"])
    artifact = tmp_path / "note.txt"
    artifact.write_text("hello")
    with start_run("train", cfg.record(), run_name="unit", tags={"zero": 2}) as run:
        for step in range(3):
            run.log_metrics({"train/loss": 1.0 / (step + 1), "perf/step_s": 0.1}, step=step)
        run.log_artifact(artifact, "notes")
        run.log_dict({"a": 1}, "results/results.json")
        run_id = run.run_id

    client = MlflowClient(tracking_uri)
    record = client.get_run(run_id)
    assert record.info.status == "FINISHED"
    assert record.info.run_name == "unit"
    experiment = client.get_experiment(record.info.experiment_id)
    assert experiment.name == experiment_name("train") == "msvg-bench/train"
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    assert record.data.params["train.steps"] == "5"
    assert record.data.params["seed"] == "9"
    assert record.data.tags["msvg.seed"] == "9"
    assert record.data.tags["zero"] == "2"
    assert len(record.data.tags["msvg.config_hash"]) == 12
    assert record.data.tags["msvg.version"]
    history = client.get_metric_history(run_id, "train/loss")
    assert [(m.step, round(m.value, 4)) for m in history] == [(0, 1.0), (1, 0.5), (2, 0.3333)]
    files = {f.path for f in client.list_artifacts(run_id, "notes")}
    assert files == {"notes/note.txt"}
    assert client.list_artifacts(run_id, "config")[0].path == "config/resolved.yaml"
    # artifacts of a SQLite store live beside the database, not in the working directory
    assert record.info.artifact_uri.startswith((tmp_path / "mlartifacts").as_uri())


def test_exception_marks_run_failed(tracking_uri: str) -> None:
    with pytest.raises(RuntimeError):
        with Tracker("eval") as run:
            run_id = run.run_id
            raise RuntimeError("boom")
    record = MlflowClient(tracking_uri).get_run(run_id)
    assert record.info.status == "FAILED"
    assert "boom" in record.data.tags["msvg.error"]


def test_ctrl_c_marks_run_killed(tracking_uri: str) -> None:
    with pytest.raises(KeyboardInterrupt):
        with Tracker("train") as run:
            run_id = run.run_id
            raise KeyboardInterrupt
    assert MlflowClient(tracking_uri).get_run(run_id).info.status == "KILLED"


def test_resume_continues_same_run(tracking_uri: str) -> None:
    with Tracker("train") as first:
        first.log_metrics({"train/loss": 2.0}, step=0)
        run_id = first.run_id
    with Tracker("train", run_id=run_id) as second:
        second.log_metrics({"train/loss": 1.0}, step=1)
        assert second.last_step("train/loss") == 1
        assert second.last_step("train/never") == -1
    client = MlflowClient(tracking_uri)
    assert [m.step for m in client.get_metric_history(run_id, "train/loss")] == [0, 1]
    assert len(client.search_runs([client.get_experiment_by_name("msvg-bench/train").experiment_id])) == 1


def test_params_respect_mlflow_limits(tracking_uri: str) -> None:
    params = {f"p{i:03d}": i for i in range(250)}
    params["long"] = "x" * 10_000
    with Tracker("train") as run:
        run.log_params(params)
        run_id = run.run_id
    stored = MlflowClient(tracking_uri).get_run(run_id).data.params
    assert len(stored) == 251
    assert len(stored["long"]) == MAX_PARAM_VALUE_CHARS
    assert stored["long"].endswith("[truncated]")
    assert param_value(None) == "None"


def test_bad_metric_name_is_rejected(tracking_uri: str) -> None:
    with pytest.raises(MsvgError, match="not allowed"):
        with Tracker("eval") as run:
            run.log_metrics({"eval/bad:name": 1.0})


def test_non_zero_rank_logs_nothing(tracking_uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RANK", "1")
    with Tracker("train") as run:
        run.log_metrics({"train/loss": 1.0}, step=0)
        assert run.run_id is None
    assert MlflowClient(tracking_uri).search_experiments(filter_string="name = 'msvg-bench/train'") == []


def test_uri_resolution_order(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    assert resolve_tracking_uri() == f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///env.db")
    assert resolve_tracking_uri() == "sqlite:///env.db"
    assert resolve_tracking_uri("sqlite:///flag.db") == "sqlite:///flag.db"


def _closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_tracking_server_fails_within_seconds_naming_the_uri(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys
    import time

    uri = f"http://127.0.0.1:{_closed_port()}"
    env = {k: v for k, v in os.environ.items() if k not in ("MSVG_TRACKING_WAIT", "MLFLOW_TRACKING_URI")}
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "msvg_bench.cli", "compare", "--suite", "synthetic", "--tracking-uri", uri],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    elapsed = time.monotonic() - started
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and f"tracking server {uri} is not reachable" in lines[0], done.stderr
    assert elapsed < 15, elapsed


def test_tracking_wait_lets_a_starting_server_come_up(monkeypatch: pytest.MonkeyPatch) -> None:
    import threading
    import time
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from msvg_bench.core.mlflow_store import check_store

    port = _closed_port()
    uri = f"http://127.0.0.1:{port}"

    class Health(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"OK")

        def log_message(self, *args: object) -> None:
            pass

    monkeypatch.delenv("MSVG_TRACKING_WAIT", raising=False)
    with pytest.raises(MsvgError, match=f"tracking server {uri} is not reachable"):
        check_store(uri)
    servers: list[HTTPServer] = []
    up = threading.Event()

    def start_late() -> None:
        time.sleep(1.5)
        servers.append(HTTPServer(("127.0.0.1", port), Health))
        up.set()
        servers[0].serve_forever()

    thread = threading.Thread(target=start_late, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("MSVG_TRACKING_WAIT", "20")
        check_store(uri)  # returns once the server answers
        assert up.is_set(), "returned before the server was up"
    finally:
        if up.wait(10):
            servers[0].shutdown()
            servers[0].server_close()
        thread.join(10)


@pytest.mark.parametrize("content", [b"this is not a database at all\n" * 10, b"SQLite format 3\x00" + bytes(range(256)) * 8])
def test_a_garbage_store_file_is_one_line_naming_it(tmp_path: Path, content: bytes,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from msvg_bench.cli import main

    db = tmp_path / "mlflow.db"
    db.write_bytes(content)
    assert main(["compare", "--suite", "synthetic", "--tracking-uri", f"sqlite:///{db}"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {db}: ") and "MLflow store" in err[0], err
    assert db.read_bytes() == content
