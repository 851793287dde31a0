"""Export PhaseNet (:func:`picker.models.phasenet.build_phasenet`) to an ONNX graph.

The graph computes the Keras model's function in inference mode, on any length:

- input ``waveform``: ``(batch, n_samples, 3)`` float32, channels-last E, N, Z, normalised as
  :data:`picker.models.phasenet.PHASENET_INPUT` says, any ``n_samples >= 1``;
- output ``probabilities``: ``(batch, n_samples, 3)`` float32 noise/P/S softmax.

Batch normalisation is folded into the convolution before it. TensorFlow's ``SAME`` padding of
the (strided) convolutions is ONNX's ``auto_pad="SAME_UPPER"`` (the same pads for every length:
``ceil(n / stride)`` outputs, the smaller half of the padding before); the transposed
convolutions get TensorFlow's explicit pads (``(k - s) // 2`` before, the rest after), and the
up path is cropped around its centre to the skip's length with ``Shape``/``Slice``, as in
the original. The metadata has ``picker_total_stride`` 1 (the graph itself handles every
length, so :class:`picker.models.onnx_model.OnnxModel` must not pad; a model built with
``pad_to_stride`` has its total stride there instead, and ``OnnxModel`` pads and crops as the
Keras model does), ``picker_source_sha256`` and ``picker_input_settings`` (and
``picker_provenance`` of imported weights: authors, paper, licence notice), so ``OnnxModel`` runs the file like a picker export.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from picker.models.onnx_export import GraphBuilder, write_onnx
from picker.models.phasenet import is_phasenet


def _folded(model, conv_name: str, bn_name: str, transposed: bool = False):
    """(weight in ONNX layout, bias) of convolution ``conv_name`` followed by batch norm
    ``bn_name`` (inference statistics), in float64."""
    conv, bn = model.get_layer(conv_name), model.get_layer(bn_name)
    kernel = np.asarray(conv.kernel.numpy(), dtype=np.float64)
    bias = np.asarray(conv.bias.numpy(), dtype=np.float64) if conv.use_bias else 0.0
    gamma = np.asarray(bn.gamma.numpy(), dtype=np.float64)
    var = np.asarray(bn.moving_variance.numpy(), dtype=np.float64)
    scale = gamma / np.sqrt(var + bn.epsilon)
    shift = (
        np.asarray(bn.beta.numpy(), np.float64)
        + (bias - np.asarray(bn.moving_mean.numpy(), np.float64)) * scale
    )
    if transposed:  # Keras (k, out, in) -> ONNX ConvTranspose (in, out, k)
        weight = np.transpose(kernel * scale[None, :, None], (2, 1, 0))
    else:  # Keras (k, in, out) -> ONNX Conv (out, in, k)
        weight = np.transpose(kernel * scale, (2, 1, 0))
    return weight, shift


def to_onnx(model):
    """The ONNX ``ModelProto`` of an imported PhaseNet (contract in the module docstring)."""
    g = GraphBuilder()
    const, node = g.const, g.node

    def conv_bn_relu(x, conv_name, bn_name):
        conv = model.get_layer(conv_name)
        weight, bias = _folded(model, conv_name, bn_name)
        y = node(
            "Conv",
            [x, const(f"{conv_name}_w", weight), const(f"{conv_name}_b", bias)],
            conv_name,
            kernel_shape=[weight.shape[2]],
            strides=[int(conv.strides[0])],
            auto_pad="SAME_UPPER",
        )
        return node("Relu", [y], conv_name.replace("conv", "relu"))

    levels = 0
    while any(layer.name == f"down_conv1_{levels + 1}" for layer in model.layers):
        levels += 1
    if levels == 0 or not is_phasenet(model):
        raise ValueError(f"model {model.name!r} is not a PhaseNet built by build_phasenet")
    # a model built with pad_to_stride: OnnxModel pads the input to the total stride and crops
    from picker.preprocess.model_input import total_stride as model_total_stride

    total_stride = model_total_stride(model)
    x = node("Transpose", ["waveform"], "to_channels_first", perm=[0, 2, 1])
    x = conv_bn_relu(x, "input_conv", "input_bn")
    skips = []
    for level in range(1, levels + 1):
        x = conv_bn_relu(x, f"down_conv1_{level}", f"down_bn1_{level}")
        skips.append(x)
        if level < levels:
            x = conv_bn_relu(x, f"down_conv3_{level}", f"down_bn3_{level}")
    axis_time = g.const_int("time_axis", [2])
    for level in range(levels - 1, 0, -1):
        conv = model.get_layer(f"up_conv0_{level}")
        weight, bias = _folded(model, conv.name, f"up_bn0_{level}", transposed=True)
        k, stride = weight.shape[2], int(conv.strides[0])
        before = max(k - stride, 0) // 2
        y = node(
            "ConvTranspose",
            [x, const(f"{conv.name}_w", weight), const(f"{conv.name}_b", bias)],
            conv.name,
            kernel_shape=[k],
            strides=[stride],
            pads=[before, max(k - stride, 0) - before],
        )
        y = node("Relu", [y], f"up_relu0_{level}")
        # centred crop of y to the skip's length: offset (len(y) - len(skip)) // 2
        skip = skips[level - 1]
        n_skip = node("Shape", [skip], f"crop_{level}_n_skip", start=2, end=3)
        n_up = node("Shape", [y], f"crop_{level}_n_up", start=2, end=3)
        offset = node(
            "Div",
            [
                node("Sub", [n_up, n_skip], f"crop_{level}_excess"),
                g.const_int(f"two_{level}", [2]),
            ],
            f"crop_{level}_offset",
        )
        end = node("Add", [offset, n_skip], f"crop_{level}_end")
        y = node("Slice", [y, offset, end, axis_time], f"crop_{level}")
        x = node("Concat", [skip, y], f"skip_{level}", axis=1)
        x = conv_bn_relu(x, f"up_conv1_{level}", f"up_bn1_{level}")
    out = model.get_layer("output_conv")
    x = node(
        "Conv",
        [
            x,
            const("output_conv_w", np.transpose(out.kernel.numpy(), (2, 1, 0))),
            const("output_conv_b", out.bias.numpy()),
        ],
        "output_conv",
        kernel_shape=[1],
    )
    x = node("Transpose", [x], "to_channels_last", perm=[0, 2, 1])
    node("Softmax", [x], "probabilities", axis=-1)
    return g.model_proto(
        model,
        {"waveform": ["batch", "samples", 3]},
        {"probabilities": ["batch", "samples", 3]},
        {"picker_total_stride": str(total_stride)},
    )


def export_phasenet_onnx(model, path: str | os.PathLike) -> Path:
    """Write the imported PhaseNet ``model`` as an ONNX file at ``path``, atomically."""
    return write_onnx(to_onnx(model), path)
