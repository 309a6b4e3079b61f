"""Hostfiles, topology, the torchrun command line, bounded master checks, trainable patterns."""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path

import pytest
import torch
from msvg_bench.core.errors import ConfigError
from msvg_bench.launch.config import TrainConfig
from msvg_bench.launch.hostfile import parse_hostfile
from msvg_bench.launch.launcher import (
    LaunchError,
    Topology,
    check_master,
    failure_message,
    resolve_topology,
    torchrun_command,
)
from msvg_bench.launch.trainable import apply_trainable_patterns


def test_parse_hostfile(tmp_path: Path) -> None:
    path = tmp_path / "hosts"
    path.write_text("# cluster\nlocalhost slots=2\n\n127.0.0.1 slots=2  # second\n")
    hosts = parse_hostfile(path)
    assert [(h.name, h.slots) for h in hosts] == [("localhost", 2), ("127.0.0.1", 2)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("node1 slots=two\n", "slots must be a positive integer"),
        ("node1 slots=0\n", "slots must be a positive integer"),
        ("node1 gpus=2\n", "expected '<host> slots=<n>'"),
        ("# nothing\n", "lists no hosts"),
        ("a slots=1\na slots=1\n", "listed twice"),
    ],
)
def test_bad_hostfiles(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "hosts"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        parse_hostfile(path)


def test_topology_from_hostfile(tmp_path: Path) -> None:
    path = tmp_path / "hosts"
    path.write_text("localhost slots=2\nno-such-host.invalid slots=2\n")
    with pytest.raises(ConfigError, match="does not resolve"):
        resolve_topology(TrainConfig(hostfile=path))
    path.write_text("localhost slots=3\n127.0.0.2 slots=3\n")
    topo = resolve_topology(TrainConfig(hostfile=path))
    assert (topo.nnodes, topo.nproc_per_node, topo.node_rank, topo.master_addr, topo.world_size) == (2, 3, 0, "localhost", 6)
    topo = resolve_topology(TrainConfig(hostfile=path, node_rank=1, master_port=1234))
    assert topo.node_rank == 1 and topo.master_port == 1234


def test_multi_node_needs_a_master() -> None:
    with pytest.raises(ConfigError, match="needs --master-addr"):
        resolve_topology(TrainConfig(nnodes=2, node_rank=0))
    with pytest.raises(ConfigError, match="out of range"):
        resolve_topology(TrainConfig(nnodes=2, node_rank=2, master_addr="localhost"))


def test_torchrun_command(tmp_path: Path) -> None:
    single = torchrun_command(Topology(1, 2, 0, None, None), tmp_path / "c.yaml", tmp_path / "logs", 30)
    assert single[:3] == [sys.executable, "-m", "torch.distributed.run"]
    assert "--standalone" in single and single[single.index("--nproc-per-node") + 1] == "2"
    assert single[-4:] == ["-m", "msvg_bench.train_worker", "--config", str(tmp_path / "c.yaml")]
    multi = torchrun_command(Topology(2, 4, 1, "10.0.0.1", 29501), tmp_path / "c.yaml", tmp_path / "logs", 30)
    for flag, value in (("--nnodes", "2"), ("--node-rank", "1"), ("--master-addr", "10.0.0.1"), ("--master-port", "29501"), ("--rdzv-conf", "timeout=30")):
        assert multi[multi.index(flag) + 1] == value
    assert "--standalone" not in multi


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_master_fails_within_the_bound() -> None:
    start = time.monotonic()
    with pytest.raises(LaunchError, match="cannot reach the master 127.0.0.1"):
        check_master(Topology(2, 1, 1, "127.0.0.1", _free_port()), timeout_s=1.5)
    assert time.monotonic() - start < 10


def test_master_port_in_use_on_node_zero() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(LaunchError, match="already in use"):
            check_master(Topology(2, 1, 0, "127.0.0.1", port), timeout_s=1)


def test_failure_message_prefers_worker_errors(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "launcher.log"
    log.parent.mkdir()
    log.write_text("noise\ntorch.distributed.elastic.multiprocessing.errors.ChildFailedError: boom\n")
    assert "ChildFailedError: boom" in failure_message(tmp_path, 1, log)
    (tmp_path / "logs" / "error_rank1.txt").write_text("data/x: missing\n")
    assert failure_message(tmp_path, 1, log).startswith("data/x: missing (rank 1;")
    log.write_text(
        "Root Cause (first observed failure):\n[0]:\n  time      : 2026\n  host      : h\n"
        "  rank      : 0 (local_rank: 0)\n  exitcode  : -9 (pid: 12)  (SIGKILL)\n"
    )
    assert failure_message(tmp_path, 1, log).startswith("worker rank 0 died (SIGKILL)")


def _torchrun_report(log: Path, failures: dict[int, tuple[int, int]]) -> None:
    """Write torchrun's own failure report (rank -> (exit code, timestamp)) into the launcher log."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError, ProcessFailure

    found = {}
    for rank, (code, stamp) in failures.items():
        found[rank] = ProcessFailure(local_rank=rank, pid=100 + rank, exitcode=code, error_file="<N/A>")
        found[rank].timestamp = stamp
    log.write_text(f"noise\n{ChildFailedError('worker.py', found)}\n")


def test_the_failing_rank_is_reported_not_the_peer_it_took_down(tmp_path: Path) -> None:
    """torchrun orders failures by whole seconds and lists the ranks it stopped itself (SIGTERM, or SIGKILL
    after 30 s): the rank killed from outside is the cause, a real error is not blamed on a stopped peer.
    The reports are torch's own rendering (`ChildFailedError`)."""
    logs = tmp_path / "logs"
    logs.mkdir()
    log, t = logs / "launcher.log", 1_700_000_000
    (logs / "error_rank0.txt").write_text("RuntimeError: gloo Read error: Connection reset by peer\n")
    # rank 1 SIGKILLed; rank 0's broken connection in the same second is torchrun's "root cause"
    _torchrun_report(log, {0: (1, t), 1: (-9, t)})
    assert "rank      : 0" in log.read_text().split("Root Cause")[1]
    assert failure_message(tmp_path, 1, log).startswith("worker rank 1 died (SIGKILL); the other ranks were stopped")
    # rank 0 fails on its own; torchrun stops rank 1 (SIGTERM) and lists it too
    (logs / "error_rank0.txt").write_text("ValueError: data/x: missing\n")
    _torchrun_report(log, {0: (1, t), 1: (-15, t)})
    assert failure_message(tmp_path, 1, log).startswith("ValueError: data/x: missing (rank 0;")
    # ... and rank 1 ignored the SIGTERM, so torchrun SIGKILLed it 30 s later
    _torchrun_report(log, {0: (1, t), 1: (-9, t + 31)})
    assert failure_message(tmp_path, 1, log).startswith("ValueError: data/x: missing (rank 0;")
    # rank 1 SIGKILLed first and reported as the root cause, rank 0 stopped by torchrun
    (logs / "error_rank0.txt").unlink()
    _torchrun_report(log, {0: (-15, t + 1), 1: (-9, t)})
    assert failure_message(tmp_path, 1, log).startswith("worker rank 1 died (SIGKILL)")


def test_trainable_patterns_freeze_in_place() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    counts = apply_trainable_patterns(model, [r"^1\."])
    assert [p.requires_grad for p in model.parameters()] == [False, False, True, True]
    assert (counts.trainable, counts.frozen, counts.trainable_tensors, counts.frozen_tensors) == (10, 16, 2, 2)
    with pytest.raises(ConfigError, match="match no parameter"):
        apply_trainable_patterns(model, [r"^1\.", r"^decoder\."])
    with pytest.raises(ConfigError, match="invalid regex"):
        apply_trainable_patterns(model, ["("])
