"""How a failed worker's one-line error reaches the launcher and the terminal, with or without the disk.

A worker writes its line to `<output_dir>/logs/error_rank<r>.txt` and also sends it as one UDP
datagram to its node's launcher on the loopback interface (`ERROR_CHANNEL_ENV`: port and token).
On a full disk the file stays empty or missing, and the datagram still arrives, so the cause
(`No space left on device [ENOSPC]: <path>`) is what the launcher prints.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
from pathlib import Path

ERROR_CHANNEL_ENV = "MSVG_ERROR_CHANNEL"
MAX_LINE_BYTES = 8000
ROOT_RANK = re.compile(r"^\s*rank\s*:\s*(\d+)")
ROOT_EXIT = re.compile(r"^\s*exitcode\s*:\s*(-?\d+)(?:.*\((SIG\w+)\))?")


class ErrorChannel:
    """The launcher's end: a loopback UDP socket the workers of this node send their error line to."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.token = secrets.token_hex(8)
        self.lines: dict[int, str] = {}

    def env_value(self) -> str:
        """What the workers find in `ERROR_CHANNEL_ENV`."""
        return f"{self.sock.getsockname()[1]}:{self.token}"

    def received(self) -> dict[int, str]:
        """rank -> error line, for every line sent so far (the first one of each rank)."""
        while True:
            try:
                data = self.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                return self.lines
            token, _, rest = data.decode("utf-8", errors="replace").partition(":")
            rank, _, line = rest.partition(":")
            if token == self.token and rank.isdigit() and line.strip():
                self.lines.setdefault(int(rank), line.strip())

    def close(self) -> None:
        """Release the socket."""
        self.sock.close()


def send_error(rank: int, line: str) -> bool:
    """Worker side: send `line` to this node's launcher; whether it was sent (no channel: False)."""
    value = os.environ.get(ERROR_CHANNEL_ENV, "")
    port, _, token = value.partition(":")
    if not port.isdigit() or not token:
        return False
    payload = f"{token}:{rank}:{line}".encode()[:MAX_LINE_BYTES]
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(payload, ("127.0.0.1", int(port)))
    except OSError:
        return False
    return True


def failed_ranks(launcher_log: Path) -> list[tuple[int, int, str | None]]:
    """(rank, exit code, signal name) of every failure in torchrun's report, its "Root Cause" first."""
    if not launcher_log.is_file():
        return []
    lines = launcher_log.read_text(encoding="utf-8", errors="replace").splitlines()
    found: list[tuple[int, int, str | None]] = []
    root_at = len(found)
    for i, line in enumerate(lines):
        if "Root Cause" in line:
            root_at = len(found)
        elif m := ROOT_RANK.match(line):
            for follow in lines[i + 1 : i + 4]:
                if e := ROOT_EXIT.match(follow):
                    found.append((int(m.group(1)), int(e.group(1)), e.group(2)))
                    break
    return found[root_at:root_at + 1] + found[:root_at] + found[root_at + 1:]


def _file_line(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip() or None
    except OSError:
        return None


def worker_errors(logs: Path, reported: dict[int, str] | None = None) -> dict[int, str]:
    """rank -> the worker's own error line: its error file when it holds one, else the line it sent."""
    found = dict(reported or {})
    for path in logs.glob("error_rank*.txt"):
        rank = path.stem.removeprefix("error_rank")
        text = _file_line(path)
        if rank.isdigit() and text is not None:
            found[int(rank)] = text
    return found


def failure_message(out_dir: Path, code: int, launcher_log: Path, reported: dict[int, str] | None = None) -> str:
    """One line explaining a failed job: the failing rank's own error, else how it died, else torchrun's last error.

    `reported`: the lines workers sent over the `ErrorChannel` (used where their error file is empty or missing).
    """
    logs = Path(out_dir) / "logs"
    errors = worker_errors(logs, reported)
    failed = failed_ranks(launcher_log)
    # A rank killed by a signal could not say why; its peers' errors (a broken connection) follow from its
    # death, and torchrun orders failures by whole seconds, so such a death is the cause wherever it is listed.
    killed = [(rank, code, signame) for rank, code, signame in failed if (signame or code < 0) and rank not in errors]
    if killed:
        rank, exit_code, signame = killed[0]
        how = signame or f"signal {-exit_code}"
        return f"worker rank {rank} died ({how}); the other ranks were stopped; logs in {logs}"
    if failed and failed[0][0] in errors:
        rank = failed[0][0]
        return f"{errors[rank]} (rank {rank}; logs in {logs})"
    if errors:
        rank = min(errors)
        return f"{errors[rank]} (rank {rank}; logs in {logs})"
    last = ""
    if launcher_log.is_file():
        for line in launcher_log.read_text(encoding="utf-8", errors="replace").splitlines():
            stripped = line.strip()
            if ("Error" in stripped or "error" in stripped or "exitcode" in stripped) and not stripped.startswith("$"):
                last = stripped
    detail = f": {last[:300]}" if last else ""
    return f"training failed (torchrun exit code {code}){detail}; logs in {launcher_log.parent}"
