"""CogVideoX with history tokens: the transformer sees [text | history | video] tokens.

Built on diffusers' `CogVideoXTransformer3DModel` (a subclass: same blocks, same weights and key
names). History tokens are a third "expert" beside text and video:

- their own input projection (`history_proj`, text width -> model width);
- their own adaLN modulation in every block (`norm1.history_linear`, `norm2.history_linear`:
  shift, scale, gate from the timestep embedding, zero-initialised as in adaLN-Zero);
- shared attention projections and feed-forward with text and video.

In attention, history queries attend to every token. Text and video queries attend to
[text | video] exactly as in CogVideoX, plus a per-head gated attention over the history keys
(`attn1.processor.history_gate`, zero-initialised), computed with the same Q/K/V projections.
The gate is the only path from history into text/video, so at initialisation the model's output
equals the pretrained transformer's for any history tokens; training opens it.

With `history_hidden_states=None` the forward is the unmodified CogVideoX forward (the baselines
use it), at the same cost.

Positions. History tokens are treated like text tokens under every positional scheme: they get no
positional embedding in the transformer (neither the 2B's 3D sin-cos embedding, which the patch
embedding adds to video tokens only, nor the 5B / 1.5 3D rotary embedding, which the attention
applies to video queries and keys only, after the [text | history] tokens); where a history token
comes from is carried only by the feature extractor's scene-offset embedding. When the caller
passes no `image_rotary_emb`, a rotary transformer computes it from the latent shape and its
config exactly as diffusers' `CogVideoXPipeline` does (`msvg_bench.models.families.positional`).

Temporal patches (1.5, `patch_size_t`). Latents whose frame count is not a multiple of
`patch_size_t` are padded in front with copies of the first latent frame (as CogVideoX 1.5
fine-tuning pads its training latents), and the padded frames' predictions are dropped, so the
output always has the input's frame count (21 latent frames of an 81-frame clip in, 21 out).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from diffusers.models.attention_processor import Attention
from diffusers.models.modeling_outputs import Transformer2DModelOutput
from diffusers.models.normalization import CogVideoXLayerNormZero
from diffusers.models.transformers.cogvideox_transformer_3d import (
    CogVideoXTransformer3DModel,
)
from torch import nn

from msvg_bench.models.families.positional import rotary_embedding

HISTORY_KEY_MARKERS: tuple[str, ...] = ("history_",)
"""Substrings naming the new transformer weights (everything else is a CogVideoX weight)."""


@dataclass
class HistoryState:
    """Per-forward layout shared by the history-aware norms and attention processors."""

    text_length: int = 0
    history_length: int = 0


class HistoryLayerNormZero(CogVideoXLayerNormZero):
    """CogVideoX's adaLN-Zero norm plus a zero-initialised modulation for history tokens.

    Keeps the base module's parameter names (`linear`, `norm`), adds `history_linear`. The block
    passes `encoder_hidden_states` = [text | history]; gates come back per token.
    """

    def __init__(self, base: CogVideoXLayerNormZero, conditioning_dim: int, embedding_dim: int, state: HistoryState) -> None:
        nn.Module.__init__(self)
        self.silu = base.silu
        self.linear = base.linear
        self.norm = base.norm
        self.history_linear = nn.Linear(conditioning_dim, 3 * embedding_dim, bias=True)
        nn.init.zeros_(self.history_linear.weight)
        nn.init.zeros_(self.history_linear.bias)
        object.__setattr__(self, "_state", state)

    def forward(
        self, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor, temb: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Modulate video, text and (when present) history tokens, each with its own shift/scale/gate."""
        n_hist = self._state.history_length
        if n_hist == 0:
            return super().forward(hidden_states, encoder_hidden_states, temb)
        n_text = encoder_hidden_states.shape[1] - n_hist
        cond = self.silu(temb)
        shift, scale, gate, enc_shift, enc_scale, enc_gate = self.linear(cond).chunk(6, dim=1)
        h_shift, h_scale, h_gate = self.history_linear(cond).chunk(3, dim=1)
        hidden_states = self.norm(hidden_states) * (1 + scale)[:, None, :] + shift[:, None, :]
        text = self.norm(encoder_hidden_states[:, :n_text]) * (1 + enc_scale)[:, None, :] + enc_shift[:, None, :]
        hist = self.norm(encoder_hidden_states[:, n_text:]) * (1 + h_scale)[:, None, :] + h_shift[:, None, :]
        batch, _, dim = text.shape
        enc_gates = torch.cat(
            [enc_gate[:, None, :].expand(batch, n_text, dim), h_gate[:, None, :].expand(batch, n_hist, dim)], dim=1
        )
        return hidden_states, torch.cat([text, hist], dim=1), gate[:, None, :], enc_gates


class HistoryAttnProcessor(nn.Module):
    """CogVideoX joint attention with gated history keys (shared projections, per-head gate)."""

    def __init__(self, heads: int, state: HistoryState) -> None:
        super().__init__()
        self.history_gate = nn.Parameter(torch.zeros(heads))
        object.__setattr__(self, "_state", state)

    def __call__(  # type: ignore[override]
        self,
        attn: Attention,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        image_rotary_emb: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Explicit signature: diffusers' `Attention` passes only the keyword arguments named here."""
        return super().__call__(attn, hidden_states, encoder_hidden_states, attention_mask, image_rotary_emb)

    def forward(  # noqa: D417 - diffusers' processor signature
        self,
        attn: Attention,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        image_rotary_emb: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (video, [text | history]) attention outputs, as diffusers' CogVideoX processor does."""
        if attention_mask is not None:
            raise ValueError("CogVideoX history attention takes no attention mask")
        n_hist = self._state.history_length
        n_enc = encoder_hidden_states.size(1)
        n_text = n_enc - n_hist
        tokens = torch.cat([encoder_hidden_states, hidden_states], dim=1)
        batch, seq, _ = tokens.shape
        query, key, value = attn.to_q(tokens), attn.to_k(tokens), attn.to_v(tokens)
        head_dim = key.shape[-1] // attn.heads
        query = query.view(batch, seq, attn.heads, head_dim).transpose(1, 2)
        key = key.view(batch, seq, attn.heads, head_dim).transpose(1, 2)
        value = value.view(batch, seq, attn.heads, head_dim).transpose(1, 2)
        if attn.norm_q is not None:
            query = attn.norm_q(query)
        if attn.norm_k is not None:
            key = attn.norm_k(key)
        if image_rotary_emb is not None:
            from diffusers.models.embeddings import apply_rotary_emb

            query[:, :, n_enc:] = apply_rotary_emb(query[:, :, n_enc:], image_rotary_emb)
            key[:, :, n_enc:] = apply_rotary_emb(key[:, :, n_enc:], image_rotary_emb)
        if n_hist == 0:
            out = F.scaled_dot_product_attention(query, key, value)
        else:
            keep = torch.cat([torch.arange(n_text), torch.arange(n_enc, seq)]).to(query.device)
            hist = slice(n_text, n_enc)
            q_tv, k_tv, v_tv = query[:, :, keep], key[:, :, keep], value[:, :, keep]
            base = F.scaled_dot_product_attention(q_tv, k_tv, v_tv)
            from_history = F.scaled_dot_product_attention(q_tv, key[:, :, hist], value[:, :, hist])
            gate = self.history_gate.to(base.dtype)[None, :, None, None]
            out_tv = base + gate * from_history
            out_hist = F.scaled_dot_product_attention(query[:, :, hist], key, value)
            out = torch.cat([out_tv[:, :, :n_text], out_hist, out_tv[:, :, n_text:]], dim=2)
        out = out.transpose(1, 2).reshape(batch, seq, attn.heads * head_dim)
        out = attn.to_out[1](attn.to_out[0](out))
        encoder_out, video_out = out.split([n_enc, seq - n_enc], dim=1)
        return video_out, encoder_out


class HistoryCogVideoXTransformer3DModel(CogVideoXTransformer3DModel):
    """`CogVideoXTransformer3DModel` plus history tokens (see the module docstring).

    Same constructor arguments as the base model; `forward` takes an optional
    `history_hidden_states` of shape [B, L_hist, text_embed_dim] (the decoupler's output).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        inner_dim = self.config.num_attention_heads * self.config.attention_head_dim
        self._history_state = HistoryState()
        self._rotary_cache: dict[tuple[int, int, int, str], tuple[torch.Tensor, torch.Tensor]] = {}
        self.history_proj = nn.Linear(self.config.text_embed_dim, inner_dim, bias=True)
        for block in self.transformer_blocks:
            time_dim = block.norm1.linear.in_features
            block.norm1 = HistoryLayerNormZero(block.norm1, time_dim, inner_dim, self._history_state)
            block.norm2 = HistoryLayerNormZero(block.norm2, time_dim, inner_dim, self._history_state)
            block.attn1.set_processor(HistoryAttnProcessor(self.config.num_attention_heads, self._history_state))

    @classmethod
    def from_base_config(cls, config: dict[str, Any]) -> HistoryCogVideoXTransformer3DModel:
        """Build from a CogVideoX transformer config dict (keys the base constructor does not take are ignored)."""
        import inspect

        accepted = set(inspect.signature(CogVideoXTransformer3DModel.__init__).parameters) - {"self"}
        return cls(**{k: v for k, v in dict(config).items() if k in accepted})

    @classmethod
    def new_parameter_names(cls, model: nn.Module) -> list[str]:
        """Names of the history parameters (the weights CogVideoX checkpoints do not have)."""
        return [name for name, _ in model.named_parameters() if any(m in name for m in HISTORY_KEY_MARKERS)]

    def forward(  # type: ignore[override]
        self,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        timestep: int | float | torch.Tensor,
        history_hidden_states: torch.Tensor | None = None,
        timestep_cond: torch.Tensor | None = None,
        ofs: int | float | torch.Tensor | None = None,
        image_rotary_emb: tuple[torch.Tensor, torch.Tensor] | None = None,
        attention_kwargs: dict[str, Any] | None = None,
        return_dict: bool = True,
    ) -> tuple[torch.Tensor] | Transformer2DModelOutput:
        """Predict the model output for latents [B, T, C, h, w]; history tokens are optional.

        Rotary transformers compute `image_rotary_emb` from the (padded) latent shape when it is not
        given; temporal-patch transformers pad T to a multiple of `patch_size_t` (see the module
        docstring). The output has the input's shape.
        """
        pad = self.temporal_padding(hidden_states.shape[1])
        if pad:
            hidden_states = torch.cat([hidden_states[:, :1].expand(-1, pad, -1, -1, -1), hidden_states], dim=1)
        if image_rotary_emb is None and self.config.use_rotary_positional_embeddings:
            frames, _, height, width = hidden_states.shape[1:]
            image_rotary_emb = self.rotary_embedding(frames, height, width, hidden_states.device)
        if history_hidden_states is None:
            self._history_state.history_length = 0
            output = super().forward(
                hidden_states,
                encoder_hidden_states,
                timestep,
                timestep_cond=timestep_cond,
                ofs=ofs,
                image_rotary_emb=image_rotary_emb,
                attention_kwargs=attention_kwargs,
                return_dict=False,
            )[0]
        else:
            output = self._history_forward(
                hidden_states, encoder_hidden_states, timestep, history_hidden_states, timestep_cond, ofs,
                image_rotary_emb, attention_kwargs,
            )
        if pad:
            output = output[:, pad:]
        if not return_dict:
            return (output,)
        return Transformer2DModelOutput(sample=output)

    def temporal_padding(self, latent_frames: int) -> int:
        """Latent frames to add in front so temporal patches tile `latent_frames` (0 without temporal patches)."""
        p_t = self.config.patch_size_t
        return (-latent_frames) % p_t if p_t else 0

    def rotary_embedding(
        self, latent_frames: int, latent_height: int, latent_width: int, device: torch.device
    ) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The video tokens' 3D rotary (cos, sin) for latents of this shape (None without rotary embeddings).

        Computed as diffusers' `CogVideoXPipeline` computes them, once per shape and device.
        """
        key = (latent_frames, latent_height, latent_width, str(device))
        if key not in self._rotary_cache:
            freqs = rotary_embedding(self.config, latent_frames, latent_height, latent_width, device=device)
            if freqs is None:
                return None
            self._rotary_cache[key] = freqs
        return self._rotary_cache[key]

    def _history_forward(
        self,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        timestep: int | float | torch.Tensor,
        history_hidden_states: torch.Tensor,
        timestep_cond: torch.Tensor | None,
        ofs: int | float | torch.Tensor | None,
        image_rotary_emb: tuple[torch.Tensor, torch.Tensor] | None,
        attention_kwargs: dict[str, Any] | None,
    ) -> torch.Tensor:
        """The forward with [text | history | video] tokens; latents already padded, rotary embedding resolved."""
        batch_size, num_frames, _, height, width = hidden_states.shape
        t_emb = self.time_proj(timestep).to(dtype=hidden_states.dtype)
        emb = self.time_embedding(t_emb, timestep_cond)
        if self.ofs_embedding is not None:
            emb = emb + self.ofs_embedding(self.ofs_proj(ofs).to(dtype=hidden_states.dtype))

        tokens = self.embedding_dropout(self.patch_embed(encoder_hidden_states, hidden_states))
        n_text = encoder_hidden_states.shape[1]
        history = self.history_proj(history_hidden_states.to(tokens.dtype))
        encoder_tokens = torch.cat([tokens[:, :n_text], history], dim=1)
        video_tokens = tokens[:, n_text:]
        self._history_state.text_length = n_text
        self._history_state.history_length = history.shape[1]

        for block in self.transformer_blocks:
            if torch.is_grad_enabled() and self.gradient_checkpointing:
                video_tokens, encoder_tokens = self._gradient_checkpointing_func(
                    block, video_tokens, encoder_tokens, emb, image_rotary_emb, attention_kwargs
                )
            else:
                video_tokens, encoder_tokens = block(
                    hidden_states=video_tokens,
                    encoder_hidden_states=encoder_tokens,
                    temb=emb,
                    image_rotary_emb=image_rotary_emb,
                    attention_kwargs=attention_kwargs,
                )
        video_tokens = self.norm_final(video_tokens)
        video_tokens = self.proj_out(self.norm_out(video_tokens, temb=emb))
        return self._unpatchify(video_tokens, batch_size, num_frames, height, width)

    def _unpatchify(self, tokens: torch.Tensor, batch: int, frames: int, height: int, width: int) -> torch.Tensor:
        p, p_t = self.config.patch_size, self.config.patch_size_t
        if p_t is None:
            out = tokens.reshape(batch, frames, height // p, width // p, -1, p, p)
            return out.permute(0, 1, 4, 2, 5, 3, 6).flatten(5, 6).flatten(3, 4)
        out = tokens.reshape(batch, (frames + p_t - 1) // p_t, height // p, width // p, -1, p_t, p, p)
        return out.permute(0, 1, 5, 4, 2, 6, 3, 7).flatten(6, 7).flatten(4, 5).flatten(1, 2)
