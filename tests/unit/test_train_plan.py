"""`plan`: DeepSpeed-estimator model states, the activation formula, and the largest micro-batch."""

from __future__ import annotations

import json

import pytest
from msvg_bench.launch.plan import (
    GIB,
    ModelShape,
    activation_bytes_per_sample,
    model_states_bytes,
    plan,
    video_tokens,
)

SHAPE = ModelShape(
    name="toy",
    trainable_params=1_000_000_000,
    frozen_params=100_000_000,
    largest_layer_params=50_000_000,
    num_layers=30,
    hidden=1920,
    text_tokens=226,
    history_tokens=226,
    latent_channels=16,
    patch=2,
    temporal_compression=4,
)


def test_video_tokens_of_cogvideox_geometry() -> None:
    assert video_tokens(SHAPE, 49, 480, 720) == 13 * 30 * 45 == 17_550


def test_model_states_match_the_zero_formulas() -> None:
    p, f, n = SHAPE.trainable_params, SHAPE.frozen_params, 8
    # ZeRO-2: 2 bytes bf16 weights on every GPU + 18 bytes of grads/master/Adam split over N GPUs
    assert model_states_bytes(SHAPE, 2, "none", n, 1)[1] == 2 * p + int(18 * p / n) + 2 * f
    assert model_states_bytes(SHAPE, 2, "optimizer", n, 1)[1] == 2 * p + 2 * f
    assert model_states_bytes(SHAPE, 0, "none", n, 1)[1] == 20 * p + 2 * f
    largest = 4 * SHAPE.largest_layer_params
    assert model_states_bytes(SHAPE, 3, "none", n, 1)[1] == largest + int(18 * p / n) + -(-2 * f // n)
    assert model_states_bytes(SHAPE, 3, "optimizer", n, 1)[1] == largest + int(2 * p / n) + -(-2 * f // n)
    assert model_states_bytes(SHAPE, 3, "full", n, 1)[1] == largest


def test_activation_formula_by_hand() -> None:
    s = 17_550 + 226 + 226
    expected = 30 * s * 1920 * 2 + 34 * s * 1920 + 17_550 * 16 * 4 * 4 * 3
    assert activation_bytes_per_sample(SHAPE, 49, 480, 720) == expected


def test_offload_never_shrinks_the_micro_batch() -> None:
    rows = {(r.zero, r.offload): r for r in plan(SHAPE, gpus=8, nodes=1, gpu_mem_gb=48, frames=49, height=480, width=720)}
    assert rows[(2, "optimizer")].max_micro_batch >= rows[(2, "none")].max_micro_batch
    assert rows[(3, "full")].max_micro_batch >= rows[(3, "optimizer")].max_micro_batch >= rows[(3, "none")].max_micro_batch
    r = rows[(2, "none")]
    assert r.max_micro_batch == int((48 * GIB - 2 * GIB - r.model_states_gb * GIB) // (r.activation_gb_per_sample * GIB))
    tiny = plan(SHAPE, gpus=1, nodes=1, gpu_mem_gb=4, frames=49, height=480, width=720)
    assert tiny[0].max_micro_batch == 0  # ZeRO-0 does not fit at all


@pytest.mark.timeout(120)
@pytest.mark.slow
def test_plan_cli_for_cogvideox_2b(capsys: pytest.CaptureFixture[str]) -> None:
    from msvg_bench.cli import main

    assert main(["plan", "--preset", "cogvideox-2b", "--gpus", "8", "--gpu-mem-gb", "48",
                 "--frames", "49", "--height", "480", "--width", "720", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    # CogVideoX-2b + history weights (projection, adaLN expert) + decoupler, all trainable in the 2b preset
    assert data["model"]["trainable_params"] == 1_693_783_872 + 185_159_940 + 7_356_416
    assert data["model"]["frozen_params"] == 0 and data["model"]["history_tokens"] == 226
    assert {(r["zero"], r["offload"]) for r in data["rows"]} == {(0, "none"), (2, "none"), (2, "optimizer"), (3, "none"), (3, "optimizer"), (3, "full")}
    assert all(r["max_micro_batch"] >= 1 for r in data["rows"] if r["zero"] > 0)


def test_plain_cogvideox_2b_count_on_the_meta_device() -> None:
    from msvg_bench.launch.plan import family_shape

    shape = family_shape(history_tokens=0)
    assert shape.trainable_params == 1_693_783_872 and shape.frozen_params == 0
    assert (shape.num_layers, shape.hidden, shape.text_tokens, shape.latent_channels, shape.patch) == (30, 1920, 226, 16, 2)
