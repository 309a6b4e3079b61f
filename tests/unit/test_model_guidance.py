"""History guidance (3 branches, one batched forward per step), dynamic CFG, per-scene seeds."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
from msvg_bench.config import resolve_config
from msvg_bench.core.seeding import scene_seed
from msvg_bench.models.guidance import dynamic_factor, guidance_scales
from msvg_bench.models.history import encode_scene_texts
from msvg_bench.models.pipelines import StoryGenerator, StoryState
from msvg_bench.models.sampler import initial_noise

PROMPTS = ["Actor 1 is running on the playground.", "Actor 2 is running on the playground."]


class RecordingScheduler:
    """Scheduler stand-in: fixed timesteps, identity scaling, records what `step` receives."""

    def __init__(self) -> None:
        self.timesteps = torch.tensor([900, 600, 300, 100])
        self.init_noise_sigma = 1.0
        self.received: list[torch.Tensor] = []

    def set_timesteps(self, n: int, device: object = None) -> None:
        self.timesteps = torch.linspace(900, 100, n).long()

    def scale_model_input(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return x

    def step(self, out, t, sample, eta=0.0, generator=None, return_dict=False):
        RecordingScheduler.log.append(out.clone())
        return (sample,)

    log: list[torch.Tensor] = []


class MockTransformer(torch.nn.Module):
    """Output per item = 1*mean(text) + 7*mean(history) + 0.5*mean(latents), broadcast; counts calls."""

    def __init__(self) -> None:
        super().__init__()
        self.config = SimpleNamespace(in_channels=4)
        self.calls: list[dict[str, torch.Tensor | None]] = []

    @staticmethod
    def value(latents, text, history):
        h = history.mean(dim=(1, 2)) if history is not None else torch.zeros(text.shape[0])
        return text.mean(dim=(1, 2)) + 7.0 * h + 0.5 * latents.mean(dim=(1, 2, 3, 4))

    def forward(self, latents, text, t, history_hidden_states=None, return_dict=True):
        self.calls.append({"latents": latents.clone(), "text": text.clone(), "history": history_hidden_states})
        v = self.value(latents, text, history_hidden_states)
        return (v[:, None, None, None, None].expand_as(latents).clone(),)


@pytest.fixture(scope="module")
def generator():
    cfg = resolve_config(overrides=["generate.num_inference_steps=4"])
    gen = StoryGenerator(cfg.generation())
    torch.manual_seed(3)
    with torch.no_grad():
        torch.nn.init.normal_(gen.decoupler.out.weight)  # make H differ from H0
    gen.components.transformer = MockTransformer()
    gen.components.scheduler = RecordingScheduler()
    return gen


def _run_scene(gen, index, w1, w2, dynamic, seed=11):
    gen.cfg.generate.guidance_scale = w1
    gen.cfg.generate.method_settings = {"msvg": {"history_guidance_scale": w2}}
    gen.cfg.generate.use_dynamic_cfg = dynamic
    texts = encode_scene_texts(gen.components, PROMPTS)
    negative = encode_scene_texts(gen.components, [""])[0].embeds[None]
    state = StoryState()
    if index == 1:
        state.texts.append(texts[0])
        state.frame_embeds.append(torch.nn.functional.normalize(torch.randn(9, 512), dim=-1))
    gen.components.transformer.calls.clear()
    RecordingScheduler.log.clear()
    gen.scene_latents("msvg", index, texts[index], negative, state, seed)
    return texts[index].embeds[None], negative, state


def test_history_guidance_combines_three_branches_in_one_forward_per_step(generator) -> None:
    positive, negative, state = _run_scene(generator, 1, w1=6.0, w2=3.0, dynamic=False)
    calls = generator.components.transformer.calls
    assert len(calls) == 4 and len(RecordingScheduler.log) == 4  # one batched forward per step
    hist, hist0 = generator.history_tokens(encode_scene_texts(generator.components, PROMPTS)[1], state)
    for call, guided in zip(calls, RecordingScheduler.log):
        assert call["latents"].shape[0] == 3
        assert torch.equal(call["text"][0], negative[0]) and torch.equal(call["text"][1], positive[0])
        assert torch.equal(call["text"][2], positive[0])
        assert torch.allclose(call["history"][0], hist[0]) and torch.allclose(call["history"][1], hist[0])
        assert torch.allclose(call["history"][2], hist0[0]) and not torch.allclose(hist, hist0)
        v = MockTransformer.value(call["latents"], call["text"], call["history"])
        e_neg_h, e_pos_h, e_pos_h0 = v.tolist()
        expected = e_neg_h + 6.0 * (e_pos_h - e_neg_h) + 3.0 * (e_pos_h - e_pos_h0)
        assert guided.shape == call["latents"][:1].shape
        assert torch.allclose(guided, torch.full_like(guided, expected), atol=1e-5)


def test_first_scene_runs_two_branches(generator) -> None:
    positive, negative, _ = _run_scene(generator, 0, w1=6.0, w2=3.0, dynamic=False)
    calls = generator.components.transformer.calls
    assert len(calls) == 4
    for call, guided in zip(calls, RecordingScheduler.log):
        assert call["latents"].shape[0] == 2
        assert torch.equal(call["history"][0], call["history"][1])
        e_neg, e_pos = MockTransformer.value(call["latents"], call["text"], call["history"]).tolist()
        assert torch.allclose(guided, torch.full_like(guided, e_neg + 6.0 * (e_pos - e_neg)), atol=1e-5)


def test_dynamic_cfg_follows_the_step_index(generator) -> None:
    _run_scene(generator, 1, w1=6.0, w2=3.0, dynamic=True)
    calls = generator.components.transformer.calls
    for index, (call, guided) in enumerate(zip(calls, RecordingScheduler.log)):
        f = (1 - math.cos(math.pi * (index / 3) ** 5)) / 2
        w1, w2 = 1 + 6.0 * f, 3.0 * f
        e_neg_h, e_pos_h, e_pos_h0 = MockTransformer.value(call["latents"], call["text"], call["history"]).tolist()
        expected = e_neg_h + w1 * (e_pos_h - e_neg_h) + w2 * (e_pos_h - e_pos_h0)
        assert torch.allclose(guided, torch.full_like(guided, expected), atol=1e-5)
    assert dynamic_factor(0, 50) == 0.0 and dynamic_factor(49, 50) == pytest.approx(1.0)
    assert guidance_scales(6.0, 3.0, 0, 50, True) == (1.0, 0.0)
    assert guidance_scales(6.0, 3.0, 10, 50, False) == (6.0, 3.0)


def test_scene_seeds(generator) -> None:
    _run_scene(generator, 0, 6.0, 3.0, False, seed=5)
    first = generator.components.transformer.calls[0]["latents"][0]
    _run_scene(generator, 0, 6.0, 3.0, False, seed=5)
    again = generator.components.transformer.calls[0]["latents"][0]
    _run_scene(generator, 1, 6.0, 3.0, False, seed=5)
    second_scene = generator.components.transformer.calls[0]["latents"][0]
    assert torch.equal(first, again)
    assert not torch.allclose(first, second_scene)
    shape = (1, 3, 4, 2, 2)
    assert torch.equal(first[None], initial_noise(shape, scene_seed(5, 0), torch.device("cpu"), torch.float32))
    assert torch.equal(second_scene[None], initial_noise(shape, scene_seed(5, 1), torch.device("cpu"), torch.float32))
