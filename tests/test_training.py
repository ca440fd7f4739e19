"""The training loop and the weight average of notebook 01, on a few tiny CPU steps."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

from helpers import config, training
from helpers.data import Split
from helpers.model import build_resnet18_cifar


def test_weight_average_mixes_weights_and_batchnorm_statistics():
    network = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    average = training.make_weight_average(network, decay=0.75)
    average.update_parameters(network)  # the first update copies
    start_weight = network[0].weight.detach().clone()
    start_mean = network[1].running_mean.clone()
    with torch.no_grad():
        network[0].weight.add_(4.0)
        network[1].running_mean.add_(8.0)
    average.update_parameters(network)
    assert torch.allclose(average.module[0].weight, start_weight + 0.25 * 4.0)
    assert torch.allclose(average.module[1].running_mean, start_mean + 0.25 * 8.0)


def tiny_splits():
    rng = np.random.default_rng(0)
    train = Split(rng.integers(0, 256, (48, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, 48))
    test = Split(rng.integers(0, 256, (20, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, 20))
    return train, test


@pytest.mark.parametrize("cutmix_probability, ema_decay, ema_start_epoch",
                         [(0.0, 0.0, 1), (1.0, 0.9, 1), (0.0, 0.5, 2)])
def test_train_model_keeps_the_model_whose_accuracy_it_reports(cutmix_probability, ema_decay, ema_start_epoch):
    profile = dataclasses.replace(config.PROFILES["quick"], epochs=2, batch_size=16, eval_batch_size=20,
                                  cutmix_probability=cutmix_probability, ema_decay=ema_decay,
                                  ema_start_epoch=ema_start_epoch)
    train, test = tiny_splits()
    torch.manual_seed(0)
    model = build_resnet18_cifar()
    before = [parameter.detach().clone() for parameter in model.parameters()]
    history = training.train_model(model, train, test, profile, torch.device("cpu"))

    assert history["epoch"] == [1, 2]
    assert all(len(history[key]) == 2 for key in ("train_loss", "train_accuracy", "test_accuracy", "learning_rate"))
    assert all(rate > 0 for rate in history["learning_rate"])
    assert any(not torch.equal(old, new) for old, new in zip(before, model.parameters()))
    kept_accuracy = training.accuracy(training.predict(model, test, 20, progress=False), test.labels)
    assert kept_accuracy == history["test_accuracy"][-1]
    assert ("last_step_test_accuracy" in history) == bool(ema_decay)
    assert len(history["live_test_accuracy"]) == 2
    # before the average starts, the kept model is the live one
    for epoch, kept, live in zip(history["epoch"], history["test_accuracy"], history["live_test_accuracy"]):
        if not ema_decay or epoch < ema_start_epoch:
            assert kept == live


def test_accuracy_refuses_mismatched_lengths():
    assert training.accuracy(np.array([1, 2, 3]), np.array([1, 0, 3])) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="3 predictions for 2 labels"):
        training.accuracy(np.array([1, 2, 3]), np.array([1, 2]))


def test_accuracy_interval_is_the_wilson_interval():
    labels = np.zeros(1000, dtype=np.int64)
    predictions = labels.copy()
    predictions[:70] = 1  # 930 of 1,000 right
    value, low, high = training.accuracy_interval(predictions, labels)
    assert value == 0.93 and low == pytest.approx(0.9125, abs=1e-4) and high == pytest.approx(0.9442, abs=1e-4)
    assert training.format_accuracy(predictions, labels) == "0.9300 (95 % interval 0.9125-0.9442, 1,000 images)"
    _, low, high = training.accuracy_interval(labels, labels)  # all right: the interval still has width
    assert high == 1.0 and 0.99 < low < 1.0
