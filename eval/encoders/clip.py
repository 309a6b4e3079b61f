"""CLIP-family encoders through transformers: CLIP4Clip, CLIP ViT-B/32 and L/14, any CLIP folder, tiny-random.

Frames are preprocessed with transformers' `CLIPImageProcessor` (resize the shorter side bicubic, centre
crop, rescale to [0, 1], CLIP mean/std): the same pipeline torchmetrics' `CLIPScore` runs, so scores
made here match it. Image embeddings are the projected pooled output (`image_embeds`), text
embeddings the projected text pooled output; both L2-normalised.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from msvg_bench.core.devices import resolve_device
from msvg_bench.core.errors import WeightsNotFoundError
from msvg_bench.core.hashing import hash_json
from msvg_bench.core.paths import check_weight_indexes
from msvg_bench.core.weights_lookup import (
    find_weights,
    hf_cache_snapshots,
    weights_home,
)
from msvg_bench.eval.encoders.base import (
    ENCODER_SPECS,
    ENCODERS,
    Encoder,
    EncoderSpec,
    quiet_transformers,
    weights_identity,
)

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
TOKENIZER_FILES = ("tokenizer.json", "vocab.json")
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
BICUBIC = 3  # PIL's resample code, as transformers' image processors store it

# name -> (hub repo it is published as, environment variable, folder under the weights home)
KNOWN_CLIP_WEIGHTS: dict[str, tuple[str, str, str]] = {
    "clip4clip": ("Searchium-ai/clip4clip-webvid150k", "MSVG_CLIP4CLIP_DIR", "clip4clip-webvid150k"),
    "clip-vit-b32": ("openai/clip-vit-base-patch32", "MSVG_CLIP_VIT_B32_DIR", "clip-vit-base-patch32"),
    "clip-vit-l14": ("openai/clip-vit-large-patch14", "MSVG_CLIP_VIT_L14_DIR", "clip-vit-large-patch14"),
}


def is_weights_folder(folder: Path) -> bool:
    """A transformers folder: config.json plus one weights file."""
    return (folder / "config.json").is_file() and any((folder / f).is_file() for f in WEIGHT_FILES)


def find_weights_folder(component: str, explicit: str | Path | None, env_var: str, subdir: str, repo_id: str) -> Path:
    """The first local folder holding `component`'s weights, else a `WeightsNotFoundError` naming every place tried."""
    how = (
        f"Download {repo_id} (transformers layout: config.json + model.safetensors) on a machine with internet, "
        f"e.g. `huggingface-cli download {repo_id} --local-dir {weights_home() / subdir}`, then copy it here "
        f"or point ${env_var} / the encoder path option at it."
    )
    return find_weights(component, explicit, env_var, [subdir], is_weights_folder, how, elsewhere=hf_cache_snapshots(repo_id))


def register_known_weights(known: dict[str, tuple[str, str, str]], build: Callable[..., Encoder], what: str,
                           spec: Callable[[str, Path], EncoderSpec]) -> None:
    """Register one encoder per `known` entry (name -> hub repo, environment variable, folder under the
    weights home), each calling `build(name, folder, device, batch_size)` on its local weights folder, and
    its `EncoderSpec` as `spec(name, folder)` on the same folder."""

    def factory_for(name: str) -> tuple[Callable[..., Encoder], Callable[..., EncoderSpec]]:
        repo, env_var, subdir = known[name]

        def folder_of(path: str | Path | None) -> Path:
            return find_weights_folder(f"encoder {name}", path, env_var, subdir, repo)

        def factory(path: str | Path | None = None, device: str | None = None, batch_size: int = 32) -> Encoder:
            return build(name, folder_of(path), device, batch_size)

        def spec_of(path: str | Path | None = None, device: str | None = None, batch_size: int = 32) -> EncoderSpec:
            return spec(name, folder_of(path))

        factory.__doc__ = f"{name}: {repo} {what} from a local transformers folder (path option, ${env_var}, the weights home or the HF cache)."
        spec_of.__doc__ = f"The `EncoderSpec` of {name} from its weights folder's files."
        return factory, spec_of

    for name in known:
        factory, spec_of = factory_for(name)
        ENCODERS.add(name, factory)
        ENCODER_SPECS.add(name, spec_of)


def processor_settings(size: dict[str, int], crop_size: dict[str, int], resample: int,
                       mean: Sequence[float], std: Sequence[float]) -> dict[str, Any]:
    """A CLIP image processor's settings as `ClipEncoder.preprocessing` reports them (cache key part)."""
    return {
        "size": {k: int(v) for k, v in size.items() if v is not None},
        "crop_size": {k: int(v) for k, v in crop_size.items() if v is not None},
        "resample": int(resample),
        "mean": [float(x) for x in mean],
        "std": [float(x) for x in std],
    }


def _size_dict(value: Any, square: bool) -> dict[str, int]:
    """transformers' reading of a size setting: an int is the shorter side (or a square), a pair is (height, width)."""
    if isinstance(value, dict):
        return {k: int(v) for k, v in value.items() if v is not None}
    if isinstance(value, int):
        return {"height": value, "width": value} if square else {"shortest_edge": value}
    height, width = value
    return {"height": int(height), "width": int(width)}


def clip_folder_preprocessing(folder: Path) -> dict[str, Any]:
    """The preprocessing `load_clip_folder` gives a folder, read from its JSON files as transformers reads
    them: with a `preprocessor_config.json`, the image processor settings of `processor_config.json` (else of
    that file) over CLIP's defaults; without one, CLIP's preprocessing at the vision tower's image size."""
    path = folder / "preprocessor_config.json"
    if not path.is_file():
        return processor_settings({"shortest_edge": (size := _vision_config(folder).get("image_size", 224))},
                                  {"height": size, "width": size}, BICUBIC, CLIP_MEAN, CLIP_STD)
    combined = folder / "processor_config.json"
    nested = json.loads(combined.read_text(encoding="utf-8")).get("image_processor") if combined.is_file() else None
    saved = nested if isinstance(nested, dict) else json.loads(path.read_text(encoding="utf-8"))
    size = _size_dict(saved.get("size", {"shortest_edge": 224}), square=False)
    if saved.get("use_square_size"):
        size = {"height": size["shortest_edge"], "width": size["shortest_edge"]}
    return processor_settings(size, _size_dict(saved.get("crop_size", {"height": 224, "width": 224}), square=True),
                              saved.get("resample", BICUBIC), saved.get("image_mean", CLIP_MEAN), saved.get("image_std", CLIP_STD))


def _vision_config(folder: Path) -> dict[str, Any]:
    """The vision tower's settings in a CLIP folder's config.json (a full CLIPModel's `vision_config`)."""
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    vision = config.get("vision_config")
    return {"projection_dim": config.get("projection_dim", 512), **vision} if isinstance(vision, dict) else config


def clip_folder_spec(name: str, folder: Path) -> EncoderSpec:
    """The `EncoderSpec` of `load_clip_folder(name, folder)` from the folder's files."""
    return EncoderSpec(f"{name}:{weights_identity(folder, WEIGHT_FILES)}", clip_folder_preprocessing(folder),
                       int(_vision_config(folder).get("projection_dim", 512)))


class ClipEncoder(Encoder):
    """A CLIP vision tower with projection (and optionally the text tower) plus its processors."""

    def __init__(
        self,
        name: str,
        identity: str,
        kind: str,
        vision_fn: Callable[[torch.Tensor], torch.Tensor],
        dim: int,
        image_processor: Any,
        device: torch.device,
        batch_size: int = 32,
        text_loader: Callable[[], tuple[Any, Callable[[torch.Tensor, torch.Tensor], torch.Tensor], int]] | None = None,
    ) -> None:
        self.name = name
        self.identity = identity
        self.kind = kind
        self.dim = dim
        self.batch_size = batch_size
        self.device = device
        self.image_processor = image_processor
        self._vision_fn = vision_fn
        self._text_loader = text_loader
        self._text: tuple[Any, Callable[[torch.Tensor, torch.Tensor], torch.Tensor], int] | None = None

    @property
    def supports_text(self) -> bool:
        """True when a tokenizer and text tower are available."""
        return self._text_loader is not None

    def preprocessing(self) -> dict[str, Any]:
        """Resize/crop/normalisation settings of the image processor."""
        proc = self.image_processor
        return processor_settings(dict(proc.size), dict(proc.crop_size), proc.resample, proc.image_mean, proc.image_std)

    def pixel_values(self, frames: np.ndarray) -> torch.Tensor:
        """The processor's normalised (B, 3, S, S) input for uint8 frames (B, H, W, 3)."""
        images = [torch.from_numpy(frame).permute(2, 0, 1) for frame in frames]
        return self.image_processor(images=images, return_tensors="pt")["pixel_values"]

    def _encode_batch(self, frames: np.ndarray) -> torch.Tensor:
        return self._vision_fn(self.pixel_values(frames).to(self.device))

    def encode_text(self, texts: Sequence[str]) -> torch.Tensor:
        """L2-normalised projected text embeddings (N, dim); captions longer than the context are cut."""
        if self._text_loader is None:
            return super().encode_text(texts)
        if self._text is None:
            self._text = self._text_loader()
        tokenizer, text_fn, max_len = self._text
        outputs = []
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                tokens = tokenizer(list(texts[start : start + self.batch_size]), padding=True, return_tensors="pt")
                ids = tokens["input_ids"][:, :max_len].to(self.device)
                mask = tokens["attention_mask"][:, :max_len].to(self.device)
                outputs.append(text_fn(ids, mask).float().cpu())
        return torch.nn.functional.normalize(torch.cat(outputs), dim=-1).clone()


def clip_image_processor(size: int = 224) -> Any:
    """CLIP's preprocessing: shorter side to `size` bicubic, centre crop `size`, CLIP mean/std."""
    from transformers import CLIPImageProcessor

    return CLIPImageProcessor(size={"shortest_edge": size}, crop_size={"height": size, "width": size}, resample=BICUBIC,
                              image_mean=list(CLIP_MEAN), image_std=list(CLIP_STD))


def load_clip_folder(name: str, folder: Path, device: str | None = None, batch_size: int = 32, kind: str = "learned") -> ClipEncoder:
    """A `ClipEncoder` from a transformers CLIP folder (full CLIPModel or vision-with-projection layout)."""
    from transformers import CLIPImageProcessor, CLIPVisionModelWithProjection

    check_weight_indexes(folder)
    dev = resolve_device(device)
    with quiet_transformers():
        vision = CLIPVisionModelWithProjection.from_pretrained(folder).to(dev).eval()
    if (folder / "preprocessor_config.json").is_file():
        processor = CLIPImageProcessor.from_pretrained(folder)
    else:
        processor = clip_image_processor(vision.config.image_size)

    def vision_fn(pixels: torch.Tensor) -> torch.Tensor:
        return vision(pixel_values=pixels).image_embeds

    def load_text() -> tuple[Any, Callable[[torch.Tensor, torch.Tensor], torch.Tensor], int]:
        from transformers import CLIPTextModelWithProjection, CLIPTokenizer

        with quiet_transformers():
            tokenizer = CLIPTokenizer.from_pretrained(folder)
            text = CLIPTextModelWithProjection.from_pretrained(folder).to(dev).eval()
        return tokenizer, lambda ids, mask: text(input_ids=ids, attention_mask=mask).text_embeds, text.config.max_position_embeddings

    text_loader = load_text if any((folder / f).is_file() for f in TOKENIZER_FILES) else None
    identity = f"{name}:{weights_identity(folder, WEIGHT_FILES)}"
    return ClipEncoder(name, identity, kind, vision_fn, int(vision.config.projection_dim), processor, dev, batch_size, text_loader)


register_known_weights(KNOWN_CLIP_WEIGHTS, load_clip_folder, "image/text embeddings", clip_folder_spec)


def _clip_path_folder(path: str | Path | None) -> Path:
    if path is None:
        raise WeightsNotFoundError("encoder clip", [], "Pass the folder as the encoder path option (eval.encoder_paths.<role>=DIR).")
    folder = Path(path).expanduser()
    if not is_weights_folder(folder):
        raise WeightsNotFoundError("encoder clip", [folder], "The folder needs config.json and model.safetensors (transformers CLIP layout).")
    return folder


@ENCODERS.register("clip")
def clip_from_path(path: str | Path | None = None, device: str | None = None, batch_size: int = 32) -> ClipEncoder:
    """Any transformers CLIP folder given by `path` (e.g. one written by `TinyClip.save_pretrained`)."""
    folder = _clip_path_folder(path)
    kind = "random-init" if (folder / "msvg_random_init.json").is_file() else "learned"
    return load_clip_folder("clip", folder, device, batch_size, kind=kind)


@ENCODER_SPECS.register("clip")
def clip_from_path_spec(path: str | Path | None = None, device: str | None = None, batch_size: int = 32) -> EncoderSpec:
    """The `EncoderSpec` of `clip_from_path(path)` from the folder's files."""
    return clip_folder_spec("clip", _clip_path_folder(path))


# --- tiny random CLIP ---------------------------------------------------------------------------

TINY_CLIP_DEFAULTS: dict[str, Any] = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "image_size": 32,
    "patch_size": 8,
    "projection_dim": 512,
    "max_position_embeddings": 77,
}


def byte_level_vocab() -> dict[str, int]:
    """A CLIP-style byte-level BPE vocabulary with no merges: every byte, alone and word-final, plus specials."""
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    symbols = list(bytes_to_unicode().values())
    vocab: dict[str, int] = {}
    for symbol in symbols + [s + "</w>" for s in symbols] + ["<|startoftext|>", "<|endoftext|>"]:
        vocab[symbol] = len(vocab)
    return vocab


def tiny_clip_tokenizer() -> Any:
    """A CLIP tokenizer built locally (byte-level, no merges): every text is encodable, nothing downloads."""
    from transformers import CLIPTokenizer

    return CLIPTokenizer(vocab=byte_level_vocab(), merges=[])


def tiny_clip_model(seed: int = 0, **overrides: Any) -> Any:
    """A random-init `CLIPModel` (small towers, 512-d projection), identical for equal seeds."""
    from transformers import CLIPConfig, CLIPModel

    spec = {**TINY_CLIP_DEFAULTS, **overrides}
    vocab = byte_level_vocab()
    tower = {k: spec[k] for k in ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads")}
    config = CLIPConfig(
        text_config={
            **tower,
            "vocab_size": len(vocab),
            "max_position_embeddings": spec["max_position_embeddings"],
            "bos_token_id": vocab["<|startoftext|>"],
            "eos_token_id": vocab["<|endoftext|>"],
            "pad_token_id": vocab["<|endoftext|>"],
        },
        vision_config={**tower, "image_size": spec["image_size"], "patch_size": spec["patch_size"]},
        projection_dim=spec["projection_dim"],
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = CLIPModel(config)
    return model.eval()


class TinyClip(ClipEncoder):
    """Random-init CLIP (vision + text, 512-d) for CPU tests; its scores test plumbing, not meaning."""

    def __init__(self, seed: int = 0, device: str | None = None, batch_size: int = 32, **overrides: Any) -> None:
        model = tiny_clip_model(seed, **overrides)
        dev = resolve_device(device)
        model.to(dev)
        spec = {**TINY_CLIP_DEFAULTS, **overrides}
        tokenizer = tiny_clip_tokenizer()
        identity = tiny_random_spec(seed, **overrides).identity
        self.model = model
        self.tokenizer = tokenizer

        def vision_fn(pixels: torch.Tensor) -> torch.Tensor:
            return model.get_image_features(pixel_values=pixels).pooler_output

        def text_loader() -> tuple[Any, Callable[[torch.Tensor, torch.Tensor], torch.Tensor], int]:
            def text_fn(ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
                return model.get_text_features(input_ids=ids, attention_mask=mask).pooler_output

            return tokenizer, text_fn, spec["max_position_embeddings"]

        super().__init__(
            "tiny-random",
            identity,
            "random-init",
            vision_fn,
            spec["projection_dim"],
            clip_image_processor(spec["image_size"]),
            dev,
            batch_size,
            text_loader,
        )

    def save_pretrained(self, folder: str | Path) -> Path:
        """Write the model, tokenizer and image processor as a transformers CLIP folder (loadable by `clip`)."""
        from transformers import CLIPProcessor

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        with quiet_transformers():
            self.model.save_pretrained(folder)
        CLIPProcessor(image_processor=self.image_processor, tokenizer=self.tokenizer).save_pretrained(folder)
        (folder / "msvg_random_init.json").write_text(f'{{"identity": "{self.identity}"}}\n')
        return folder


@ENCODERS.register("tiny-random")
def tiny_random(seed: int = 0, device: str | None = None, batch_size: int = 32, **overrides: Any) -> TinyClip:
    """Random-init tiny CLIP (hidden 32, image 32, projection 512), deterministic in `seed`; no weights needed."""
    return TinyClip(seed=seed, device=device, batch_size=batch_size, **overrides)


@ENCODER_SPECS.register("tiny-random")
def tiny_random_spec(seed: int = 0, device: str | None = None, batch_size: int = 32, **overrides: Any) -> EncoderSpec:
    """The `EncoderSpec` of `tiny_random(seed, **overrides)`: seed and tower settings name it."""
    spec = {**TINY_CLIP_DEFAULTS, **overrides}
    size = int(spec["image_size"])
    return EncoderSpec(f"tiny-random:seed{seed}:{hash_json(spec)[:12]}",
                       processor_settings({"shortest_edge": size}, {"height": size, "width": size}, BICUBIC, CLIP_MEAN, CLIP_STD),
                       int(spec["projection_dim"]))
