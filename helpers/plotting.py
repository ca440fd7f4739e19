"""Every plot of the series, with one look readable on a workshop projector.

Introduced in notebook 01. Each function returns a matplotlib Figure; notebooks show it and
save it next to the other artifacts with ``save_figure``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib
import matplotlib.pyplot as plt
import numpy as np

STYLE = {
    "figure.dpi": 110,
    "savefig.dpi": 150,
    "savefig.bbox": "tight",
    "font.size": 12,
    "axes.titlesize": 14,
    "axes.titleweight": "bold",
    "axes.labelsize": 12,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
}
# One colour per kind of model, the same in every notebook.
COLORS = {
    "fp32": "#1f77b4",
    "fp16": "#2ca02c",
    "int8": "#d62728",
    "int8 (fused residuals)": "#9467bd",
    "other": "#7f7f7f",
}

matplotlib.rcParams.update(STYLE)


def color_for(label: str) -> str:
    """The series colour for a label such as 'PyTorch INT8 (CPU)' (matched by precision)."""
    lowered = label.lower()
    for key in ("int8 (fused residuals)", "int8", "fp16", "fp32"):
        if key in lowered:
            return COLORS[key]
    return COLORS["other"]


def save_figure(figure: plt.Figure, path: Path) -> Path:
    """Write ``figure`` as PNG (and keep it open so the notebook still shows it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    return path


def image_grid(images: np.ndarray, labels: np.ndarray, class_names: Sequence[str], columns: int = 10, rows: int = 4,
               predictions: np.ndarray | None = None) -> plt.Figure:
    """A grid of images (uint8 N x H x W x C) titled with their class (and prediction, if given)."""
    count = min(len(images), columns * rows)
    figure, axes = plt.subplots(rows, columns, figsize=(1.3 * columns, 1.5 * rows))
    for index, axis in enumerate(np.ravel(axes)):
        axis.axis("off")
        if index >= count:
            continue
        axis.imshow(images[index], interpolation="nearest")
        title = class_names[labels[index]]
        color = "black"
        if predictions is not None:
            title = f"{class_names[predictions[index]]}"
            color = "green" if predictions[index] == labels[index] else "red"
        axis.set_title(title, fontsize=9, color=color, fontweight="normal")
    figure.tight_layout()
    return figure


def training_curves(history: dict) -> plt.Figure:
    """Loss, accuracy and learning rate against epoch."""
    epochs = history["epoch"]
    figure, (loss_axis, accuracy_axis, lr_axis) = plt.subplots(1, 3, figsize=(15, 4))
    loss_axis.plot(epochs, history["train_loss"], marker="o", color=COLORS["fp32"])
    loss_axis.set(title="Training loss", xlabel="epoch", ylabel="cross-entropy (label smoothing)")
    accuracy_axis.plot(epochs, history["train_accuracy"], marker="o", label="train (augmented)", color=COLORS["other"])
    accuracy_axis.plot(epochs, history["test_accuracy"], marker="o", label="test", color=COLORS["fp32"])
    accuracy_axis.set(title="Top-1 accuracy", xlabel="epoch", ylabel="accuracy", ylim=(0, 1))
    accuracy_axis.legend(loc="lower right")
    lr_axis.plot(epochs, history["learning_rate"], marker="o", color=COLORS["fp16"])
    lr_axis.set(title="Learning rate (end of epoch)", xlabel="epoch", ylabel="learning rate")
    figure.tight_layout()
    return figure


def accuracy_bars(accuracies: dict[str, float], title: str = "Top-1 accuracy on the test images",
                  zoom: bool = True) -> plt.Figure:
    """One bar per model; ``zoom`` narrows the y-axis around the values so small gaps are visible."""
    names = list(accuracies)
    values = [accuracies[name] for name in names]
    figure, axis = plt.subplots(figsize=(max(6, 1.8 * len(names)), 4.5))
    bars = axis.bar(names, values, color=[color_for(name) for name in names])
    for bar, value in zip(bars, values):
        axis.annotate(f"{value:.4f}", (bar.get_x() + bar.get_width() / 2, value),
                      ha="center", va="bottom", fontsize=11, xytext=(0, 3), textcoords="offset points")
    low, high = min(values), max(values)
    if zoom and high > 0:
        margin = max(0.02, (high - low) * 1.5)
        axis.set_ylim(max(0.0, low - margin), min(1.0, high + margin / 2))
    else:
        axis.set_ylim(0, 1)
    axis.set(title=title, ylabel="accuracy")
    axis.tick_params(axis="x", rotation=15)
    figure.tight_layout()
    return figure
