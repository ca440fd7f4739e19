"""helpers.onnx_export: metadata that lets any tool evaluate the model, and clear errors."""

import json

import numpy as np
import onnx
import pytest
import torch

from helpers import data, onnx_export, onnx_runtime
from helpers.config import TutorialError
from helpers.model import load_shipped_model, save_checkpoint
from synthetic import varied_images


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("export")
    network, _ = load_shipped_model()  # trained, so its predictions differ from image to image
    checkpoint = folder / "model.pt"
    save_checkpoint(checkpoint, network, {"profile": "test"})
    path = folder / "model.onnx"
    metadata = onnx_export.model_metadata(checkpoint, data.sha256_of(checkpoint), "fp32", "test")
    onnx_export.export_onnx(network, path, metadata)
    return network, path, checkpoint


def test_metadata_describes_input_classes_and_checkpoint(exported):
    _, path, checkpoint = exported
    metadata = onnx_export.read_metadata(path)
    assert json.loads(metadata["input_shape"]) == ["batch", 3, 32, 32]
    assert metadata["input_layout"] == "NCHW"
    assert json.loads(metadata["normalization_mean"]) == list(data.CIFAR10_MEAN)
    assert json.loads(metadata["normalization_std"]) == list(data.CIFAR10_STD)
    assert json.loads(metadata["class_names"]) == list(data.CIFAR10_CLASSES)
    assert metadata["source_checkpoint"] == checkpoint.name
    assert metadata["source_checkpoint_sha256"] == data.sha256_of(checkpoint)


def test_graph_has_dynamic_batch_and_checks(exported):
    _, path, _ = exported
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch" and [d.dim_value for d in dims[1:]] == [3, 32, 32]


def test_metadata_alone_reproduces_pytorch_predictions(exported):
    network, path, _ = exported
    images = varied_images(12)
    with torch.no_grad():
        expected = network(data.normalize(data.to_tensor(images))).argmax(1).numpy()
    assert len(set(expected.tolist())) >= 3  # an agreement check on one predicted class could not fail
    assert np.array_equal(onnx_runtime.predict_onnx(path, images, batch_size=5), expected)
    # the preprocessing is what the metadata says, not a copy of the project's constants
    metadata = onnx_export.read_metadata(path)
    assert np.allclose(onnx_export.preprocess_from_metadata(images, metadata), data.normalize(data.to_tensor(images)).numpy(), atol=1e-6)
    altered = dict(metadata, normalization_mean=json.dumps([0.0, 0.0, 0.0]))
    assert not np.allclose(onnx_export.preprocess_from_metadata(images, altered), data.normalize(data.to_tensor(images)).numpy())


def test_corrupt_and_missing_onnx_files_give_clear_errors(tmp_path, exported):
    _, path, _ = exported
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(TutorialError, match="not a readable ONNX model"):
        onnx_export.read_metadata(corrupt)
    with pytest.raises(TutorialError, match="does not exist"):
        onnx_export.load_onnx(tmp_path / "missing.onnx")


def test_sessions_run_graphs_as_written_unless_asked(exported):
    """Agreement checks must not depend on the CPU: ONNX Runtime's optimized INT8 kernels do (README)."""
    import onnxruntime as ort

    _, path, _ = exported
    as_written = onnx_runtime.onnxruntime_session(path).get_session_options().graph_optimization_level
    optimized = onnx_runtime.onnxruntime_session(path, optimized=True).get_session_options().graph_optimization_level
    assert as_written == ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    assert optimized != ort.GraphOptimizationLevel.ORT_DISABLE_ALL


@pytest.mark.parametrize("setting, threads", [("1", 1), ("3", 3), ("0", 1), (None, 0), ("many", 0)])
def test_sessions_take_their_thread_count_from_omp_num_threads(exported, monkeypatch, setting, threads):
    """make test gives each of its two jobs half the cores through OMP_NUM_THREADS; unset (or not a number), ONNX
    Runtime keeps its own default (0: one thread per physical core)."""
    _, path, _ = exported
    if setting is None:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OMP_NUM_THREADS", setting)
    assert onnx_runtime.onnxruntime_session(path).get_session_options().intra_op_num_threads == threads
