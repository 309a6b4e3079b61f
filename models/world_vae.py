"""The story world's video autoencoder: CogVideoX's latent geometry at a size a CPU trains in minutes.

CogVideoX's VAE maps a clip of 1 + 4k frames to 1 + k latent frames of 16 channels at 1/8 of the
resolution (frame 0 alone, then each group of 4 frames). `WorldVAE` keeps that contract exactly —
same compression, same `encode(...).latent_dist` / `decode(...).sample` interface, same config keys
the pipelines read (`block_out_channels`, `temporal_compression_ratio`, `scaling_factor`,
`latent_channels`) — but replaces the causal 3D convolutions, which take tens of seconds a step on
two CPU cores at 64x64, by a 2D residual network over each group's 4 frames stacked as channels
(frame 0 is repeated 4 times, like the causal padding of CogVideoX's first latent frame), with a
4x4 patchify stem and a pixel-shuffle head so that no layer runs at full resolution. Each latent
frame therefore sees exactly the frames CogVideoX's latent frame covers. `block_out_channels` keeps
four entries (the pipelines derive the 8x spatial factor from its length); the first is unused.

With `motion_warp`, the decoder also predicts a displacement field per output frame (at 1/4 resolution,
upsampled) and moves each frame's pixels along it: the world's camera pans by a fraction of a pixel a
frame and its characters walk, so a group's 4 frames are mostly one picture shifted, which a warp
renders exactly and a convolution head only as a blur of the 4 positions. The flow head starts at zero
(no displacement), so a VAE without it continues training with it from where it was.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.autoencoders.autoencoder_kl import AutoencoderKLOutput
from diffusers.models.autoencoders.vae import (
    DecoderOutput,
    DiagonalGaussianDistribution,
)
from diffusers.models.modeling_utils import ModelMixin
from torch import nn


class _ResBlock(nn.Module):
    def __init__(self, channels: int, groups: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.GroupNorm(groups, channels), nn.SiLU(), nn.Conv2d(channels, channels, 3, padding=1),
            nn.GroupNorm(groups, channels), nn.SiLU(), nn.Conv2d(channels, channels, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def _encoder(in_channels: int, widths: tuple[int, ...], out_channels: int, groups: int) -> nn.Sequential:
    """4x4 patchify stem to widths[1] at 1/4 resolution, residual stages, one stride-2 step to 1/8."""
    layers: list[nn.Module] = [nn.Conv2d(in_channels, widths[1], 4, stride=4), _ResBlock(widths[1], groups),
                               nn.Conv2d(widths[1], widths[2], 3, stride=2, padding=1), _ResBlock(widths[2], groups),
                               nn.Conv2d(widths[2], widths[3], 3, padding=1), _ResBlock(widths[3], groups),
                               nn.GroupNorm(groups, widths[3]), nn.SiLU(), nn.Conv2d(widths[3], out_channels, 3, padding=1)]
    return nn.Sequential(*layers)


def _decoder(in_channels: int, widths: tuple[int, ...], out_channels: int, groups: int) -> nn.Sequential:
    """The mirror of `_encoder`: residual stages at 1/8 and 1/4, then a 4x4 pixel-shuffle head."""
    layers: list[nn.Module] = [nn.Conv2d(in_channels, widths[3], 3, padding=1), _ResBlock(widths[3], groups),
                               nn.Conv2d(widths[3], widths[2], 3, padding=1), _ResBlock(widths[2], groups),
                               nn.Upsample(scale_factor=2.0, mode="nearest"), nn.Conv2d(widths[2], widths[1], 3, padding=1),
                               _ResBlock(widths[1], groups),
                               nn.GroupNorm(groups, widths[1]), nn.SiLU(),
                               nn.Conv2d(widths[1], out_channels * 16, 3, padding=1), nn.PixelShuffle(4)]
    return nn.Sequential(*layers)


def warp(images: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Each image [N, C, H, W] sampled at its pixel positions plus `flow` [N, 2, H, W] (x, y in pixels;
    bilinear, borders repeated): output pixel p takes the value at p + flow(p)."""
    n, _, h, w = images.shape
    positions = {"dtype": flow.dtype, "device": flow.device}
    ys, xs = torch.meshgrid(torch.arange(h, **positions), torch.arange(w, **positions), indexing="ij")
    x = (xs + flow[:, 0] + 0.5) * (2.0 / w) - 1.0  # align_corners=False: pixel centres at (i + 0.5) / size
    y = (ys + flow[:, 1] + 0.5) * (2.0 / h) - 1.0
    return F.grid_sample(images, torch.stack([x, y], dim=-1), mode="bilinear", padding_mode="border", align_corners=False)


class _FlowHead(nn.Module):
    """Per-frame displacement fields [N, 2 * frames, H, W] (pixels) from the decoder's 1/4-resolution
    features; zero at initialisation."""

    def __init__(self, channels: int, frames: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, 2 * frames, 3, padding=1)
        nn.init.zeros_(self.conv.weight)
        nn.init.zeros_(self.conv.bias)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return 4.0 * F.interpolate(self.conv(features), scale_factor=4.0, mode="bilinear", align_corners=False)


class WorldVAE(ModelMixin, ConfigMixin):
    """A KL autoencoder with CogVideoX's compression (8x spatial with 4 widths, 4x temporal, 16 channels).

    encode: video [B, 3, 1 + 4k, H, W] in [-1, 1] -> latent_dist over [B, C, 1 + k, H/8, W/8];
    decode: latents [B, C, 1 + k, h, w] (unscaled) -> sample [B, 3, 1 + 4k, H, W].
    """

    _supports_gradient_checkpointing = False

    @register_to_config
    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        block_out_channels: tuple[int, ...] = (32, 64, 96, 128),
        latent_channels: int = 16,
        norm_num_groups: int = 8,
        temporal_compression_ratio: int = 4,
        scaling_factor: float = 1.0,
        motion_warp: bool = False,
    ) -> None:
        super().__init__()
        group = temporal_compression_ratio
        widths = tuple(block_out_channels)
        self.encoder = _encoder(in_channels * group, widths, 2 * latent_channels, norm_num_groups)
        self.decoder = _decoder(latent_channels, widths, out_channels * group, norm_num_groups)
        self.flow = _FlowHead(widths[1], group) if motion_warp else None

    def _decode_groups(self, z: torch.Tensor) -> torch.Tensor:
        """Latent frames [N, C, h, w] -> their groups' frames [N, out_channels * 4, H, W] (channel c * 4 + frame)."""
        if self.flow is None:
            return self.decoder(z)
        features = self.decoder[:-2](z)  # the 1/4-resolution features under the pixel-shuffle head
        frames = self.decoder[-2:](features)
        n, _, h, w = frames.shape
        g, c = self.config.temporal_compression_ratio, self.config.out_channels
        per_frame = frames.reshape(n, c, g, h, w).transpose(1, 2).reshape(n * g, c, h, w)
        moved = warp(per_frame, self.flow(features).reshape(n * g, 2, h, w))
        return moved.reshape(n, g, c, h, w).transpose(1, 2).reshape(n, c * g, h, w)

    def _groups(self, video: torch.Tensor) -> torch.Tensor:
        """[B, 3, 1 + 4k, H, W] -> [B * (1 + k), 3 * 4, H, W]: frame 0 repeated, then groups of 4 frames."""
        b, c, t, h, w = video.shape
        g = self.config.temporal_compression_ratio
        if (t - 1) % g:
            raise ValueError(f"WorldVAE needs 1 + {g}k frames, got {t}")
        padded = torch.cat([video[:, :, :1].expand(-1, -1, g - 1, -1, -1), video], dim=2)  # 4 + 4k frames
        groups = padded.reshape(b, c, (t - 1) // g + 1, g, h, w).permute(0, 2, 1, 3, 4, 5)
        return groups.reshape(b * ((t - 1) // g + 1), c * g, h, w)

    def encode(self, x: torch.Tensor, return_dict: bool = True) -> AutoencoderKLOutput | tuple[DiagonalGaussianDistribution]:
        """The posterior over latents of a clip batch."""
        b, t = x.shape[0], x.shape[2]
        frames = (t - 1) // self.config.temporal_compression_ratio + 1
        moments = self.encoder(self._groups(x))  # [B * T', 2C, h, w]
        moments = moments.reshape(b, frames, *moments.shape[1:]).permute(0, 2, 1, 3, 4)
        dist = DiagonalGaussianDistribution(moments)
        return AutoencoderKLOutput(latent_dist=dist) if return_dict else (dist,)

    def decode(self, z: torch.Tensor, return_dict: bool = True) -> DecoderOutput | tuple[torch.Tensor]:
        """Frames [B, 3, 1 + 4k, H, W] of latents [B, C, 1 + k, h, w]; frame 0 is the mean of its group."""
        b, c, frames, h, w = z.shape
        g = self.config.temporal_compression_ratio
        out = self._decode_groups(z.permute(0, 2, 1, 3, 4).reshape(b * frames, c, h, w))
        out = out.reshape(b, frames, self.config.out_channels, g, out.shape[-2], out.shape[-1])
        first = out[:, :1].mean(dim=3)  # [B, 1, 3, H, W]
        rest = out[:, 1:].permute(0, 1, 3, 2, 4, 5).reshape(b, (frames - 1) * g, self.config.out_channels, *out.shape[-2:])
        video = torch.cat([first, rest], dim=1).permute(0, 2, 1, 3, 4)
        return DecoderOutput(sample=video) if return_dict else (video,)

    def forward(self, video: torch.Tensor, kl_weight: float = 1e-6, pixel_weights: torch.Tensor | None = None) -> torch.Tensor:
        """Training objective: L1 + MSE of the reconstruction from the posterior mean, plus `kl_weight` x KL.

        The decoder reads the posterior mean, the latent the pipelines encode with (`latent_dist.mode()`):
        the KL term only keeps the latent scale bounded. Group 0's 4 outputs are all trained towards
        frame 0 (decode averages them). `pixel_weights` [B, T, H, W] (e.g. heavier on the characters)
        weigh each pixel's error; each clip's weighted error is normalised by its own weight sum, so
        all-ones weights give the unweighted loss.
        """
        dist = self.encode(video).latent_dist
        z = dist.mean
        c = z.shape[1]
        target = self._groups(video)
        pred = self._decode_groups(z.permute(0, 2, 1, 3, 4).reshape(-1, c, *z.shape[-2:]))
        kl = dist.kl().mean() / (c * self.config.temporal_compression_ratio)
        if pixel_weights is None:
            return F.l1_loss(pred, target) + F.mse_loss(pred, target) + kl_weight * kl
        b = video.shape[0]
        error = (pred - target).reshape(b, -1)
        weights = self._groups(pixel_weights[:, None].expand_as(video).to(error.dtype)).reshape(b, -1)
        recon = ((error.abs() + error.square()) * weights).sum(dim=1) / weights.sum(dim=1)
        return recon.mean() + kl_weight * kl


def reconstruct(vae: WorldVAE, videos: torch.Tensor) -> torch.Tensor:
    """`vae`'s reconstruction of clips [B, 3, T, H, W] in [-1, 1]: the posterior's mode, decoded, clamped to [-1, 1]."""
    with torch.no_grad():
        return vae.decode(vae.encode(videos).latent_dist.mode()).sample.clamp(-1, 1)


def psnr_db(reconstruction: torch.Tensor, video: torch.Tensor) -> float:
    """PSNR (dB, on the 0-255 scale) of a reconstruction against its clip, both in [-1, 1]."""
    mse = float(((reconstruction.float() - video.float()) * 127.5).pow(2).mean())
    return 10 * math.log10(255.0**2 / max(mse, 1e-10))
