"""MLflow tracking: one run per job, logged from rank 0 only, ended FAILED/KILLED on errors.

The store itself (location, client, experiments, retries, queries) is `msvg_bench.core.mlflow_store`.
"""

from __future__ import annotations

import re
import signal
import subprocess
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from msvg_bench import __version__
from msvg_bench.core.distributed import get_world_size, is_rank_zero
from msvg_bench.core.errors import MsvgError
from msvg_bench.core.mlflow_store import (
    ensure_experiment,
    experiment_name,
    make_client,
    resolve_tracking_uri,
    with_retry,
)
from msvg_bench.core.schema import ConfigRecord

METRIC_NAME_PATTERN = re.compile(r"^[/\w.\- ]*$")
MAX_PARAMS_PER_BATCH = 100
MAX_PARAM_VALUE_CHARS = 6000
MAX_METRICS_PER_BATCH = 1000


class Terminated(BaseException):
    """Raised in the main thread on SIGTERM so the run is ended as KILLED."""


def git_sha(start: Path | None = None) -> str | None:
    """The commit of the source tree the package runs from, when it is a git checkout."""
    where = start or Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    sha = out.stdout.strip()
    return sha if out.returncode == 0 and len(sha) == 40 else None


def validate_metric_name(name: str) -> str:
    """Return `name` if MLflow accepts it as a metric key, else raise naming it."""
    if not name or not METRIC_NAME_PATTERN.match(name):
        raise MsvgError(f"metric name {name!r} is not allowed by MLflow (letters, digits, _ - . / and spaces)")
    return name


def metric_safe(name: str) -> str:
    """`name` with every character MLflow refuses in a metric key replaced by `_`."""
    return re.sub(r"[^/\w.\- ]+", "_", name).strip("_") or "_"


def param_value(value: Any) -> str:
    """A parameter value as MLflow stores it, cut to MLflow's length limit."""
    text = "None" if value is None else str(value)
    if len(text) > MAX_PARAM_VALUE_CHARS:
        marker = "...[truncated]"
        text = text[: MAX_PARAM_VALUE_CHARS - len(marker)] + marker
    return text



class Tracker:
    """One MLflow run. On ranks other than 0 (or when disabled) every method does nothing.

    Use as a context manager: a normal exit ends the run FINISHED, an exception FAILED,
    Ctrl-C or SIGTERM KILLED. Passing `run_id` continues an existing run (resumed training).
    """

    def __init__(
        self,
        kind: str,
        *,
        run_name: str | None = None,
        tags: Mapping[str, Any] | None = None,
        tracking_uri: str | None = None,
        run_id: str | None = None,
        enabled: bool | None = None,
        record: ConfigRecord | None = None,
    ) -> None:
        self.kind = kind
        self.record = record
        self.run_name = run_name
        self.initial_tags = dict(tags or {})
        self.uri = resolve_tracking_uri(tracking_uri)
        self.enabled = is_rank_zero() if enabled is None else enabled
        self._run_id = run_id
        self._client: Any = None
        self._previous_sigterm: Any = None
        self._failure: str | None = None

    @property
    def run_id(self) -> str | None:
        """The MLflow run id (None on non-logging ranks)."""
        return self._run_id if self.enabled else None

    @property
    def client(self) -> Any:
        """The underlying `MlflowClient` (only on the logging rank)."""
        return self._client

    def start(self) -> Tracker:
        """Create (or reopen) the run and set the standard tags."""
        if not self.enabled:
            return self
        self._client = make_client(self.uri)
        tags = {
            "msvg.kind": self.kind,
            "msvg.version": __version__,
            "msvg.world_size": str(get_world_size()),
            **{k: str(v) for k, v in self.initial_tags.items()},
        }
        sha = git_sha()
        if sha:
            tags["msvg.git_sha"] = sha
        if self._run_id is None:
            experiment_id = ensure_experiment(self._client, self.uri, experiment_name(self.kind))
            run = with_retry(self._client.create_run, experiment_id, run_name=self.run_name, tags=tags)
            self._run_id = run.info.run_id
            if self.record is not None:
                self.log_config(self.record)
        else:
            with_retry(self._client.get_run, self._run_id)
            with_retry(self._client.update_run, self._run_id, status="RUNNING")
            self.set_tags(tags)
        return self

    def finish(self, status: str = "FINISHED") -> None:
        """End the run with `status` (FINISHED, FAILED or KILLED)."""
        if self.enabled and self._run_id is not None and self._client is not None:
            with_retry(self._client.set_terminated, self._run_id, status)

    def mark_failed(self, reason: str) -> None:
        """End the run FAILED (tag `msvg.error`) even when the job finishes without an exception,
        e.g. an evaluation in which some stories failed."""
        self._failure = reason

    def __enter__(self) -> Tracker:
        self.start()
        if self.enabled:
            with _OPEN_LOCK:
                _OPEN_TRACKERS.add(self)
            try:
                self._previous_sigterm = signal.signal(signal.SIGTERM, _raise_terminated)
            except ValueError:  # not the main thread
                self._previous_sigterm = None
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if self._previous_sigterm is not None:
            signal.signal(signal.SIGTERM, self._previous_sigterm)
        if exc_type is not None and _INTERRUPTED.is_set():
            status = "KILLED"
        elif exc_type is None:
            status = "FINISHED" if self._failure is None else "FAILED"
        elif issubclass(exc_type, (KeyboardInterrupt, Terminated)):
            status = "KILLED"
        elif issubclass(exc_type, SystemExit) and exc is not None and exc.code in (0, None):
            status = "FINISHED"
        else:
            status = "FAILED"
        if status == "FAILED" and exc is not None:
            self.set_tags({"msvg.error": f"{type(exc).__name__}: {exc}"[:5000]})
        elif status == "FAILED" and self._failure is not None:
            self.set_tags({"msvg.error": self._failure[:5000]})
        self.finish(status)
        with _OPEN_LOCK:
            _OPEN_TRACKERS.discard(self)

    def rename(self, name: str) -> None:
        """Set the run's name (shown in the UI and accepted by `compare`)."""
        if self.enabled and self._run_id is not None:
            with_retry(self._client.update_run, self._run_id, name=name)
            self.run_name = name

    # -- logging ---------------------------------------------------------------------------------

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Log flat params in batches of at most 100, values cut to MLflow's limit."""
        if not self.enabled:
            return
        from mlflow.entities import Param

        items = [Param(str(k), param_value(v)) for k, v in params.items()]
        for start in range(0, len(items), MAX_PARAMS_PER_BATCH):
            batch = items[start : start + MAX_PARAMS_PER_BATCH]
            with_retry(self._client.log_batch, self._run_id, params=batch)

    def log_config(self, record: ConfigRecord) -> None:
        """Log a resolved config as dotted params, its YAML as an artifact, and its hash as a tag."""
        if not self.enabled:
            return
        self.log_params(record.params)
        self.set_tags({"msvg.config_hash": record.config_hash, "msvg.seed": record.seed, "msvg.preset": record.preset})
        self.log_text(record.yaml, "config/resolved.yaml")

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Log metrics (names like `train/loss`, `eval/mawe`, `perf/step_s`) at `step`."""
        if not self.enabled or not metrics:
            return
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(validate_metric_name(k), float(v), now, step or 0) for k, v in metrics.items()]
        for start in range(0, len(items), MAX_METRICS_PER_BATCH):
            with_retry(self._client.log_batch, self._run_id, metrics=items[start : start + MAX_METRICS_PER_BATCH])

    def last_step(self, metric: str) -> int:
        """The highest step logged for `metric` in this run (-1 if none, or on non-logging ranks)."""
        if not self.enabled or self._run_id is None:
            return -1
        history = with_retry(self._client.get_metric_history, self._run_id, metric)
        return max((m.step for m in history), default=-1)

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Set run tags (values stringified)."""
        if not self.enabled or not tags:
            return
        from mlflow.entities import RunTag

        with_retry(self._client.log_batch, self._run_id, tags=[RunTag(str(k), str(v)) for k, v in tags.items()])

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        """Copy a local file into the run's artifacts."""
        if self.enabled:
            self._client.log_artifact(self._run_id, str(path), artifact_path)

    def log_artifacts(self, directory: str | Path, artifact_path: str | None = None) -> None:
        """Copy a local folder into the run's artifacts."""
        if self.enabled:
            self._client.log_artifacts(self._run_id, str(directory), artifact_path)

    def log_dict(self, obj: Any, artifact_file: str) -> None:
        """Store `obj` as a JSON/YAML artifact (format from the extension)."""
        if self.enabled:
            self._client.log_dict(self._run_id, obj, artifact_file)

    def log_text(self, text: str, artifact_file: str) -> None:
        """Store `text` as an artifact file."""
        if self.enabled:
            self._client.log_text(self._run_id, text, artifact_file)


_INTERRUPTED = threading.Event()
_OPEN_TRACKERS: set[Tracker] = set()
_OPEN_LOCK = threading.Lock()


def end_open_runs(status: str = "KILLED") -> None:
    """End every run this process has open (inside a `Tracker` context) with `status`.

    For a watchdog thread that stops the process while its main thread may be stuck (in a
    collective whose peer died) and never reach the context's exit; errors are swallowed, since the
    process is going down anyway.
    """
    with _OPEN_LOCK:
        trackers = list(_OPEN_TRACKERS)
    for tracker in trackers:
        try:
            tracker.finish(status)
        except Exception:  # noqa: BLE001, S110 - best effort on the way out
            pass


def note_interrupted() -> None:
    """Record that this process is being stopped from outside: open runs end KILLED, not FAILED,
    whatever exception the interruption surfaces as (e.g. a collective failing because a peer died)."""
    _INTERRUPTED.set()


def _raise_terminated(signum: int, frame: Any) -> None:
    note_interrupted()
    raise Terminated(f"terminated by signal {signum}")


def start_run(
    kind: str,
    record: ConfigRecord | None = None,
    *,
    run_name: str | None = None,
    tags: Mapping[str, Any] | None = None,
    tracking_uri: str | None = None,
    run_id: str | None = None,
) -> Tracker:
    """A `Tracker` for a job of `kind`, using the record's tracking settings unless given.

    Use it as a context manager; a new run logs the resolved config (`record`) on entry (a resumed one has it).
    """
    uri = tracking_uri or (record.tracking_uri if record is not None else None)
    name = run_name or (record.run_name if record is not None else None)
    return Tracker(kind, run_name=name, tags=tags, tracking_uri=uri, run_id=run_id, record=record)
