"""Run a command as a process tree that dies with its parent: `python -m msvg_bench.launch.guardian -- CMD ...`.

A parent-death signal (`lifeline.die_with_parent`) reaches only the process it is set on. A server
such as `mlflow server` starts uvicorn, which may start workers of its own: those grandchildren
would serve on, re-parented to init, once the process that started them is killed. The guardian sits
between the owner and the command and takes the whole tree down:

- the owner starts it with `die_with_parent`, so it gets SIGTERM the moment the owner dies, however
  it died (SIGKILL included); it also polls its parent, in case that signal was missed;
- it is a child subreaper (Linux `PR_SET_CHILD_SUBREAPER`): a descendant whose own parent dies is
  re-parented to the guardian, so every process of the tree stays in its sight;
- on SIGTERM, SIGINT or SIGHUP, on its parent's exit, or when the command exits, it asks the command
  to stop (SIGTERM), gives the tree a short grace period, SIGKILLs whatever is left of it, and exits
  as the command did (or of the signal it was asked to stop with).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

PR_SET_CHILD_SUBREAPER = 36
STOP_GRACE_S = 3.0
POLL_S = 0.2
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def guarded(command: list[str]) -> list[str]:
    """The command line that runs `command` under the guardian (start it with `preexec_fn=die_with_parent`)."""
    return [sys.executable, "-m", "msvg_bench.launch.guardian", "--", *command]


def become_subreaper() -> None:
    """Adopt this process's orphaned descendants (Linux; elsewhere a no-op)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def live_descendants() -> list:
    """This process's descendants that have not exited (zombies excluded), children listed first."""
    import psutil

    alive = []
    for proc in psutil.Process().children(recursive=True):
        try:
            if proc.status() != psutil.STATUS_ZOMBIE:
                alive.append(proc)
        except psutil.NoSuchProcess:
            pass
    return alive


def reap_adopted(command_pid: int) -> None:
    """Collect the exit status of adopted descendants that have ended (the command itself is left to Popen)."""
    import psutil

    for proc in psutil.Process().children():
        if proc.pid == command_pid:
            continue
        try:
            os.waitpid(proc.pid, os.WNOHANG)
        except ChildProcessError:
            pass


def signal_all(procs: list, sig: int) -> None:
    """Send `sig` to each of `procs`, skipping those already gone."""
    import psutil

    for proc in procs:
        try:
            proc.send_signal(sig)
        except psutil.NoSuchProcess:
            pass


def stop_tree(command: subprocess.Popen, grace_s: float = STOP_GRACE_S) -> None:
    """Ask the command (or, once it is gone, its leftovers) to stop; SIGKILL the tree after `grace_s` seconds."""
    if command.poll() is None:
        command.terminate()
    else:
        signal_all(live_descendants(), signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        command.poll()
        reap_adopted(command.pid)
        if not live_descendants():
            break
        time.sleep(0.05)
    signal_all(live_descendants(), signal.SIGKILL)
    command.wait()
    reap_adopted(command.pid)


def exit_like(code: int) -> None:
    """Exit with `code`, a Popen return code: a negative one is re-raised as that signal."""
    if code < 0:
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
        time.sleep(1.0)
        code = 128 - code
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    """Run the command after `--` and take its whole process tree down with this process's parent."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--"]:
        args = args[1:]
    if not args:
        print("usage: python -m msvg_bench.launch.guardian -- COMMAND [ARGS ...]", file=sys.stderr)
        sys.exit(2)
    owner = os.getppid()
    requested: list[int] = []

    def _on_signal(signum: int, _frame: object) -> None:
        requested.append(signum)

    for sig in STOP_SIGNALS:
        signal.signal(sig, _on_signal)
    become_subreaper()
    # Its own session: a terminal's Ctrl-C goes to the owner, which asks the guardian to stop the tree.
    command = subprocess.Popen(args, start_new_session=True)  # noqa: S603
    try:
        while not requested and command.poll() is None and os.getppid() == owner:
            time.sleep(POLL_S)
    finally:
        stop_tree(command)
    exit_like(-requested[0] if requested else command.returncode)


if __name__ == "__main__":
    main()
