"""Synthetic test inputs: images a trained CIFAR-10 model tells apart, and a tiny ResNet (no dataset needed).

Uniform noise images all look alike to a convolutional network (their pooled features are nearly
identical), so a model predicts one class for all of them and an agreement check on them cannot fail.
These images differ in colour, gradient direction and noise, so the shipped model's predictions vary.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from helpers.data import Split


def varied_images(count: int, seed: int = 0) -> np.ndarray:
    """uint8 N x 32 x 32 x 3 images: a random colour, a random linear gradient, and some noise each."""
    rng = np.random.default_rng(seed)
    colour = rng.integers(0, 256, (count, 1, 1, 3))
    ramp = np.linspace(-1.0, 1.0, 32)
    direction = rng.normal(size=(count, 2))
    gradient = (direction[:, 0, None, None] * ramp[None, :, None] + direction[:, 1, None, None] * ramp[None, None, :]) * 60
    noise = rng.normal(0, 20, (count, 32, 32, 3))
    return np.clip(colour + gradient[..., None] + noise, 0, 255).astype(np.uint8)


class TinyResNet(nn.Module):
    """Two residual blocks (one with a downsample Conv on the shortcut), then pooling and a classifier."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.conv1, self.bn1 = nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8)
        self.conv2, self.bn2 = nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8)
        self.conv3, self.bn3 = nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16)
        self.conv4, self.bn4 = nn.Conv2d(16, 16, 3, padding=1), nn.BatchNorm2d(16)
        self.downsample = nn.Sequential(nn.Conv2d(8, 16, 1, stride=2), nn.BatchNorm2d(16))
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = self.stem(x)
        x = torch.relu(self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x))))) + x)
        x = torch.relu(self.bn4(self.conv4(torch.relu(self.bn3(self.conv3(x))))) + self.downsample(x))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


def tiny_model() -> nn.Module:
    torch.manual_seed(0)
    model = TinyResNet().eval()
    with torch.no_grad():  # trained-like BatchNorm statistics, so folding them changes the weights
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 1.5)
    return model


def images(count: int, seed: int) -> Split:
    pixels = np.random.default_rng(seed).integers(0, 256, (count, 32, 32, 3), dtype=np.uint8)
    return Split(pixels, np.zeros(count, dtype=np.int64))
