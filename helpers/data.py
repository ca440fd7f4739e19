"""CIFAR-10 for every notebook (notebook 01): uint8 images (N x 32 x 32 x 3, RGB) and int64 labels, held in memory,
from the ImageFolder archive ``$CIFAR10_ARCHIVE`` names (cached as arrays), else downloaded by torchvision."""

from __future__ import annotations

import hashlib
import io
import lzma
import os
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from .config import REPO_ROOT, Profile, TutorialError, written_atomically

ARCHIVE_ENV = "CIFAR10_ARCHIVE"
DATA_DIR_ENV = "TUTORIAL_DATA_DIR"
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
# Per-channel mean and standard deviation of the CIFAR-10 training images (RGB, pixel values in [0, 1]).
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
SUBSET_SEED = 0


@dataclass
class Split:
    """One split of CIFAR-10 held in memory."""

    images: np.ndarray  # uint8, N x 32 x 32 x 3, RGB
    labels: np.ndarray  # int64, N

    def __len__(self) -> int:
        return len(self.labels)


@dataclass
class Cifar10:
    train: Split
    test: Split
    classes: tuple[str, ...]
    source: str  # where the images came from, for provenance records


def data_dir() -> Path:
    return Path(os.environ.get(DATA_DIR_ENV) or REPO_ROOT / "data_cache")


def load_cifar10(profile: Profile | None = None) -> Cifar10:
    """CIFAR-10 from $CIFAR10_ARCHIVE, else torchvision; with a profile, cut to its sizes (``take_subset``)."""
    archive = os.environ.get(ARCHIVE_ENV, "").strip()
    data = load_from_archive(Path(archive).expanduser()) if archive else load_from_torchvision()
    if profile is None:
        return data
    return Cifar10(take_subset(data.train, profile.train_images), take_subset(data.test, profile.test_images),
                   data.classes, data.source)


def examples_per_class(split: Split, per_class: int) -> Split:
    """The first ``per_class`` images of every class, interleaved (for image grids)."""
    chosen = [np.flatnonzero(split.labels == label)[:per_class] for label in range(len(CIFAR10_CLASSES))]
    order = np.stack([indices for indices in chosen if len(indices) == per_class], axis=1).ravel()
    return Split(images=split.images[order], labels=split.labels[order])


def balanced_order(labels: np.ndarray, seed: int = SUBSET_SEED) -> np.ndarray:
    """Indices of every image, classes taken round-robin, each class's images in a fixed random order (``seed``):
    any prefix of it is as class-balanced as the data allows."""
    rng = np.random.default_rng(seed)
    per_class = [rng.permutation(np.flatnonzero(labels == label)) for label in np.unique(labels)]
    depth = max((len(indices) for indices in per_class), default=0)
    return np.asarray([indices[rank] for rank in range(depth) for indices in per_class if rank < len(indices)],
                      dtype=np.int64)


def take_subset(split: Split, count: int | None, seed: int = SUBSET_SEED) -> Split:
    """A fixed, class-balanced subset of ``count`` images (all when None), kept in their original order: every class
    has ``count // 10`` images (one more for the first ``count % 10``), the same on every run and machine."""
    if count is None or count >= len(split):
        return split
    return _select(split, balanced_order(split.labels, seed)[:count])


def disjoint_subsets(split: Split, counts: list[int], seed: int = SUBSET_SEED) -> list[Split]:
    """Class-balanced subsets of the given sizes that share no image (notebook 02: calibration and held-out)."""
    order = balanced_order(split.labels, seed)
    if sum(counts) > len(order):
        raise ValueError(f"{sum(counts)} images asked for, {len(order)} available")
    starts = np.cumsum([0, *counts])
    return [_select(split, order[start:stop]) for start, stop in zip(starts[:-1], starts[1:])]


def _select(split: Split, indices: np.ndarray) -> Split:
    indices = np.sort(indices)
    return Split(images=split.images[indices], labels=split.labels[indices])


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_from_archive(archive: Path) -> Cifar10:
    """Read an ImageFolder archive once, cache it as arrays, and return it."""
    if not archive.is_file():
        raise TutorialError(
            f"{ARCHIVE_ENV} names {archive}, which does not exist. Point it at an ImageFolder archive of CIFAR-10 "
            f"(train/<class>/*.jpg, test/<class>/*.jpg), or unset it to download CIFAR-10 with torchvision.")
    digest = sha256_of(archive)
    source = f"ImageFolder archive {archive.name} (sha256 {digest[:16]})"
    cache = data_dir() / f"cifar10-{digest[:16]}.npz"
    if cache.exists():
        with np.load(cache) as arrays:
            return Cifar10(Split(arrays["train_images"], arrays["train_labels"]),
                           Split(arrays["test_images"], arrays["test_labels"]),
                           tuple(str(name) for name in arrays["classes"]), source)
    train, test = read_image_folder_archive(archive)
    with written_atomically(cache) as partial:
        np.savez(partial, train_images=train.images, train_labels=train.labels, test_images=test.images,
                 test_labels=test.labels, classes=np.array(CIFAR10_CLASSES))
    return Cifar10(train, test, CIFAR10_CLASSES, source)


def read_image_folder_archive(archive: Path) -> tuple[Split, Split]:
    """Decode every image of a ``{train,test}/<class>/<file>`` tar archive; returns (train, test)."""
    from PIL import Image
    members: dict[str, list[tuple[str, str, bytes]]] = {"train": [], "test": []}
    try:
        with tarfile.open(archive, mode="r:*") as tar:
            for member in tar:
                parts = Path(member.name).parts
                parts = next((parts[index:] for index, part in enumerate(parts) if part in members), ())
                if member.isfile() and len(parts) == 3 and parts[2].lower().endswith((".jpg", ".jpeg", ".png")):
                    members[parts[0]].append((parts[1], parts[2], tar.extractfile(member).read()))
    except (tarfile.TarError, lzma.LZMAError, zlib.error, EOFError, OSError) as error:
        raise TutorialError(f"{archive} is not a readable tar archive ({type(error).__name__}: {error}). It may be "
                            f"truncated or corrupt: copy it again, or unset {ARCHIVE_ENV}.") from error
    splits = []
    for split_name, files in members.items():
        classes = tuple(sorted({class_name for class_name, _, _ in files}))
        if classes != CIFAR10_CLASSES:
            raise TutorialError(f"{archive}: the folder {split_name}/ holds classes {list(classes)}, but CIFAR-10's "
                                f"ten classes {list(CIFAR10_CLASSES)} were expected (layout train/<class>/*.jpg).")
        files.sort(key=lambda item: (item[0], item[1]))
        images = np.empty((len(files), 32, 32, 3), dtype=np.uint8)
        for index, (class_name, file_name, payload) in enumerate(files):
            where = f"{archive}: {split_name}/{class_name}/{file_name}"
            try:
                image = Image.open(io.BytesIO(payload)).convert("RGB")
            except Exception as error:  # PIL raises several types for broken images
                raise TutorialError(f"{where} is not a readable image ({error}).") from error
            if image.size != (32, 32):
                raise TutorialError(f"{where} is {image.size[0]}x{image.size[1]}, but CIFAR-10 images are 32x32.")
            images[index] = np.asarray(image)
        labels = np.asarray([CIFAR10_CLASSES.index(class_name) for class_name, _, _ in files], dtype=np.int64)
        splits.append(Split(images=images, labels=labels))
    return splits[0], splits[1]


def load_from_torchvision() -> Cifar10:
    """CIFAR-10 through torchvision, downloaded once into the data cache folder."""
    from torchvision.datasets import CIFAR10
    root = data_dir() / "torchvision"
    try:
        train, test = (CIFAR10(root=str(root), train=part, download=True) for part in (True, False))
    except Exception as error:  # URLError, HTTPError, socket errors, checksum failures...
        raise TutorialError(f"CIFAR-10 is not available. Either\n  1. give this machine internet access so torchvision "
                            f"can download it into {root}, or\n  2. set {ARCHIVE_ENV}=/path/to/cifar10-jpeg.tar.xz (an "
                            f"ImageFolder archive).\ntorchvision said: {type(error).__name__}: {error}") from error
    if tuple(train.classes) != CIFAR10_CLASSES:
        raise TutorialError(f"torchvision returned unexpected classes {train.classes}.")
    return Cifar10(*(Split(np.asarray(part.data, dtype=np.uint8), np.asarray(part.targets, dtype=np.int64))
                     for part in (train, test)), CIFAR10_CLASSES, f"torchvision CIFAR10 binary release ({root})")


def to_tensor(images: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 N x H x W x C array -> uint8 N x C x H x W tensor on ``device``."""
    return torch.from_numpy(np.ascontiguousarray(images)).to(device).permute(0, 3, 1, 2)


def normalize(images_uint8: torch.Tensor) -> torch.Tensor:
    """uint8 N x C x H x W -> float32, scaled to [0, 1] and normalized with CIFAR-10's mean/std."""
    mean = torch.tensor(CIFAR10_MEAN, device=images_uint8.device).view(1, 3, 1, 1)
    std = torch.tensor(CIFAR10_STD, device=images_uint8.device).view(1, 3, 1, 1)
    return (images_uint8.float() / 255.0 - mean) / std


def random_crop_and_flip(images_uint8: torch.Tensor, generator: torch.Generator, padding: int = 4) -> torch.Tensor:
    """The standard CIFAR augmentation on a whole batch at once: pad, crop a random 32x32 window, flip half."""
    count, _, height, width = images_uint8.shape
    padded = torch.nn.functional.pad(images_uint8, (padding,) * 4)
    top = torch.randint(0, 2 * padding + 1, (count,), generator=generator, device=generator.device)
    left = torch.randint(0, 2 * padding + 1, (count,), generator=generator, device=generator.device)
    top, left = top.to(images_uint8.device), left.to(images_uint8.device)
    rows = (top[:, None] + torch.arange(height, device=images_uint8.device))[:, :, None]
    cols = (left[:, None] + torch.arange(width, device=images_uint8.device))[:, None, :]
    batch_index = torch.arange(count, device=images_uint8.device)[:, None, None]
    cropped = padded.permute(0, 2, 3, 1)[batch_index, rows, cols].permute(0, 3, 1, 2)
    flip = torch.rand(count, generator=generator, device=generator.device).to(images_uint8.device) < 0.5
    return torch.where(flip[:, None, None, None], cropped.flip(3), cropped)


def cutmix(inputs: torch.Tensor, targets: torch.Tensor, generator: torch.Generator
           ) -> tuple[torch.Tensor, torch.Tensor, float]:
    """CutMix (Yun et al., 2019): paste one random box of a shuffled copy of the batch into every image. Returns the
    mixed batch, the pasted images' labels and the share ``keep`` of each image still its own."""
    count, _, height, width = inputs.shape
    partner = torch.randperm(count, generator=generator).to(inputs.device)
    cut = float(torch.rand((), generator=generator)) ** 0.5  # side ratio, so the area ratio is uniform
    box_h, box_w = int(height * cut), int(width * cut)
    centre_y = int(torch.randint(0, height, (), generator=generator))
    centre_x = int(torch.randint(0, width, (), generator=generator))
    top, bottom = max(centre_y - box_h // 2, 0), min(centre_y + box_h // 2, height)
    left, right = max(centre_x - box_w // 2, 0), min(centre_x + box_w // 2, width)
    mixed = inputs.clone()
    mixed[:, :, top:bottom, left:right] = inputs[partner, :, top:bottom, left:right]
    keep = 1.0 - (bottom - top) * (right - left) / (height * width)
    return mixed, targets[partner], keep


def batches(images: torch.Tensor, labels: torch.Tensor, batch_size: int, *, shuffle: bool = False,
            augment: bool = False, generator: torch.Generator | None = None
            ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Normalized float batches from uint8 tensors already on the target device; ``augment``: random crop + flip.
    ``shuffle`` and ``augment`` draw from ``generator`` (a CPU one is fine), so that runs repeat exactly."""
    if (shuffle or augment) and generator is None:
        raise ValueError("shuffle/augment need a torch.Generator so that runs are repeatable")
    count = len(labels)
    order = (torch.randperm(count, generator=generator) if shuffle else torch.arange(count)).to(images.device)
    for start in range(0, count, batch_size):
        index = order[start:start + batch_size]
        batch = random_crop_and_flip(images[index], generator) if augment else images[index]
        yield normalize(batch), labels[index]
