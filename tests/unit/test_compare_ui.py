"""`msvg-bench ui`: the server command line and the refusal of a busy port (the browser test runs it for real)."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest
from msvg_bench.cli import main
from msvg_bench.commands.ui_cmd import port_is_free, server_command


def test_server_command_serves_the_sqlite_store_and_its_artifacts(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    command = server_command(uri, "127.0.0.1", 5123, 1)
    assert command[:4] == [sys.executable, "-m", "mlflow", "server"]
    options = dict(zip(command[4::2], command[5::2], strict=True))
    assert options == {
        "--backend-store-uri": uri,
        "--host": "127.0.0.1",
        "--port": "5123",
        "--workers": "1",
        "--default-artifact-root": (tmp_path / "mlartifacts").as_uri(),
    }


def test_busy_port_is_refused_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        assert not port_is_free("127.0.0.1", port)
        code = main(["ui", "--port", str(port), "--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}"])
    err = capsys.readouterr().err
    assert code == 1
    assert f"error: port {port} on 127.0.0.1 is already in use; pass --port" in err
    assert not (tmp_path / "mlflow.db").exists()  # refused before touching the store
    assert port_is_free("127.0.0.1", port)
