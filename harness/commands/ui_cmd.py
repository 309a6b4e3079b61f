"""`msvg-bench ui`: the MLflow UI on the project's tracking store, on 127.0.0.1."""

from __future__ import annotations

import subprocess
from typing import Annotated

import typer
from msvg_bench.cli_options import TrackingUriOption

DEFAULT_PORT = 5000
READY_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 10.0


def port_is_free(host: str, port: int) -> bool:
    """True when nothing listens on host:port."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def server_command(uri: str, host: str, port: int, workers: int) -> list[str]:
    """The `mlflow server` command line for the store `uri` (artifacts beside a SQLite store)."""
    import sys

    from msvg_bench.core.mlflow_store import sqlite_path

    command = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", uri,
        "--host", host,
        "--port", str(port),
        "--workers", str(workers),
    ]  # fmt: skip
    db = sqlite_path(uri)
    if db is not None:
        command += ["--default-artifact-root", (db.parent / "mlartifacts").resolve().as_uri()]
    return command


def wait_until_ready(url: str, process: object, timeout_s: float) -> bool:
    """Poll `<url>/health` until it answers 200, the process exits, or `timeout_s` passes."""
    import time
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:  # type: ignore[attr-defined]
            return False
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    return False


def stop_server(process: subprocess.Popen) -> None:
    """Stop the guarded server tree: ask the guardian, and kill the whole tree if it has not ended in time."""
    from msvg_bench.launch.lifeline import kill_tree

    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        kill_tree(process.pid)
        process.wait()


def ui(
    port: Annotated[int, typer.Option("--port", "-p", min=1, max=65535, help="Port to listen on.")] = DEFAULT_PORT,
    host: Annotated[str, typer.Option("--host", help="Interface to bind (local only by default).")] = "127.0.0.1",
    workers: Annotated[int, typer.Option("--workers", min=1, help="Server worker processes.")] = 1,
    tracking_uri: TrackingUriOption = None,
) -> None:
    """Start the MLflow UI on the project's store and print its URL (Ctrl-C stops it).

    Run pages show the eval metrics, the logged config, and the videos (GIF previews and H.264 mp4s) under Artifacts; comparison reports are in the experiment msvg-bench/compare.
    """
    import os
    import signal

    from msvg_bench.core.errors import MsvgError
    from msvg_bench.core.mlflow_store import (
        make_client,
        resolve_tracking_uri,
        sqlite_path,
    )
    from msvg_bench.launch.guardian import guarded
    from msvg_bench.launch.lifeline import die_with_parent

    if not port_is_free(host, port):
        raise MsvgError(f"port {port} on {host} is already in use; pass --port to pick another")
    uri = resolve_tracking_uri(tracking_uri)
    db = sqlite_path(uri)
    if db is not None:
        if not db.exists():
            typer.echo(f"no tracking store at {db} yet; creating an empty one", err=True)
        make_client(uri)  # creates/migrates the schema under the store lock
    url = f"http://{host}:{port}"
    # No telemetry (offline machines), and no background job runner (GenAI scorers) unless asked for.
    env = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true", "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", **os.environ}
    command = server_command(uri, host, port, workers)
    typer.echo(f"starting the MLflow UI for {uri} ...", err=True)
    # The server and its uvicorn workers run under a guardian that dies with this process (even of
    # SIGKILL) and takes the whole server tree with it.
    process = subprocess.Popen(  # noqa: S603, PLW1509
        guarded(command), env=env, cwd=str(db.parent) if db is not None else None, preexec_fn=die_with_parent
    )

    def _stop(signum: int, _frame: object) -> None:
        process.terminate()

    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        if wait_until_ready(url, process, READY_TIMEOUT_S):
            typer.echo(f"MLflow UI: {url}  (Ctrl-C to stop)")
        elif process.poll() is None:
            typer.echo(f"the MLflow UI did not answer within {READY_TIMEOUT_S:.0f}s; still waiting at {url}", err=True)
        code = process.wait()
    finally:
        signal.signal(signal.SIGTERM, previous)
        stop_server(process)
    if code not in (0, -signal.SIGTERM, -signal.SIGINT):
        raise MsvgError(f"the MLflow server exited with code {code} (command: {' '.join(command)})")


def register(app: typer.Typer) -> None:
    """Add the command to the CLI."""
    app.command("ui", rich_help_panel="Reports")(ui)

