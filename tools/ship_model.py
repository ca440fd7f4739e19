"""Make and measure the model shipped with the repository (models/resnet18_cifar10_fp16.pt).

Step 1, once, after a full-profile training run on a GPU (tools/train_recipe_sweep.py --out DIR):

    python tools/ship_model.py make --checkpoint DIR/resnet18_fp32.pt --history DIR/training_history.json

writes the compact file (float16 weights, float32 BatchNorm) with the run's provenance and prints
its sha256 for helpers/model.py. Step 2, on any machine, from the committed file itself:

    python tools/ship_model.py measure [--checkpoint DIR/resnet18_fp32.pt]

evaluates the shipped model on all 10,000 test images on the CPU (and, given the float32 training
checkpoint, what the float16 storage cost) and writes results/shipped-model/evaluation_cpu.json.
Both need CIFAR10_ARCHIVE (or a torchvision download) for the data.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from helpers import config, data, model, training  # noqa: E402

RESULTS = config.REPO_ROOT / "results" / "shipped-model" / "evaluation_cpu.json"
COMPACT_FORMAT = "fp16-weights-fp32-batchnorm"


def compact_state_dict(network: torch.nn.Module) -> dict[str, torch.Tensor]:
    """``network``'s weights for shipping: BatchNorm parameters and statistics in float32, every other
    floating-point tensor (convolution and fc weights, fc bias) in float16, about half the size."""
    batchnorm = {name for name, module in network.named_modules()
                 if isinstance(module, torch.nn.modules.batchnorm._BatchNorm)}
    state = {}
    for key, value in network.state_dict().items():
        value = value.detach().cpu().contiguous()
        state[key] = value.half() if value.is_floating_point() and key.rpartition(".")[0] not in batchnorm else value
    return state


def save_compact_checkpoint(path: Path, network: torch.nn.Module, provenance: dict) -> None:
    """Save ``network`` as ``compact_state_dict`` with its provenance; ``model.load_checkpoint`` reads it in float32."""
    record = {"architecture": model.ARCHITECTURE, "format": COMPACT_FORMAT, "state_dict": compact_state_dict(network),
              "provenance": json.loads(json.dumps(provenance, default=str))}
    with config.written_atomically(path) as partial:
        torch.save(record, partial)


def archive_sha256() -> str | None:
    archive = os.environ.get(data.ARCHIVE_ENV, "").strip()
    return data.sha256_of(Path(archive)) if archive else None


def make(checkpoint: Path, history_path: Path, out: Path) -> None:
    network, provenance = model.load_checkpoint(checkpoint)
    history = json.loads(history_path.read_text())["history"]
    record = {
        "trained_by": "tools/train_recipe_sweep.py (the full profile) --out",
        "commit": provenance.get("commit"),
        "seed": provenance.get("seed"),
        "recipe": provenance.get("profile"),
        "gpu": provenance.get("device"),
        "torch": provenance.get("torch"),
        "data_source": provenance.get("data_source"),
        "data_archive_sha256": archive_sha256(),
        "train_images": provenance.get("train_images"),
        "test_images": provenance.get("test_images"),
        "test_accuracy_fp32_at_training": provenance.get("final_test_accuracy"),
        "last_step_test_accuracy": provenance.get("last_step_test_accuracy"),
        "training_seconds": provenance.get("training_seconds"),
        "kept_model_lowest_test_accuracy_after_epoch_10": min(
            accuracy for epoch, accuracy in zip(history["epoch"], history["test_accuracy"]) if epoch > 10),
        "source_checkpoint_sha256": data.sha256_of(checkpoint),
        "storage": COMPACT_FORMAT,
    }
    save_compact_checkpoint(out, network, record)
    print(json.dumps(record, indent=2))
    print(f"{out}: {out.stat().st_size / 1e6:.1f} MB, sha256 {data.sha256_of(out)}")
    print("Put that sha256 into helpers/model.py (SHIPPED_MODEL_SHA256), then run `measure`.")


def top1(network: torch.nn.Module, split: data.Split) -> tuple[np.ndarray, float]:
    started = time.perf_counter()
    predictions = training.predict(network, split, batch_size=500, device="cpu", progress=False)
    return predictions, time.perf_counter() - started


def measure(checkpoint: Path | None) -> None:
    torch.manual_seed(0)
    dataset = data.load_cifar10()
    shipped, provenance = model.load_shipped_model()
    shipped_predictions, seconds = top1(shipped, dataset.test)
    result = {
        "measured_by": "tools/ship_model.py measure",
        "file": str(model.SHIPPED_MODEL_PATH.relative_to(config.REPO_ROOT)),
        "bytes": model.SHIPPED_MODEL_PATH.stat().st_size,
        "sha256": data.sha256_of(model.SHIPPED_MODEL_PATH),
        "test_images": len(dataset.test),
        "data_source": dataset.source,
        "top1_shipped_file_loaded_as_fp32": training.accuracy(shipped_predictions, dataset.test.labels),
        "evaluation_seconds": round(seconds, 1),
        "cpu": platform.processor() or platform.machine(),
        "cpu_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "provenance": provenance,
    }
    if checkpoint:
        original, _ = model.load_checkpoint(checkpoint)
        original_predictions, _ = top1(original, dataset.test)
        result["top1_float32_training_checkpoint"] = training.accuracy(original_predictions, dataset.test.labels)
        result["float16_storage_cost_points"] = round(
            100 * (result["top1_float32_training_checkpoint"] - result["top1_shipped_file_loaded_as_fp32"]), 4)
        result["same_prediction_as_float32"] = float(np.mean(original_predictions == shipped_predictions))
    config.write_json(RESULTS, result)
    print(json.dumps({key: value for key, value in result.items() if key != "provenance"}, indent=2))
    print(f"written: {RESULTS}")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=("make", "measure"))
    parser.add_argument("--checkpoint", type=Path, help="the float32 checkpoint of the training run")
    parser.add_argument("--history", type=Path, help="training_history.json of the same run (make)")
    parser.add_argument("--out", type=Path, default=model.SHIPPED_MODEL_PATH)
    arguments = parser.parse_args(argv)
    if arguments.step == "make":
        if not (arguments.checkpoint and arguments.history):
            parser.error("make needs --checkpoint and --history")
        make(arguments.checkpoint, arguments.history, arguments.out)
    else:
        measure(arguments.checkpoint)


if __name__ == "__main__":
    main(sys.argv[1:])
