"""CIFAR-10 for every notebook, from torchvision or from an offline ImageFolder archive.

Introduced in notebook 01.

Two sources give the same arrays (uint8 images, N x 32 x 32 x 3, RGB) with the same class order:

* ``CIFAR10_ARCHIVE=/path/to/cifar10-jpeg.tar.xz``: a tar archive laid out the way
  ``torchvision.datasets.ImageFolder`` reads it (``train/<class>/*.jpg``, ``test/<class>/*.jpg``).
  It is read once and cached as arrays under the data cache folder; no download is ever tried.
* otherwise ``torchvision.datasets.CIFAR10(download=True)`` into the data cache folder.

The data cache folder is ``data_cache/`` at the repository root, or ``$TUTORIAL_DATA_DIR``.
Batches are made from in-memory tensors (the whole of CIFAR-10 is 180 MB as uint8), so on a GPU
the data never waits on JPEG decoding or worker processes.
"""

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

CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)
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
    """CIFAR-10 from the archive named by $CIFAR10_ARCHIVE, else from torchvision.

    With a profile, the splits are cut to the profile's sizes (``take_subset``: fixed and class-balanced,
    the same on every run and every machine).
    """
    archive = os.environ.get(ARCHIVE_ENV, "").strip()
    if archive:
        data = load_from_archive(Path(archive).expanduser())
    else:
        data = load_from_torchvision()
    if profile is not None:
        data = Cifar10(
            train=take_subset(data.train, profile.train_images),
            test=take_subset(data.test, profile.test_images),
            classes=data.classes,
            source=data.source,
        )
    return data


def examples_per_class(split: Split, per_class: int) -> Split:
    """The first ``per_class`` images of every class, interleaved (for image grids)."""
    chosen = [np.flatnonzero(split.labels == label)[:per_class] for label in range(len(CIFAR10_CLASSES))]
    order = np.stack([indices for indices in chosen if len(indices) == per_class], axis=1).ravel()
    return Split(images=split.images[order], labels=split.labels[order])


def balanced_order(labels: np.ndarray, seed: int = SUBSET_SEED) -> np.ndarray:
    """Indices of every image, classes taken round-robin, each class's images in a fixed random order
    (``seed``): any prefix of it is as class-balanced as the data allows."""
    rng = np.random.default_rng(seed)
    per_class = [rng.permutation(np.flatnonzero(labels == label)) for label in np.unique(labels)]
    depth = max((len(indices) for indices in per_class), default=0)
    return np.asarray([indices[rank] for rank in range(depth) for indices in per_class if rank < len(indices)],
                      dtype=np.int64)


def take_subset(split: Split, count: int | None, seed: int = SUBSET_SEED) -> Split:
    """A fixed, class-balanced subset of ``count`` images (all of them when ``count`` is None).

    Each class's images are shuffled with ``seed``; the subset takes them round-robin over the
    classes, so every class has ``count // 10`` images (one more for the first ``count % 10``
    classes). The same images on every run and every machine, kept in their original order.
    """
    if count is None or count >= len(split):
        return split
    return _select(split, balanced_order(split.labels, seed)[:count])


def disjoint_subsets(split: Split, counts: list[int], seed: int = SUBSET_SEED) -> list[Split]:
    """Class-balanced subsets of the given sizes that share no image (notebook 02: calibration images,
    and held-out training images to compare observers on). The first equals ``take_subset(split, counts[0])``."""
    order = balanced_order(split.labels, seed)
    if sum(counts) > len(order):
        raise ValueError(f"{sum(counts)} images asked for, {len(order)} available")
    starts = np.cumsum([0, *counts])
    return [_select(split, order[start:stop]) for start, stop in zip(starts[:-1], starts[1:])]


def _select(split: Split, indices: np.ndarray) -> Split:
    indices = np.sort(indices)
    return Split(images=split.images[indices], labels=split.labels[indices])


# --- source 1: an ImageFolder archive -----------------------------------------------------

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
            f"{ARCHIVE_ENV} names {archive}, which does not exist. Point it at an ImageFolder "
            f"archive of CIFAR-10 (train/<class>/*.jpg, test/<class>/*.jpg), or unset it to "
            f"download CIFAR-10 with torchvision."
        )
    digest = sha256_of(archive)
    source = f"ImageFolder archive {archive.name} (sha256 {digest[:16]})"
    cache = data_dir() / f"cifar10-{digest[:16]}.npz"
    if cache.exists():
        with np.load(cache) as arrays:
            classes = tuple(str(name) for name in arrays["classes"])
            return Cifar10(
                train=Split(arrays["train_images"], arrays["train_labels"]),
                test=Split(arrays["test_images"], arrays["test_labels"]),
                classes=classes,
                source=source,
            )
    train, test, classes = read_image_folder_archive(archive)
    with written_atomically(cache) as partial:  # never leave a half-written cache behind
        np.savez(
            partial,
            train_images=train.images, train_labels=train.labels,
            test_images=test.images, test_labels=test.labels,
            classes=np.array(classes),
        )
    return Cifar10(train=train, test=test, classes=classes, source=source)


def read_image_folder_archive(archive: Path) -> tuple[Split, Split, tuple[str, ...]]:
    """Decode every image of a ``{train,test}/<class>/<file>`` tar archive.

    Classes are the sorted folder names, exactly as ``torchvision.datasets.ImageFolder``
    assigns them; they must be CIFAR-10's ten classes.
    """
    from PIL import Image

    members: dict[str, list[tuple[str, str, bytes]]] = {"train": [], "test": []}
    try:
        with tarfile.open(archive, mode="r:*") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                parts = Path(member.name).parts
                parts = parts[parts.index("train"):] if "train" in parts else (
                    parts[parts.index("test"):] if "test" in parts else parts)
                if len(parts) != 3 or parts[0] not in members:
                    continue
                if not parts[2].lower().endswith((".jpg", ".jpeg", ".png")):
                    continue
                members[parts[0]].append((parts[1], parts[2], tar.extractfile(member).read()))
    except (tarfile.TarError, lzma.LZMAError, zlib.error, EOFError, OSError) as error:
        raise TutorialError(
            f"{archive} is not a readable tar archive ({type(error).__name__}: {error}). "
            f"It may be truncated or corrupt: copy it again, or unset {ARCHIVE_ENV} to download "
            f"CIFAR-10 with torchvision."
        ) from error

    splits = {}
    for split_name, files in members.items():
        classes = tuple(sorted({class_name for class_name, _, _ in files}))
        if classes != CIFAR10_CLASSES:
            raise TutorialError(
                f"{archive}: the folder {split_name}/ holds classes {list(classes)}, but CIFAR-10's "
                f"ten classes {list(CIFAR10_CLASSES)} were expected (ImageFolder layout "
                f"train/<class>/*.jpg and test/<class>/*.jpg)."
            )
        files.sort(key=lambda item: (item[0], item[1]))
        images = np.empty((len(files), 32, 32, 3), dtype=np.uint8)
        labels = np.empty(len(files), dtype=np.int64)
        for index, (class_name, file_name, payload) in enumerate(files):
            try:
                image = Image.open(io.BytesIO(payload)).convert("RGB")
            except Exception as error:  # PIL raises several types for broken images
                raise TutorialError(
                    f"{archive}: {split_name}/{class_name}/{file_name} is not a readable image ({error})."
                ) from error
            if image.size != (32, 32):
                raise TutorialError(
                    f"{archive}: {split_name}/{class_name}/{file_name} is {image.size[0]}x{image.size[1]}, "
                    f"but CIFAR-10 images are 32x32."
                )
            images[index] = np.asarray(image)
            labels[index] = CIFAR10_CLASSES.index(class_name)
        splits[split_name] = Split(images=images, labels=labels)
    return splits["train"], splits["test"], CIFAR10_CLASSES


# --- source 2: torchvision's download -----------------------------------------------------

def load_from_torchvision() -> Cifar10:
    """CIFAR-10 through torchvision, downloaded once into the data cache folder."""
    from torchvision.datasets import CIFAR10

    root = data_dir() / "torchvision"
    try:
        train = CIFAR10(root=str(root), train=True, download=True)
        test = CIFAR10(root=str(root), train=False, download=True)
    except Exception as error:  # URLError, HTTPError, socket errors, checksum failures...
        raise TutorialError(
            "CIFAR-10 is not available. Either\n"
            f"  1. give this machine internet access so torchvision can download it into {root}, or\n"
            f"  2. set {ARCHIVE_ENV}=/path/to/cifar10-jpeg.tar.xz (an ImageFolder archive; this "
            f"project's CI uses its offline JPEG copy).\n"
            f"torchvision said: {type(error).__name__}: {error}"
        ) from error
    if tuple(train.classes) != CIFAR10_CLASSES:
        raise TutorialError(f"torchvision returned unexpected classes {train.classes}.")
    return Cifar10(
        train=Split(np.asarray(train.data, dtype=np.uint8), np.asarray(train.targets, dtype=np.int64)),
        test=Split(np.asarray(test.data, dtype=np.uint8), np.asarray(test.targets, dtype=np.int64)),
        classes=CIFAR10_CLASSES,
        source=f"torchvision CIFAR10 binary release ({root})",
    )


# --- tensors and batches --------------------------------------------------------------------

def to_tensor(images: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 N x H x W x C array -> uint8 N x C x H x W tensor on ``device``."""
    return torch.from_numpy(np.ascontiguousarray(images)).to(device).permute(0, 3, 1, 2)


def normalize(images_uint8: torch.Tensor) -> torch.Tensor:
    """uint8 N x C x H x W -> float32, scaled to [0, 1] and normalized with CIFAR-10's mean/std."""
    mean = torch.tensor(CIFAR10_MEAN, device=images_uint8.device).view(1, 3, 1, 1)
    std = torch.tensor(CIFAR10_STD, device=images_uint8.device).view(1, 3, 1, 1)
    return (images_uint8.float() / 255.0 - mean) / std


def normalize_numpy(images: np.ndarray) -> np.ndarray:
    """The same normalization for ONNX Runtime: uint8 N x H x W x C -> float32 N x C x H x W."""
    mean = np.asarray(CIFAR10_MEAN, dtype=np.float32).reshape(1, 3, 1, 1)
    std = np.asarray(CIFAR10_STD, dtype=np.float32).reshape(1, 3, 1, 1)
    scaled = images.astype(np.float32).transpose(0, 3, 1, 2) / np.float32(255.0)
    return ((scaled - mean) / std).astype(np.float32)


def random_crop_and_flip(images_uint8: torch.Tensor, generator: torch.Generator, padding: int = 4) -> torch.Tensor:
    """The standard CIFAR augmentation on a whole batch at once, on the batch's own device:
    pad by ``padding`` pixels (zeros), crop a random 32x32 window, flip half the images."""
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


def cutout(images_uint8: torch.Tensor, generator: torch.Generator, size: int) -> torch.Tensor:
    """Cutout (DeVries & Taylor, 2017): black out one ``size`` x ``size`` square per image, centred
    anywhere (the square may be cut off at the border). A strong regularizer for CIFAR-10."""
    count, _, height, width = images_uint8.shape
    top = torch.randint(0, height, (count, 1, 1), generator=generator, device=generator.device) - size // 2
    left = torch.randint(0, width, (count, 1, 1), generator=generator, device=generator.device) - size // 2
    top, left = top.to(images_uint8.device), left.to(images_uint8.device)
    rows = torch.arange(height, device=images_uint8.device).view(1, height, 1)
    cols = torch.arange(width, device=images_uint8.device).view(1, 1, width)
    inside = (rows >= top) & (rows < top + size) & (cols >= left) & (cols < left + size)
    return images_uint8.masked_fill(inside[:, None], 0)


def cutmix(inputs: torch.Tensor, targets: torch.Tensor, generator: torch.Generator
           ) -> tuple[torch.Tensor, torch.Tensor, float]:
    """CutMix (Yun et al., 2019): paste one random box of a shuffled copy of the batch into every image.

    Returns the mixed batch, the pasted images' labels and the share ``keep`` of each image that is
    still its own (the loss weighs the two labels by ``keep`` and ``1 - keep``). The box's area is
    drawn uniformly (Beta(1, 1), as in the paper's CIFAR runs) and clipped at the border.
    """
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


def batches(
    images: torch.Tensor,
    labels: torch.Tensor,
    batch_size: int,
    *,
    shuffle: bool = False,
    augment: bool = False,
    cutout_size: int = 0,
    generator: torch.Generator | None = None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Normalized float batches from uint8 tensors already on the target device.

    ``augment`` applies random crop + flip, and Cutout when ``cutout_size`` > 0.
    ``shuffle`` and ``augment`` draw from ``generator`` (a CPU generator is fine) so that
    runs repeat exactly.
    """
    if (shuffle or augment) and generator is None:
        raise ValueError("shuffle/augment need a torch.Generator so that runs are repeatable")
    count = len(labels)
    if shuffle:
        order = torch.randperm(count, generator=generator).to(images.device)
    else:
        order = torch.arange(count, device=images.device)
    for start in range(0, count, batch_size):
        index = order[start:start + batch_size]
        batch = images[index]
        if augment:
            batch = random_crop_and_flip(batch, generator)
            if cutout_size:
                batch = cutout(batch, generator, cutout_size)
        yield normalize(batch), labels[index]
