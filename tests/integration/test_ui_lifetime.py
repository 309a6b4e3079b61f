"""`msvg-bench ui` takes its MLflow server, and the server's uvicorn workers, down with it: on SIGTERM, and on SIGKILL."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

START_TIMEOUT_S = 180.0
GONE_WITHIN_S = 10.0


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answers(url: str) -> bool:
    """True when `url` answers HTTP 200."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def port_accepts(port: int) -> bool:
    """True when something accepts TCP connections on 127.0.0.1:`port`."""
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def alive(proc: psutil.Process) -> bool:
    """The very process (not a reused pid) still exists and is not a zombie."""
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["sigkill", "sigterm"])
def test_stopped_ui_takes_server_and_uvicorn_workers_down(tmp_path: Path, sig: signal.Signals) -> None:
    port = free_port()
    log = tmp_path / "ui.log"
    with open(log, "w") as handle:
        ui = subprocess.Popen(
            [sys.executable, "-m", "msvg_bench.cli", "ui", "--port", str(port), "--workers", "2",
             "--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}"],
            stdout=handle, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    tree: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not answers(f"http://127.0.0.1:{port}/health"):
            assert ui.poll() is None, f"msvg-bench ui exited with {ui.returncode}: {log.read_text()[-2000:]}"
            assert time.monotonic() < deadline, f"the UI did not serve within {START_TIMEOUT_S}s: {log.read_text()[-2000:]}"
            time.sleep(0.5)
        tree = psutil.Process(ui.pid).children(recursive=True)
        # the mlflow CLI, uvicorn's supervisor and its two workers (grandchildren and below) at least
        assert len(tree) >= 4, [p.cmdline() for p in tree]

        ui.send_signal(sig)
        code = ui.wait(timeout=30)
        assert code == (-signal.SIGKILL if sig == signal.SIGKILL else 0), log.read_text()[-2000:]
        deadline = time.monotonic() + GONE_WITHIN_S
        while (survivors := [p for p in tree if alive(p)]) or port_accepts(port):
            if time.monotonic() > deadline:
                pytest.fail(f"still running {GONE_WITHIN_S}s after the ui got {sig.name}: "
                            f"{[p.pid for p in survivors]}, port {port} answers: {port_accepts(port)}")  # fmt: skip
            time.sleep(0.2)
        assert not answers(f"http://127.0.0.1:{port}/health")
    finally:
        if ui.poll() is None:
            ui.kill()
        for proc in tree:
            if alive(proc):
                proc.kill()
