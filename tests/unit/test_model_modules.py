"""Text filter, feature extractor (stage 1), decoupler and the stage-2 objective."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from msvg_bench.config import resolve_config
from msvg_bench.models.components import load_components
from msvg_bench.models.decoupler import Decoupler
from msvg_bench.models.extractor import matched_cosine_loss, teacher_targets
from msvg_bench.models.history import (
    collate_history,
    encode_scene_texts,
    history_sample,
)
from msvg_bench.models.multiscene import (
    Stage1Module,
    Stage2Module,
    build_decoupler,
    build_extractor,
    history_features,
    set_trainable,
    trainable_parameter_names,
)

STORY = [
    "Actor 1 is running on the playground.",
    "Actor 2 is skiing on the snow.",
    "Actor 2 is running on the playground.",
]


@pytest.fixture(scope="module")
def cfg():
    return resolve_config().model


@pytest.fixture(scope="module")
def comps(cfg):
    return load_components(cfg, parts=("tokenizer", "text_encoder", "transformer", "scheduler"))


def _tokens(comps, text, kept_scene, kept_pos, scene):
    ids = comps.tokenizer(STORY[scene])["input_ids"]
    return [comps.tokenizer.convert_ids_to_tokens(ids[int(p)]) for s, p in zip(kept_scene, kept_pos) if int(s) == scene]


def test_text_filter_keeps_the_relevant_words(cfg, comps) -> None:
    texts = encode_scene_texts(comps, STORY)
    sample = history_sample(texts[2], texts[:2], [torch.randn(5, 512), torch.randn(5, 512)], cfg)
    from_scene_1 = _tokens(comps, texts, sample.kept.scene, sample.kept.position, 0)
    from_scene_2 = _tokens(comps, texts, sample.kept.scene, sample.kept.position, 1)
    assert "playground" in from_scene_1 and "running" in from_scene_1
    assert "2" in from_scene_2 and "actor" in from_scene_2
    assert "1" not in from_scene_1
    assert "skiing" not in from_scene_2 and "snow" not in from_scene_2
    assert all(t not in ("<pad>", "</s>") for t in from_scene_1 + from_scene_2)
    # content words only: no function word or punctuation from either past prompt
    assert not {"is", "on", "the", "."} & set(from_scene_1 + from_scene_2)
    # the cap keeps the best-matching tokens only, and is deterministic
    capped = history_sample(texts[2], texts[:2], [torch.randn(5, 512)] * 2, cfg.model_copy(update={"max_history_tokens": 3}))
    again = history_sample(texts[2], texts[:2], [torch.randn(5, 512)] * 2, cfg.model_copy(update={"max_history_tokens": 3}))
    assert len(capped.kept) == 3
    assert torch.equal(capped.kept.position, again.kept.position) and torch.equal(capped.kept.scene, again.kept.scene)


def test_text_filter_cap_keeps_content_for_the_brief_prompt(cfg, comps) -> None:
    """The brief's third prompt with a cap of 5: 'playground' and '2' survive, stop words never fill the cap."""
    texts = encode_scene_texts(comps, STORY)
    sample = history_sample(texts[2], texts[:2], [torch.randn(5, 512)] * 2, cfg.model_copy(update={"max_history_tokens": 5}))
    kept = _tokens(comps, texts, sample.kept.scene, sample.kept.position, 0) + _tokens(
        comps, texts, sample.kept.scene, sample.kept.position, 1
    )
    assert "playground" in kept and "2" in kept and "running" in kept
    assert sorted(kept) == sorted(["actor", "running", "playground", "actor", "2"])


def test_content_token_mask_on_sentencepiece_style_tokens() -> None:
    from msvg_bench.models.text_filter import is_content_token

    assert [is_content_token(t) for t in ["\u2581the", "\u2581Playground", ",", "\u25812", "\u2581", "\u2581is", "skiing"]] == [
        False, True, False, True, False, False, True,
    ]


def _stage1_batch(comps, cfg, seed=0):
    g = torch.Generator().manual_seed(seed)
    texts = encode_scene_texts(comps, STORY)
    frames = [torch.nn.functional.normalize(torch.randn(6, 512, generator=g), dim=-1) for _ in STORY]
    samples = [history_sample(texts[i], texts[:i], frames[:i], cfg) for i in (1, 2)]
    batch = collate_history(samples, clip_dim=512)
    current = torch.stack([frames[1], frames[2]])
    return batch, current, torch.ones(2, 6, dtype=torch.bool)


def test_stage1_constant_predictor_scores_worse_and_teacher_is_frozen(cfg, comps) -> None:
    extractor = build_extractor(cfg)
    batch, frames, valid = _stage1_batch(comps, cfg)
    target = teacher_targets(extractor.teacher, batch.current_text, frames, valid)
    matching = matched_cosine_loss(target.clone(), target, batch.current_valid)
    best_constant = target[batch.current_valid].mean(0).expand_as(target)
    constant = matched_cosine_loss(best_constant, target, batch.current_valid)
    assert matching.item() < 1e-5
    assert constant.item() > matching.item() + 1e-3
    # independent computation of the matched loss for one token
    b, l = torch.nonzero(batch.current_valid)[0].tolist()
    expected = 1 - torch.dot(best_constant[b, l], target[b, l]) / (best_constant[b, l].norm() * target[b, l].norm())
    per_token = 1 - torch.nn.functional.cosine_similarity(best_constant, target, dim=-1)
    assert torch.allclose(per_token[b, l], expected, atol=1e-6)

    module = Stage1Module(extractor)
    params = set_trainable(module, stage=1)
    assert params and not any(n.startswith("extractor.teacher.") for n in trainable_parameter_names(module, 1))
    before = {n: p.clone() for n, p in extractor.teacher.named_parameters()}
    optimizer = torch.optim.Adam(params, lr=3e-3)
    losses = []
    for _ in range(25):
        optimizer.zero_grad()
        loss = module(batch, frames, valid)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert all(p.grad is None for p in extractor.teacher.parameters())
    assert all(torch.equal(before[n], p) for n, p in extractor.teacher.named_parameters())
    assert losses[-1] < losses[0]


def test_extractor_reads_scene_offsets_and_past_frames(cfg, comps) -> None:
    extractor = build_extractor(cfg).eval()
    batch, _, _ = _stage1_batch(comps, cfg)
    with torch.no_grad():
        out = extractor(batch)
        shifted = extractor(type(batch)(**{**batch.__dict__, "past_offset": batch.past_offset + 1}))
        other_frames = extractor(type(batch)(**{**batch.__dict__, "past_frames": batch.past_frames.flip(2)[..., torch.randperm(512)]}))
    assert out.shape == (2, batch.current_text.shape[1], 512)
    assert (out - shifted).abs().max() > 1e-5
    assert (out - other_frames).abs().max() > 1e-5


def test_decoupler_batch_of_three_equals_each_item_alone() -> None:
    torch.manual_seed(0)
    dec = Decoupler(32, 512, 32, 4).eval()
    text, feats = torch.randn(3, 16, 32), torch.randn(3, 16, 512)
    with torch.no_grad():
        assert dec(text, feats).abs().max() == 0  # zero-initialised output projection
        torch.nn.init.normal_(dec.out.weight)
        torch.nn.init.normal_(dec.out.bias)
        batched = dec(text, feats)
        single = torch.cat([dec(text[i : i + 1], feats[i : i + 1]) for i in range(3)])
        changed = feats.clone()
        changed[2] = torch.randn(16, 512)
        moved = dec(text, changed)
    assert (batched - single).abs().max() <= 1e-6
    assert torch.equal(moved[:2], batched[:2]) and (moved[2] - batched[2]).abs().max() > 1e-4
    # the text matters at batch 1 as well
    with torch.no_grad():
        assert (dec(text[:1], feats[:1]) - dec(text[1:2], feats[:1])).abs().max() > 1e-4


def _stage2_batch(comps, cfg, seed=0):
    g = torch.Generator().manual_seed(seed)
    texts = encode_scene_texts(comps, STORY[:2])
    prompt = torch.stack([t.embeds for t in texts])
    negative = encode_scene_texts(comps, [""])[0].embeds[None]
    return {
        "latents": torch.randn(2, 4, 3, 2, 2, generator=g),
        "prompt_embeds": prompt,
        "negative_prompt_embeds": negative,
        "history_features": torch.randn(2, 16, 512, generator=g),
        "null_history_features": torch.randn(2, 16, 512, generator=g),
    }


def test_stage2_loss_trains_new_weights_and_applies_history_dropout(cfg, comps) -> None:
    transformer = type(comps.transformer).from_base_config(comps.transformer.config)
    transformer.load_state_dict(comps.transformer.state_dict())
    decoupler = build_decoupler(cfg)
    module = Stage2Module(transformer, decoupler, comps.scheduler, cfg)
    params = set_trainable(module, stage=2, train_base_transformer=False)
    names = trainable_parameter_names(module, 2, train_base_transformer=False)
    assert names and all(n.startswith("decoupler.") or "history_" in n for n in names)
    assert len(params) == len(names)
    batch = _stage2_batch(comps, cfg)
    loss = module(batch, generator=torch.Generator().manual_seed(0))
    loss.backward()
    assert torch.isfinite(loss)
    gate_grads = [b.attn1.processor.history_gate.grad for b in transformer.transformer_blocks]
    assert all(g is not None and g.abs().sum() > 0 for g in gate_grads)

    with torch.no_grad():  # open the history path so features matter
        for b in transformer.transformer_blocks:
            b.attn1.processor.history_gate.fill_(1.0)
        torch.nn.init.normal_(decoupler.out.weight)

    def loss_with(features_seed: int, p_hist: float) -> float:
        features = torch.randn(batch["history_features"].shape, generator=torch.Generator().manual_seed(features_seed))
        other = dict(batch, history_features=features)
        module.history_dropout, module.text_dropout = p_hist, 0.0
        with torch.no_grad():
            return module(other, generator=torch.Generator().manual_seed(5)).item()

    assert loss_with(0, 1.0) == loss_with(1, 1.0)  # history always dropped: features unused
    assert abs(loss_with(0, 0.0) - loss_with(1, 0.0)) > 1e-5


def test_history_features_with_and_without_history_differ(cfg, comps) -> None:
    extractor = build_extractor(cfg).eval()
    batch, _, _ = _stage1_batch(comps, cfg)
    with_h, without = history_features(extractor, batch)
    assert with_h.shape == without.shape
    assert (with_h - without).abs().max() > 1e-5


def test_exported_weights_are_used_by_load(cfg, comps, tmp_path: Path) -> None:
    from msvg_bench.models.weights import export_weights

    decoupler = build_decoupler(cfg)
    extractor = build_extractor(cfg)
    with torch.no_grad():
        torch.nn.init.normal_(decoupler.out.weight)
        for b in comps.transformer.transformer_blocks:
            b.attn1.processor.history_gate.fill_(0.25)
    try:
        export_weights(
            tmp_path / "w", model_identity=comps.model_id, transformer=comps.transformer, extractor=extractor,
            decoupler=decoupler, transformer_history_only=True,
        )
    finally:
        with torch.no_grad():
            for b in comps.transformer.transformer_blocks:
                b.attn1.processor.history_gate.zero_()
    trained = cfg.model_copy(update={"weights": tmp_path / "w"})
    assert torch.equal(build_decoupler(trained).out.weight, decoupler.out.weight)
    loaded = load_components(trained, parts=("transformer",)).transformer
    assert loaded.transformer_blocks[0].attn1.processor.history_gate.eq(0.25).all()


@pytest.mark.parametrize("backbone", ["transformer", "clip-vision"])
def test_mixer_backbones_ignore_padding(cfg, comps, backbone) -> None:
    model_cfg = cfg.model_copy(update={"mixer_backbone": backbone})
    extractor = build_extractor(model_cfg).eval()
    texts = encode_scene_texts(comps, STORY)
    frames = [torch.nn.functional.normalize(torch.randn(6, 512), dim=-1) for _ in STORY]
    short = history_sample(texts[1], texts[:1], frames[:1], cfg)
    long = history_sample(texts[2], texts[:2], frames[:2], cfg)
    batch = collate_history([short, long], clip_dim=512)
    alone = collate_history([short], clip_dim=512)
    assert batch.past_valid[0].sum() < batch.past_valid.shape[1]  # the short item is padded
    with torch.no_grad():
        padded = extractor(batch)[0]
        single = extractor(alone)[0]
        noisy = extractor(type(batch)(**{**batch.__dict__, "past_text": batch.past_text + (~batch.past_valid)[..., None] * 5.0}))[0]
    assert torch.allclose(padded, single, atol=1e-5)
    assert torch.allclose(padded, noisy, atol=1e-5)
