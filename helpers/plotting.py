"""Every plot of the series (notebooks 01-07), in one look readable on a projector; each returns a matplotlib Figure."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib
import matplotlib.patches
import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np

from .tensorrt_engine import precision_counts

STYLE = {"figure.dpi": 110, "savefig.dpi": 150, "savefig.bbox": "tight", "font.size": 12, "axes.titlesize": 14,
         "axes.titleweight": "bold", "axes.labelsize": 12, "axes.grid": True, "grid.alpha": 0.3,
         "axes.spines.top": False, "axes.spines.right": False, "legend.frameon": False}
# One colour per kind of model, the same in every notebook.
COLORS = {"fp32": "#1f77b4", "fp16": "#2ca02c", "int8": "#d62728", "int8 (fused residuals)": "#9467bd",
          "int8 + fp16": "#ff7f0e", "other": "#7f7f7f"}
PRECISION_COLORS = {"INT8": COLORS["int8"], "FP16": COLORS["fp16"], "FP32": COLORS["fp32"], "BF16": "#17becf",
                    "FP8": "#e377c2", "INT32": "#8c564b", "INT64": "#bcbd22", "BOOL": "#c7c7c7",
                    "unknown": COLORS["other"]}
RUNTIME_LINESTYLES = {"TensorRT": "-", "PyTorch": "--", "ONNX Runtime": ":"}
DEVICE_MARKERS = {"cuda": "o", "cpu": "s"}

matplotlib.rcParams.update(STYLE)


def color_for(label: str) -> str:
    """The series colour for a label such as 'PyTorch INT8 (CPU)' (matched by precision)."""
    keys = ("int8 (fused residuals)", "int8 + fp16", "int8", "fp16", "fp32")
    return next((COLORS[key] for key in keys if key in label.lower()), COLORS["other"])


def save_figure(figure: plt.Figure, path: Path) -> None:
    """Write ``figure`` as PNG and keep it open; returns nothing, so a cell ending with it shows no path."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)


def image_grid(images: np.ndarray, labels: np.ndarray, class_names: Sequence[str], columns: int = 10, rows: int = 4,
               predictions: np.ndarray | None = None) -> plt.Figure:
    """A grid of images (uint8 N x H x W x C) titled with their class, or their prediction in green (right) or red."""
    figure, axes = plt.subplots(rows, columns, figsize=(1.3 * columns, 1.5 * rows))
    for index, axis in enumerate(np.ravel(axes)):
        axis.axis("off")
        if index >= min(len(images), columns * rows):
            continue
        axis.imshow(images[index], interpolation="nearest")
        if predictions is None:
            axis.set_title(class_names[labels[index]], fontsize=9, color="black", fontweight="normal")
        else:
            axis.set_title(class_names[predictions[index]], fontsize=9, fontweight="normal",
                           color="green" if predictions[index] == labels[index] else "red")
    figure.tight_layout()
    return figure


def training_curves(history: dict) -> plt.Figure:
    """Loss, accuracy and learning rate against epoch."""
    epochs = history["epoch"]
    marker = "o" if len(epochs) <= 40 else None
    figure, (loss_axis, accuracy_axis, lr_axis) = plt.subplots(1, 3, figsize=(15, 4))
    loss_axis.plot(epochs, history["train_loss"], marker=marker, color=COLORS["fp32"])
    loss_axis.set(title="Training loss", xlabel="epoch", ylabel="cross-entropy (label smoothing)")
    accuracy_axis.plot(epochs, history["train_accuracy"], marker=marker, label="train (augmented)",
                       color=COLORS["other"])
    accuracy_axis.plot(epochs, history["test_accuracy"], marker=marker, color=COLORS["fp32"], label="test: model kept")
    live = history.get("live_test_accuracy")
    if "last_step_test_accuracy" in history and live:  # trained with a moving average of the weights
        accuracy_axis.plot(epochs, live, color=COLORS["fp32"], linestyle=":", alpha=0.7, label="test: live weights")
        averaged_from = next((epoch for epoch, kept, plain in zip(epochs, history["test_accuracy"], live)
                              if kept != plain), None)
        if averaged_from is not None:
            accuracy_axis.axvline(averaged_from, color="0.5", linewidth=1, linestyle="--")
            accuracy_axis.annotate("moving average\nkept from here", (averaged_from, 0.45), xytext=(-4, 0), ha="right",
                                   textcoords="offset points", fontsize=9, color="0.35")
    accuracy_axis.set(title="Top-1 accuracy", xlabel="epoch", ylabel="accuracy", ylim=(0, 1))
    accuracy_axis.legend(loc="lower right", fontsize=9)
    lr_axis.plot(epochs, history["learning_rate"], marker=marker, color=COLORS["fp16"])
    lr_axis.set(title="Learning rate (last step of each epoch)", xlabel="epoch", ylabel="learning rate")
    for axis in (loss_axis, accuracy_axis, lr_axis):
        axis.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))  # epochs are whole numbers
    figure.tight_layout()
    return figure


def _bars_with_intervals(axis, names: list[str], values: list[float], intervals: list | None, **bar_settings):
    """Bars labelled with their value, with 95 % interval error bars when ``intervals`` [(low, high), ...] are given."""
    errors = None if not intervals else np.array([[value - low, high - value]
                                                  for value, (low, high) in zip(values, intervals)]).T
    bars = axis.bar(names, values, yerr=errors, capsize=6, **bar_settings)
    for bar, value in zip(bars, values):
        axis.annotate(f"{value:.4f}", (bar.get_x() + bar.get_width() / 2, value),
                      ha="left", va="bottom", fontsize=11, xytext=(4, 3), textcoords="offset points")


def accuracy_bars(accuracies: dict[str, float], title: str = "Top-1 accuracy on the test images",
                  zoom: bool = True, intervals: dict[str, tuple[float, float]] | None = None) -> plt.Figure:
    """One bar per model; ``zoom`` narrows the y-axis so small gaps are visible. With ``intervals`` ({name: (low,
    high)}) each bar gets its 95 % interval and the axis spans them, so a gap smaller than they are looks like one."""
    names = list(accuracies)
    values = [accuracies[name] for name in names]
    figure, axis = plt.subplots(figsize=(max(6, 1.8 * len(names)), 4.5))
    _bars_with_intervals(axis, names, values, intervals and [intervals[name] for name in names],
                         color=[color_for(name) for name in names])
    low, high = min(values), max(values)
    if intervals:
        low, high = min(low for low, _ in intervals.values()), max(high for _, high in intervals.values())
        axis.set_ylim(max(0.0, low - 0.05), min(1.0, high + 0.02))
    elif zoom and high > 0:
        margin = max(0.02, (high - low) * 1.5)
        axis.set_ylim(max(0.0, low - margin), min(1.0, high + margin / 2))
    else:
        axis.set_ylim(0, 1)
    axis.set(title=title, ylabel="accuracy (bars: 95 % interval)" if intervals else "accuracy")
    plt.setp(axis.get_xticklabels(), rotation=15, ha="right", rotation_mode="anchor")  # each name ends under its bar
    figure.tight_layout()
    return figure


def _layer_bars(values: list[float], names: list[str], highlighted: set[int], title: str, **axis_settings):
    """One horizontal bar per layer, first on top; the ``highlighted`` ones in the INT8 colour."""
    figure, axis = plt.subplots(figsize=(9, max(4.0, 0.28 * len(names) + 1.2)))
    axis.barh(np.arange(len(names)), values,
              color=[COLORS["int8"] if index in highlighted else COLORS["other"] for index in range(len(names))])
    axis.set_yticks(np.arange(len(names)), names, fontsize=9)
    axis.invert_yaxis()
    axis.set(title=title, **axis_settings)
    axis.grid(axis="y", visible=False)
    return figure, axis


def layer_sqnr_bars(sqnr_by_layer: dict[str, float], highlight: int = 3,
                    title: str = "Quantization error per layer (INT8 vs FP32)") -> plt.Figure:
    """Notebook 02: the SQNR (dB, higher is better) of each quantized layer's output, the lowest labelled."""
    names = list(sqnr_by_layer)
    finite = np.array([sqnr_by_layer[name] if np.isfinite(sqnr_by_layer[name]) else np.nan for name in names])
    shown = np.nan_to_num(finite, nan=np.nanmax(finite) if np.isfinite(finite).any() else 0.0)
    worst = set(np.argsort(shown)[:highlight].tolist())
    figure, axis = _layer_bars(shown, names, worst, title, xlabel="SQNR of the layer's output (dB, higher is better)")
    for index in sorted(worst):
        axis.annotate(f"{shown[index]:.1f} dB", (shown[index], index), xytext=(4, 0), textcoords="offset points",
                      va="center", fontsize=9, color=COLORS["int8"])
    figure.tight_layout()
    return figure


def layer_sensitivity_bars(kl_by_layer: dict[str, float], title: str) -> plt.Figure:
    """Notebook 07: one horizontal bar per layer, most sensitive on top (KL divergence from FP32, log scale)."""
    figure, axis = _layer_bars(list(kl_by_layer.values()), list(kl_by_layer), {0, 1, 2}, title, xscale="log",
                               xlabel="KL divergence of the logits from FP32 (log scale, higher = more sensitive)")
    axis.legend(handles=[matplotlib.patches.Patch(color=COLORS["int8"], label="the three most sensitive layers")],
                loc="lower right")
    figure.tight_layout()
    return figure


def accuracy_against_float_layers(points: dict[int, tuple[float, float, float]],
                                  fp32: tuple[float, float, float]) -> plt.Figure:
    """Notebook 07: top-1 (with its 95 % interval) against how many of the most sensitive layers stay float."""
    ks = sorted(points)
    figure, axis = plt.subplots(figsize=(7, 4.5))
    values = np.array([points[k] for k in ks])
    axis.errorbar(ks, values[:, 0], yerr=[values[:, 0] - values[:, 1], values[:, 2] - values[:, 0]], marker="o",
                  capsize=4, color=COLORS["int8"], label="INT8, the k most sensitive layers in float")
    axis.axhspan(fp32[1], fp32[2], color=COLORS["fp32"], alpha=0.15, label=f"FP32 {fp32[0]:.4f} (95 % interval)")
    axis.set(xticks=ks, xlabel="layers kept in float (k)", ylabel="top-1 on the test images",
             title="Mixed precision: accuracy against layers kept in float")
    axis.legend(loc="lower right")
    figure.tight_layout()
    return figure


def _against_batch(rows: list[dict], value_key: str, title: str, subtitle: str, ylabel: str, p99_band: bool = False):
    """Notebook 04: one line per runtime/precision/device against batch size, both axes logarithmic."""
    figure, axis = plt.subplots(figsize=(9.5, 5.5))
    series_by_label: dict[str, list[dict]] = {}
    for row in sorted(rows, key=lambda row: row["batch_size"]):
        series_by_label.setdefault(row["label"], []).append(row)
    for label, series in series_by_label.items():
        sizes = [row["batch_size"] for row in series]
        axis.plot(sizes, [row[value_key] for row in series], label=label, color=color_for(label),
                  linestyle=RUNTIME_LINESTYLES.get(series[0]["runtime"], "-."),
                  marker=DEVICE_MARKERS.get(series[0]["device"], "^"))
        if p99_band:
            axis.fill_between(sizes, [row["median_ms"] for row in series], [row["p99_ms"] for row in series],
                              color=color_for(label), alpha=0.12, linewidth=0)
    sizes = sorted({row["batch_size"] for row in rows})
    axis.set_xscale("log", base=2)
    axis.set_xticks(sizes, [str(size) for size in sizes])
    axis.minorticks_off()
    axis.set_yscale("log")
    axis.set(title=title + (f"\n{subtitle}" if subtitle else ""), xlabel="batch size", ylabel=ylabel)
    axis.legend(loc="upper left", fontsize=10, ncol=2)
    figure.tight_layout()
    return figure


def rows_for_plot(measurements: list[dict], data_copy: str, launch: str = "eager") -> list[dict]:
    """Notebook 04: the rows of one data-copy setting and launch mode ("eager" or "CUDA graph"), CPU rows in every
    eager plot."""
    return [row for row in measurements if row["data_copy"] in (data_copy, "n/a (CPU)")
            and row.get("launch", "eager") == launch]


def latency_vs_batch(rows: list[dict], subtitle: str = "") -> plt.Figure:
    """Notebook 04: median latency per batch against batch size, with the p99 as a shaded band."""
    return _against_batch(rows, "median_ms", "Latency per batch (median; band up to p99)", subtitle,
                          "latency per batch (ms, log scale)", p99_band=True)


def throughput_vs_batch(rows: list[dict], subtitle: str = "") -> plt.Figure:
    """Notebook 04: images per second (from the median latency) against batch size."""
    return _against_batch(rows, "throughput_images_per_s", "Throughput", subtitle, "images per second (log scale)")


def layer_precision_chart(summaries: dict[str, dict], title: str = "Precision of every engine layer") -> plt.Figure:
    """Notebook 04: one row per engine, one cell per layer in execution order, coloured by its compute precision."""
    names = list(summaries)
    figure, axis = plt.subplots(figsize=(11, 1.1 * len(names) + 1.8))
    seen = []
    for row, name in enumerate(names):
        for index, layer in enumerate(summaries[name]["layers"]):
            precision = layer["precision"] if layer["precision"] in PRECISION_COLORS else "unknown"
            seen += [] if precision in seen else [precision]
            axis.broken_barh([(index, 0.9)], (row - 0.4, 0.8), facecolors=PRECISION_COLORS[precision])
    axis.set_yticks(range(len(names)), [f"{name}\n" + ", ".join(f"{count} {precision}" for precision, count
                                                                 in precision_counts(summaries[name]).items())
                                        for name in names])
    axis.set_ylim(len(names) - 0.4, -0.6)
    axis.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    axis.set(title=title, xlabel="engine layer (execution order)")
    axis.grid(False)
    handles = [plt.Rectangle((0, 0), 1, 1, color=PRECISION_COLORS[precision]) for precision in seen]
    axis.legend(handles, seen, loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=max(1, len(seen)))
    figure.tight_layout()
    return figure


# Notebook 03's drawing: (row title, the ONNX nodes as written, what TensorRT makes of them, whether that is wanted)
QDQ_PATTERNS = [
    ("1 · the pattern TensorRT looks for", ["Q", "DQ", "Conv\n(+ weight DQ)", "ReLU", "Q"],
     "one INT8 convolution:\nint8 in, int8 out, ReLU fused", True),
    ("2 · a Cast between Q and DQ (as exported)", ["Q", "Cast\nuint8", "DQ", "Conv\n(+ weight DQ)", "Q"],
     "Q and DQ cannot be paired:\nthe parser rejects the graph", False),
    ("3 · residual Add, Q/DQ on both inputs", ["DQ", "Conv", "Q  DQ", "Add\n(+ DQ shortcut)", "ReLU"],
     "INT8 Conv, then a separate\nAdd: one more pass over memory", False),
    ("4 · residual Add, Q/DQ on the shortcut only", ["DQ", "Conv", "Add\n(+ DQ shortcut)", "ReLU", "Q"],
     "one INT8 convolution with\nthe Add and ReLU fused", True),
]


def qdq_fusion_diagram(patterns: list = QDQ_PATTERNS) -> plt.Figure:
    """Notebook 03's mental model: Q/DQ patterns as written in ONNX (left) and what TensorRT builds from them (right),
    as its developer guide documents it."""
    figure, axis = plt.subplots(figsize=(13, 1.55 * len(patterns) + 0.6))
    axis.set_xlim(0, 13)
    axis.set_ylim(len(patterns) * 1.55, -0.3)
    axis.axis("off")
    box = {"boxstyle": "round,pad=0.35", "linewidth": 0}
    node_colors = {"Q": COLORS["int8"], "DQ": COLORS["int8"], "Cast": COLORS["other"]}  # the rest: float operations
    for row, (title, nodes, result, wanted) in enumerate(patterns):
        y = row * 1.55 + 0.75
        axis.text(0.05, y - 0.55, title, fontsize=12, fontweight="bold", va="center")
        drawn = [axis.text(0.6 + index * 1.6, y, label, ha="center", va="center", fontsize=10.5, color="white",
                           bbox={**box, "facecolor": node_colors.get(label.split()[0], COLORS["fp32"])})
                 for index, label in enumerate(nodes)]
        for left, right in zip(drawn, drawn[1:]):  # arrows from box edge to box edge
            axis.annotate("", xy=(0, 0.5), xycoords=right, xytext=(1, 0.5), textcoords=left,
                          arrowprops={"arrowstyle": "->", "color": "0.35", "shrinkA": 4, "shrinkB": 4})
        axis.annotate("", xy=(8.75, y), xytext=(8.05, y), arrowprops={"arrowstyle": "simple", "color": "0.55"})
        axis.text(10.9, y, result, ha="center", va="center", fontsize=11,
                  bbox={**box, "facecolor": "#e8f5e9" if wanted else "#fdecea", "linewidth": 1.2,
                        "edgecolor": COLORS["fp16"] if wanted else COLORS["int8"]})
    axis.text(0.05, len(patterns) * 1.55 - 0.05, "red: quantize / dequantize   blue: float operation   grey: Cast     "
              "left: the ONNX graph as written   right: what TensorRT builds (documented behaviour, not measured)",
              fontsize=9.5, color="0.3")
    figure.tight_layout()
    return figure


def placement_ablation(rows: list[dict], fp32_accuracy: tuple[float, float, float] | None = None,
                       title: str = "Q/DQ placement at the residual Adds") -> plt.Figure:
    """Notebook 06: one bar per placement (top-1 and its 95 % interval), hatched unless every residual Add can fuse
    with its Conv; the FP32 model's top-1 as a band. ``rows``: placement, accuracy, interval, fused, verdict."""
    figure, axis = plt.subplots(figsize=(max(7, 2.0 * len(rows)), 4.8))
    _bars_with_intervals(axis, [row["placement"] for row in rows], [row["accuracy"] for row in rows],
                         [row["interval"] for row in rows], color=PRECISION_COLORS["INT8"], zorder=2,
                         hatch=[None if row["fused"] else "//" for row in rows], edgecolor="white")
    low, high = min(row["interval"][0] for row in rows), max(row["interval"][1] for row in rows)
    handles = [plt.Rectangle((0, 0), 1, 1, color=PRECISION_COLORS["INT8"]),
               plt.Rectangle((0, 0), 1, 1, facecolor=PRECISION_COLORS["INT8"], hatch="//", edgecolor="white")]
    labels = ["every Conv+Add(+Relu) fuses, INT8 output (TensorRT guide)", "not every residual Add can fuse"]
    if fp32_accuracy is not None:
        value, fp32_low, fp32_high = fp32_accuracy
        axis.axhspan(fp32_low, fp32_high, color=PRECISION_COLORS["FP32"], alpha=0.12, linewidth=0, zorder=0)
        axis.axhline(value, color=PRECISION_COLORS["FP32"], linestyle="--", linewidth=1.5, zorder=3)
        handles.append(plt.Line2D([0], [0], color=PRECISION_COLORS["FP32"], linestyle="--"))
        labels.append(f"FP32 {value:.4f} (band: 95 % interval)")
        low, high = min(low, fp32_low), max(high, fp32_high)
    axis.set_ylim(max(0.0, low - 0.05), min(1.0, high + 0.03))
    axis.set_xticks(range(len(rows)), [f"{row['placement']}\n{row['verdict']}" for row in rows], fontsize=10)
    axis.set(title=title, ylabel="top-1 (bars: 95 % interval)",
             xlabel="residual Add inputs with Q/DQ\n(rule checker's verdict)")
    axis.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=2, fontsize=9)
    figure.tight_layout()
    return figure
