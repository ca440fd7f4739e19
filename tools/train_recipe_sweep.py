"""Train the FP32 ResNet18 with variations of the full profile and print each one's test accuracy.

How the full profile's recipe was chosen (see README), and how the shipped model was trained
(``--out`` keeps the checkpoint and the history). Runs on a GPU:

    python tools/train_recipe_sweep.py epochs=60 batch_size=256 peak_learning_rate=0.1
    python tools/train_recipe_sweep.py seed=0 --commit $(git rev-parse --short HEAD) --out artifacts/shipped-run

Each ``field=value`` argument overrides one field of helpers.config.PROFILES["full"]; ``seed=N``
changes the random seed (default 0). ``--commit`` records the commit the code came from (the GPU
machine may have no git history).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from helpers import config, data, model, training  # noqa: E402


def parse_overrides(arguments: list[str]) -> tuple[dict, int]:
    fields = {field.name for field in dataclasses.fields(config.Profile)}
    overrides, seed = {}, training.SEED
    for argument in arguments:
        key, _, value = argument.partition("=")
        if key == "seed":
            seed = int(value)
            continue
        if key not in fields:
            raise SystemExit(f"unknown profile field {key!r}; fields: {sorted(fields)} or seed")
        overrides[key] = float(value) if "." in value or "e" in value else int(value)
    return overrides, seed


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("overrides", nargs="*", help="field=value pairs, or seed=N")
    parser.add_argument("--out", type=Path, help="folder for resnet18_fp32.pt and training_history.json")
    parser.add_argument("--commit", default="unknown", help="the commit this code came from")
    arguments = parser.parse_args(argv)
    overrides, seed = parse_overrides(arguments.overrides)
    profile = dataclasses.replace(config.PROFILES["full"], **overrides)
    device = config.default_device()
    dataset = data.load_cifar10(profile)
    network = model.build_resnet18_cifar()
    started = time.perf_counter()
    history = training.train_model(network, dataset.train, dataset.test, profile, device, seed=seed)
    seconds = time.perf_counter() - started
    summary = {
        "overrides": overrides, "seed": seed, "commit": arguments.commit,
        "final_test_accuracy": history["test_accuracy"][-1],
        "last_step_test_accuracy": history.get("last_step_test_accuracy"),
        "training_seconds": round(sum(history["epoch_seconds"]), 1), "wall_seconds": round(seconds, 1),
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "torch": torch.__version__, "data_source": dataset.source,
    }
    print(json.dumps(summary))
    if arguments.out:
        provenance = {**summary, "architecture": model.ARCHITECTURE, "profile": profile.as_dict(),
                      "train_images": len(dataset.train), "test_images": len(dataset.test)}
        model.save_checkpoint(arguments.out / "resnet18_fp32.pt", network, provenance)
        config.write_json(arguments.out / "training_history.json", {"provenance": provenance, "history": history})


if __name__ == "__main__":
    main(sys.argv[1:])
