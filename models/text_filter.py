"""Text filter: keep the tokens of past prompts that are close to the current prompt's tokens.

Deterministic: cosine similarity between token embeddings (the text encoder's input embeddings by
default, so identical tokens always match; contextual encoder outputs optionally). A past token is
kept when its best similarity to any current token reaches `threshold`; at most `cap` tokens are
kept (highest similarity first, ties to the more recent scene, then the earlier position). Special
tokens (padding, end of sequence, unknown) are never kept, and neither are function words and
punctuation (`content_token_mask`): a token is content unless its text, with the tokenizer's
word-boundary marks (SentencePiece's "▁", byte-level BPE's "Ġ") removed and lower-cased, is empty,
made of punctuation only, or one of `STOP_WORDS`. Numbers are content ("Actor 2" keeps its "2").
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class KeptTokens:
    """Past-prompt tokens kept for the current scene, ordered by (scene, position)."""

    scene: torch.Tensor  # long [K]: index of the past scene in the history list
    position: torch.Tensor  # long [K]: token position inside that scene's prompt
    score: torch.Tensor  # float [K]: best cosine similarity to a current token

    def __len__(self) -> int:
        return int(self.scene.numel())


def select_history_tokens(
    current: torch.Tensor,
    current_valid: torch.Tensor,
    past: Sequence[torch.Tensor],
    past_valid: Sequence[torch.Tensor],
    threshold: float,
    cap: int,
) -> KeptTokens:
    """Select past tokens whose cosine similarity to some valid current token is >= `threshold`.

    current: [L, E] token embeddings of the current prompt, current_valid: bool [L];
    past[i]: [L_i, E] embeddings of past prompt i, past_valid[i]: bool [L_i].
    """
    empty = KeptTokens(torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long), torch.zeros(0))
    if not past or not bool(current_valid.any()):
        return empty
    cur = F.normalize(current[current_valid].float(), dim=-1)
    scenes, positions, scores = [], [], []
    for index, (emb, valid) in enumerate(zip(past, past_valid, strict=True)):
        sim = F.normalize(emb.float(), dim=-1) @ cur.T  # [L_i, L_cur]
        best = sim.max(dim=1).values
        keep = valid.bool() & (best >= threshold)
        pos = torch.nonzero(keep, as_tuple=False).flatten()
        scenes.append(torch.full_like(pos, index))
        positions.append(pos)
        scores.append(best[pos])
    scene = torch.cat(scenes).cpu()
    position = torch.cat(positions).cpu()
    score = torch.cat(scores).cpu()
    if scene.numel() == 0:
        return empty
    if scene.numel() > cap:
        # rank: score desc, then more recent scene, then earlier position (stable, deterministic)
        order = sorted(range(scene.numel()), key=lambda i: (-round(float(score[i]), 6), -int(scene[i]), int(position[i])))
        chosen = torch.tensor(order[:cap], dtype=torch.long)
        scene, position, score = scene[chosen], position[chosen], score[chosen]
    order = torch.argsort(scene * (position.max() + 1) + position)
    return KeptTokens(scene[order], position[order], score[order])


def special_token_mask(input_ids: torch.Tensor, tokenizer: object) -> torch.Tensor:
    """bool [B, L]: True where the id is padding, end-of-sequence or unknown (never kept)."""
    specials = {getattr(tokenizer, name, None) for name in ("pad_token_id", "eos_token_id", "unk_token_id")}
    specials.discard(None)
    mask = torch.zeros_like(input_ids, dtype=torch.bool)
    for token_id in specials:
        mask |= input_ids == token_id
    return mask


STOP_WORDS: frozenset[str] = frozenset(
    """a an the is are was were be been being am of in on at to from with by for about into onto over under
    and or but not no this that these those it its he she they we you i me him her them his their our your my
    there here then now also very so too just only as while during after before has have had do does did
    can will would could should may might must who what where when which how""".split()
)
"""Function words the text filter never keeps (content words, names and numbers are kept)."""

_WORD_MARKS = "\u2581\u0120"  # SentencePiece and byte-level BPE word-boundary marks


def is_content_token(token: str) -> bool:
    """Whether a tokenizer token carries content (not punctuation, not a function word)."""
    text = token.strip(_WORD_MARKS).strip().lower()
    if not text or all(ch in string.punctuation for ch in text):
        return False
    return text not in STOP_WORDS


def content_token_mask(input_ids: torch.Tensor, tokenizer: object) -> torch.Tensor:
    """bool like `input_ids`: True for content tokens (no special token, punctuation or function word)."""
    ids = sorted({int(i) for i in input_ids.flatten().tolist()})
    tokens = tokenizer.convert_ids_to_tokens(ids)  # type: ignore[attr-defined]
    content = {i for i, tok in zip(ids, tokens, strict=True) if tok is not None and is_content_token(tok)}
    mask = torch.zeros_like(input_ids, dtype=torch.bool)
    for token_id in content:
        mask |= input_ids == token_id
    return mask & ~special_token_mask(input_ids, tokenizer)
