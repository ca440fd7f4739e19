"""Train the FP32 ResNet18 with variations of the full profile and print each one's test accuracy.

How the full profile's recipe was chosen (see README, "How the numbers were made"). Runs on a GPU:

    python tools/train_recipe_sweep.py epochs=60 batch_size=256 peak_learning_rate=0.1

Each argument overrides one field of helpers.config.PROFILES["full"].
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from helpers import config, data, model, training  # noqa: E402


def parse_overrides(arguments: list[str]) -> dict:
    fields = {field.name for field in dataclasses.fields(config.Profile)}
    overrides = {}
    for argument in arguments:
        key, _, value = argument.partition("=")
        if key not in fields:
            raise SystemExit(f"unknown profile field {key!r}; fields: {sorted(fields)}")
        overrides[key] = float(value) if "." in value or "e" in value else int(value)
    return overrides


def main(arguments: list[str]) -> None:
    overrides = parse_overrides(arguments)
    profile = dataclasses.replace(config.PROFILES["full"], **overrides)
    device = config.default_device()
    dataset = data.load_cifar10(profile)
    network = model.build_resnet18_cifar()
    started = time.perf_counter()
    history = training.train_model(network, dataset.train, dataset.test, profile, device)
    seconds = time.perf_counter() - started
    print(json.dumps({"overrides": overrides, "final_test_accuracy": history["test_accuracy"][-1],
                      "last_step_test_accuracy": history.get("last_step_test_accuracy"),
                      "training_seconds": round(sum(history["epoch_seconds"]), 1), "wall_seconds": round(seconds, 1),
                      "device": str(device), "data_source": dataset.source}))


if __name__ == "__main__":
    main(sys.argv[1:])
