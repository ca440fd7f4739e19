"""helpers.model: the CIFAR stem, fusability, checkpoints and their refusals."""

import pytest
import torch
from torch import nn

from helpers import model
from helpers.config import TutorialError


def test_cifar_stem_keeps_resolution():
    network = model.build_resnet18_cifar().eval()
    assert network.conv1.kernel_size == (3, 3) and network.conv1.stride == (1, 1)
    assert isinstance(network.maxpool, nn.Identity)
    features = {}
    network.layer1.register_forward_hook(lambda module, inputs, output: features.setdefault("layer1", output))
    with torch.no_grad():
        assert network(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    assert features["layer1"].shape[-2:] == (32, 32)
    network.fuse_model()  # the quantizable ResNet can be fused for notebook 02


def test_checkpoint_round_trip_keeps_weights_and_provenance(tmp_path):
    torch.manual_seed(0)
    network = model.build_resnet18_cifar().eval()
    path = tmp_path / "model.pt"
    model.save_checkpoint(path, network, {"profile": "quick", "test_accuracy_fp32": 0.5, "torch": torch.__version__})
    reloaded, provenance = model.load_checkpoint(path)
    assert provenance["profile"] == "quick" and provenance["torch"] == str(torch.__version__) and "saved_at" in provenance
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(network(x), reloaded(x))


def test_checkpoint_of_another_architecture_is_refused(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"architecture": "resnet50-imagenet", "state_dict": {}}, path)
    with pytest.raises(TutorialError, match="resnet50-imagenet"):
        model.load_checkpoint(path)


def test_checkpoint_with_foreign_weights_is_refused(tmp_path):
    path = tmp_path / "lying.pt"
    torch.save({"architecture": model.ARCHITECTURE, "state_dict": nn.Linear(3, 4).state_dict()}, path)
    with pytest.raises(TutorialError, match="do not fit"):
        model.load_checkpoint(path)


def test_plain_state_dict_and_garbage_are_refused(tmp_path):
    plain = tmp_path / "plain.pt"
    torch.save(model.build_resnet18_cifar().state_dict(), plain)
    with pytest.raises(TutorialError, match="not a checkpoint of this tutorial"):
        model.load_checkpoint(plain)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(TutorialError, match="not a readable PyTorch checkpoint"):
        model.load_checkpoint(garbage)
    with pytest.raises(TutorialError, match="does not exist"):
        model.load_checkpoint(tmp_path / "missing.pt")
