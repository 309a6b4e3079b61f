"""The training process group on CPU starts without compiling DeepSpeed's inference-only communication op."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

SCRIPT = """
import torch
from msvg_bench.launch.config import TrainConfig
from msvg_bench.launch.trainer import init_process_group

place = init_process_group(TrainConfig(device="cpu", output_dir="{out}"))
value = torch.ones(3)
torch.distributed.all_reduce(value)
print("place", place.rank, place.world, place.device, value.tolist())
"""


def test_cpu_process_group_builds_no_shared_memory_comm_op(tmp_path: Path) -> None:
    """DeepSpeed builds `deepspeed_shm_comm` into the extensions folder in every CPU `init_distributed`
    (tens of seconds on 2 cores); training never uses it, so a fresh folder stays empty and the group works."""
    extensions = tmp_path / "torch_extensions"
    extensions.mkdir()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "TORCH_EXTENSIONS_DIR": str(extensions), "RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "1",
           "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "DS_ACCELERATOR": "cpu"}
    proc = subprocess.run([sys.executable, "-c", SCRIPT.format(out=tmp_path / "run")], capture_output=True, text=True,
                          env=env, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "place 0 1 cpu [1.0, 1.0, 1.0]" in proc.stdout
    assert "built successfully" not in proc.stdout + proc.stderr
    assert [p.name for p in extensions.rglob("*")] == []
