"""helpers.quantization on the tutorial's real ResNet18 (random weights, a few random images, seconds)."""

import math

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from helpers.config import TutorialError
from helpers.data import Split, normalize, to_tensor
from helpers.model import build_resnet18_cifar
from helpers.onnx_export import export_onnx, model_metadata, read_metadata
from helpers.onnx_runtime import onnxruntime_session
from helpers.onnx_inspect import (
    count_ops,
    find_adds_of_dequantized_inputs,
    find_int32_bias_dequantize,
    find_q_cast_dq_chains,
    quantization_parameters,
)
from helpers.quantization import (
    HistogramObserver,
    MinMaxObserver,
    activation_qparams,
    fuse_for_quantization,
    largest_output_difference,
    layer_outputs,
    load_int8_model,
    per_layer_sqnr,
    logits_sqnr,
    pick_observer,
    quantize_int8,
    quantized_layer_names,
    save_int8_model,
    to_int8_codes,
    sqnr_db,
    tensorrt_qconfig,
    use_qnnpack,
    weight_qparams,
)

CONVS = 20  # ResNet18: stem + 16 in the blocks + 3 downsample 1x1
RESIDUAL_ADDS = 8


def random_images(count: int, seed: int) -> Split:
    images = np.random.default_rng(seed).integers(0, 256, (count, 32, 32, 3), dtype=np.uint8)
    return Split(images, np.zeros(count, dtype=np.int64))


@pytest.fixture(scope="module")
def fp32_model():
    """ResNet18 with random weights AND random BatchNorm statistics, so fusion has something to fold."""
    torch.manual_seed(0)
    model = build_resnet18_cifar()
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.2, 0.2)
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 2.0)
    return model.eval()


@pytest.fixture(scope="module")
def fused(fp32_model):
    use_qnnpack()
    return fuse_for_quantization(fp32_model)


@pytest.fixture(scope="module")
def int8_model(fused):
    model, seen = quantize_int8(fused, tensorrt_qconfig(MinMaxObserver), random_images(16, seed=1), batch_size=8)
    assert seen == 16
    return model


@pytest.fixture(scope="module")
def int8_onnx(int8_model, tmp_path_factory):
    path = tmp_path_factory.mktemp("export") / "int8.onnx"
    export_onnx(int8_model, path, model_metadata(None, None, "int8-qdq-raw", "02_quantize_and_export"))
    return path


def test_fused_model_matches_unfused(fp32_model, fused):
    assert not any(isinstance(module, nn.BatchNorm2d) for module in fused.modules())
    with torch.inference_mode():
        logits_scale = float(fp32_model(normalize(to_tensor(random_images(4, seed=2).images))).abs().max())
    difference = largest_output_difference(fp32_model, fused, random_images(4, seed=2))
    assert difference < 1e-4 * max(1.0, logits_scale)


def test_fused_difference_detects_a_changed_model(fp32_model, fused):
    changed = fuse_for_quantization(fp32_model)
    changed.fc.bias.data += 0.5
    assert largest_output_difference(fused, changed, random_images(2, seed=3)) == pytest.approx(0.5, abs=1e-4)


@pytest.mark.parametrize("observer", [MinMaxObserver, HistogramObserver])
def test_every_activation_is_symmetric_quint8_with_zero_point_128(fused, observer):
    model, _ = quantize_int8(fused, tensorrt_qconfig(observer), random_images(8, seed=4), batch_size=8)
    qparams = activation_qparams(model)
    assert len(qparams) == 1 + CONVS + 1 + RESIDUAL_ADDS  # input, convs, fc, adds
    assert {entry["zero_point"] for entry in qparams.values()} == {128}
    assert all(entry["scale"] > 0 for entry in qparams.values())
    assert model.quant(torch.zeros(1, 3, 32, 32)).dtype == torch.quint8


def test_every_weight_is_per_channel_qint8_with_zero_point_0_on_axis_0(int8_model):
    weights = weight_qparams(int8_model)
    assert len(weights) == CONVS + 1
    for name, entry in weights.items():
        assert entry["dtype"] == "torch.qint8", name
        assert entry["axis"] == 0 and entry["zero_points"] == [0], name
        # torch stores per-channel symmetric weights as per_channel_affine with zero points 0
        assert entry["qscheme"] in ("torch.per_channel_affine", "torch.per_channel_symmetric"), name


def test_shifting_uint8_zero_point_128_to_int8_zero_point_0_changes_no_value(int8_model):
    every_code = torch._make_per_tensor_quantized_tensor(torch.arange(256, dtype=torch.uint8), 0.0371, 128)
    codes = to_int8_codes(every_code)
    assert codes.dtype == torch.int8 and codes.tolist() == list(range(-128, 128))
    assert torch.equal(every_code.q_scale() * codes.float(), every_code.dequantize())

    activation = int8_model.conv1(int8_model.quant(normalize(to_tensor(random_images(2, seed=5).images))))
    assert torch.equal(activation.q_scale() * to_int8_codes(activation).float(), activation.dequantize())


def test_explicit_0_255_range_gives_zero_point_127_which_shift_refuses():
    observer = MinMaxObserver(dtype=torch.quint8, qscheme=torch.per_tensor_symmetric, quant_min=0, quant_max=255)
    observer(torch.linspace(-3, 3, 100))
    scale, zero_point = observer.calculate_qparams()
    assert int(zero_point) == 127
    with pytest.raises(ValueError, match="only 128 maps exactly"):
        to_int8_codes(torch.quantize_per_tensor(torch.zeros(3), float(scale), int(zero_point), torch.quint8))


def test_exported_graph_has_the_patterns_notebook_03_rewrites(int8_onnx):
    counts = count_ops(int8_onnx)
    assert counts["Conv"] == CONVS and counts["Gemm"] == 1
    chains = find_q_cast_dq_chains(int8_onnx)
    assert {chain.cast_to for chain in chains} == {"UINT8"}
    assert len({chain.quantize.name for chain in chains}) == counts["QuantizeLinear"]
    biases = find_int32_bias_dequantize(int8_onnx)
    assert sorted(item.reader.op for item in biases) == ["Conv"] * CONVS + ["Gemm"]
    assert {item.zero_point_nodes for item in biases} == {("Cast", "ConstantOfShape")}
    assert len(find_adds_of_dequantized_inputs(int8_onnx)) == RESIDUAL_ADDS
    activations = [row for row in quantization_parameters(int8_onnx) if row["role"] == "activation"]
    assert {(row["zero_point_dtype"], tuple(row["zero_points"])) for row in activations} == {("uint8", (128,))}
    assert read_metadata(int8_onnx)["precision"] == "int8-qdq-raw"
    assert onnx.load(str(int8_onnx)).opset_import[0].version == 17


def test_exported_graph_computes_what_the_int8_model_computes(fused, int8_model, int8_onnx):
    inputs = normalize(to_tensor(random_images(8, seed=6).images))
    with torch.inference_mode():
        expected = int8_model(inputs).numpy()
        fp32 = fused(inputs)
    (actual,) = onnxruntime_session(int8_onnx).run(None, {"input": inputs.numpy()})
    # ONNX Runtime and qnnpack round some intermediate values one step apart, and with random weights
    # those steps grow over 20 layers: the logits agree to within a 10% noise amplitude (20 dB)
    onnx_vs_pytorch = sqnr_db(torch.from_numpy(expected), torch.from_numpy(actual))
    int8_vs_fp32 = sqnr_db(fp32, torch.from_numpy(expected))
    print(f"SQNR ONNX Runtime vs PyTorch INT8 {onnx_vs_pytorch:.1f} dB, PyTorch INT8 vs FP32 {int8_vs_fp32:.1f} dB")
    assert onnx_vs_pytorch > 20


def test_int8_model_round_trips_through_save_and_load(int8_model, tmp_path):
    path = save_int8_model(tmp_path / "int8.pt", int8_model, {"activation_observer": "min-max"})
    reloaded, provenance = load_int8_model(path)
    assert provenance["activation_observer"] == "min-max" and provenance["torch_version"] == torch.__version__
    inputs = normalize(to_tensor(random_images(4, seed=7).images))
    with torch.inference_mode():
        assert torch.equal(reloaded(inputs), int8_model(inputs))
    assert activation_qparams(reloaded) == activation_qparams(int8_model)


def test_load_int8_model_explains_bad_files(tmp_path):
    with pytest.raises(TutorialError, match="Run notebooks/02"):
        load_int8_model(tmp_path / "missing.pt")
    (tmp_path / "garbage.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(TutorialError, match="not a readable"):
        load_int8_model(tmp_path / "garbage.pt")
    torch.save({"state_dict": {}}, tmp_path / "fp32_like.pt")
    with pytest.raises(TutorialError, match="not an INT8 model"):
        load_int8_model(tmp_path / "fp32_like.pt")


def test_pick_observer_prefers_accuracy_then_the_simpler_observer():
    assert pick_observer({"min-max": 0.80, "histogram": 0.81}) == "histogram"
    assert pick_observer({"histogram": 0.80, "min-max": 0.80}) == "min-max"
    assert pick_observer({"min-max": 0.82, "histogram": 0.81}) == "min-max"


def test_sqnr_db_known_values():
    reference = torch.ones(100)
    assert sqnr_db(reference, reference * 1.1) == pytest.approx(20.0)
    assert sqnr_db(reference, reference * 1.01) == pytest.approx(40.0)
    assert math.isinf(sqnr_db(reference, reference))


def test_per_layer_sqnr_covers_every_quantized_layer_in_run_order(fused, int8_model):
    sqnr = per_layer_sqnr(fused, int8_model, random_images(4, seed=8))
    assert len(sqnr) == len(quantized_layer_names(int8_model)) == 1 + CONVS + 1 + RESIDUAL_ADDS
    names = list(sqnr)
    assert names[0] == "quant" and names[-1] == "fc" and "layer1.0.add_relu" in names
    assert names.index("layer1.0.conv1") < names.index("layer1.0.conv2") < names.index("layer1.0.add_relu")
    assert all(math.isfinite(value) for value in sqnr.values())
    assert sqnr["quant"] > 30  # 8-bit input quantization alone: about 6 dB per bit


def test_layer_outputs_names_missing_modules(fused):
    with pytest.raises(TutorialError, match="no modules named"):
        layer_outputs(fused, ["layer9.conv1"], torch.zeros(1, 3, 32, 32))


def test_layer_sqnr_bars_draws_one_bar_per_layer_and_labels_the_worst():
    from helpers.plotting import layer_sqnr_bars

    figure = layer_sqnr_bars({"quant": 45.0, "conv1": 30.0, "layer1.0.conv1": 20.0, "fc": math.inf}, highlight=2)
    axis = figure.axes[0]
    assert len(axis.patches) == 4
    assert [label.get_text() for label in axis.get_yticklabels()] == ["quant", "conv1", "layer1.0.conv1", "fc"]
    assert sorted(text.get_text() for text in axis.texts) == ["20.0 dB", "30.0 dB"]


def test_qconfig_summary_states_the_tensorrt_scheme():
    from helpers.quantization import qconfig_summary

    summary = qconfig_summary(tensorrt_qconfig(HistogramObserver))
    assert summary["activation"] == {"observer": "HistogramObserver", "dtype": "torch.quint8",
                                     "qscheme": "torch.per_tensor_symmetric", "quant_range": [0, 255]}
    assert summary["weight"] == {"observer": "PerChannelMinMaxObserver", "dtype": "torch.qint8",
                                 "qscheme": "torch.per_channel_symmetric", "quant_range": [-128, 127], "channel_axis": 0}


def test_logits_sqnr_is_the_sqnr_of_the_last_layer(fused, int8_model):
    images = random_images(6, seed=11)
    assert logits_sqnr(fused, int8_model, images, batch_size=4) == pytest.approx(per_layer_sqnr(fused, int8_model, images)["fc"], abs=1e-3)
    assert logits_sqnr(fused, fused, images) == float("inf")


# --- what the save/load, the checks and the choices must also get right (found by `make mutation`) --------

class NotAWeight:
    """An arbitrary Python object: a checkpoint that pickles one is not plain tensors and numbers."""


def test_saved_int8_model_records_engine_and_utc_time_and_reloads_without_provenance(int8_model, tmp_path):
    from helpers.quantization import ARCHITECTURE, INT8_FORMAT

    path = save_int8_model(tmp_path / "int8.pt", int8_model, {"activation_observer": "min-max"})
    record = torch.load(path, weights_only=True)
    assert record["engine"] == "qnnpack" and record["format"] == INT8_FORMAT and record["architecture"] == ARCHITECTURE
    assert record["provenance"]["saved_at"].endswith("+00:00")  # UTC, to the second
    del record["provenance"]
    torch.save(record, tmp_path / "no_provenance.pt")
    _, provenance = load_int8_model(tmp_path / "no_provenance.pt")
    assert provenance == {}


def test_load_int8_model_names_what_is_wrong_with_a_file(int8_model, tmp_path):
    from helpers.quantization import ARCHITECTURE, INT8_FORMAT

    (tmp_path / "garbage.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(TutorialError, match=r"garbage.pt is not a readable PyTorch file \(UnpicklingError: "):
        load_int8_model(tmp_path / "garbage.pt")
    state_dict = int8_model.state_dict()
    # only plain tensors and numbers are loaded: a pickled object is refused, not run
    torch.save({"format": INT8_FORMAT, "architecture": ARCHITECTURE, "state_dict": state_dict, "provenance": {"x": NotAWeight()}},
               tmp_path / "pickled_object.pt")
    with pytest.raises(TutorialError, match="not a readable PyTorch file"):
        load_int8_model(tmp_path / "pickled_object.pt")
    torch.save({"format": INT8_FORMAT, "architecture": "resnet50", "state_dict": state_dict}, tmp_path / "other.pt")
    with pytest.raises(TutorialError, match=f"holds a 'resnet50' model, not '{ARCHITECTURE}'"):
        load_int8_model(tmp_path / "other.pt")
    missing = dict(state_dict)
    del missing["fc._packed_params._packed_params"]
    torch.save({"format": INT8_FORMAT, "architecture": ARCHITECTURE, "state_dict": missing}, tmp_path / "missing.pt")
    with pytest.raises(TutorialError, match=r"do not fit the model: 'fc\.weight'"):
        load_int8_model(tmp_path / "missing.pt")


def test_pick_observer_keeps_observers_it_does_not_know():
    assert pick_observer({"min-max": 0.80, "percentile": 0.90}) == "percentile"
    assert pick_observer({"percentile": 0.80, "min-max": 0.80}) == "min-max"  # ties: the known, simpler one first


def test_to_int8_codes_says_what_it_got():
    with pytest.raises(ValueError, match=r"got torch\.float32 with zero point None"):
        to_int8_codes(torch.zeros(3))
    with pytest.raises(ValueError, match=r"got torch\.quint8 with zero point 127"):
        to_int8_codes(torch.quantize_per_tensor(torch.zeros(3), 0.1, 127, torch.quint8))
    with pytest.raises(ValueError, match=r"got torch\.qint8 with zero point 0"):
        to_int8_codes(torch.quantize_per_tensor(torch.zeros(3), 0.1, 0, torch.qint8))
    with pytest.raises(ValueError, match=r"got torch\.qint32 with zero point 128"):  # zero point 128, not quint8
        to_int8_codes(torch.quantize_per_tensor(torch.zeros(3), 0.1, 128, torch.qint32))


def test_qint8_activations_problem_is_qnnpacks_own_one_line_refusal():
    """Notebook 02 prints it: on torch 2.13+ qnnpack refuses qint8 activations (no XNNPACK), earlier it runs them."""
    from helpers.quantization import qint8_activations_problem, use_qnnpack

    use_qnnpack()
    problem = qint8_activations_problem()
    major, minor = (int(part) for part in torch.__version__.split(".")[:2])
    if (major, minor) < (2, 13):
        assert problem is None
    else:
        assert problem == "quantized::conv(qnnpack): Expected activation data type QUInt8 but got QInt8"


def test_weight_qparams_reads_per_tensor_weights_and_channel_counts(fused, int8_model):
    from torch.ao.quantization import QConfig

    per_channel = weight_qparams(int8_model)
    assert per_channel["conv1"]["channels"] == 64 and per_channel["fc"]["channels"] == 10
    per_tensor_qconfig = QConfig(activation=tensorrt_qconfig().activation,
                                 weight=MinMaxObserver.with_args(dtype=torch.qint8, qscheme=torch.per_tensor_symmetric))
    per_tensor, _ = quantize_int8(fused, per_tensor_qconfig, random_images(4, seed=12), batch_size=4)
    entry = weight_qparams(per_tensor)["layer1.0.conv1"]
    assert entry["qscheme"] == "torch.per_tensor_affine" and entry["axis"] is None and entry["zero_points"] == [0]
    assert entry["channels"] == 64


def test_quantize_int8_calibrates_in_the_batches_it_is_given(fused):
    """The histogram observer's ranges depend on how the images are batched, so the batch size must reach calibrate."""
    from helpers.quantization import calibrate, convert_to_int8, prepare_for_calibration

    images = random_images(16, seed=13)
    one_call, seen = quantize_int8(fused, tensorrt_qconfig(HistogramObserver), images, batch_size=4)
    prepared = prepare_for_calibration(fused, tensorrt_qconfig(HistogramObserver))
    calibrate(prepared, images, batch_size=4)
    assert seen == 16 and activation_qparams(one_call) == activation_qparams(convert_to_int8(prepared))
    whole = prepare_for_calibration(fused, tensorrt_qconfig(HistogramObserver))
    calibrate(whole, images, batch_size=16)
    assert activation_qparams(convert_to_int8(whole)) != activation_qparams(one_call)  # batching does matter here


def test_eager_warnings_are_silenced_by_message_category_and_module_together():
    import warnings

    from helpers.quantization import eager_deprecation_silenced

    deprecated = "torch.ao.quantization is deprecated and will be removed"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with eager_deprecation_silenced():
            warnings.warn_explicit(deprecated, DeprecationWarning, "quantization.py", 1, module="helpers.quantization")
            warnings.warn_explicit("another deprecation", DeprecationWarning, "quantization.py", 2, module="helpers.quantization")
            warnings.warn_explicit(deprecated, UserWarning, "quantization.py", 3, module="helpers.quantization")
            warnings.warn_explicit(deprecated, DeprecationWarning, "elsewhere.py", 4, module="elsewhere")
    assert [(str(w.message), w.category, w.lineno) for w in caught] == [
        ("another deprecation", DeprecationWarning, 2), (deprecated, UserWarning, 3), (deprecated, DeprecationWarning, 4)]


def test_layer_outputs_keep_what_the_layer_returned_before_an_in_place_op_changes_it():
    model = nn.Sequential(nn.Conv2d(1, 1, 1, bias=False), nn.ReLU(inplace=True)).eval()
    with torch.no_grad():
        model[0].weight.fill_(1.0)
    inputs = torch.linspace(-1, 1, 16).reshape(1, 1, 4, 4)
    outputs = layer_outputs(model, ["0"], inputs)
    assert torch.equal(outputs["0"], inputs)  # negative values included: the ReLU ran in place afterwards


def test_a_torch_without_the_engine_gets_the_install_advice(monkeypatch):
    from helpers import quantization

    monkeypatch.setattr(quantization, "ENGINE", "no-such-engine")
    with pytest.raises(TutorialError, match=r"no 'no-such-engine' quantized engine .*make setup"):
        quantization.use_qnnpack()
