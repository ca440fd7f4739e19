"""Training and evaluation of the FP32 ResNet18 (notebook 01); ``predict`` and the accuracy functions serve 02-07,
``strict_fp32`` notebook 07's QAT and the benchmark's FP32 baseline. The recipe: SGD + Nesterov, one-cycle schedule,
label smoothing, crop and flip, CutMix, weight averaging."""

from __future__ import annotations

import random
import time
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .config import Profile
from .data import Split, batches, cutmix, normalize, to_tensor

SEED = 0


def set_seed(seed: int = SEED) -> torch.Generator:
    """Seed Python, NumPy and PyTorch; return a CPU generator for shuffling and augmentation."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


@contextmanager
def strict_fp32():
    """TF32 off in cuBLAS and cuDNN inside the block, so "FP32" means what it means in the FP32 engine."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def make_optimizer(model: nn.Module, profile: Profile, steps_per_epoch: int):
    """SGD + Nesterov momentum with a one-cycle schedule over the profile's epochs."""
    optimizer = torch.optim.SGD(model.parameters(), lr=profile.peak_learning_rate, momentum=0.9, nesterov=True,
                                weight_decay=profile.weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=profile.peak_learning_rate, epochs=profile.epochs, steps_per_epoch=steps_per_epoch,
        pct_start=0.25, anneal_strategy="linear", div_factor=10.0, final_div_factor=100.0)
    return optimizer, scheduler


def make_weight_average(model: nn.Module, decay: float) -> torch.optim.swa_utils.AveragedModel:
    """An exponential moving average of ``model``'s weights and BatchNorm statistics, updated every step."""
    return torch.optim.swa_utils.AveragedModel(
        model, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(decay), use_buffers=True)


def train_step(forward, inputs: torch.Tensor, loss_of, optimizer, scheduler) -> tuple[torch.Tensor, torch.Tensor]:
    """One training step: logits = forward(inputs), loss = loss_of(logits), fresh gradients, backward, an optimizer
    step, then a learning-rate step. Returns (loss, logits). The reference of notebook 01's lesson."""
    logits = forward(inputs)
    loss = loss_of(logits)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    scheduler.step()
    return loss, logits


def train_model(model: nn.Module, train: Split, test: Split, profile: Profile, device: torch.device,
                seed: int = SEED, step=train_step) -> dict:
    """Train ``model`` in place with ``step`` (notebook 01 passes yours); return a history, one entry per epoch:
    ``test_accuracy`` of the model kept (the moving average once it starts), ``live_test_accuracy`` of the plain one."""
    generator = set_seed(seed)
    use_cuda = device.type == "cuda"
    torch.backends.cudnn.benchmark = torch.backends.cudnn.benchmark or use_cuda
    model = model.to(device, memory_format=torch.channels_last if use_cuda else torch.preserve_format)
    train_images, train_labels = to_tensor(train.images, device), torch.from_numpy(train.labels).to(device)
    steps_per_epoch = -(-len(train) // profile.batch_size)
    optimizer, scheduler = make_optimizer(model, profile, steps_per_epoch)
    loss_function = nn.CrossEntropyLoss(label_smoothing=profile.label_smoothing)

    def forward(inputs):  # bf16 mixed precision on a GPU
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use_cuda):
            return model(inputs)
    history = {"epoch": [], "train_loss": [], "train_accuracy": [], "test_accuracy": [],
               "live_test_accuracy": [], "learning_rate": [], "epoch_seconds": []}
    average = None
    summary_every = max(1, profile.epochs // 10)
    progress = tqdm(range(1, profile.epochs + 1), desc="training", unit="epoch")
    for epoch in progress:
        if profile.ema_decay and average is None and epoch >= profile.ema_start_epoch:
            average = make_weight_average(model, profile.ema_decay)  # starts as a copy of the live weights
        model.train()
        if use_cuda:
            torch.cuda.synchronize()
        started = time.perf_counter()
        loss_sum, correct = torch.zeros((), device=device), torch.zeros((), device=device, dtype=torch.long)
        for inputs, targets in batches(train_images, train_labels, profile.batch_size, shuffle=True, augment=True,
                                       generator=generator):
            if use_cuda:
                inputs = inputs.contiguous(memory_format=torch.channels_last)
            mixed = (profile.cutmix_probability > 0
                     and float(torch.rand((), generator=generator)) < profile.cutmix_probability)
            inputs, pasted_targets, keep = cutmix(inputs, targets, generator) if mixed else (inputs, targets, 1.0)

            def loss_of(logits, targets=targets, pasted_targets=pasted_targets, keep=keep):  # in float32
                loss = loss_function(logits.float(), targets)
                return loss if not mixed else keep * loss + (1.0 - keep) * loss_function(logits.float(), pasted_targets)
            learning_rate = optimizer.param_groups[0]["lr"]  # the rate this step uses
            loss, logits = step(forward, inputs, loss_of, optimizer, scheduler)
            if average is not None:
                average.update_parameters(model)
            loss_sum += loss.detach() * len(targets)
            correct += (logits.argmax(1) == targets).sum()
        if use_cuda:
            torch.cuda.synchronize()
        seconds = time.perf_counter() - started
        live_accuracy = accuracy(predict(model, test, profile.eval_batch_size, device, progress=False), test.labels)
        kept_accuracy = live_accuracy if average is None else accuracy(
            predict(average.module, test, profile.eval_batch_size, device, progress=False), test.labels)
        for key, value in (("epoch", epoch), ("train_loss", loss_sum.item() / len(train)),
                           ("train_accuracy", correct.item() / len(train)), ("test_accuracy", kept_accuracy),
                           ("live_test_accuracy", live_accuracy), ("learning_rate", learning_rate),
                           ("epoch_seconds", seconds)):
            history[key].append(value)
        progress.set_postfix(loss=f"{history['train_loss'][-1]:.3f}", test=f"{kept_accuracy:.3f}")
        if epoch % summary_every == 0 or epoch == profile.epochs:
            live = "" if average is None else f" (live weights {live_accuracy:.4f})"
            tqdm.write(f"epoch {epoch:3d}  loss {history['train_loss'][-1]:.4f}  train acc "
                       f"{history['train_accuracy'][-1]:.4f}  test acc {kept_accuracy:.4f}{live}  ({seconds:.1f} s)")
    if average is not None:
        history["last_step_test_accuracy"] = history["live_test_accuracy"][-1]
        model.load_state_dict(average.module.state_dict())
    model.to("cpu", memory_format=torch.contiguous_format)
    return history


@torch.inference_mode()
def predict(model: nn.Module, split: Split, batch_size: int, device: torch.device | str = "cpu",
            progress: bool = False, description: str = "predict") -> np.ndarray:
    """Top-1 class of every image in ``split`` (works for FP32 and for quantized CPU models)."""
    model.eval()
    device = torch.device(device)
    images = to_tensor(split.images, device)
    predictions = []
    for start in tqdm(range(0, len(split), batch_size), desc=description, unit="batch", disable=not progress,
                      leave=False):
        inputs = normalize(images[start:start + batch_size])
        if device.type == "cuda":
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        predictions.append(model(inputs).argmax(1).cpu())
    return torch.cat(predictions).numpy()


def accuracy(predictions: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of predictions equal to the labels."""
    predictions, labels = np.asarray(predictions), np.asarray(labels)
    if predictions.shape != labels.shape:
        raise ValueError(f"{predictions.shape[0]} predictions for {labels.shape[0]} labels")
    return float((predictions == labels).mean())


def accuracy_interval(predictions: np.ndarray, labels: np.ndarray, z: float = 1.96) -> tuple[float, float, float]:
    """Top-1 accuracy and its 95 % Wilson score interval: how far the accuracy on *all* images like these could be
    from this sample's (about +-1.6 points for 1,000 images at 93 %)."""
    value = accuracy(predictions, labels)
    count = len(np.asarray(labels))
    centre = (value + z * z / (2 * count)) / (1 + z * z / count)
    half_width = z * np.sqrt(value * (1 - value) / count + z * z / (4 * count * count)) / (1 + z * z / count)
    return value, float(max(0.0, centre - half_width)), float(min(1.0, centre + half_width))


def format_accuracy(predictions: np.ndarray, labels: np.ndarray) -> str:
    """'0.9310 (95 % interval 0.9142-0.9444, 1,000 images)': how every notebook prints an accuracy."""
    value, low, high = accuracy_interval(predictions, labels)
    return f"{value:.4f} (95 % interval {low:.4f}-{high:.4f}, {len(np.asarray(labels)):,} images)"


def accuracy_rows(predictions: dict[str, np.ndarray], labels: np.ndarray, reference: str) -> list[dict]:
    """Top-1 accuracy of each model, its 95 % interval, and how often it agrees with ``reference``'s prediction."""
    if reference not in predictions:
        raise ValueError(f"reference {reference!r} is not among {list(predictions)}")
    rows = []
    for name, predicted in predictions.items():
        predicted = np.asarray(predicted)
        if predicted.shape != labels.shape:
            raise ValueError(f"{name}: {predicted.shape[0]} predictions for {labels.shape[0]} labels")
        value, low, high = accuracy_interval(predicted, labels)
        rows.append({"model": name, "accuracy": value, "interval_95": [low, high],
                     "agreement_with_reference": float((predicted == predictions[reference]).mean()),
                     "images": int(labels.size)})
    return rows
