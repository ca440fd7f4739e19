"""helpers.data: the offline archive path, the error paths, batches and augmentation."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import data
from helpers.config import PROFILES, TutorialError

SHARED_ARCHIVE = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10-jpeg.tar.xz"


def write_image_folder_archive(path: Path, classes=data.CIFAR10_CLASSES, per_class: int = 2, size=(32, 32)) -> Path:
    """A tiny ImageFolder archive with solid-colour JPEGs (class index encoded in the red channel)."""
    with tarfile.open(path, "w:xz") as tar:
        for split in ("train", "test"):
            for class_index, class_name in enumerate(classes):
                for number in range(per_class):
                    buffer = io.BytesIO()
                    Image.new("RGB", size, (class_index * 25, number * 40, 128)).save(buffer, format="PNG")
                    info = tarfile.TarInfo(f"cifar10/{split}/{class_name}/{number:04d}.png")
                    info.size = buffer.tell()
                    buffer.seek(0)
                    tar.addfile(info, buffer)
    return path


@pytest.fixture
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv(data.DATA_DIR_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_archive_is_read_with_imagefolder_class_order_and_cached(tmp_path, isolated_cache, monkeypatch):
    archive = write_image_folder_archive(tmp_path / "tiny.tar.xz")
    monkeypatch.setenv(data.ARCHIVE_ENV, str(archive))
    dataset = data.load_cifar10()
    assert dataset.classes == data.CIFAR10_CLASSES
    assert dataset.train.images.shape == (20, 32, 32, 3) and dataset.train.images.dtype == np.uint8
    # label i holds the images whose red channel is 25 * i (lossless PNG)
    assert np.array_equal(dataset.train.images[:, 0, 0, 0], dataset.train.labels * 25)
    assert "tiny.tar.xz" in dataset.source
    caches = list(isolated_cache.glob("cifar10-*.npz"))
    assert len(caches) == 1 and not list(isolated_cache.glob("*.partial*"))
    again = data.load_cifar10()  # from the cache this time
    assert np.array_equal(again.test.images, dataset.test.images)


def test_archive_never_falls_back_to_download(tmp_path, isolated_cache, monkeypatch):
    monkeypatch.setenv(data.ARCHIVE_ENV, str(tmp_path / "missing.tar.xz"))
    monkeypatch.setattr(data, "load_from_torchvision", lambda: pytest.fail("must not try torchvision"))
    with pytest.raises(TutorialError, match="does not exist"):
        data.load_cifar10()


def test_corrupt_archive_gives_a_clear_error(tmp_path, isolated_cache, monkeypatch):
    archive = write_image_folder_archive(tmp_path / "good.tar.xz")
    truncated = tmp_path / "truncated.tar.xz"
    truncated.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    monkeypatch.setenv(data.ARCHIVE_ENV, str(truncated))
    with pytest.raises(TutorialError, match="truncated or corrupt"):
        data.load_cifar10()
    assert not list(isolated_cache.glob("*.npz"))  # nothing half-written is left as a cache


def test_archive_with_wrong_classes_is_refused(tmp_path, isolated_cache, monkeypatch):
    archive = write_image_folder_archive(tmp_path / "mnist.tar.xz", classes=[str(digit) for digit in range(10)], per_class=1)
    monkeypatch.setenv(data.ARCHIVE_ENV, str(archive))
    with pytest.raises(TutorialError, match="ten classes"):
        data.load_cifar10()


def test_archive_with_wrong_image_size_is_refused(tmp_path, isolated_cache, monkeypatch):
    archive = write_image_folder_archive(tmp_path / "big.tar.xz", per_class=1, size=(64, 64))
    monkeypatch.setenv(data.ARCHIVE_ENV, str(archive))
    with pytest.raises(TutorialError, match="32x32"):
        data.load_cifar10()


def test_without_archive_and_without_network_one_error_names_both_options(isolated_cache, monkeypatch):
    monkeypatch.delenv(data.ARCHIVE_ENV, raising=False)
    import torchvision.datasets

    class OfflineCIFAR10:
        def __init__(self, *args, **kwargs):
            raise OSError("[Errno -3] Temporary failure in name resolution")

    # the real torchvision download cannot be reached from CI either; this stands in for the network only
    monkeypatch.setattr(torchvision.datasets, "CIFAR10", OfflineCIFAR10)
    with pytest.raises(TutorialError) as error:
        data.load_cifar10()
    message = str(error.value)
    assert "internet" in message and data.ARCHIVE_ENV in message and "name resolution" in message


@pytest.mark.skipif(not SHARED_ARCHIVE.is_file(), reason=f"the project's offline CIFAR-10 copy is not at {SHARED_ARCHIVE}")
def test_shared_archive_matches_cifar10(isolated_cache, monkeypatch):
    monkeypatch.setenv(data.ARCHIVE_ENV, str(SHARED_ARCHIVE))
    dataset = data.load_cifar10(PROFILES["quick"])
    assert len(dataset.train) == PROFILES["quick"].train_images and len(dataset.test) == PROFILES["quick"].test_images
    mean = dataset.train.images.reshape(-1, 3).mean(0) / 255
    assert np.allclose(mean, data.CIFAR10_MEAN, atol=0.02)  # a subset's mean is close to the whole set's
    assert set(np.unique(dataset.test.labels)) == set(range(10))


def test_subset_is_fixed_and_sorted():
    split = data.Split(np.zeros((100, 32, 32, 3), np.uint8), np.arange(100))
    first, second = data.take_subset(split, 10), data.take_subset(split, 10)
    assert np.array_equal(first.labels, second.labels) and np.all(np.diff(first.labels) > 0)
    assert data.take_subset(split, None) is split


def test_examples_per_class_interleaves_classes():
    labels = np.repeat(np.arange(10), 5)
    split = data.Split(np.zeros((50, 32, 32, 3), np.uint8), labels)
    examples = data.examples_per_class(split, 2)
    assert examples.labels.tolist() == list(range(10)) * 2


def normalize_numpy(images: np.ndarray) -> np.ndarray:
    """The normalization written out in numpy: uint8 N x H x W x C -> float32 N x C x H x W."""
    mean = np.asarray(data.CIFAR10_MEAN, dtype=np.float32).reshape(1, 3, 1, 1)
    std = np.asarray(data.CIFAR10_STD, dtype=np.float32).reshape(1, 3, 1, 1)
    return (images.astype(np.float32).transpose(0, 3, 1, 2) / np.float32(255.0) - mean) / std


def test_normalize_matches_numpy_version():
    images = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    torch_version = data.normalize(data.to_tensor(images)).numpy()
    assert np.allclose(torch_version, normalize_numpy(images), atol=1e-6)


def test_crop_and_flip_keep_shape_and_pixels():
    generator = torch.Generator().manual_seed(0)
    images = torch.arange(2 * 3 * 32 * 32, dtype=torch.int64).remainder(251).to(torch.uint8).view(2, 3, 32, 32) + 1
    augmented = data.random_crop_and_flip(images, generator)
    assert augmented.shape == images.shape
    # every pixel is either padding (0) or one of the image's own values
    assert set(augmented.unique().tolist()) <= set(images.unique().tolist()) | {0}


def test_batches_are_repeatable_and_cover_everything():
    images = data.to_tensor(np.random.default_rng(0).integers(0, 256, (10, 32, 32, 3), dtype=np.uint8))
    labels = torch.arange(10)
    run = lambda: [y.tolist() for _, y in data.batches(images, labels, 4, shuffle=True, augment=True,
                                                       generator=torch.Generator().manual_seed(3))]
    assert run() == run()
    assert sorted(sum(run(), [])) == list(range(10))
    with pytest.raises(ValueError):
        next(data.batches(images, labels, 4, shuffle=True))


def test_cutmix_pastes_one_box_of_another_image_and_reports_its_share():
    generator = torch.Generator().manual_seed(1)
    count = 16
    images = torch.arange(count, dtype=torch.float32).view(count, 1, 1, 1).expand(count, 3, 32, 32).contiguous()
    labels = torch.arange(count) + 100
    for _ in range(20):
        mixed, pasted_labels, keep = data.cutmix(images, labels, generator)
        assert mixed.shape == images.shape and 0.0 <= keep <= 1.0
        partner = pasted_labels - 100
        own = (mixed == images).all(1).float().mean((1, 2))
        from_partner = (mixed == images[partner]).all(1).float().mean((1, 2))
        moved = partner != torch.arange(count)
        # every image keeps exactly the reported share of its own pixels; the rest is its partner's
        assert torch.allclose(own[moved], torch.full((int(moved.sum()),), keep))
        assert torch.allclose(from_partner[moved], torch.full((int(moved.sum()),), 1.0 - keep))
    assert images[:, 0, 0, 0].tolist() == list(range(count))  # the input batch is left alone


def test_subset_is_class_balanced():
    labels = np.repeat(np.arange(10), [50, 60, 70, 80, 90, 100, 110, 120, 130, 140])
    split = data.Split(np.zeros((len(labels), 32, 32, 3), np.uint8), labels)
    subset = data.take_subset(split, 205)
    counts = np.bincount(subset.labels, minlength=10)
    assert counts.tolist() == [21] * 5 + [20] * 5
    assert np.array_equal(subset.labels, np.sort(subset.labels))  # original order kept
    scarce = data.take_subset(data.Split(split.images[:55], labels[:55]), 20)  # class 1 has only 5 images
    assert np.bincount(scarce.labels).tolist() == [15, 5]


def test_disjoint_subsets_share_no_image_and_start_with_take_subset():
    labels = np.repeat(np.arange(10), 25)
    images = np.arange(250, dtype=np.uint8).repeat(32 * 32 * 3).reshape(250, 32, 32, 3)  # image i is all i
    split = data.Split(images, labels)
    first, second = data.disjoint_subsets(split, [100, 150])
    assert np.array_equal(first.images, data.take_subset(split, 100).images)
    assert np.bincount(first.labels).tolist() == [10] * 10 and np.bincount(second.labels).tolist() == [15] * 10
    first_ids = {int(image[0, 0, 0]) for image in first.images}
    assert not first_ids & {int(image[0, 0, 0]) for image in second.images} and len(first_ids) == 100
    with pytest.raises(ValueError, match="251 images asked for"):
        data.disjoint_subsets(split, [250, 1])
