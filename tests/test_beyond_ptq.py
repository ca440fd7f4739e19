"""helpers.beyond_ptq (notebook 07) on small real inputs: the 5-bit setting, one-layer quantization and sensitivity,
mixed precision, QAT, and the committed QAT model."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
import torch.ao.nn.intrinsic.quantized as nniq
import torch.ao.nn.quantized as nnq
from torch import nn
from torch.ao.quantization import FakeQuantize

from helpers import beyond_ptq, quantization
from helpers.config import TutorialError
from helpers.data import Split
from helpers.model import build_resnet18_cifar, load_shipped_model
from helpers.training import train_step


def images(count: int, seed: int = 0) -> Split:
    rng = np.random.default_rng(seed)
    return Split(rng.integers(0, 256, (count, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, count))


@pytest.fixture(scope="module")
def fused():
    model, _ = load_shipped_model()
    return quantization.fuse_for_quantization(model)


def test_the_setting_is_per_tensor_symmetric_weights_on_five_bits_and_notebook_02s_activations():
    qconfig = beyond_ptq.narrow_weights_qconfig()
    weight, activation = qconfig.weight(), qconfig.activation()
    assert (weight.quant_min, weight.quant_max, weight.qscheme, weight.dtype) == (-16, 15, torch.per_tensor_symmetric, torch.qint8)
    assert beyond_ptq.weight_range(3) == {"quant_min": -4, "quant_max": 3}
    activation(torch.linspace(-3.0, 2.0, 100))
    assert int(activation.calculate_qparams()[1]) == 128 and activation.dtype == torch.quint8


def test_the_qat_qconfig_fake_quantizes_the_same_grids():
    qconfig = beyond_ptq.qat_qconfig(4)
    weight, activation = qconfig.weight(), qconfig.activation()
    assert isinstance(weight, FakeQuantize) and (weight.quant_min, weight.quant_max) == (-8, 7)
    assert weight.qscheme == torch.per_tensor_symmetric
    activation(torch.linspace(-3.0, 2.0, 100))
    assert int(activation.zero_point) == 128 and activation.dtype == torch.quint8


def test_paired_difference_counts_the_images_only_one_model_gets_right():
    labels = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    reference = labels.copy()
    candidate = labels.copy()
    candidate[:3] = 9  # three lost (label 9 is right only for the last image)
    reference[9], candidate[9] = 0, 9  # one gained
    found = beyond_ptq.paired_difference(reference, candidate, labels)
    assert (found["lost"], found["gained"]) == (3, 1) and found["points"] == pytest.approx(-20.0)
    spread = 1.96 * math.sqrt(4 - 4 / 10) / 10 * 100
    assert found["interval_95"] == pytest.approx([-20.0 - spread, -20.0 + spread])
    same = beyond_ptq.paired_difference(labels, labels, labels)
    assert same == {"points": 0.0, "interval_95": [0.0, 0.0], "lost": 0, "gained": 0}


def test_weight_layers_are_the_21_conv_and_linear_layers_in_run_order(fused):
    layers = beyond_ptq.weight_layers(fused)
    assert len(layers) == 21 and layers[0] == "conv1" and layers[-1] == "fc"
    assert "layer2.0.downsample.0" in layers and "layer1.0.conv1" in layers and not any(name.endswith("conv1.0") for name in layers)
    assert layers.index("layer1.0.conv1") < layers.index("layer1.0.conv2") < layers.index("layer2.0.conv1")


def test_levels_used_counts_each_channels_levels_under_one_scale():
    model = nn.Sequential()
    conv = nn.Conv2d(2, 3, 1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([15.5, -15.5, 0.4, 0.2, 1.0, 2.0]).reshape(3, 2, 1, 1) / 15.5)
    model.add_module("conv", conv)
    assert beyond_ptq.levels_used(model, "conv", bits=5) == [2, 1, 2]  # {15, -16}, {0}, {1, 2}
    with torch.no_grad():  # 15.5 rounds to 16, which the 5-bit grid clamps to 15: one level with 15.0, not two
        conv.weight.copy_(torch.tensor([15.5, 15.0, 0.4, 0.2, 1.0, 2.0]).reshape(3, 2, 1, 1) / 15.5)
    model.add_module("block", nn.Sequential(copy.deepcopy(conv), nn.ReLU()))  # a fused Conv+ReLU: its Conv counts
    assert beyond_ptq.levels_used(model, "conv", bits=5) == beyond_ptq.levels_used(model, "block", bits=5) == [1, 1, 2]


def test_kl_divergence_is_zero_for_the_same_logits_and_matches_its_formula():
    reference = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 0.0]])
    candidate = torch.tensor([[1.0, 0.5, -1.0], [0.0, 1.0, 0.0]])
    assert beyond_ptq.kl_divergence(reference, reference) == pytest.approx(0.0, abs=1e-7)
    p, q = torch.softmax(reference, 1), torch.softmax(candidate, 1)
    assert beyond_ptq.kl_divergence(reference, candidate) == pytest.approx(float((p * (p / q).log()).sum(1).mean()), rel=1e-5)


def test_quantize_only_makes_exactly_one_layer_int8(fused):
    model = beyond_ptq.quantize_only(fused, "layer4.1.conv1", beyond_ptq.narrow_weights_qconfig(), images(16))
    quantized = [name for name, module in model.named_modules() if isinstance(module, (nnq.Conv2d, nnq.Linear))]
    assert quantized == ["layer4.1.conv1.module"]
    inputs = images(8, seed=1)
    fp32, one = beyond_ptq.logits(fused, inputs), beyond_ptq.logits(model, inputs)
    assert one.shape == (8, 10) and not torch.equal(fp32, one) and quantization.sqnr_db(fp32, one) > 10


def test_layer_sensitivity_measures_each_layer_alone_and_finds_the_stem(fused):
    calibration, held_out = images(16), images(32, seed=2)
    found = beyond_ptq.layer_sensitivity(fused, ["conv1", "fc"], beyond_ptq.narrow_weights_qconfig(), calibration, held_out)
    assert list(found) == ["conv1", "fc"]
    reference = beyond_ptq.logits(fused, held_out)
    alone = beyond_ptq.logits(beyond_ptq.quantize_only(fused, "fc", beyond_ptq.narrow_weights_qconfig(), calibration), held_out)
    assert found["fc"]["kl"] == pytest.approx(beyond_ptq.kl_divergence(reference, alone))
    assert found["fc"]["sqnr_db"] == pytest.approx(quantization.sqnr_db(reference, alone))
    assert found["conv1"]["kl"] > found["fc"]["kl"]  # the stem is the shipped model's most sensitive layer at 5 bits


def test_keep_float_keeps_the_named_layers_float_and_the_ends_without_stubs(fused):
    kept = beyond_ptq.keep_float(fused, ["conv1", "layer2.0.conv2", "fc"])
    assert isinstance(kept.quant, nn.Identity) and isinstance(kept.dequant, nn.Identity)
    assert [type(module).__name__ for module in kept.layer2[0].conv2] == ["DeQuantStub", "Conv2d", "QuantStub"]
    # no stub on the model's side of the first and last layer
    assert [type(module).__name__ for module in kept.conv1] == ["ConvReLU2d", "QuantStub"]
    assert [type(module).__name__ for module in kept.fc] == ["DeQuantStub", "Linear"]
    assert isinstance(fused.quant, torch.ao.quantization.QuantStub)  # the original is untouched
    int8, _ = quantization.quantize_int8(kept, beyond_ptq.narrow_weights_qconfig(), images(16))
    assert type(int8.layer2[0].conv2[1]) is nn.Conv2d and type(int8.fc[1]) is nn.Linear
    assert isinstance(int8.layer2[0].conv1, nniq.ConvReLU2d)
    assert beyond_ptq.logits(int8, images(4, seed=3)).shape == (4, 10)


def test_qat_prepares_fake_quantization_with_zero_point_128_and_refuses_another(monkeypatch):
    model = build_resnet18_cifar().eval()
    qat = beyond_ptq.prepare_for_qat(model, images(16))
    fake = [module for module in qat.modules() if isinstance(module, FakeQuantize)]
    assert fake and {int(module.zero_point) for module in fake if module.dtype == torch.quint8} == {128}
    explicit = torch.ao.quantization.QConfig(
        activation=FakeQuantize.with_args(observer=torch.ao.quantization.MovingAverageMinMaxObserver, dtype=torch.quint8,
                                          qscheme=torch.per_tensor_symmetric, quant_min=0, quant_max=255),
        weight=beyond_ptq.qat_qconfig().weight)
    monkeypatch.setattr(beyond_ptq, "qat_qconfig", lambda bits=5: explicit)
    with pytest.raises(TutorialError, match="only 128 maps exactly"):
        beyond_ptq.prepare_for_qat(model, images(16))


def test_fine_tune_runs_the_given_step_freezes_the_scales_and_converts_to_ptqs_module_types():
    torch.manual_seed(0)
    model = build_resnet18_cifar().eval()
    qat = beyond_ptq.prepare_for_qat(model, images(16))
    before = copy.deepcopy(qat.state_dict())
    calls = []

    def counting_step(*arguments):
        calls.append(1)
        return train_step(*arguments)

    losses = beyond_ptq.fine_tune(qat, quantization.fuse_for_quantization(model), images(32, seed=4), steps=3,
                                  batch_size=16, learning_rate=0.01, device=torch.device("cpu"), step=counting_step)
    assert len(losses) == 3 == len(calls) and all(np.isfinite(losses))
    assert not torch.equal(before["conv1.weight"], qat.state_dict()["conv1.weight"])
    assert all(not bool(module.observer_enabled) for module in qat.modules() if isinstance(module, FakeQuantize))
    int8 = beyond_ptq.convert_qat(qat)
    assert isinstance(int8.conv1, nniq.ConvReLU2d) and isinstance(int8.fc, nnq.Linear)
    assert beyond_ptq.logits(int8, images(4)).shape == (4, 10)


def test_fine_tune_is_sgd_towards_the_teacher_on_shuffled_augmented_batches_and_freezes_the_scales_half_way():
    """What each step gets: SGD (the given learning rate, momentum 0.9, weight decay 5e-4), the batch the seeded
    shuffling and augmentation give, a loss that is the batch-mean KL divergence to the teacher, and observers on for
    the first steps // 2 steps only. prepare_for_qat keeps BatchNorm as a QAT module (Conv+BN+ReLU)."""
    import torch.ao.nn.intrinsic.qat as nniqat
    import torch.nn.functional as F

    from helpers.data import batches, to_tensor

    torch.manual_seed(0)
    model = build_resnet18_cifar().eval()
    qat = beyond_ptq.prepare_for_qat(model, images(16))
    assert isinstance(qat.conv1, nniqat.ConvBnReLU2d)
    teacher, train = quantization.fuse_for_quantization(model), images(32, seed=4)
    seen = []

    def recording_step(forward, inputs, loss_of, optimizer, scheduler):
        group = optimizer.param_groups[0]
        observing = [bool(module.observer_enabled) for module in qat.modules() if isinstance(module, FakeQuantize)]
        outputs = torch.randn(len(inputs), 10)
        with torch.no_grad():
            expected = F.kl_div(F.log_softmax(outputs, 1), F.log_softmax(teacher(inputs), 1), log_target=True,
                                reduction="batchmean")
        seen.append({"lr": group["lr"], "momentum": group["momentum"], "weight_decay": group["weight_decay"],
                     "inputs": inputs.clone(), "observing": all(observing), "loss_matches": torch.allclose(loss_of(outputs), expected)})
        return train_step(forward, inputs, loss_of, optimizer, scheduler)

    beyond_ptq.fine_tune(qat, teacher, train, steps=5, batch_size=16, learning_rate=0.01, device=torch.device("cpu"),
                         step=recording_step)
    first = next(batches(to_tensor(train.images, torch.device("cpu")), torch.from_numpy(train.labels), 16, shuffle=True,
                         augment=True, generator=torch.Generator().manual_seed(0)))[0]
    assert torch.equal(seen[0]["inputs"], first)
    assert (seen[0]["lr"], seen[0]["momentum"], seen[0]["weight_decay"]) == (0.01, 0.9, 5e-4)
    assert [step["observing"] for step in seen] == [True, True, False, False, False]
    assert all(step["loss_matches"] for step in seen)


def test_the_committed_qat_model_loads_after_its_sha256_check(tmp_path):
    model, provenance = beyond_ptq.load_qat_model()
    assert isinstance(model.conv1, nniq.ConvReLU2d) and provenance["share_of_ptq_loss_recovered"] >= 0.5
    assert provenance["test_top1"]["qat"][0] > provenance["test_top1"]["ptq"][0]
    changed = tmp_path / "qat.pt"
    changed.write_bytes(beyond_ptq.QAT_MODEL_PATH.read_bytes() + b"x")
    with pytest.raises(TutorialError, match="missing or changed"):
        beyond_ptq.load_qat_model(changed)
    with pytest.raises(TutorialError, match="missing or changed"):
        beyond_ptq.load_qat_model(tmp_path / "none.pt")
