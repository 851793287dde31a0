"""Export a picker U-Net (built by :func:`picker.models.unet.build_model`) to an ONNX graph.

The exported graph computes the same function as the Keras model in inference mode:

- input ``waveform``: ``(batch, n_samples, 3)`` float32 E/N/Z, **channels-last**, whatever the
  Keras model's own layout (the caller never transposes), with ``n_samples`` a multiple of
  the model's total stride (the caller pads; :class:`picker.models.onnx_model.OnnxModel` does);
- output ``probabilities``: ``(batch, n_samples, 3)`` float32 noise/P/S softmax.

Batch normalisation is folded into the convolution before it (inference statistics), dropout
is dropped, and Keras' ``padding="same"`` is written as explicit ONNX pads: for stride 1,
``(k - 1) // 2`` before and the rest after; for stride ``s`` on a length divisible by ``s`` the
total pad is ``max(k - s, 0)``, the smaller half before, as TensorFlow does. The transposed
convolutions of the decoder are written in their polyphase form (an ordinary convolution and an
interleave) and the softmax runs on the last axis: the same sums, and in ONNX Runtime the model
takes 18 % less time (61 against 50 ms for one hour of input on this 2-core machine).

The model file records ``picker_total_stride`` and ``picker_source_sha256`` (hash of the Keras
weights it came from) in its metadata, so a stale export can be detected. An int8 export
(:func:`quantize_int8`) may also name the float model beside it that reruns its windows with a
possible arrival (``picker_recheck_model``, ``picker_recheck_probability``).

Needs the ``onnx`` package; the runtime (:mod:`picker.models.onnx_model`) needs only ``onnxruntime``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from picker.io.base import atomic_output
from picker.models.saving import input_settings
from picker.preprocess.model_input import total_stride

#: ONNX opset the graph is written for (Conv, Relu, Reshape, Transpose, Concat, Softmax).
OPSET = 17


def _layer(model, name: str):
    try:
        return model.get_layer(name)
    except ValueError:
        raise ValueError(
            f"model {model.name!r} has no layer {name!r}: only picker U-Nets built by "
            "picker.models.unet.build_model can be exported to ONNX"
        ) from None


def _folded_bn(model, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(scale, shift) per channel of BatchNormalization layer ``name`` in inference mode."""
    bn = _layer(model, name)
    gamma = np.asarray(bn.gamma.numpy() if bn.scale else 1.0, dtype=np.float64)
    beta = np.asarray(bn.beta.numpy() if bn.center else 0.0, dtype=np.float64)
    mean = np.asarray(bn.moving_mean.numpy(), dtype=np.float64)
    var = np.asarray(bn.moving_variance.numpy(), dtype=np.float64)
    scale = gamma / np.sqrt(var + bn.epsilon) * np.ones_like(mean)
    return scale, beta - mean * scale


def weights_sha256(model) -> str:
    """SHA-256 over the model's weights (names, shapes and float32 bytes, in order)."""
    digest = hashlib.sha256()
    for weight in model.weights:
        value = np.ascontiguousarray(np.asarray(weight.numpy(), dtype=np.float32))
        digest.update(weight.path.encode())
        digest.update(str(value.shape).encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


class GraphBuilder:
    """Accumulates ONNX nodes and initializers (names given by the caller, unique per graph)
    and makes the picker ``ModelProto`` of them (:meth:`model_proto`)."""

    def __init__(self):
        from onnx import helper, numpy_helper

        self.helper, self.numpy_helper = helper, numpy_helper
        self.nodes: list = []
        self.initializers: list = []

    def const(self, name: str, value) -> str:
        """A float32 initializer ``name`` holding ``value``."""
        value = np.asarray(value, dtype=np.float32)
        self.initializers.append(self.numpy_helper.from_array(value, name))
        return name

    def const_int(self, name: str, value: list[int]) -> str:
        """An int64 initializer ``name`` holding ``value``."""
        self.initializers.append(self.numpy_helper.from_array(np.array(value, np.int64), name))
        return name

    def interleave_phases(self, y: str, n_out: int, phases: int, name: str) -> str:
        """``(batch, n_out, phases * n)`` channels-first phase outputs of a polyphase
        up-sampling (phase ``k`` of output sample ``i`` at ``[:, :, k * n + i]``) interleaved
        into ``(batch, n_out, n * phases)`` in time order."""
        y = self.node(
            "Reshape",
            [y, self.const_int(f"{name}_phases_shape", [0, n_out, phases, -1])],
            f"{name}_phases",
        )
        y = self.node("Transpose", [y], f"{name}_interleave", perm=[0, 1, 3, 2])
        return self.node(
            "Reshape", [y, self.const_int(f"{name}_shape", [0, n_out, -1])], f"{name}_up"
        )

    def node(self, op: str, inputs: list[str], name: str, **attrs) -> str:
        """Add the ``op`` node ``name`` whose one output is also called ``name``."""
        self.nodes.append(self.helper.make_node(op, inputs, [name], name=name, **attrs))
        return name

    def model_proto(self, model, inputs: dict, outputs: dict, props: dict):
        """The checked ``ModelProto`` of the nodes so far, named after the Keras ``model``.

        ``inputs``/``outputs`` map the graph's float32 input and output names to their shapes
        (ints, or strings for dynamic dimensions); ``props`` is the metadata (str to str), to
        which ``picker_source_sha256`` (:func:`weights_sha256`) and ``picker_input_settings``
        (the model's :class:`~picker.models.saving.InputSettings` as JSON) are added, and
        ``picker_provenance`` for imported published weights.
        """
        from onnx import TensorProto, checker

        helper = self.helper
        graph = helper.make_graph(
            self.nodes,
            model.name,
            [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs.items()],
            [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in outputs.items()],
            initializer=self.initializers,
        )
        proto = helper.make_model(
            graph, producer_name="picker", opset_imports=[helper.make_opsetid("", OPSET)]
        )
        proto.ir_version = 8
        props = {
            **props,
            "picker_source_sha256": weights_sha256(model),
            "picker_input_settings": input_settings(model).to_json(),
        }
        from picker.models.provenance import provenance

        if provenance(model) is not None:  # the licence notice travels with imported weights
            props["picker_provenance"] = provenance(model).to_json()
        helper.set_model_props(proto, props)
        checker.check_model(proto)
        return proto


def write_onnx(proto, path: str | os.PathLike) -> Path:
    """Write the ONNX ``ModelProto`` ``proto`` at ``path``, atomically; return the path."""
    path = Path(path)
    with atomic_output(path) as tmp:
        Path(tmp).write_bytes(proto.SerializeToString())
    return path


def _conv_bn_relu(g: GraphBuilder, model, x: str, name: str) -> str:
    """Conv1D (no bias) + BatchNorm + ReLU of the block ``name`` (``{name}_conv`` ...)."""
    conv = _layer(model, f"{name}_conv")
    kernel = np.asarray(conv.kernel.numpy(), dtype=np.float64)  # (k, in, out)
    k, stride = kernel.shape[0], int(conv.strides[0])
    scale, shift = _folded_bn(model, f"{name}_bn")
    weight = np.transpose(kernel * scale, (2, 1, 0))  # (out, in, k)
    if stride == 1:
        pads = [(k - 1) // 2, k - 1 - (k - 1) // 2]
    else:
        total = max(k - stride, 0)
        pads = [total // 2, total - total // 2]
    y = g.node(
        "Conv",
        [x, g.const(f"{name}_w", weight), g.const(f"{name}_b", shift)],
        f"{name}_conv",
        kernel_shape=[k],
        strides=[stride],
        pads=pads,
    )
    return g.node("Relu", [y], f"{name}_relu")


def _up_bn_relu(g: GraphBuilder, model, x: str, name: str) -> str:
    """Conv1DTranspose (no bias, ``same``) + BatchNorm + ReLU of the block ``name``.

    Written as its polyphase form, an ordinary convolution with ``stride`` times the output
    channels followed by an interleave (``Reshape``, ``Transpose``, ``Reshape``): output sample
    ``stride * q + r`` of channel ``o`` is output ``q`` of channel ``o * stride + r``. The same
    sums, but ONNX Runtime's ``Conv`` (fused with the ReLU) runs them about twice as fast as its
    ``ConvTranspose``.
    """
    conv = _layer(model, f"{name}_conv")
    kernel = np.asarray(conv.kernel.numpy(), dtype=np.float64)  # (k, out, in)
    k, stride = kernel.shape[0], int(conv.strides[0])
    scale, shift = _folded_bn(model, f"{name}_bn")
    kernel = kernel * scale[None, :, None]
    n_out, n_in = kernel.shape[1], kernel.shape[2]
    pad_before = max(k - stride, 0) // 2  # TensorFlow's "same" for a transposed convolution
    # tap j of input sample m reaches output t = stride * m + j - pad_before: for output phase
    # r = t % stride, the input is m = q - d with d = (j - r - pad_before) / stride
    taps = [
        (r, j, (j - r - pad_before) // stride)
        for r in range(stride)
        for j in range(k)
        if (j - r - pad_before) % stride == 0
    ]
    d_low = min(0, *(d for _, _, d in taps))
    d_high = max(0, *(d for _, _, d in taps))
    weight = np.zeros((n_out, stride, n_in, d_high - d_low + 1))  # (out, phase, in, taps)
    for r, j, d in taps:
        weight[:, r, :, d_high - d] = kernel[j]
    y = g.node(
        "Conv",
        [
            x,
            g.const(f"{name}_w", weight.reshape(n_out * stride, n_in, -1)),
            g.const(f"{name}_b", np.repeat(shift, stride)),
        ],
        f"{name}_conv",
        kernel_shape=[d_high - d_low + 1],
        pads=[d_high, -d_low],
    )
    y = g.node("Relu", [y], f"{name}_relu")
    return g.interleave_phases(y, n_out, stride, name)


def to_onnx(model):
    """The ONNX ``ModelProto`` of a picker U-Net (see the module docstring for its contract)."""
    g = GraphBuilder()
    levels = 0
    while any(layer.name == f"enc{levels}_conv" for layer in model.layers):
        levels += 1
    if levels == 0:
        _layer(model, "enc0_conv")  # raises the "not a picker U-Net" error
    x = g.node("Transpose", ["waveform"], "to_channels_first", perm=[0, 2, 1])
    x = _conv_bn_relu(g, model, x, "stem")
    skips = []
    for level in range(levels):
        x = _conv_bn_relu(g, model, x, f"enc{level}")
        if level < levels - 1:
            skips.append(x)
            x = _conv_bn_relu(g, model, x, f"down{level}")
    for level in reversed(range(levels - 1)):
        x = _up_bn_relu(g, model, x, f"up{level}")
        x = g.node("Concat", [skips[level], x], f"skip{level}", axis=1)
        x = _conv_bn_relu(g, model, x, f"dec{level}")
    logits = _layer(model, "logits")
    kernel = np.asarray(logits.kernel.numpy(), dtype=np.float32)  # (1, in, 3)
    x = g.node(
        "Conv",
        [
            x,
            g.const("logits_w", np.transpose(kernel, (2, 1, 0))),
            g.const("logits_b", np.asarray(logits.bias.numpy())),
        ],
        "logits",
        kernel_shape=[1],
    )
    x = g.node("Transpose", [x], "to_channels_last", perm=[0, 2, 1])
    g.node("Softmax", [x], "probabilities", axis=-1)
    return g.model_proto(
        model,
        {"waveform": ["batch", "samples", 3]},
        {"probabilities": ["batch", "samples", 3]},
        {"picker_total_stride": str(total_stride(model))},
    )


def export_onnx(model, path: str | os.PathLike) -> Path:
    """Write ``model`` (Keras picker U-Net) as an ONNX file at ``path``, atomically."""
    return write_onnx(to_onnx(model), path)


def quantize_int8(
    source: str | os.PathLike,
    path: str | os.PathLike,
    windows: np.ndarray,
    wide_tensors: Sequence[str] | str = (),
    recheck_probability: float | None = None,
) -> Path:
    """Write an int8 (QDQ, per-channel weights) version of the ONNX model ``source`` at ``path``.

    Activation ranges come from running ``windows`` ``(n, n_samples, 3)`` (model inputs) through
    the float model. The int8 model is faster on CPUs with VNNI/AMX but computes slightly
    different probabilities: measure it before use (``benchmarks/train_bundled.py
    --score-only MODEL.onnx``; ``benchmarks/int8_error.py``).

    ``wide_tensors``: activation tensors (ONNX names, e.g. ``["input_relu"]``) kept at 16
    bits instead of 8, or ``"all"`` for every activation (weights stay int8). A diagnostic: ONNX
    Runtime has no 16-bit kernels, so their consumers run in float and the model is slower.

    ``recheck_probability``: record ``source`` (which must stay beside ``path``) as the model
    that runs again every window where the int8 model's P or S probability reaches this
    (:meth:`picker.models.onnx_model.OnnxModel.predict`; the bundled int8 export: 0.1).
    """
    import tempfile

    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{"waveform": w[None]} for w in windows])

        def get_next(self):
            return next(self.batches, None)

    path = Path(path)
    if recheck_probability is not None:  # checked before the work, not after it
        if Path(source).resolve().parent != path.resolve().parent:
            raise ValueError(f"{path}: a model rechecked by {source} must be written beside it")
        if not 0.0 < recheck_probability <= 1.0:
            raise ValueError(f"recheck_probability must be in (0, 1], got {recheck_probability}")
    wide_all = wide_tensors == "all"
    if isinstance(wide_tensors, str) and not wide_all:
        wide_tensors = [wide_tensors]  # one tensor name
    options = {}
    if wide_tensors and not wide_all:
        sixteen = [{"quant_type": QuantType.QUInt16}]
        options["TensorQuantOverrides"] = {name: sixteen for name in wide_tensors}
    if wide_tensors:
        options["UseQDQContribOps"] = True  # 16-bit QuantizeLinear in the com.microsoft domain
    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        with atomic_output(path) as out:
            quantize_static(
                str(prepared),
                str(out),
                Reader(),
                quant_format=QuantFormat.QDQ,
                activation_type=QuantType.QUInt16 if wide_all else QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                per_channel=True,
                extra_options=options,
            )
            if recheck_probability is not None:
                _add_recheck_metadata(out, Path(source).name, recheck_probability)
    return path


def _add_recheck_metadata(path: Path, companion: str, probability: float) -> None:
    """Name the float ``companion`` (a file beside ``path``) and the probability at which a
    window is run again by it, in ``path``'s metadata (the other entries kept)."""
    import onnx

    model = onnx.load(str(path))
    props = {entry.key: entry.value for entry in model.metadata_props}
    props["picker_recheck_model"] = companion
    props["picker_recheck_probability"] = repr(float(probability))
    onnx.helper.set_model_props(model, props)
    onnx.save(model, str(path))
