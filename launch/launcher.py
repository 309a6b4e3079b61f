"""Launching training: pre-flight checks, the resolved config file, and torchrun.

Single node: `python -m torch.distributed.run --standalone --nproc-per-node N -m msvg_bench.train_worker
--config <run>/train_config.yaml`. Multi-node: the same command runs on every node with
`--nnodes M --node-rank R --master-addr A --master-port P` (static rendezvous bounded by
`train.rdzv_timeout_s`), the topology taken from the flags or from a hostfile. Failures come back
as one line: a worker's own error (file, or the line it sent when the disk is full), else
torchrun's last error line. One launch per run folder (and node) at a time: `core.run_lock`.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from msvg_bench.core.atomic import atomic_write_text
from msvg_bench.core.devices import resolve_device, select_deepspeed_accelerator
from msvg_bench.core.errors import ConfigError, MsvgError
from msvg_bench.core.run_lock import folder_lock
from msvg_bench.launch.checkpoint import check_compatible, checkpoints_dir, complete_checkpoints, read_meta, resolve_resume
from msvg_bench.launch.config import TrainJob
from msvg_bench.launch.ds_config import build_ds_config
from msvg_bench.launch.failure_report import ERROR_CHANNEL_ENV, ErrorChannel, failure_message
from msvg_bench.launch.hostfile import parse_hostfile, resolve_host, this_node_rank
from msvg_bench.launch.lifeline import LAUNCHER_PID_ENV, die_with_parent, kill_tree
from msvg_bench.launch.preflight import check_global_batch, check_process_count
from msvg_bench.launch.recipes import get_recipe
from msvg_bench.launch.trainer import training_bf16

WORKER_MODULE = "msvg_bench.train_worker"
DEFAULT_MASTER_PORT = 29500


class LaunchError(MsvgError):
    """The distributed job could not start or one of its workers failed."""


@dataclass(frozen=True)
class Topology:
    """Where the job's processes run."""

    nnodes: int
    nproc_per_node: int
    node_rank: int
    master_addr: str | None
    master_port: int | None

    @property
    def world_size(self) -> int:
        """Total worker processes."""
        return self.nnodes * self.nproc_per_node


def resolve_topology(train: object) -> Topology:
    """Nodes, processes per node, this node's rank and the master from flags and/or a hostfile."""
    nnodes = train.nnodes
    nproc = train.nproc_per_node
    node_rank = train.node_rank
    master_addr = train.master_addr
    master_port = train.master_port
    if train.hostfile is not None:
        hosts = parse_hostfile(train.hostfile)
        if train.nnodes not in (1, len(hosts)):
            raise ConfigError(f"{train.hostfile}: lists {len(hosts)} hosts but --nnodes is {train.nnodes}")
        nnodes = len(hosts)
        slots = {h.slots for h in hosts}
        if train.nproc_per_node == 1 and len(slots) == 1:
            nproc = slots.pop()
        elif any(h.slots < nproc for h in hosts):
            raise ConfigError(f"{train.hostfile}: a host has fewer slots than --nproc-per-node {nproc}")
        for host in hosts:
            resolve_host(host.name, train.hostfile)
        if node_rank is None:
            node_rank = this_node_rank(hosts, train.hostfile)
        master_addr = master_addr or hosts[0].name
    if nnodes > 1:
        if master_addr is None:
            raise ConfigError("multi-node training needs --master-addr (or a --hostfile)")
        master_port = master_port or DEFAULT_MASTER_PORT
        if node_rank is None:
            raise ConfigError("multi-node training needs --node-rank (or a --hostfile listing this machine)")
        if node_rank >= nnodes:
            raise ConfigError(f"--node-rank {node_rank} is out of range for {nnodes} nodes")
    else:
        node_rank = 0
    return Topology(nnodes, nproc, node_rank, master_addr, master_port)


def check_master(topology: Topology, timeout_s: float) -> None:
    """Fail fast (bounded by `timeout_s`) when the rendezvous master cannot work.

    Node 0 must be able to listen on the master port; other nodes must reach it.
    """
    if topology.nnodes == 1 and topology.master_addr is None:
        return
    addr, port = topology.master_addr, int(topology.master_port or DEFAULT_MASTER_PORT)
    try:
        infos = socket.getaddrinfo(addr, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise LaunchError(f"master address {addr!r} does not resolve ({exc.strerror})") from None
    if topology.node_rank == 0:
        family, _, _, _, sockaddr = infos[0]
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(sockaddr)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise LaunchError(f"master port {port} on {addr} is already in use; pick another --master-port") from None
                raise LaunchError(
                    f"master address {addr} is not an address of this machine (node rank 0 hosts the rendezvous): {exc.strerror}"
                ) from None
        return
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((addr, port), timeout=min(5.0, max(deadline - time.monotonic(), 0.1))):
                return
        except OSError as exc:
            last = exc.strerror or type(exc).__name__
            time.sleep(0.5)
    raise LaunchError(f"cannot reach the master {addr}:{port} within {timeout_s:.0f} s ({last})")


def torchrun_command(topology: Topology, config_path: Path, log_dir: Path, rdzv_timeout_s: int) -> list[str]:
    """The torchrun command line that starts this node's workers."""
    cmd = [sys.executable, "-m", "torch.distributed.run"]
    if topology.nnodes == 1 and topology.master_addr is None:
        cmd += ["--standalone"]
    else:
        cmd += [
            "--nnodes",
            str(topology.nnodes),
            "--node-rank",
            str(topology.node_rank),
            "--master-addr",
            str(topology.master_addr),
            "--master-port",
            str(topology.master_port),
            "--rdzv-conf",
            f"timeout={rdzv_timeout_s}",
        ]
    cmd += [
        "--nproc-per-node",
        str(topology.nproc_per_node),
        "--max-restarts",
        "0",
        "--log-dir",
        str(log_dir),
        "--redirects",
        "3",
        "--tee",
        "1",
        "-m",
        WORKER_MODULE,
        "--config",
        str(config_path),
    ]
    return cmd


def worker_env(topology: Topology, device: str) -> dict[str, str]:
    """Environment for torchrun and its workers (CPU: DeepSpeed's CPU accelerator, threads split per rank)."""
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    env[LAUNCHER_PID_ENV] = str(os.getpid())  # workers stop when this launcher is gone
    select_deepspeed_accelerator(device, env)
    if device == "cpu":
        env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // topology.nproc_per_node)))
    return env


def run_lock_name(topology: Topology) -> str:
    """The name of the run-folder lock this node's launcher holds (one per node of a multi-node job)."""
    return "train" if topology.node_rank == 0 else f"train-node{topology.node_rank}"


def prepare_run(job: TrainJob, topology: Topology | None = None) -> tuple[TrainJob, Topology, Path]:
    """Pre-flight: topology, process count, data (one global batch), resume compatibility and checkpoint
    trust; write the resolved config the workers read (`job.record`, with the updated train section).

    Returns the (possibly updated) job, the topology and the config file path.
    """
    setup, train = job.setup, job.setup.train
    topology = topology or resolve_topology(train)
    check_process_count(topology.nproc_per_node, resolve_device(train.device, "train.device").type, train.oversubscribe)
    recipe = get_recipe(train.stage)
    recipe.check_data(setup)
    check_global_batch(recipe.num_samples(setup), train, topology.world_size)
    build_ds_config(train, topology.world_size, bf16=training_bf16(setup.model.dtype))  # validates before any process starts
    out_dir = Path(train.output_dir).resolve()
    updates: dict[str, object] = {"output_dir": out_dir}
    if train.resume:
        skipped: list[str] = []
        folder = resolve_resume(train.resume, out_dir, skipped, trust=train.trust_checkpoint).resolve()
        for note in skipped:
            print(f"warning: {note}", file=sys.stderr, flush=True)
        check_compatible(read_meta(folder), job.record.params, topology.world_size, folder)
        updates["resume"] = str(folder)
    elif complete_checkpoints(checkpoints_dir(out_dir)):
        raise ConfigError(
            f"{out_dir}: already holds checkpoints of a previous run; pass --resume latest, or another output dir"
        )
    train = train.model_copy(update=updates)
    job = TrainJob(setup=replace(setup, train=train), record=job.record.with_section("train", train))
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "logs").mkdir(exist_ok=True)
    for stale in (out_dir / "logs").glob("error_rank*.txt"):
        stale.unlink()
    config_path = out_dir / "train_config.yaml"
    atomic_write_text(config_path, job.record.yaml)
    return job, topology, config_path


def launch(job: TrainJob) -> Path:
    """Start this node's workers with torchrun and wait; return the run folder. Raises `LaunchError` on failure.

    The run folder is locked for the whole launch: a second launch into it fails naming this one.
    """
    topology = resolve_topology(job.setup.train)
    with folder_lock(Path(job.setup.train.output_dir).resolve(), run_lock_name(topology)):
        return _launch_locked(job, topology)


def _launch_locked(job: TrainJob, topology: Topology) -> Path:
    job, topology, config_path = prepare_run(job, topology)
    train = job.setup.train
    check_master(topology, train.rdzv_timeout_s)
    out_dir = Path(train.output_dir)
    log_dir = out_dir / "logs" / "torchrun"
    cmd = torchrun_command(topology, config_path, log_dir, train.rdzv_timeout_s)
    env = worker_env(topology, resolve_device(train.device, "train.device").type)
    launcher_log = out_dir / "logs" / "launcher.log"
    if not train.resume:
        (out_dir / "mlflow_run_id").unlink(missing_ok=True)  # a stale id must not be marked below
    channel = ErrorChannel()
    env[ERROR_CHANNEL_ENV] = channel.env_value()
    try:
        with open(launcher_log, "ab") as log:
            log.write(("$ " + " ".join(cmd) + "\n").encode())
            log.flush()
            code, stopped_by = _run_owned(cmd, env, log)
        reported = channel.received()
    finally:
        channel.close()
    if stopped_by is not None:
        mark_killed(job.record.tracking_uri, out_dir)
        if stopped_by == "SIGINT":
            raise KeyboardInterrupt
        raise LaunchError(
            f"training stopped by {stopped_by}; its workers were stopped too; continue with --resume latest (logs in {out_dir / 'logs'})"
        )
    if code != 0:
        raise LaunchError(failure_message(out_dir, code, launcher_log, reported))
    return out_dir


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
STOP_GRACE_S = 5.0


def _run_owned(cmd: list[str], env: dict[str, str], log: Any) -> tuple[int, str | None]:
    """Run torchrun as a child the launcher owns; return (exit code, name of the signal that stopped us).

    torchrun dies with the launcher (parent-death signal), and a SIGTERM / SIGINT / SIGHUP to the
    launcher is forwarded to it as SIGTERM, so it stops its workers; if it has not exited
    `STOP_GRACE_S` seconds later (a rank stuck in a collective whose peer is gone), torchrun and
    every worker are killed.
    """
    received: list[int] = []
    proc = subprocess.Popen(cmd, env=env, stdout=None, stderr=log, preexec_fn=die_with_parent)  # noqa: PLW1509

    def forward(signum: int, _frame: Any) -> None:
        received.append(signum)
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)

    previous: dict[int, Any] = {}
    try:
        for sig in STOP_SIGNALS:
            previous[sig] = signal.signal(sig, forward)
    except ValueError:  # not the main thread: signals stay with whoever owns them
        pass
    try:
        deadline: float | None = None
        while True:
            if received and deadline is None:
                deadline = time.monotonic() + STOP_GRACE_S
            try:
                code = proc.wait(timeout=0.5 if deadline is None else max(deadline - time.monotonic(), 0.01))
                break
            except subprocess.TimeoutExpired:
                if deadline is not None and time.monotonic() >= deadline:
                    kill_tree(proc.pid)
                    code = proc.wait()
                    break
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return code, (signal.Signals(received[0]).name if received else None)


def mark_killed(tracking_uri: str | None, out_dir: Path) -> None:
    """End the job's MLflow run KILLED (rank 0 may not have got to it); a FINISHED run is left alone."""
    id_file = out_dir / "mlflow_run_id"
    if not id_file.is_file():
        return
    run_id = id_file.read_text(encoding="utf-8").strip()
    try:
        from msvg_bench.core.mlflow_store import (
            make_client,
            resolve_tracking_uri,
            with_retry,
        )

        client = make_client(resolve_tracking_uri(tracking_uri))
        if with_retry(client.get_run, run_id).info.status != "FINISHED":
            with_retry(client.set_terminated, run_id, "KILLED")
    except Exception as exc:  # noqa: BLE001 - reporting the stop matters more than the run state
        print(f"warning: could not mark MLflow run {run_id} KILLED ({type(exc).__name__}: {exc})", file=sys.stderr)
