"""Synthetic images that a trained CIFAR-10 model tells apart (no dataset needed).

Uniform noise images all look alike to a convolutional network (their pooled features are nearly
identical), so a model predicts one class for all of them and an agreement check on them cannot fail.
These images differ in colour, gradient direction and noise, so the shipped model's predictions vary.
"""

from __future__ import annotations

import numpy as np


def varied_images(count: int, seed: int = 0) -> np.ndarray:
    """uint8 N x 32 x 32 x 3 images: a random colour, a random linear gradient, and some noise each."""
    rng = np.random.default_rng(seed)
    colour = rng.integers(0, 256, (count, 1, 1, 3))
    ramp = np.linspace(-1.0, 1.0, 32)
    direction = rng.normal(size=(count, 2))
    gradient = (direction[:, 0, None, None] * ramp[None, :, None] + direction[:, 1, None, None] * ramp[None, None, :]) * 60
    noise = rng.normal(0, 20, (count, 32, 32, 3))
    return np.clip(colour + gradient[..., None] + noise, 0, 255).astype(np.uint8)
