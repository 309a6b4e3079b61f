"""Per-module learning rates: parameter groups from regex multipliers, and a history gate that opens
at a fine-tuning learning rate only when the new modules get their own, larger one."""

from __future__ import annotations

import pytest
import torch
from msvg_bench.config import resolve_config
from msvg_bench.core.errors import ConfigError
from msvg_bench.launch.recipe_model import JointRecipe
from msvg_bench.launch.trainable import parameter_groups


def test_groups_follow_the_first_matching_pattern_and_reject_unused_ones() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 2), torch.nn.Linear(2, 2))
    model[2].requires_grad_(False)
    groups = parameter_groups(model, 0.1, {r"^1\.": 5.0, r"weight": 2.0})
    by_name = {g["name"]: g for g in groups}
    assert by_name["base"]["lr"] == pytest.approx(0.1) and len(by_name["base"]["params"]) == 1  # 0.bias
    assert by_name[r"^1\."]["lr"] == pytest.approx(0.5) and len(by_name[r"^1\."]["params"]) == 2
    assert by_name["weight"]["lr"] == pytest.approx(0.2) and by_name["weight"]["params"] == [model[0].weight]
    with pytest.raises(ConfigError, match="match no trainable parameter"):
        parameter_groups(model, 0.1, {r"^2\.": 3.0})  # only frozen parameters
    with pytest.raises(ConfigError, match="must be > 0"):
        parameter_groups(model, 0.1, {r"^1\.": 0.0})


def _train_gate(multiplier: float, steps: int = 12) -> tuple[float, float]:
    """Train the tiny stage-2 module at the 2b preset's lr (2e-5); return (mean |gate|, mean |eps(H) - eps(H0)|)."""
    from msvg_bench.models.components import load_components
    from msvg_bench.models.multiscene import Stage2Module, build_decoupler

    cfg = resolve_config(flags={"preset": "tiny", "train.lr": 2e-5, "train.new_module_lr_multiplier": multiplier}).training().setup
    comps = load_components(cfg.model, parts=("transformer", "scheduler"))
    module = Stage2Module(comps.transformer, build_decoupler(cfg.model), comps.scheduler, cfg.model).train()
    for name, param in module.named_parameters():
        param.requires_grad_(name.startswith("decoupler.") or "history_" in name)
    groups = parameter_groups(module, cfg.train.lr, JointRecipe().default_lr_multipliers(cfg))
    optimizer = torch.optim.AdamW(groups, lr=cfg.train.lr, betas=(0.9, 0.95), weight_decay=1e-4)
    g = torch.Generator().manual_seed(0)
    latents = torch.randn(2, 4, 3, 2, 2, generator=g)
    prompt = torch.randn(2, 16, 32, generator=g)
    features = torch.randn(2, 16, 512, generator=g)
    batch = {"latents": latents, "prompt_embeds": prompt, "negative_prompt_embeds": torch.zeros(1, 16, 32),
             "history_features": features, "null_history_features": torch.zeros_like(features)}
    for step in range(steps):
        loss = module(batch, torch.Generator().manual_seed(step))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    gates = [p.detach().abs().mean() for n, p in module.named_parameters() if n.endswith("history_gate")]
    module.eval()
    with torch.no_grad():
        from msvg_bench.models.multiscene import history_tokens

        noisy = torch.randn(2, 3, 4, 2, 2, generator=g)
        t = torch.full((2,), 500)
        eps_h = module.transformer(noisy, prompt, t, history_hidden_states=history_tokens(module.decoupler, prompt, features),
                                   return_dict=False)[0]
        eps_0 = module.transformer(noisy, prompt, t, history_hidden_states=history_tokens(module.decoupler, prompt, 0 * features),
                                   return_dict=False)[0]
    return float(sum(gates) / len(gates)), float((eps_h - eps_0).abs().mean())


def test_history_gate_opens_at_the_preset_learning_rate_with_the_new_module_multiplier() -> None:
    cfg = resolve_config(flags={"preset": "cogvideox-2b"})
    assert cfg.train.lr == 2e-5 and cfg.train.new_module_lr_multiplier == 50.0
    gate_1, effect_1 = _train_gate(1.0)
    gate_50, effect_50 = _train_gate(50.0)
    # Adam moves a weight by about lr per step: 12 steps at 2e-5 leave the gate near 2.4e-4,
    # at 1e-3 near 1.2e-2
    assert gate_1 < 3e-4
    assert 5e-3 < gate_50 < 1.3e-2
    assert gate_50 > 25 * gate_1
    assert effect_50 > 25 * effect_1
