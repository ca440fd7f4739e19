"""Every plot of the series, with one look readable on a workshop projector.

Introduced in notebook 01. Each function returns a matplotlib Figure; notebooks show it and
save it next to the other artifacts with ``save_figure``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib
import matplotlib.pyplot as plt
import matplotlib.ticker
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
    "int8 + fp16": "#ff7f0e",
    "other": "#7f7f7f",
}

matplotlib.rcParams.update(STYLE)


def color_for(label: str) -> str:
    """The series colour for a label such as 'PyTorch INT8 (CPU)' (matched by precision)."""
    lowered = label.lower()
    for key in ("int8 (fused residuals)", "int8 + fp16", "int8", "fp16", "fp32"):
        if key in lowered:
            return COLORS[key]
    return COLORS["other"]


def save_figure(figure: plt.Figure, path: Path) -> None:
    """Write ``figure`` as PNG (and keep it open so the notebook still shows it). Returns nothing, so that a cell
    ending with it shows the figure and not the machine's path to the file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)


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
    marker = "o" if len(epochs) <= 40 else None
    averaged = "last_step_test_accuracy" in history  # trained with a moving average of the weights
    figure, (loss_axis, accuracy_axis, lr_axis) = plt.subplots(1, 3, figsize=(15, 4))
    loss_axis.plot(epochs, history["train_loss"], marker=marker, color=COLORS["fp32"])
    loss_axis.set(title="Training loss", xlabel="epoch", ylabel="cross-entropy (label smoothing)")
    accuracy_axis.plot(epochs, history["train_accuracy"], marker=marker, label="train (augmented)", color=COLORS["other"])
    accuracy_axis.plot(epochs, history["test_accuracy"], marker=marker, color=COLORS["fp32"], label="test: model kept")
    live = history.get("live_test_accuracy")
    if averaged and live:
        accuracy_axis.plot(epochs, live, color=COLORS["fp32"], linestyle=":", alpha=0.7, label="test: live weights")
        averaged_from = next((epoch for epoch, kept, plain in zip(epochs, history["test_accuracy"], live) if kept != plain), None)
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


def accuracy_bars(accuracies: dict[str, float], title: str = "Top-1 accuracy on the test images",
                  zoom: bool = True, intervals: dict[str, tuple[float, float]] | None = None) -> plt.Figure:
    """One bar per model; ``zoom`` narrows the y-axis around the values so small gaps are visible.

    With ``intervals`` ({name: (low, high)}, e.g. from ``training.accuracy_interval``) each bar gets its
    95 % interval, and the axis spans the intervals, so a gap smaller than the intervals looks like one.
    """
    names = list(accuracies)
    values = [accuracies[name] for name in names]
    figure, axis = plt.subplots(figsize=(max(6, 1.8 * len(names)), 4.5))
    errors = None
    if intervals:
        errors = np.array([[value - intervals[name][0], intervals[name][1] - value] for name, value in zip(names, values)]).T
    bars = axis.bar(names, values, color=[color_for(name) for name in names], yerr=errors, capsize=6)
    for bar, value in zip(bars, values):
        axis.annotate(f"{value:.4f}", (bar.get_x() + bar.get_width() / 2, value),
                      ha="left", va="bottom", fontsize=11, xytext=(4, 3), textcoords="offset points")
    low, high = min(values), max(values)
    if intervals:
        low = min(interval[0] for interval in intervals.values())
        high = max(interval[1] for interval in intervals.values())
        axis.set_ylim(max(0.0, low - 0.05), min(1.0, high + 0.02))
        axis.set_ylabel("accuracy (bars: 95 % interval)")
    elif zoom and high > 0:
        margin = max(0.02, (high - low) * 1.5)
        axis.set_ylim(max(0.0, low - margin), min(1.0, high + margin / 2))
    else:
        axis.set_ylim(0, 1)
    axis.set_title(title)
    if not intervals:
        axis.set_ylabel("accuracy")
    axis.tick_params(axis="x", rotation=15)
    figure.tight_layout()
    return figure


def layer_sqnr_bars(sqnr_by_layer: dict[str, float], highlight: int = 3,
                    title: str = "Quantization error per layer (INT8 vs FP32)") -> plt.Figure:
    """Notebook 02: one horizontal bar per quantized layer, in the order they run, top to bottom.

    SQNR in dB (higher is better; each 6 dB is about one bit). The ``highlight`` lowest bars are
    labelled so the layers that lose the most stand out.
    """
    names = list(sqnr_by_layer)
    values = np.array([sqnr_by_layer[name] for name in names], dtype=float)
    finite = np.where(np.isfinite(values), values, np.nan)
    shown = np.nan_to_num(finite, nan=np.nanmax(finite) if np.isfinite(finite).any() else 0.0)
    worst = set(np.argsort(shown)[:highlight].tolist())
    figure, axis = plt.subplots(figsize=(9, max(4.0, 0.28 * len(names) + 1.2)))
    colors = [COLORS["int8"] if index in worst else COLORS["other"] for index in range(len(names))]
    positions = np.arange(len(names))
    axis.barh(positions, shown, color=colors)
    axis.set_yticks(positions, names, fontsize=9)
    axis.invert_yaxis()  # first layer on top
    for index in sorted(worst):
        axis.annotate(f"{shown[index]:.1f} dB", (shown[index], index), xytext=(4, 0), textcoords="offset points",
                      va="center", fontsize=9, color=COLORS["int8"])
    axis.set(title=title, xlabel="SQNR of the layer's output (dB, higher is better)")
    axis.grid(axis="y", visible=False)
    figure.tight_layout()
    return figure


def layer_sensitivity_bars(kl_by_layer: dict[str, float], title: str) -> plt.Figure:
    """Notebook 07: one horizontal bar per layer, most sensitive on top (KL divergence from FP32, log scale)."""
    names = list(kl_by_layer)
    figure, axis = plt.subplots(figsize=(9, max(4.0, 0.28 * len(names) + 1.2)))
    axis.barh(np.arange(len(names)), [kl_by_layer[name] for name in names],
              color=[COLORS["int8"] if index < 3 else COLORS["other"] for index in range(len(names))])
    axis.set_yticks(np.arange(len(names)), names, fontsize=9)
    axis.invert_yaxis()
    axis.set(title=title, xscale="log", xlabel="KL divergence of the logits from FP32 (log scale, higher = more sensitive)")
    axis.grid(axis="y", visible=False)
    figure.tight_layout()
    return figure


def accuracy_against_float_layers(points: dict[int, tuple[float, float, float]], fp32: tuple[float, float, float]) -> plt.Figure:
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


# --- notebook 04: benchmarks and engine precisions ---------------------------------------------

RUNTIME_LINESTYLES = {"TensorRT": "-", "PyTorch": "--", "ONNX Runtime": ":"}
DEVICE_MARKERS = {"cuda": "o", "cpu": "s"}
PRECISION_COLORS = {"INT8": COLORS["int8"], "FP16": COLORS["fp16"], "FP32": COLORS["fp32"],
                    "BF16": "#17becf", "FP8": "#e377c2", "INT32": "#8c564b", "INT64": "#bcbd22",
                    "BOOL": "#c7c7c7", "unknown": COLORS["other"]}


def _series_by_label(rows: list[dict]) -> dict[str, list[dict]]:
    series: dict[str, list[dict]] = {}
    for row in sorted(rows, key=lambda row: row["batch_size"]):
        series.setdefault(row["label"], []).append(row)
    return series


def _batch_axis(axis, rows: list[dict]) -> None:
    sizes = sorted({row["batch_size"] for row in rows})
    axis.set_xscale("log", base=2)
    axis.set_xticks(sizes, [str(size) for size in sizes])
    axis.minorticks_off()


def latency_vs_batch(rows: list[dict], subtitle: str = "") -> plt.Figure:
    """Notebook 04: median latency per batch against batch size, with the p99 as a shaded band.

    ``rows`` are measurements from ``helpers.benchmark`` (one data-copy setting). Colour = precision,
    line style = runtime, marker = device (circle GPU, square CPU).
    """
    figure, axis = plt.subplots(figsize=(9.5, 5.5))
    for label, series in _plot_against_batch(axis, rows, "median_ms").items():
        axis.fill_between([row["batch_size"] for row in series], [row["median_ms"] for row in series],
                          [row["p99_ms"] for row in series], color=color_for(label), alpha=0.12, linewidth=0)
    _finish_batch_plot(figure, axis, rows, "Latency per batch (median; band up to p99)", subtitle,
                       "latency per batch (ms, log scale)")
    return figure


def throughput_vs_batch(rows: list[dict], subtitle: str = "") -> plt.Figure:
    """Notebook 04: images per second (from the median latency) against batch size."""
    figure, axis = plt.subplots(figsize=(9.5, 5.5))
    _plot_against_batch(axis, rows, "throughput_images_per_s")
    _finish_batch_plot(figure, axis, rows, "Throughput", subtitle, "images per second (log scale)")
    return figure


def _plot_against_batch(axis, rows: list[dict], value_key: str) -> dict[str, list[dict]]:
    """One line per runtime/precision/device: line style = runtime, marker = device. Returns the series."""
    series_by_label = _series_by_label(rows)
    for label, series in series_by_label.items():
        axis.plot([row["batch_size"] for row in series], [row[value_key] for row in series],
                  label=label, color=color_for(label), linestyle=RUNTIME_LINESTYLES.get(series[0]["runtime"], "-."),
                  marker=DEVICE_MARKERS.get(series[0]["device"], "^"))
    return series_by_label


def _finish_batch_plot(figure, axis, rows: list[dict], title: str, subtitle: str, ylabel: str) -> None:
    _batch_axis(axis, rows)
    axis.set_yscale("log")
    axis.set(title=title + (f"\n{subtitle}" if subtitle else ""), xlabel="batch size", ylabel=ylabel)
    axis.legend(loc="upper left", fontsize=10, ncol=2)
    figure.tight_layout()


def layer_precision_chart(summaries: dict[str, dict], title: str = "Precision of every engine layer") -> plt.Figure:
    """Notebook 04: one row per engine, one coloured cell per layer in execution order, coloured by the
    precision the layer computes in (from ``tensorrt_engine.parse_layer_information``)."""
    names = list(summaries)
    figure, axis = plt.subplots(figsize=(11, 1.1 * len(names) + 1.8))
    seen = []
    for row, name in enumerate(names):
        for index, layer in enumerate(summaries[name]["layers"]):
            precision = layer["precision"] if layer["precision"] in PRECISION_COLORS else "unknown"
            if precision not in seen:
                seen.append(precision)
            axis.broken_barh([(index, 0.9)], (row - 0.4, 0.8), facecolors=PRECISION_COLORS[precision])
    labels = []
    for name in names:
        counts: dict[str, int] = {}
        for layer in summaries[name]["layers"]:
            counts[layer["precision"]] = counts.get(layer["precision"], 0) + 1
        ordered = sorted(counts.items(), key=lambda item: -item[1])
        labels.append(f"{name}\n" + ", ".join(f"{count} {precision}" for precision, count in ordered))
    axis.set_yticks(range(len(names)), labels)
    axis.set_ylim(len(names) - 0.4, -0.6)
    axis.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    axis.set(title=title, xlabel="engine layer (execution order)")
    axis.grid(False)
    handles = [plt.Rectangle((0, 0), 1, 1, color=PRECISION_COLORS[precision]) for precision in seen]
    axis.legend(handles, seen, loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=max(1, len(seen)))
    figure.tight_layout()
    return figure


# --- notebook 03: how TensorRT reads a Q/DQ graph (a drawing, not a measurement) ---------------------

# (row title, the ONNX nodes as written, what TensorRT makes of them, whether that is what we want)
QDQ_PATTERNS = [
    ("1 · the pattern TensorRT looks for",
     ["Q", "DQ", "Conv\n(+ weight DQ)", "ReLU", "Q"],
     "one INT8 convolution:\nint8 in, int8 out, ReLU fused", True),
    ("2 · a Cast between Q and DQ (as exported)",
     ["Q", "Cast\nuint8", "DQ", "Conv\n(+ weight DQ)", "Q"],
     "Q and DQ cannot be paired:\nthe parser rejects the graph", False),
    ("3 · residual Add, Q/DQ on both inputs",
     ["DQ", "Conv", "Q  DQ", "Add\n(+ DQ shortcut)", "ReLU"],
     "INT8 Conv, then a separate\nAdd: one more pass over memory", False),
    ("4 · residual Add, Q/DQ on the shortcut only",
     ["DQ", "Conv", "Add\n(+ DQ shortcut)", "ReLU", "Q"],
     "one INT8 convolution with\nthe Add and ReLU fused", True),
]


def _node_color(label: str) -> str:
    first = label.split()[0]
    if first in ("Q", "DQ"):
        return COLORS["int8"]
    if first == "Cast":
        return COLORS["other"]
    return COLORS["fp32"]


def qdq_fusion_diagram(patterns: list = QDQ_PATTERNS) -> plt.Figure:
    """Notebook 03's mental model: Q/DQ patterns as written in ONNX (left) and what TensorRT builds from them (right).

    Red boxes are quantize/dequantize nodes, blue boxes float operations, grey the exporter's Cast. This is a
    drawing of TensorRT's documented behaviour (developer guide, "Explicit quantization"), not a measurement.
    """
    figure, axis = plt.subplots(figsize=(13, 1.55 * len(patterns) + 0.6))
    axis.set_xlim(0, 13)
    axis.set_ylim(len(patterns) * 1.55, -0.3)
    axis.axis("off")
    box = {"boxstyle": "round,pad=0.35", "linewidth": 0}
    for row, (title, nodes, result, wanted) in enumerate(patterns):
        y = row * 1.55 + 0.75
        axis.text(0.05, y - 0.55, title, fontsize=12, fontweight="bold", va="center")
        drawn = [axis.text(0.6 + index * 1.6, y, label, ha="center", va="center", fontsize=10.5, color="white",
                           bbox={**box, "facecolor": _node_color(label)}) for index, label in enumerate(nodes)]
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


# --- notebook 06: the residual-placement ablation ----------------------------------------------

def placement_ablation(rows: list[dict], fp32_accuracy: tuple[float, float, float] | None = None,
                       title: str = "Q/DQ placement at the residual Adds") -> plt.Figure:
    """Notebook 06: one bar per placement (top-1 with its 95 % interval, INT8 colour), hatched unless every residual
    Add can fuse with its Conv into one INT8 layer (TensorRT's guide); the FP32 model's top-1 (and interval) as a band.

    ``rows``: dicts with ``placement``, ``accuracy``, ``interval`` (low, high), ``fused`` (bool: every Add) and ``verdict``
    (the rule checker's short verdict, written under the bar).
    """
    names = [row["placement"] for row in rows]
    values = np.array([row["accuracy"] for row in rows])
    errors = np.array([[row["accuracy"] - row["interval"][0], row["interval"][1] - row["accuracy"]] for row in rows]).T
    figure, axis = plt.subplots(figsize=(max(7, 2.0 * len(rows)), 4.8))
    bars = axis.bar(names, values, color=PRECISION_COLORS["INT8"], yerr=errors, capsize=6, zorder=2,
                    hatch=[None if row["fused"] else "//" for row in rows], edgecolor="white")
    for bar, row in zip(bars, rows):
        axis.annotate(f"{row['accuracy']:.4f}", (bar.get_x() + bar.get_width() / 2, row["accuracy"]),
                      ha="left", va="bottom", fontsize=11, xytext=(4, 3), textcoords="offset points")
    low = min(row["interval"][0] for row in rows)
    high = max(row["interval"][1] for row in rows)
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
    axis.set(title=title, ylabel="top-1 (bars: 95 % interval)", xlabel="residual Add inputs with Q/DQ\n(rule checker's verdict)")
    axis.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=2, fontsize=9)
    figure.tight_layout()
    return figure
