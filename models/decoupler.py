"""Stage 2: the decoupler. Current-prompt text tokens cross-attend to the extracted features.

Batch-first attention (each item attends only to its own features), a sigmoid gate computed from
the text, and an output projection to the text width that starts at zero. Its output is the
history token sequence the transformer reads ([B, L, text_dim]).
"""

from __future__ import annotations

import torch
from torch import nn


class Decoupler(nn.Module):
    """text [B, L, D_text] x features [B, N, C] -> history tokens [B, L, D_text]."""

    def __init__(self, text_dim: int, feature_dim: int, width: int, heads: int) -> None:
        super().__init__()
        self.text_norm = nn.LayerNorm(text_dim)
        self.feature_norm = nn.LayerNorm(feature_dim)
        self.query = nn.Linear(text_dim, width)
        self.attention = nn.MultiheadAttention(width, heads, kdim=feature_dim, vdim=feature_dim, batch_first=True)
        self.gate = nn.Linear(text_dim, width)
        self.out = nn.Linear(width, text_dim)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(
        self, text: torch.Tensor, features: torch.Tensor, feature_padding: torch.Tensor | None = None
    ) -> torch.Tensor:
        """feature_padding: optional bool [B, N], True where a feature is padding."""
        t = self.text_norm(text)
        f = self.feature_norm(features)
        read, _ = self.attention(self.query(t), f, f, key_padding_mask=feature_padding, need_weights=False)
        return self.out(torch.sigmoid(self.gate(t)) * read)
