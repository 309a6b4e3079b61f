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
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

ERROR_CHANNEL_ENV = "MSVG_ERROR_CHANNEL"
MAX_LINE_BYTES = 8000
ROOT_RANK = re.compile(r"^\s*rank\s*:\s*(\d+)")
ROOT_EXIT = re.compile(r"^\s*exitcode\s*:\s*(-?\d+)(?:.*\((SIG\w+)\))?")
FAILURE_TIME = re.compile(r"^\s*time\s*:\s*(\S+)")
CAUSE_WINDOW = timedelta(seconds=5)


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


@dataclass(frozen=True)
class RankFailure:
    """One failure of torchrun's report: the rank, its exit code, the signal that ended it, and when."""

    rank: int
    exit_code: int
    signal: str | None
    time: datetime | None

    @property
    def by_signal(self) -> bool:
        """Whether a signal ended the rank (it could not report why)."""
        return self.signal is not None or self.exit_code < 0


def failed_ranks(launcher_log: Path) -> list[RankFailure]:
    """Every failure in torchrun's report, its "Root Cause" first."""
    if not launcher_log.is_file():
        return []
    lines = launcher_log.read_text(encoding="utf-8", errors="replace").splitlines()
    found: list[RankFailure] = []
    root_at = 0
    for i, line in enumerate(lines):
        if "Root Cause" in line:
            root_at = len(found)
        elif m := ROOT_RANK.match(line):
            when = next((_time(t.group(1)) for t in map(FAILURE_TIME.match, lines[max(i - 2, 0):i]) if t), None)
            for follow in lines[i + 1 : i + 4]:
                if e := ROOT_EXIT.match(follow):
                    found.append(RankFailure(int(m.group(1)), int(e.group(1)), e.group(2), when))
                    break
    return found[root_at:root_at + 1] + found[:root_at] + found[root_at + 1:]


def _time(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        return None


def _cause(failed: list[RankFailure], errors: dict[int, str]) -> RankFailure | None:
    """The failure to report. torchrun orders failures by whole seconds, so a peer's broken-connection
    error in the same second as a rank's death can come first; a rank ended by a signal torchrun does not
    send on its own (not SIGTERM) and without an error line of its own, near the first failure (torchrun
    escalates to SIGKILL only after its 30 s stop timeout), is the cause wherever it is listed."""
    if not failed:
        return None
    root = failed[0]
    for failure in failed:
        near = failure.time is None or root.time is None or failure.time - root.time <= CAUSE_WINDOW
        if failure.by_signal and failure.signal != "SIGTERM" and failure.rank not in errors and near:
            return failure
    return root


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
    cause = _cause(failed_ranks(launcher_log), errors)
    if cause is not None:
        if cause.rank in errors:
            return f"{errors[cause.rank]} (rank {cause.rank}; logs in {logs})"
        if cause.by_signal:
            how = cause.signal or f"signal {-cause.exit_code}"
            return f"worker rank {cause.rank} died ({how}); the other ranks were stopped; logs in {logs}"
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
