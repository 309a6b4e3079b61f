"""The MLflow store: where it lives, a client on it, experiments, lock-safe retries, run queries.

Default store: `sqlite:///<cwd>/mlflow.db` (override with `--tracking-uri` or
`MLFLOW_TRACKING_URI`). Experiments are one per job kind (`msvg-bench/train`, `msvg-bench/eval`,
...). Artifacts of a SQLite store live beside the database in `mlartifacts/`.

Before a client is made the store is checked once: a `sqlite:///` file that is not an SQLite
database, or an `http(s)://` server that does not answer within a few seconds, is a one-line
`MsvgError` naming the file or URI (instead of a raw `DatabaseError`, or MLflow's own silent retries
for minutes). `MSVG_TRACKING_WAIT=SECONDS` waits that long for a server that is still starting.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from msvg_bench.core.atomic import file_lock
from msvg_bench.core.errors import MsvgError

DEFAULT_DB_NAME = "mlflow.db"
EXPERIMENT_PREFIX = "msvg-bench"
# Tells the MLflow UI these are model-training experiments (its classic runs/metrics view).
EXPERIMENT_TAGS = {"mlflow.experimentKind": "custom_model_development"}

T = TypeVar("T")

WAIT_ENV = "MSVG_TRACKING_WAIT"
"""Seconds to keep probing an unreachable tracking server before giving up (default: one probe)."""
PROBE_TIMEOUT_S = 5.0
SQLITE_MAGIC = b"SQLite format 3\x00"


def resolve_tracking_uri(explicit: str | None = None) -> str:
    """`explicit`, else $MLFLOW_TRACKING_URI, else the embedded SQLite store in the working directory."""
    if explicit:
        return explicit
    env = os.environ.get("MLFLOW_TRACKING_URI")
    if env:
        return env
    return f"sqlite:///{Path.cwd() / DEFAULT_DB_NAME}"


def sqlite_path(uri: str) -> Path | None:
    """The database file of a `sqlite:///` URI, else None."""
    if uri.startswith("sqlite:///"):
        return Path(uri[len("sqlite:///") :])
    return None


def experiment_name(kind: str) -> str:
    """The experiment that holds runs of one job kind (train, eval, generate, compare, ...)."""
    return f"{EXPERIMENT_PREFIX}/{kind}"


def _is_lock_error(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "database is locked" in text or "database table is locked" in text or "locked" in text and "sqlite" in text


def with_retry(fn: Callable[..., T], *args: Any, attempts: int = 40, **kwargs: Any) -> T:
    """Call `fn`, retrying with backoff while a concurrent writer holds the SQLite lock."""
    delay = 0.05
    for attempt in range(attempts):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - MLflow wraps SQLAlchemy errors in several types
            if attempt == attempts - 1 or not _is_lock_error(exc):
                raise
            time.sleep(delay)
            delay = min(delay * 1.5, 1.0)
    raise AssertionError("unreachable")


@contextmanager
def store_lock(uri: str) -> Iterator[None]:
    """Serialise store creation/migration between processes sharing one SQLite file."""
    db = sqlite_path(uri)
    if db is None:
        yield
        return
    with file_lock(db):
        yield


def make_client(uri: str) -> Any:
    """An `MlflowClient` for `uri`, with the store's schema created under an inter-process lock."""
    from mlflow.tracking import MlflowClient

    check_store(uri)
    with store_lock(uri):
        try:
            client = MlflowClient(tracking_uri=uri)
            with_retry(client.search_experiments, max_results=1)
        except Exception as exc:  # noqa: BLE001 - SQLAlchemy's DatabaseError arrives wrapped in several types
            db = sqlite_path(uri)
            text = str(exc)
            if db is not None and ("not a database" in text or "malformed" in text):
                raise MsvgError(f"{db}: the MLflow store is damaged ({text.splitlines()[0][:200]}); "
                                "move it aside or pass --tracking-uri") from None
            raise
    return client


def check_store(uri: str) -> None:
    """Fail with one line naming the store when `uri` cannot work: a `sqlite:///` file that is not
    an SQLite database, or an `http(s)://` server that does not answer (probed once, or for
    $MSVG_TRACKING_WAIT seconds)."""
    db = sqlite_path(uri)
    if db is not None:
        if db.is_file() and db.stat().st_size > 0:
            with open(db, "rb") as handle:
                if handle.read(len(SQLITE_MAGIC)) != SQLITE_MAGIC:
                    raise MsvgError(f"{db}: not an SQLite database, so not an MLflow store; move it aside or pass --tracking-uri")
        return
    if uri.startswith(("http://", "https://")):
        probe_server(uri, tracking_wait())


def tracking_wait() -> float:
    """How long to wait for an unreachable tracking server: $MSVG_TRACKING_WAIT seconds (default 0)."""
    raw = os.environ.get(WAIT_ENV, "").strip()
    if not raw:
        return 0.0
    try:
        value = float(raw)
    except ValueError:
        raise MsvgError(f"{WAIT_ENV}={raw!r}: not a number of seconds") from None
    if value < 0:
        raise MsvgError(f"{WAIT_ENV}={raw!r}: must be 0 or more seconds")
    return value


def probe_server(uri: str, wait_s: float = 0.0) -> None:
    """Return once the tracking server at `uri` answers any HTTP response; after `wait_s` seconds
    of no answer (one probe of at most 5 s when 0), raise `MsvgError` naming the URI."""
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + wait_s
    url = uri.rstrip("/") + "/health"
    while True:
        try:
            with urllib.request.urlopen(url, timeout=PROBE_TIMEOUT_S):  # noqa: S310 - http(s) only, checked above
                return
        except urllib.error.HTTPError:
            return  # it answered (auth, a proxy without /health ...): reachable
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            if time.monotonic() + 1.0 >= deadline:
                waited = f" after {wait_s:g} s" if wait_s else ""
                raise MsvgError(f"tracking server {uri} is not reachable{waited} ({reason}); start it, "
                                f"pass another --tracking-uri, or set {WAIT_ENV}=SECONDS to wait for it") from None
            time.sleep(1.0)


def newest_finished_runs(client: Any, experiment: str, where: Mapping[str, str], max_results: int = 1000) -> list[Any]:
    """FINISHED runs of experiment `experiment`, newest first, whose fields equal `where`.

    `where` maps MLflow filter fields (`params.preset`, ``tags.`msvg.suite` ``, `attributes.run_name`)
    to values (quotes escaped here); no experiment of that name: [].
    """
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return []
    clauses = ["attributes.status = 'FINISHED'"]
    for field, value in where.items():
        escaped = value.replace("'", "\\'")
        clauses.append(f"{field} = '{escaped}'")
    return client.search_runs([found.experiment_id], filter_string=" and ".join(clauses),
                              order_by=["attributes.start_time DESC"], max_results=max_results)


def ensure_experiment(client: Any, uri: str, name: str) -> str:
    """The id of experiment `name`, created (artifacts beside a SQLite store) if missing."""
    existing = with_retry(client.get_experiment_by_name, name)
    if existing is not None:
        return existing.experiment_id
    db = sqlite_path(uri)
    location = None
    if db is not None:
        safe = re.sub(r"[^\w.-]+", "_", name)
        location = (db.parent / "mlartifacts" / safe).resolve().as_uri()
    with store_lock(uri):
        existing = with_retry(client.get_experiment_by_name, name)
        if existing is not None:
            return existing.experiment_id
        return with_retry(client.create_experiment, name, artifact_location=location, tags=EXPERIMENT_TAGS)
