"""The landmark view: MobileFaceNet (68-point face-landmark regressor) and the frozen stream
that turns normalised frames into landmark feature maps on the ViT's patch grid.

Module names follow the released landmark network so that its weights load unchanged
(see ``../shared/reference/official_state_dict_shapes.json``, entry ``mobilefacenet_112_136``).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["MobileFaceNet", "LandmarkStream", "FEATURE_CHANNELS"]

#: Channels of the ``conv_4`` feature map that S2D uses as its landmark view.
FEATURE_CHANNELS = 128


class ConvBlock(nn.Module):
    """Conv (no bias) + BatchNorm + PReLU."""

    def __init__(self, c_in: int, c_out: int, kernel: int = 1, stride: int = 1, padding: int = 0,
                 groups: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride, padding, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(c_out)
        self.prelu = nn.PReLU(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.prelu(self.bn(self.conv(x)))


class LinearBlock(nn.Module):
    """Conv (no bias) + BatchNorm, no activation (a "linear" bottleneck)."""

    def __init__(self, c_in: int, c_out: int, kernel: int = 1, stride: int = 1, padding: int = 0,
                 groups: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride, padding, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x))


class DepthWise(nn.Module):
    """1x1 expand -> depthwise 3x3 (stride s) -> 1x1 linear projection, optional identity shortcut."""

    def __init__(self, c_in: int, c_out: int, expansion: int, stride: int = 1,
                 residual: bool = False) -> None:
        super().__init__()
        self.conv = ConvBlock(c_in, expansion)
        self.conv_dw = ConvBlock(expansion, expansion, 3, stride, 1, groups=expansion)
        self.project = LinearBlock(expansion, c_out)
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.conv_dw(self.conv(x)))
        return x + y if self.residual else y


class Residual(nn.Module):
    """A stack of residual depth-wise blocks at constant width."""

    def __init__(self, channels: int, num_blocks: int, expansion: int) -> None:
        super().__init__()
        self.model = nn.Sequential(*[DepthWise(channels, channels, expansion, residual=True)
                                     for _ in range(num_blocks)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class GDC(nn.Module):
    """Global depthwise conv over the final map, then a bias-free linear layer and BatchNorm1d."""

    def __init__(self, kernel: int, num_outputs: int) -> None:
        super().__init__()
        self.conv_6_dw = LinearBlock(512, 512, kernel, groups=512)
        self.conv_6_flatten = nn.Flatten()
        self.linear = nn.Linear(512, num_outputs, bias=False)
        self.bn = nn.BatchNorm1d(num_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.linear(self.conv_6_flatten(self.conv_6_dw(x))))


class MobileFaceNet(nn.Module):
    """MobileFaceNet landmark regressor.

    ``forward(x[B,3,S,S]) -> (landmarks[B, 2*num_landmarks], feature[B,128,S/8,S/8])`` where
    ``feature`` is the output of the ``conv_4`` stage (S2D's landmark view). With
    ``input_size=112`` the feature grid is 14x14, the patch grid of ViT-B/16 at 224 px.
    Landmarks are (x, y) pairs, interleaved, in the coordinates the network was trained on.
    """

    def __init__(self, input_size: int = 112, num_landmarks: int = 68) -> None:
        super().__init__()
        if input_size % 16:
            raise ValueError(f"MobileFaceNet input_size must be a multiple of 16, got {input_size}")
        self.input_size = input_size
        self.num_landmarks = num_landmarks
        self.config = dict(input_size=input_size, num_landmarks=num_landmarks)
        self.conv1 = ConvBlock(3, 64, 3, 2, 1)
        self.conv2_dw = ConvBlock(64, 64, 3, 1, 1, groups=64)
        self.conv_23 = DepthWise(64, 64, 128, stride=2)
        self.conv_3 = Residual(64, 4, 128)
        self.conv_34 = DepthWise(64, 128, 256, stride=2)
        self.conv_4 = Residual(128, 6, 256)
        self.conv_45 = DepthWise(128, 128, 512, stride=2)
        self.conv_5 = Residual(128, 2, 256)
        self.conv_6_sep = ConvBlock(128, 512)
        self.output_layer = GDC(input_size // 16, num_landmarks * 2)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The ``conv_4`` feature map, ``(B, 128, S/8, S/8)``."""
        x = self.conv2_dw(self.conv1(x))
        x = self.conv_3(self.conv_23(x))
        return self.conv_4(self.conv_34(x))

    def forward_head(self, feature: torch.Tensor) -> torch.Tensor:
        """Landmark coordinates ``(B, 2*num_landmarks)`` from the ``conv_4`` feature map."""
        x = self.conv_5(self.conv_45(feature))
        return self.output_layer(self.conv_6_sep(x))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feature = self.forward_features(x)
        return self.forward_head(feature), feature


def resize_for(net: MobileFaceNet, images: torch.Tensor) -> torch.Tensor:
    """``images`` resized (bilinear, corners aligned, as the release does) to ``net``'s input."""
    size = net.input_size
    if images.shape[-2:] == (size, size):
        return images
    return F.interpolate(images, size=(size, size), mode="bilinear", align_corners=True)


class LandmarkStream(nn.Module):
    """Frozen MobileFaceNet that maps normalised frames to landmark feature maps.

    Frames ``(B, 3, H, W)`` (ImageNet-normalised, as the ViT sees them) are resized bilinearly
    (``align_corners=True``) to the network's input size and run in eval mode without gradient.
    Returns ``(B, 128, g, g)`` with ``g = input_size / 8``.
    """

    def __init__(self, net: MobileFaceNet | None = None, input_size: int = 112) -> None:
        super().__init__()
        self.net = net if net is not None else MobileFaceNet(input_size=input_size)
        self.net.requires_grad_(False)
        self.eval()

    @property
    def input_size(self) -> int:
        return self.net.input_size

    @property
    def grid_size(self) -> int:
        """Side of the feature grid (must equal the ViT patch grid)."""
        return self.net.input_size // 8

    def train(self, mode: bool = True) -> "LandmarkStream":
        # Frozen: BatchNorm statistics must never move, whatever the parent model does.
        return super().train(False)

    def resize(self, frames: torch.Tensor) -> torch.Tensor:
        """Resize frames to the landmark network's input size, as the release does."""
        return resize_for(self.net, frames)

    @torch.no_grad()
    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.net.forward_features(self.resize(frames))

    @torch.no_grad()
    def landmarks(self, frames: torch.Tensor) -> torch.Tensor:
        """Predicted landmarks ``(B, num_landmarks, 2)`` in the network's output coordinates."""
        pts, _ = self.net(self.resize(frames))
        return pts.view(pts.shape[0], -1, 2)
