"""Export EQTransformer (:mod:`picker.models.eqtransformer`) to ONNX, to run without TensorFlow.

The graph computes the Keras model's function in inference mode (dropouts off):

- input ``waveform``: ``(batch, n_samples, 3)`` float32, channels-last E, N, Z, each channel
  demeaned and divided by its std (:data:`picker.models.eqtransformer.EQT_INPUT`). The batch is
  dynamic; ``n_samples`` is **fixed** at the Keras model's window (6000 samples, 60 s at
  100 Hz, for the published model): EQTransformer's decoders crop to that one length, so the
  network is not defined on others;
- outputs ``detector``, ``picker_P``, ``picker_S`` (:data:`~picker.models.eqt_config.OUTPUT_NAMES`,
  in that order): three ``(batch, n_samples, 1)`` float32 sigmoid probabilities (earthquake
  signal, P arrival, S arrival per sample), the Keras model's outputs.

:func:`to_onnx` walks the Keras layers in graph order and writes each as ONNX operators:
``Conv1D`` (``same``/``valid``/``causal``, TensorFlow's padding with the smaller half before;
a ``BatchNormalization`` that is a convolution's only consumer is folded into its weights),
``MaxPooling1D`` (``same``: the padding never wins the max), ``BatchNormalization`` (a per-channel
``Mul``/``Add``), activations, ``Add``, ``UpSampling1D`` (one feeding a ``same`` convolution
directly is folded into it in the polyphase form: half the products, no repeated copy),
``Cropping1D``, ``ZeroPadding1D``, dropouts (dropped), ``LSTM`` and ``Bidirectional(LSTM)`` as
the ONNX ``LSTM`` operator (gates reordered from Keras' i, f, c, o to ONNX's i, o, f, c; Keras'
one bias in ``Wb``, zeros in ``Rb``), and EQTransformer's
:class:`~picker.models.eqtransformer.SeqSelfAttention`,
:class:`~picker.models.eqtransformer.FeedForward` and
:class:`~picker.models.eqtransformer.LayerNormalization` with the quirks their docstrings state
(attention: max over the whole row, then ``exp``, then the local window as a 0/1 mask, then
``e / (sum + epsilon)``; layer norm: ``epsilon`` 1e-14 added to the variance). Each tensor is kept
in the layout its consumers want (channels-first for convolutions, time-major for the LSTMs,
batch-major channels-last for the attention) with a ``Transpose`` only where the layout changes.
Any other layer is a ``ValueError`` naming it.

The model file's metadata: ``picker_input_settings`` (the model's
:class:`~picker.models.saving.InputSettings`), ``picker_source_sha256`` (hash of the Keras
weights), ``picker_window_samples`` (the fixed ``n_samples``), ``picker_outputs`` (the output
names, comma-separated) and ``picker_total_stride``, equal to the window (one window is the unit
of input; :class:`picker.models.onnx_model.OnnxModel` runs single-output exports only, so a
runner for this file reads its three outputs by name).

With the published weights the outputs are within 1e-5 of Keras' (largest difference 7e-6 on the
12 reference windows). On this shared 2-core machine one 6000-sample window took 4.0 ms in ONNX
Runtime on one thread against 21 ms for the Keras model (``tf.function``, both cores), and 3.8
against 7.4 ms per window in batches of 8 (best of several runs; the polyphase up-sampling halved
the ONNX time).

Needs the ``onnx`` package to export; running the file needs only ``onnxruntime``.
"""

from __future__ import annotations

import os
from pathlib import Path

import keras
import numpy as np
from keras import layers

from picker.models.eqtransformer import FeedForward, LayerNormalization, SeqSelfAttention
from picker.models.onnx_export import GraphBuilder, write_onnx

__all__ = ["export_eqtransformer_onnx", "to_onnx"]

#: Keras activation name -> ONNX operator (None: identity; softmax gets its axis).
_ACTIVATIONS = {"linear": None, "relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh"}
_LSTM_ACTIVATIONS = {"sigmoid": "Sigmoid", "tanh": "Tanh", "relu": "Relu"}
_DROPOUTS = (layers.Dropout, layers.SpatialDropout1D, layers.GaussianNoise, layers.GaussianDropout)


def _activation_name(fn) -> str:
    name = keras.activations.serialize(fn) if fn is not None else "linear"
    return name if isinstance(name, str) else repr(name)


def _as_list(value) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


class _Converter:
    """Writes the layers of one Keras model into a :class:`GraphBuilder`.

    Values are Keras tensors (by ``id``) mapped to ONNX names per layout: ``NTC`` (batch,
    time, channels: Keras' own), ``NCT`` (ONNX ``Conv``/``MaxPool``) or ``TNC`` (ONNX ``LSTM``).
    """

    def __init__(self, model):
        self.model, self.g = model, GraphBuilder()
        self.values: dict[int, dict[str, str]] = {}
        consumers: dict[int, list] = {}
        for layer in model.layers:
            if not isinstance(layer, layers.InputLayer):
                for tensor in _as_list(layer.input):
                    consumers.setdefault(id(tensor), []).append(layer)
        self.outputs = {id(t) for t in model.outputs}
        # a BatchNormalization that is the only consumer of a linear Conv1D goes into its weights
        self.folded: dict[str, layers.BatchNormalization] = {}
        for layer in model.layers:
            users = consumers.get(id(layer.output), [])
            if (
                isinstance(layer, layers.Conv1D)
                and not isinstance(layer, layers.Conv1DTranspose)
                and _activation_name(layer.activation) == "linear"
                and id(layer.output) not in self.outputs
                and len(users) == 1
                and isinstance(users[0], layers.BatchNormalization)
            ):
                self.folded[layer.name] = users[0]
        self.folded_bns = {bn.name for bn in self.folded.values()}
        # an UpSampling1D whose only consumer is a stride-1 "same" Conv1D goes into it (polyphase)
        self.upsampled: dict[str, layers.UpSampling1D] = {}
        for layer in model.layers:
            users = consumers.get(id(layer.output), [])
            if (
                isinstance(layer, layers.UpSampling1D)
                and id(layer.output) not in self.outputs
                and len(users) == 1
                and type(users[0]) is layers.Conv1D
                and users[0].padding == "same"
                and tuple(users[0].strides) == tuple(users[0].dilation_rate) == (1,)
                and _activation_name(users[0].activation) != "softmax"
            ):
                self.upsampled[users[0].name] = layer
        self.fused_ups = {up.name for up in self.upsampled.values()}

    # --- values and layouts ---

    def get(self, tensor, layout: str) -> str:
        """The ONNX name of Keras ``tensor`` in ``layout`` (a ``Transpose`` made on first use)."""
        have = self.values[id(tensor)]
        if layout not in have:
            source, name = next(iter(have.items()))
            perm = [source.index(axis) for axis in layout]
            have[layout] = self.g.node("Transpose", [name], f"{name}_to_{layout}", perm=perm)
        return have[layout]

    def layout_of(self, tensor, allowed: tuple[str, ...]) -> str:
        """The first layout in which ``tensor`` exists among ``allowed`` (else ``allowed[0]``)."""
        have = self.values[id(tensor)]
        return next((layout for layout in have if layout in allowed), allowed[0])

    def put(self, tensor, name: str, layout: str) -> None:
        self.values[id(tensor)] = {layout: name}

    def activation(self, x: str, fn, name: str, axis: int) -> str:
        act = _activation_name(fn)
        if act == "softmax":
            return self.g.node("Softmax", [x], f"{name}_softmax", axis=axis)
        if act not in _ACTIVATIONS:
            raise ValueError(f"layer {name!r}: activation {act!r} has no ONNX export")
        op = _ACTIVATIONS[act]
        return x if op is None else self.g.node(op, [x], f"{name}_{act}")

    # --- the walk ---

    def run(self, input_name: str) -> list[str]:
        """Convert every layer; return the ONNX names of the model's outputs (NTC)."""
        (model_input,) = self.model.inputs
        self.put(model_input, input_name, "NTC")
        for layer in self.model.layers:
            if isinstance(layer, layers.InputLayer):
                continue
            if isinstance(layer.output, (list, tuple)):
                raise ValueError(f"layer {layer.name!r} has several outputs: no ONNX export")
            self.convert(layer)
        names = []
        for tensor, output_name in zip(self.model.outputs, self.model.output_names, strict=True):
            names.append(self.g.node("Identity", [self.get(tensor, "NTC")], output_name))
        return names

    def convert(self, layer) -> None:
        x = layer.input
        name = layer.name
        if isinstance(layer, _DROPOUTS) or name in self.folded_bns:
            self.values[id(layer.output)] = self.values[id(x)]
        elif name in self.fused_ups:
            pass  # computed by the convolution after it
        elif isinstance(layer, layers.Conv1DTranspose) or not isinstance(
            layer,
            (layers.Conv1D, layers.MaxPooling1D, layers.BatchNormalization)
            + (layers.Activation, layers.ReLU, layers.Add, layers.UpSampling1D)
            + (layers.Cropping1D, layers.ZeroPadding1D, layers.Bidirectional, layers.LSTM)
            + (SeqSelfAttention, FeedForward, LayerNormalization),
        ):
            raise ValueError(
                f"layer {name!r} ({type(layer).__name__}) has no ONNX export: only "
                "EQTransformer's layers (picker.models.eqtransformer.build_eqtransformer) do"
            )
        elif isinstance(layer, layers.Conv1D):
            self.put(layer.output, self.conv1d(layer, x), "NCT")
        elif isinstance(layer, layers.MaxPooling1D):
            self.put(layer.output, self.max_pool(layer, x), "NCT")
        elif isinstance(layer, layers.BatchNormalization):
            layout = self.layout_of(x, ("NCT", "NTC", "TNC"))
            scale, shift = _folded_bn(layer)
            shape = (-1, 1) if layout == "NCT" else (-1,)
            y = self.g.node(
                "Mul",
                [self.get(x, layout), self.g.const(f"{name}_scale", scale.reshape(shape))],
                f"{name}_mul",
            )
            shift = self.g.const(f"{name}_shift", shift.reshape(shape))
            y = self.g.node("Add", [y, shift], f"{name}_add")
            self.put(layer.output, y, layout)
        elif isinstance(layer, (layers.Activation, layers.ReLU)):
            layout = self.layout_of(x, ("NCT", "NTC", "TNC"))
            if isinstance(layer, layers.ReLU):
                if layer.max_value is not None or layer.negative_slope or layer.threshold:
                    raise ValueError(f"layer {name!r}: only a plain ReLU has an ONNX export")
                fn = keras.activations.relu
            else:
                fn = layer.activation
            y = self.activation(self.get(x, layout), fn, name, layout.index("C"))
            self.put(layer.output, y, layout)
        elif isinstance(layer, layers.Add):
            layout = self.layout_of(x[0], ("NCT", "NTC", "TNC"))
            y = self.g.node("Sum", [self.get(t, layout) for t in x], f"{name}_sum")
            self.put(layer.output, y, layout)
        elif isinstance(layer, (layers.UpSampling1D, layers.Cropping1D, layers.ZeroPadding1D)):
            self.put(layer.output, self.time_op(layer, x), "NCT")
        elif isinstance(layer, (layers.Bidirectional, layers.LSTM)):
            self.put(layer.output, self.lstm(layer, x), "TNC")
        elif isinstance(layer, SeqSelfAttention):
            self.put(layer.output, self.attention(layer, x), "NTC")
        else:  # FeedForward, LayerNormalization: position-wise on the last axis
            layout = self.layout_of(x, ("NTC", "TNC"))
            method = self.feed_forward if isinstance(layer, FeedForward) else self.layer_norm
            self.put(layer.output, method(layer, self.get(x, layout)), layout)

    # --- the layers ---

    def conv1d(self, layer, x) -> str:
        """Conv1D (+ folded batch norm) and its activation, ``(batch, C, T)``."""
        name = layer.name
        if layer.groups != 1 or layer.data_format != "channels_last":
            raise ValueError(f"layer {name!r}: grouped or channels-first Conv1D has no export")
        kernel = np.asarray(layer.kernel.numpy(), np.float64)  # (k, in, out)
        bias = np.asarray(layer.bias.numpy(), np.float64) if layer.use_bias else 0.0
        bn = self.folded.get(name)
        if bn is not None:
            scale, shift = _folded_bn(bn)
            kernel, bias = kernel * scale, bias * scale + shift
        bias = np.broadcast_to(bias, kernel.shape[2:])
        if name in self.upsampled:
            return self.upsampled_conv(layer, self.upsampled[name], kernel, bias)
        k, stride, dilation = kernel.shape[0], int(layer.strides[0]), int(layer.dilation_rate[0])
        span = (k - 1) * dilation + 1
        n = int(x.shape[1])
        if layer.padding == "same":
            total = max((-(-n // stride) - 1) * stride + span - n, 0)
            pads = [total // 2, total - total // 2]
        else:
            pads = [span - 1, 0] if layer.padding == "causal" else [0, 0]
        y = self.g.node(
            "Conv",
            [
                self.get(x, "NCT"),
                self.g.const(f"{name}_w", np.transpose(kernel, (2, 1, 0))),
                self.g.const(f"{name}_b", bias),
            ],
            f"{name}_conv",
            kernel_shape=[k],
            strides=[stride],
            dilations=[dilation],
            pads=pads,
        )
        return self.activation(y, layer.activation, name, axis=1)

    def upsampled_conv(self, layer, up, kernel: np.ndarray, bias: np.ndarray) -> str:
        """UpSampling1D by ``size`` then a stride-1 ``same`` Conv1D, in the polyphase form.

        Output sample ``size * q + r`` of the convolution reads, through tap ``j``, up-sampled
        sample ``size * q + r + j - before``, which is input sample ``q + d`` with
        ``d = (r + j - before) // size`` (zero outside the input exactly where the up-sampled
        signal is zero-padded). So one convolution over the input with ``size`` times the
        output channels (channel ``o * size + r``: phase ``r`` of channel ``o``, taps summed
        per ``d``) then an interleave gives the same sums with ``size`` times fewer products.
        """
        g, name = self.g, layer.name
        size, (k, n_in, n_out) = int(up.size), kernel.shape
        before = (k - 1) // 2
        taps = [(r, j, (r + j - before) // size) for r in range(size) for j in range(k)]
        d_low, d_high = min(d for *_, d in taps), max(d for *_, d in taps)
        weight = np.zeros((n_out, size, n_in, d_high - d_low + 1))
        for r, j, d in taps:
            weight[:, r, :, d - d_low] += kernel[j].T
        y = g.node(
            "Conv",
            [
                self.get(up.input, "NCT"),
                g.const(f"{name}_w", weight.reshape(n_out * size, n_in, -1)),
                g.const(f"{name}_b", np.repeat(bias, size)),
            ],
            f"{name}_conv",
            kernel_shape=[d_high - d_low + 1],
            pads=[-d_low, d_high],
        )
        y = self.activation(y, layer.activation, name, axis=1)
        return g.interleave_phases(y, n_out, size, name)

    def max_pool(self, layer, x) -> str:
        pool, stride, n = int(layer.pool_size[0]), int(layer.strides[0]), int(x.shape[1])
        if layer.data_format != "channels_last":
            raise ValueError(f"layer {layer.name!r}: channels-first pooling has no export")
        total = max((-(-n // stride) - 1) * stride + pool - n, 0) if layer.padding == "same" else 0
        return self.g.node(
            "MaxPool",
            [self.get(x, "NCT")],
            f"{layer.name}_pool",
            kernel_shape=[pool],
            strides=[stride],
            pads=[total // 2, total - total // 2],
        )

    def time_op(self, layer, x) -> str:
        """UpSampling1D (each sample repeated), Cropping1D, ZeroPadding1D on ``(batch, C, T)``."""
        g, name, x_nct = self.g, layer.name, self.get(x, "NCT")
        if isinstance(layer, layers.UpSampling1D):
            y = g.node("Unsqueeze", [x_nct, g.const_int(f"{name}_axis", [3])], f"{name}_unsqueeze")
            # Concat of copies: in ONNX Runtime 14 times as fast as an Expand to the same shape
            y = g.node("Concat", [y] * int(layer.size), f"{name}_repeat", axis=3)
            return g.node("Reshape", [y, g.const_int(f"{name}_shape", [0, 0, -1])], f"{name}_up")
        if isinstance(layer, layers.Cropping1D):
            before, after = (int(c) for c in layer.cropping)
            return g.node(
                "Slice",
                [
                    x_nct,
                    g.const_int(f"{name}_start", [before]),
                    g.const_int(f"{name}_end", [int(x.shape[1]) - after]),
                    g.const_int(f"{name}_axes", [2]),
                ],
                f"{name}_crop",
            )
        before, after = (int(p) for p in layer.padding)
        pads = g.const_int(f"{name}_pads", [0, 0, before, 0, 0, after])
        return g.node("Pad", [x_nct, pads], f"{name}_pad")

    def lstm(self, layer, x) -> str:
        """LSTM or Bidirectional(LSTM), ``(T, batch, units)`` (forward then backward units)."""
        name = layer.name
        if isinstance(layer, layers.Bidirectional):
            if layer.merge_mode != "concat" or not isinstance(layer.forward_layer, layers.LSTM):
                raise ValueError(f"layer {name!r}: only Bidirectional(LSTM) 'concat' has export")
            directions = [layer.forward_layer, layer.backward_layer]
        else:
            directions = [layer]
        for lstm in directions:
            if not lstm.return_sequences or lstm.stateful or lstm.return_state:
                raise ValueError(f"layer {name!r}: only LSTMs returning sequences have export")
            if lstm.go_backwards != (lstm is not directions[0]):
                raise ValueError(f"layer {name!r}: a backwards LSTM has no ONNX export")
        weights, activations = [], []
        for lstm in directions:
            cell = lstm.cell
            units = int(cell.units)
            kernel = np.asarray(cell.kernel.numpy())  # (in, 4 units), gates i, f, c, o
            recurrent = np.asarray(cell.recurrent_kernel.numpy())
            bias = np.asarray(cell.bias.numpy()) if cell.use_bias else np.zeros(4 * units)
            order = [0, 3, 1, 2]  # ONNX: i, o, f, c

            def gates(w, order=order, units=units):
                return np.concatenate([w[..., g * units : (g + 1) * units] for g in order], -1)

            weights.append((gates(kernel).T, gates(recurrent).T, gates(bias)))
            for fn in (cell.recurrent_activation, cell.activation, cell.activation):
                act = _activation_name(fn)
                if act not in _LSTM_ACTIVATIONS:
                    raise ValueError(f"layer {name!r}: LSTM activation {act!r} has no export")
                activations.append(_LSTM_ACTIVATIONS[act])
        w, r, b = (np.stack(parts) for parts in zip(*weights, strict=True))
        b = np.concatenate([b, np.zeros_like(b)], axis=1)  # Wb = Keras' bias, Rb = 0
        y = self.g.node(
            "LSTM",
            [
                self.get(x, "TNC"),
                self.g.const(f"{name}_W", w),
                self.g.const(f"{name}_R", r),
                self.g.const(f"{name}_B", b),
            ],
            f"{name}_lstm",  # Y: (T, directions, batch, units)
            hidden_size=units,
            direction="bidirectional" if len(directions) == 2 else "forward",
            activations=activations,
        )
        if len(directions) == 1:
            axis = self.g.const_int(f"{name}_axis", [1])
            return self.g.node("Squeeze", [y, axis], f"{name}_out")
        y = self.g.node("Transpose", [y], f"{name}_directions", perm=[0, 2, 1, 3])
        shape = self.g.const_int(f"{name}_shape", [0, 0, -1])
        return self.g.node("Reshape", [y, shape], f"{name}_out")

    def attention(self, layer, x) -> str:
        """SeqSelfAttention on ``(batch, T, d)``: the weighted sum ``a @ x``, same shape."""
        g, name, n = self.g, layer.name, int(x.shape[1])
        if layer.return_attention:
            raise ValueError(f"layer {name!r}: return_attention has no ONNX export")
        x_ntc = self.get(x, "NTC")

        def w(attr):
            return g.const(f"{name}_{attr}", getattr(layer, attr).numpy())

        if layer.attention_type == "additive":
            q = g.node("MatMul", [x_ntc, w("Wt")], f"{name}_q")  # (batch, T, units)
            if layer.use_additive_bias:
                q = g.node("Add", [q, w("bh")], f"{name}_q_bias")
            k = g.node("MatMul", [x_ntc, w("Wx")], f"{name}_k")
            q = g.node("Unsqueeze", [q, g.const_int(f"{name}_axis_q", [2])], f"{name}_q_rows")
            k = g.node("Unsqueeze", [k, g.const_int(f"{name}_axis_k", [1])], f"{name}_k_cols")
            h = g.node("Tanh", [g.node("Add", [q, k], f"{name}_h")], f"{name}_tanh")
            e = g.node("MatMul", [h, w("Wa")], f"{name}_score")  # (batch, T, T, 1)
            e = g.node("Squeeze", [e, g.const_int(f"{name}_axis_e", [3])], f"{name}_e")
        else:
            xw = g.node("MatMul", [x_ntc, w("Wa")], f"{name}_xw")
            xt = g.node("Transpose", [x_ntc], f"{name}_xt", perm=[0, 2, 1])
            e = g.node("MatMul", [xw, xt], f"{name}_e")  # (batch, T, T)
        if layer.use_attention_bias:
            e = g.node("Add", [e, w("ba")], f"{name}_e_bias")
        e = self.activation(e, layer.attention_activation, f"{name}_e", axis=-1)
        top = g.node("ReduceMax", [e], f"{name}_max", axes=[-1], keepdims=1)
        e = g.node("Exp", [g.node("Sub", [e, top], f"{name}_shift")], f"{name}_exp")
        width = layer.attention_width
        if width is None and layer.history_only:
            width = n
        if width is not None:
            rows, cols = np.arange(n)[:, None], np.arange(n)[None]
            lower = rows - (width - 1 if layer.history_only else width // 2)
            inside = (lower <= cols) & (cols < lower + width)
            e = g.node("Mul", [e, g.const(f"{name}_window", inside)], f"{name}_windowed")
        total = g.node("ReduceSum", [e, g.const_int(f"{name}_axis_sum", [-1])], f"{name}_sum")
        total = g.node("Add", [total, g.const(f"{name}_eps", [layer.epsilon])], f"{name}_sum_eps")
        a = g.node("Div", [e, total], f"{name}_weights")
        return g.node("MatMul", [a, x_ntc], f"{name}_out")

    def feed_forward(self, layer, x: str) -> str:
        g, name = self.g, layer.name
        h = g.node("MatMul", [x, g.const(f"{name}_W1", layer.W1.numpy())], f"{name}_h")
        if layer.use_bias:
            h = g.node("Add", [h, g.const(f"{name}_b1", layer.b1.numpy())], f"{name}_h_bias")
        h = self.activation(h, layer.activation, f"{name}_h", axis=-1)
        y = g.node("MatMul", [h, g.const(f"{name}_W2", layer.W2.numpy())], f"{name}_y")
        if layer.use_bias:
            y = g.node("Add", [y, g.const(f"{name}_b2", layer.b2.numpy())], f"{name}_y_bias")
        return y

    def layer_norm(self, layer, x: str) -> str:
        """``(x - mean) / sqrt(var + epsilon) * gamma + beta`` over the last axis, as Keras."""
        g, name = self.g, layer.name
        mean = g.node("ReduceMean", [x], f"{name}_mean", axes=[-1], keepdims=1)
        d = g.node("Sub", [x, mean], f"{name}_centred")
        var = g.node("ReduceMean", [g.node("Mul", [d, d], f"{name}_sq")], f"{name}_var", axes=[-1])
        std = g.node(
            "Sqrt",
            [g.node("Add", [var, g.const(f"{name}_eps", [layer.epsilon])], f"{name}_var_eps")],
            f"{name}_std",
        )
        y = g.node("Div", [d, std], f"{name}_normed")
        if layer.scale:
            y = g.node("Mul", [y, g.const(f"{name}_gamma", layer.gamma.numpy())], f"{name}_scaled")
        if layer.center:
            y = g.node("Add", [y, g.const(f"{name}_beta", layer.beta.numpy())], f"{name}_out")
        return y


def _folded_bn(bn) -> tuple[np.ndarray, np.ndarray]:
    """(scale, shift) per channel, float64, of a channels-last BatchNormalization at inference."""
    if bn.axis not in (-1, 2):
        raise ValueError(f"layer {bn.name!r}: only channels-last batch norm has an ONNX export")
    mean = np.asarray(bn.moving_mean.numpy(), np.float64)
    gamma = np.asarray(bn.gamma.numpy(), np.float64) if bn.scale else np.ones_like(mean)
    beta = np.asarray(bn.beta.numpy(), np.float64) if bn.center else np.zeros_like(mean)
    scale = gamma / np.sqrt(np.asarray(bn.moving_variance.numpy(), np.float64) + bn.epsilon)
    return scale, beta - mean * scale


def to_onnx(model):
    """The ONNX ``ModelProto`` of an EQTransformer Keras model (contract in the module docstring).

    Raises:
        ValueError: the model has a layer with no ONNX export here, several inputs, or an
            input of unknown length.
    """
    if len(model.inputs) != 1 or model.inputs[0].shape[1] is None:
        raise ValueError(
            f"model {model.name!r}: the ONNX export needs one input of a fixed number of samples"
        )
    n_samples, n_channels = (int(d) for d in model.inputs[0].shape[1:])
    converter = _Converter(model)
    names = converter.run("waveform")
    outputs = {
        name: ["batch", int(t.shape[1]), int(t.shape[2])]
        for name, t in zip(names, model.outputs, strict=True)
    }
    return converter.g.model_proto(
        model,
        {"waveform": ["batch", n_samples, n_channels]},
        outputs,
        {
            "picker_total_stride": str(n_samples),
            "picker_window_samples": str(n_samples),
            "picker_outputs": ",".join(names),
        },
    )


def export_eqtransformer_onnx(model, path: str | os.PathLike) -> Path:
    """Write the EQTransformer ``model`` (Keras) as an ONNX file at ``path``, atomically."""
    return write_onnx(to_onnx(model), path)
