"""Import of PhaseNet TF1 checkpoints (picker.models.phasenet) and its ONNX export.

Synthetic checkpoints, written here with the checkpoint's own variable names, cover the import
without ../shared; the published checkpoint is compared with the original code's outputs in
``../shared/pretrained/phasenet/reference.npz`` when that folder exists.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
import pytest

SHARED = Path(
    os.environ.get(
        "PICKER_PRETRAINED", Path(__file__).resolve().parents[1].parent / "shared" / "pretrained"
    )
)
PHASENET_DIR = SHARED / "phasenet"


# --- an independent NumPy PhaseNet with TensorFlow's SAME padding (float64) ---


def _same_pads(n: int, k: int, s: int) -> tuple[int, int, int]:
    """(outputs, pad before, pad after) of TensorFlow's SAME padding."""
    n_out = -(-n // s)
    total = max((n_out - 1) * s + k - n, 0)
    return n_out, total // 2, total - total // 2


def _conv(x, kernel, stride=1, bias=None):
    """x (b, n, c_in), kernel (k, 1, c_in, c_out) as in the checkpoint."""
    w = kernel[:, 0].astype(np.float64)
    k = w.shape[0]
    n_out, before, after = _same_pads(x.shape[1], k, stride)
    xp = np.pad(x, ((0, 0), (before, after), (0, 0)))
    y = sum(xp[:, j : j + (n_out - 1) * stride + 1 : stride] @ w[j] for j in range(k))
    return y if bias is None else y + bias


def _conv_transpose(x, kernel, stride):
    """Transpose of a SAME strided convolution: x (b, m, c_in) -> (b, m * stride, c_out),
    kernel (k, 1, c_out, c_in): tap j of input m lands on output m * stride + j - before."""
    w = kernel[:, 0].astype(np.float64)
    k, m = w.shape[0], x.shape[1]
    before = max(k - stride, 0) // 2
    out = np.zeros((x.shape[0], m * stride + k, w.shape[1]))
    for j in range(k):
        out[:, j : j + m * stride : stride] += x @ w[j].T
    return out[:, before : before + m * stride]


def numpy_phasenet(variables: dict, x: np.ndarray, stride: int = 4) -> np.ndarray:
    """PhaseNet's probabilities from checkpoint ``variables`` for ``x`` (b, n, 3)."""

    def bn_relu(y, scope):
        g, b, m, v = (
            variables[f"{scope}/{p}"] for p in ("gamma", "beta", "moving_mean", "moving_variance")
        )
        return np.maximum((y - m) / np.sqrt(v + 1e-3) * g + b, 0)

    x = np.asarray(x, np.float64)
    x = bn_relu(
        _conv(x, variables["Input/input_conv/kernel"], bias=variables["Input/input_conv/bias"]),
        "Input/input_bn",
    )
    depth = sum(1 for name in variables if name.endswith("/kernel") and "down_conv1_" in name)
    skips = []
    for d in range(1, depth + 1):
        scope = f"DownConv_{d - 1}"
        x = bn_relu(_conv(x, variables[f"{scope}/down_conv1_{d}/kernel"]), f"{scope}/down_bn1_{d}")
        skips.append(x)
        if d < depth:
            x = _conv(x, variables[f"{scope}/down_conv3_{d}/kernel"], stride=stride)
            x = bn_relu(x, f"{scope}/down_bn3_{d}")
    for d in range(depth - 1, 0, -1):
        scope = f"UpConv_{d - 1}"
        x = bn_relu(
            _conv_transpose(x, variables[f"{scope}/up_conv0_{d}/kernel"], stride),
            f"{scope}/up_bn0_{d}",
        )
        skip = skips[d - 1]
        offset = (x.shape[1] - skip.shape[1]) // 2
        x = np.concatenate([skip, x[:, offset : offset + skip.shape[1]]], axis=-1)
        x = bn_relu(_conv(x, variables[f"{scope}/up_conv1_{d}/kernel"]), f"{scope}/up_bn1_{d}")
    logits = _conv(
        x, variables["Output/output_conv/kernel"], bias=variables["Output/output_conv/bias"]
    )
    e = np.exp(logits - logits.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def synthetic_variables(filters=(4, 8, 16), kernel=5, seed=0) -> dict:
    """Random weights for a PhaseNet of this layout, named like the TF1 checkpoint."""
    rng = np.random.default_rng(seed)
    variables = {}

    def bn(scope, n):
        variables[f"{scope}/gamma"] = rng.uniform(0.5, 1.5, n)
        variables[f"{scope}/beta"] = rng.normal(0, 0.2, n)
        variables[f"{scope}/moving_mean"] = rng.normal(0, 0.2, n)
        variables[f"{scope}/moving_variance"] = rng.uniform(0.5, 2.0, n)

    def conv(name, shape):
        variables[name] = rng.normal(0, 1.0 / np.sqrt(shape[0] * shape[2]), shape)

    conv("Input/input_conv/kernel", (kernel, 1, 3, filters[0]))
    variables["Input/input_conv/bias"] = rng.normal(0, 0.1, filters[0])
    bn("Input/input_bn", filters[0])
    n_in = filters[0]
    for level, n in enumerate(filters):
        scope, d = f"DownConv_{level}", level + 1
        conv(f"{scope}/down_conv1_{d}/kernel", (kernel, 1, n_in, n))
        bn(f"{scope}/down_bn1_{d}", n)
        if level < len(filters) - 1:
            conv(f"{scope}/down_conv3_{d}/kernel", (kernel, 1, n, n))
            bn(f"{scope}/down_bn3_{d}", n)
        n_in = n
    for level in range(len(filters) - 1):
        scope, d, n = f"UpConv_{level}", level + 1, filters[level]
        conv(f"{scope}/up_conv0_{d}/kernel", (kernel, 1, n, filters[level + 1]))
        bn(f"{scope}/up_bn0_{d}", n)
        conv(f"{scope}/up_conv1_{d}/kernel", (kernel, 1, 2 * n, n))
        bn(f"{scope}/up_bn1_{d}", n)
    conv("Output/output_conv/kernel", (1, 1, filters[0], 3))
    variables["Output/output_conv/bias"] = rng.normal(0, 0.1, 3)
    return {name: value.astype(np.float32) for name, value in variables.items()}


def write_checkpoint(directory: Path, variables: dict, extra: dict | None = None) -> Path:
    """Write ``variables`` as a TF checkpoint ``directory/model_1.ckpt`` (V2 format, the names
    as given, like a TF1 ``Saver``), plus optimiser-like extras and the ``checkpoint`` file."""
    import tensorflow as tf

    directory.mkdir(parents=True, exist_ok=True)
    prefix = directory / "model_1.ckpt"
    everything = {**variables, **(extra or {})}
    names = sorted(everything)
    tf.raw_ops.SaveV2(
        prefix=str(prefix),
        tensor_names=names,
        shape_and_slices=[""] * len(names),
        tensors=[tf.constant(everything[n]) for n in names],
    )
    (directory / "checkpoint").write_text('model_checkpoint_path: "model_1.ckpt"\n')
    return prefix


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    variables = synthetic_variables()
    extra = {
        "DownConv_0/down_conv1_1/kernel/Adam": np.ones((5, 1, 4, 4), np.float32),
        "beta1_power": np.float32(0.9),
        "global_step": np.int32(7),
    }
    directory = tmp_path_factory.mktemp("phasenet_ckpt")
    write_checkpoint(directory, variables, extra)
    return directory, variables


@pytest.fixture(scope="module")
def tiny_model(tiny_checkpoint):
    from picker.models.phasenet import import_phasenet_checkpoint

    return import_phasenet_checkpoint(tiny_checkpoint[0])


def test_synthetic_checkpoint_imports_with_its_layout(tiny_checkpoint, tiny_model):
    from picker.models.phasenet import PHASENET_INPUT

    assert [layer.name for layer in tiny_model.layers if layer.name.startswith("down_conv1_")] == [
        "down_conv1_1",
        "down_conv1_2",
        "down_conv1_3",
    ]
    assert tiny_model.get_layer("down_conv1_3").filters == 16
    assert tiny_model.get_layer("input_conv").kernel_size == (5,)
    assert tiny_model.get_layer("down_bn1_1").epsilon == pytest.approx(1e-3)
    assert tiny_model.picker_input_settings == PHASENET_INPUT
    assert tiny_model.picker_provenance.model == "PhaseNet"
    assert tiny_model.picker_provenance.licence == ""  # no LICENSE beside the synthetic file


@pytest.mark.parametrize("n_samples", [64, 101, 99, 17, 1])
def test_synthetic_checkpoint_equals_numpy_phasenet(tiny_checkpoint, tiny_model, n_samples):
    """Any length, multiples of the stride or not: TF's SAME pads and the centred crop."""
    x = np.random.default_rng(n_samples).normal(size=(2, n_samples, 3)).astype(np.float32)
    expected = numpy_phasenet(tiny_checkpoint[1], x)
    got = np.asarray(tiny_model(x))
    assert got.shape == (2, n_samples, 3)
    np.testing.assert_allclose(got, expected, atol=2e-6)


def test_prefix_and_index_paths_import_too(tiny_checkpoint, tiny_model):
    from picker.models.phasenet import import_phasenet_checkpoint

    x = np.random.default_rng(1).normal(size=(1, 40, 3)).astype(np.float32)
    for path in (tiny_checkpoint[0] / "model_1.ckpt", tiny_checkpoint[0] / "model_1.ckpt.index"):
        np.testing.assert_array_equal(
            np.asarray(import_phasenet_checkpoint(path)(x)), tiny_model(x)
        )


def test_differing_layout_is_a_one_line_error(tmp_path):
    from picker.models.phasenet import import_phasenet_checkpoint
    from picker.models.settings import ImportModelError

    variables = synthetic_variables()
    variables["UpConv_1/up_conv1_2/kernel"] = np.zeros((5, 1, 12, 8), np.float32)  # 16 -> 12 in
    prefix = write_checkpoint(tmp_path / "bad_shape", variables)
    with pytest.raises(ImportModelError) as err:
        import_phasenet_checkpoint(prefix.parent)
    message = str(err.value)
    assert "\n" not in message and str(prefix) in message
    assert "'UpConv_1/up_conv1_2/kernel' has shape [5, 1, 12, 8]" in message
    assert "needs [5, 1, 16, 8]" in message

    variables = synthetic_variables()
    del variables["DownConv_1/down_bn3_2/moving_mean"]
    write_checkpoint(tmp_path / "missing", variables)
    with pytest.raises(ImportModelError, match="lacks") as err:
        import_phasenet_checkpoint(tmp_path / "missing")
    assert "DownConv_1/down_bn3_2/moving_mean" in str(err.value)

    variables = {**synthetic_variables(), "Attention/query/kernel": np.zeros(3, np.float32)}
    write_checkpoint(tmp_path / "extra", variables)
    with pytest.raises(ImportModelError, match="Attention/query/kernel"):
        import_phasenet_checkpoint(tmp_path / "extra")


def test_not_a_checkpoint_is_a_one_line_error(tmp_path):
    from picker.models.phasenet import import_phasenet_checkpoint
    from picker.models.settings import ImportModelError

    with pytest.raises(ImportModelError, match="no TensorFlow checkpoint") as err:
        import_phasenet_checkpoint(tmp_path)
    assert str(tmp_path) in str(err.value)
    (tmp_path / "junk.ckpt.index").write_bytes(b"not an index")
    with pytest.raises(ImportModelError, match="not a readable TensorFlow checkpoint") as err:
        import_phasenet_checkpoint(tmp_path / "junk.ckpt")
    assert "\n" not in str(err.value)
    write_checkpoint(tmp_path / "other", {"dense/kernel": np.zeros((3, 3), np.float32)})
    with pytest.raises(ImportModelError, match="not a PhaseNet checkpoint"):
        import_phasenet_checkpoint(tmp_path / "other")


def test_config_log_sets_the_stride(tmp_path):
    from picker.models.phasenet import import_phasenet_checkpoint
    from picker.models.settings import ImportModelError

    variables = synthetic_variables()
    write_checkpoint(tmp_path, variables)
    (tmp_path / "config.log").write_text("pool_size: [2, 1]\ndilation_rate: [1, 1]\n")
    model = import_phasenet_checkpoint(tmp_path)
    assert model.get_layer("down_conv3_1").strides == (2,)
    x = np.random.default_rng(2).normal(size=(1, 37, 3)).astype(np.float32)
    np.testing.assert_allclose(model(x), numpy_phasenet(variables, x, stride=2), atol=2e-6)
    (tmp_path / "config.log").write_text("pool_size: [4, 1]\ndilation_rate: [2, 1]\n")
    with pytest.raises(ImportModelError, match="dilation_rate 2"):
        import_phasenet_checkpoint(tmp_path)


def test_keras_archive_round_trip_keeps_contract_and_provenance(tiny_model, tmp_path):
    import keras

    from picker.models.phasenet import PHASENET_INPUT
    from picker.models.provenance import PROVENANCE_ENTRY, read_provenance
    from picker.models.saving import load_model, save_imported_model

    path = save_imported_model(tiny_model, tmp_path / "phasenet.keras")
    with zipfile.ZipFile(path) as archive:
        assert PROVENANCE_ENTRY in archive.namelist()
    assert read_provenance(path) == tiny_model.picker_provenance
    x = np.random.default_rng(3).normal(size=(1, 77, 3)).astype(np.float32)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(loaded(x), tiny_model(x))
    picker_loaded = load_model(path)  # picker's checks: safe classes, (batch, n, 3) in and out
    assert picker_loaded.picker_input_settings == PHASENET_INPUT
    np.testing.assert_array_equal(picker_loaded(x), tiny_model(x))


def test_onnx_export_equals_keras_at_any_length(tiny_model, tmp_path):
    from picker.models.onnx_model import OnnxModel
    from picker.models.phasenet_onnx import export_phasenet_onnx

    onnx_model = OnnxModel(export_phasenet_onnx(tiny_model, tmp_path / "phasenet.onnx"))
    assert onnx_model.total_stride == 1
    assert onnx_model.picker_input_settings == tiny_model.picker_input_settings
    for n_samples in (64, 101, 99, 3):
        x = np.random.default_rng(n_samples).normal(size=(2, n_samples, 3)).astype(np.float32)
        np.testing.assert_allclose(onnx_model.predict(x), tiny_model(x), atol=1e-5)


# --- the published checkpoint (../shared) ---


@pytest.fixture(scope="module")
def published():
    if not (PHASENET_DIR / "reference.npz").is_file():
        pytest.skip(f"{PHASENET_DIR} not available")
    from picker.models.phasenet import import_phasenet_checkpoint, read_phasenet_checkpoint

    with np.load(PHASENET_DIR / "reference.npz") as ref:
        reference = {key: ref[key] for key in ref.files}
    return (
        import_phasenet_checkpoint(PHASENET_DIR),
        reference,
        read_phasenet_checkpoint(PHASENET_DIR)[1],
    )


@pytest.mark.parametrize("n_samples", [3000, 6000])
def test_published_phasenet_reproduces_the_original(published, n_samples):
    model, reference, _ = published
    got = model.predict(reference[f"input_{n_samples}"], verbose=0)
    assert np.abs(got - reference[f"prob_{n_samples}"]).max() < 1e-4


def test_published_phasenet_is_the_documented_layout(published):
    model, _, _ = published
    assert [model.get_layer(f"down_conv1_{d}").filters for d in range(1, 6)] == [8, 16, 32, 64, 128]
    assert model.get_layer("down_conv3_1").strides == (4,)
    assert "Weiqiang Zhu" in model.picker_provenance.licence


@pytest.mark.parametrize("n_samples", [2999, 3001])
def test_published_phasenet_lengths_off_the_stride(published, n_samples):
    """On the shared windows, lengths that are not multiples of 4 give what the original's
    TF SAME padding and centred crop give (the NumPy PhaseNet, itself checked against the
    reference at 3000 samples here)."""
    model, reference, variables = published
    x3000 = reference["input_3000"][:2]
    np.testing.assert_allclose(
        numpy_phasenet(variables, x3000), reference["prob_3000"][:2], atol=1e-4
    )
    x = reference["input_6000"][:2, :n_samples]
    np.testing.assert_allclose(model.predict(x, verbose=0), numpy_phasenet(variables, x), atol=1e-4)


def test_published_phasenet_onnx_equals_keras(published, tmp_path):
    from picker.models.onnx_model import OnnxModel
    from picker.models.phasenet_onnx import export_phasenet_onnx

    model, reference, _ = published
    onnx_model = OnnxModel(export_phasenet_onnx(model, tmp_path / "phasenet.onnx"))
    for x in (reference["input_3000"], reference["input_6000"][:, :2999]):
        assert np.abs(onnx_model.predict(x) - model.predict(x, verbose=0)).max() < 1e-4
