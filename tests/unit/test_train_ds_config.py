"""DeepSpeed configs generated from TrainConfig: explicit values, consistent batch sizes, valid combinations."""

from __future__ import annotations

import json

import pytest
from msvg_bench.core.errors import ConfigError
from msvg_bench.launch.config import TrainConfig
from msvg_bench.launch.ds_config import build_ds_config, validate_ds_config


def _all_values(node, prefix=""):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _all_values(value, f"{prefix}{key}.")
    else:
        yield prefix.rstrip("."), node


@pytest.mark.parametrize(("zero", "offload"), [(0, "none"), (2, "none"), (2, "optimizer"), (3, "none"), (3, "optimizer"), (3, "full")])
def test_every_combination_is_explicit_and_consistent(zero: int, offload: str) -> None:
    train = TrainConfig(zero=zero, offload=offload, micro_batch=3, grad_accum=2, lr=1e-3, grad_clip=0.5)
    cfg = build_ds_config(train, world_size=4, device="cpu")
    assert not [k for k, v in _all_values(cfg) if v == "auto"]
    assert cfg["train_batch_size"] == 3 * 2 * 4
    assert cfg["train_micro_batch_size_per_gpu"] == 3 and cfg["gradient_accumulation_steps"] == 2
    assert cfg["zero_optimization"]["stage"] == zero
    assert cfg["gradient_clipping"] == 0.5
    assert cfg["optimizer"]["type"] == "AdamW" and cfg["optimizer"]["params"]["lr"] == 1e-3
    assert cfg["optimizer"]["params"]["torch_adam"] is True  # CPU: torch's AdamW
    assert cfg["bf16"]["enabled"] is False  # fp32 on CPU
    zero_cfg = cfg["zero_optimization"]
    assert ("offload_optimizer" in zero_cfg) == (offload in ("optimizer", "full"))
    assert ("offload_param" in zero_cfg) == (offload == "full")
    # JSON round trip keeps it identical (no tuples, no duplicate keys possible in a dict)
    assert json.loads(json.dumps(cfg)) == cfg


def test_gpu_config_uses_bf16_and_cpu_adam_when_it_builds() -> None:
    train = TrainConfig(zero=2, offload="optimizer")
    cfg = build_ds_config(train, world_size=8, device="cuda", cpu_adam=True)
    assert cfg["bf16"]["enabled"] is True
    assert "torch_adam" not in cfg["optimizer"]["params"]
    assert cfg["zero_optimization"]["offload_optimizer"]["pin_memory"] is True
    fallback = build_ds_config(train, world_size=8, device="cuda", cpu_adam=False)
    assert fallback["optimizer"]["params"]["torch_adam"] is True
    assert fallback["zero_force_ds_cpu_optimizer"] is False


def test_invalid_offload_combinations_are_rejected() -> None:
    with pytest.raises(ValueError, match="needs ZeRO stage 2 or 3"):
        TrainConfig(zero=0, offload="optimizer")
    with pytest.raises(ValueError, match="needs ZeRO stage 3"):
        TrainConfig(zero=2, offload="full")


def test_validate_rejects_auto_and_bad_batch_triple() -> None:
    with pytest.raises(ConfigError, match="zero_optimization.reduce_bucket_size"):
        validate_ds_config({"zero_optimization": {"reduce_bucket_size": "auto"}})
    with pytest.raises(ConfigError, match="not a multiple"):
        validate_ds_config({"train_batch_size": 7, "train_micro_batch_size_per_gpu": 2, "gradient_accumulation_steps": 1})


def test_precision_follows_model_dtype_on_any_device() -> None:
    from msvg_bench.launch.trainer import training_bf16

    train = TrainConfig(zero=2)
    assert training_bf16("bf16") is True and training_bf16("fp32") is False
    with pytest.raises(ConfigError, match="fp16"):
        training_bf16("fp16")
    cpu_bf16 = build_ds_config(train, world_size=2, device="cpu", bf16=training_bf16("bf16"))
    assert cpu_bf16["bf16"]["enabled"] is True and cpu_bf16["optimizer"]["params"]["torch_adam"] is True
    assert build_ds_config(train, world_size=2, device="cuda", bf16=False)["bf16"]["enabled"] is False


def test_training_run_name_says_what_it_is() -> None:
    from msvg_bench.launch.train_loop import train_run_name

    run_id = "0123456789abcdef0123456789abcdef"
    assert train_run_name("joint", 2, "none", "tiny", run_id) == "train joint zero2 tiny 01234567"
    assert train_run_name("extractor", 3, "full", "cogvideox-2b", run_id) == "train extractor zero3+offload-full cogvideox-2b 01234567"
