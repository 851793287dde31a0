"""EQTransformer (Mousavi et al., 2020) rebuilt in Keras 3, and the import of its Keras 2 file.

- input ``(batch, n_samples, 3)`` float32 (6000 samples, 60 s at 100 Hz for the published
  model), channels-last **E, N, Z**, each channel demeaned and divided by its std
  (:data:`EQT_INPUT`);
- outputs ``detector``, ``picker_P``, ``picker_S``: three ``(batch, n_samples, 1)`` sigmoid
  probabilities (earthquake signal, P arrival, S arrival per sample).

The published file is a Keras 2 HDF5 model. :func:`import_eqtransformer_h5` reads its
``model_config`` JSON only to learn the settings (filters, kernels, block counts, units,
attention widths, epsilons; :class:`EqtSettings`), checking layer by layer that the file has
EQTransformer's structure, builds the network with :func:`build_eqtransformer` and copies the
weights by layer. Nothing in the file is deserialised as Keras objects or executed.

At inference the dropouts are inactive. (The original code calls its ``SpatialDropout1D``
layers with ``training=True``: Monte-Carlo dropout, so each of its runs gives slightly other
outputs, and the published ``reference.npz`` is one such draw. The rebuilt network drops only in
training: its outputs are deterministic, equal to the original's with the dropouts off.)
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import keras
import numpy as np
from keras import layers, ops

from picker.models.eqt_config import OUTPUT_NAMES, EqtSettings, read_eqt_config
from picker.models.settings import ImportModelError, InputSettings, set_input_settings

__all__ = [
    "EQT_INPUT",
    "OUTPUT_NAMES",
    "EqtSettings",
    "FeedForward",
    "LayerNormalization",
    "SeqSelfAttention",
    "build_eqtransformer",
    "import_eqtransformer_h5",
]

#: EQTransformer's input: 60 s windows at 100 Hz, demeaned and divided by the std per channel,
#: no high-pass filter.
EQT_INPUT = InputSettings(
    sampling_rate_hz=100.0, normalization="std", highpass_hz=0.0, normalization_window_s=60.0
)
_register = keras.saving.register_keras_serializable(package="picker")


@_register
class SeqSelfAttention(layers.Layer):
    """Self-attention over time of ``(batch, n, d)`` (EQTransformer's, after Zheng et al.).

    ``additive``: ``e[t, t'] = Wa . tanh(x_t Wt + x_t' Wx + bh) + ba``; ``multiplicative``:
    ``e[t, t'] = x_t Wa x_t' + ba``. Then ``attention_activation``, ``exp(e - max_t' e)``,
    zero outside the local window of ``attention_width`` samples (centred, or the past only
    with ``history_only``), ``a = e / (sum_t' e + epsilon)`` and output ``a @ x`` of shape
    ``(batch, n, d)`` (and ``a``, ``(batch, n, n)``, with ``return_attention``). The window is
    applied after the ``exp`` and the max taken over the whole row, as in the original.
    """

    def __init__(
        self,
        units: int = 32,
        attention_width: int | None = None,
        attention_type: str = "additive",
        return_attention: bool = False,
        history_only: bool = False,
        use_additive_bias: bool = True,
        use_attention_bias: bool = True,
        attention_activation: str | None = None,
        epsilon: float = 1e-7,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if attention_type not in ("additive", "multiplicative"):
            raise ValueError(
                f"attention_type must be additive or multiplicative, got {attention_type!r}"
            )
        self.units = int(units)
        self.attention_width = None if attention_width is None else int(attention_width)
        self.attention_type = attention_type
        self.return_attention = bool(return_attention)
        self.history_only = bool(history_only)
        self.use_additive_bias = bool(use_additive_bias)
        self.use_attention_bias = bool(use_attention_bias)
        self.attention_activation = keras.activations.get(attention_activation)
        self.epsilon = float(epsilon)

    def build(self, input_shape):
        d = int(input_shape[-1])
        if self.attention_type == "additive":
            self.Wt = self.add_weight(shape=(d, self.units), name="Wt")
            self.Wx = self.add_weight(shape=(d, self.units), name="Wx")
            if self.use_additive_bias:
                self.bh = self.add_weight(shape=(self.units,), name="bh", initializer="zeros")
            self.Wa = self.add_weight(shape=(self.units, 1), name="Wa")
        else:
            self.Wa = self.add_weight(shape=(d, d), name="Wa")
        if self.use_attention_bias:
            self.ba = self.add_weight(shape=(1,), name="ba", initializer="zeros")

    def call(self, x):
        if self.attention_type == "additive":
            h = ops.expand_dims(ops.matmul(x, self.Wt), 2) + ops.expand_dims(
                ops.matmul(x, self.Wx), 1
            )
            if self.use_additive_bias:
                h = h + self.bh
            e = ops.squeeze(ops.matmul(ops.tanh(h), self.Wa), -1)  # (batch, n, n)
        else:
            e = ops.matmul(ops.matmul(x, self.Wa), ops.transpose(x, (0, 2, 1)))
        if self.use_attention_bias:
            e = e + self.ba[0]
        e = self.attention_activation(e)
        e = ops.exp(e - ops.max(e, axis=-1, keepdims=True))
        width = self.attention_width
        if width is None and self.history_only:
            width = 10**9
        if width is not None:
            n = ops.shape(x)[1]
            rows = ops.expand_dims(ops.arange(n), -1)
            lower = rows - (width - 1 if self.history_only else width // 2)
            cols = ops.expand_dims(ops.arange(n), 0)
            inside = ops.logical_and(lower <= cols, cols < lower + width)
            e = e * ops.cast(inside, e.dtype)
        a = e / (ops.sum(e, axis=-1, keepdims=True) + self.epsilon)
        v = ops.matmul(a, x)
        return [v, a] if self.return_attention else v

    def compute_output_shape(self, input_shape):
        if self.return_attention:
            return [input_shape, (input_shape[0], input_shape[1], input_shape[1])]
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "attention_width": self.attention_width,
            "attention_type": self.attention_type,
            "return_attention": self.return_attention,
            "history_only": self.history_only,
            "use_additive_bias": self.use_additive_bias,
            "use_attention_bias": self.use_attention_bias,
            "attention_activation": keras.activations.serialize(self.attention_activation),
            "epsilon": self.epsilon,
        }


@_register
class FeedForward(layers.Layer):
    """Position-wise feed-forward ``act(x W1 + b1) W2 + b2`` of ``(batch, n, d)``, with
    dropout on the hidden units in training only; output ``(batch, n, d)``."""

    def __init__(
        self,
        units: int,
        activation: str = "relu",
        use_bias: bool = True,
        dropout_rate: float = 0.0,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = int(units)
        self.activation = keras.activations.get(activation)
        self.use_bias = bool(use_bias)
        self.dropout_rate = float(dropout_rate)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape):
        d = int(input_shape[-1])
        self.W1 = self.add_weight(shape=(d, self.units), name="W1")
        self.b1 = (
            self.add_weight(shape=(self.units,), name="b1", initializer="zeros")
            if self.use_bias
            else None
        )
        self.W2 = self.add_weight(shape=(self.units, d), name="W2")
        self.b2 = (
            self.add_weight(shape=(d,), name="b2", initializer="zeros") if self.use_bias else None
        )

    def call(self, x, training=False):
        h = ops.matmul(x, self.W1)
        if self.use_bias:
            h = h + self.b1
        h = self.activation(h)
        if training and 0.0 < self.dropout_rate < 1.0:
            h = keras.random.dropout(h, self.dropout_rate, seed=self.seed_generator)
        y = ops.matmul(h, self.W2)
        return y + self.b2 if self.use_bias else y

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "activation": keras.activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "dropout_rate": self.dropout_rate,
            "seed": self.seed,
        }


@_register
class LayerNormalization(layers.Layer):
    """EQTransformer's layer normalisation over the last axis of ``(batch, n, d)``:
    ``(x - mean) / sqrt(var + epsilon) * gamma + beta`` (its epsilon is 1e-14)."""

    def __init__(self, center: bool = True, scale: bool = True, epsilon: float = 1e-14, **kwargs):
        super().__init__(**kwargs)
        self.center, self.scale, self.epsilon = bool(center), bool(scale), float(epsilon)

    def build(self, input_shape):
        d = (int(input_shape[-1]),)
        self.gamma = (
            self.add_weight(shape=d, name="gamma", initializer="ones") if self.scale else None
        )
        self.beta = (
            self.add_weight(shape=d, name="beta", initializer="zeros") if self.center else None
        )

    def call(self, x):
        mean = ops.mean(x, axis=-1, keepdims=True)
        variance = ops.mean(ops.square(x - mean), axis=-1, keepdims=True)
        y = (x - mean) / ops.sqrt(variance + self.epsilon)
        if self.scale:
            y = y * self.gamma
        return y + self.beta if self.center else y

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "center": self.center,
            "scale": self.scale,
            "epsilon": self.epsilon,
        }


def build_eqtransformer(settings: EqtSettings | None = None, name: str = "eqtransformer"):
    """Build EQTransformer (untrained) as :class:`EqtSettings` describes.

    Returns:
        A ``keras.Model`` from ``(batch, n_samples, 3)`` E/N/Z to the three outputs
        :data:`OUTPUT_NAMES`, each ``(batch, n_samples, 1)`` sigmoid.
    """
    s = settings or EqtSettings()
    if s.output_length() != s.n_samples or len(s.decoder_crops) != len(s.decoder):
        raise ValueError(
            f"EQTransformer settings give {s.output_length()} output samples for "
            f"{s.n_samples} input samples; the decoder's crops must restore the length"
        )
    inputs = keras.Input(shape=(s.n_samples, 3), name="waveform")
    x = inputs
    for i, (filters, kernel) in enumerate(s.encoder):
        x = layers.Conv1D(filters, kernel, padding="same", activation="relu", name=f"enc{i}_conv")(
            x
        )
        x = layers.MaxPooling1D(2, padding="same", name=f"enc{i}_pool")(x)
    n_filters = s.encoder[-1][0]
    for i, kernel in enumerate(s.res_kernels):
        y = x
        for j in (1, 2):
            y = layers.BatchNormalization(epsilon=s.batch_norm_epsilon, name=f"res{i}_bn{j}")(y)
            y = layers.Activation("relu", name=f"res{i}_relu{j}")(y)
            y = layers.SpatialDropout1D(s.dropout_rate, name=f"res{i}_drop{j}")(y)
            y = layers.Conv1D(n_filters, kernel, padding="same", name=f"res{i}_conv{j}")(y)
        x = layers.Add(name=f"res{i}_add")([x, y])

    def lstm(name):
        return layers.LSTM(
            s.lstm_units,
            return_sequences=True,
            dropout=s.dropout_rate,
            recurrent_dropout=s.dropout_rate,
            name=name,
        )

    def attention(width, name):
        return SeqSelfAttention(
            s.attention_units,
            attention_width=width,
            attention_type=s.attention_type,
            attention_activation=s.attention_activation,
            name=name,
        )

    for i in range(s.n_bilstm):
        x = layers.Bidirectional(lstm(f"bilstm{i}_lstm"), name=f"bilstm{i}")(x)
        x = layers.Conv1D(s.lstm_units, 1, padding="same", name=f"bilstm{i}_conv")(x)
        x = layers.BatchNormalization(epsilon=s.batch_norm_epsilon, name=f"bilstm{i}_bn")(x)
    for i, width in enumerate(s.transformer_widths):
        y = attention(width, f"tr{i}_attention")(x)
        x = LayerNormalization(epsilon=s.layer_norm_epsilon, name=f"tr{i}_ln1")(
            layers.Add(name=f"tr{i}_add1")([x, y])
        )
        y = FeedForward(s.feed_forward_units, dropout_rate=s.dropout_rate, name=f"tr{i}_ff")(x)
        x = LayerNormalization(epsilon=s.layer_norm_epsilon, name=f"tr{i}_ln2")(
            layers.Add(name=f"tr{i}_add2")([x, y])
        )

    def decoder(y, head, output_name):
        for i, ((filters, kernel), crop) in enumerate(zip(s.decoder, s.decoder_crops, strict=True)):
            y = layers.UpSampling1D(2, name=f"{head}_up{i}")(y)
            if crop != (0, 0):
                y = layers.Cropping1D(crop, name=f"{head}_crop{i}")(y)
            y = layers.Conv1D(
                filters, kernel, padding="same", activation="relu", name=f"{head}_conv{i}"
            )(y)
        return layers.Conv1D(
            1, s.output_kernel, padding="same", activation="sigmoid", name=output_name
        )(y)

    outputs = [decoder(x, "det", OUTPUT_NAMES[0])]
    for head, output_name in zip(("p", "s"), OUTPUT_NAMES[1:], strict=True):
        y = lstm(f"{head}_lstm")(x)
        y = attention(s.phase_attention_width, f"{head}_attention")(y)
        outputs.append(decoder(y, head, output_name))
    return keras.Model(inputs, outputs, name=name)


def import_eqtransformer_h5(path: str | os.PathLike):
    """Build EQTransformer with the weights of a Keras 2 HDF5 file (the published
    ``EqT_original.h5`` or a model of the same family with other settings).

    Returns:
        The model of :func:`build_eqtransformer`, with :data:`EQT_INPUT` as its
        :class:`~picker.models.saving.InputSettings` (the window the file's input length at
        100 Hz: 60 s for the published model).

    Raises:
        ImportModelError: not a readable HDF5 Keras model, or not EQTransformer's structure
            (one line naming the file and the first difference).
    """
    import h5py

    path = Path(path)
    try:
        with h5py.File(path, "r") as h5:
            settings, names = read_eqt_config(h5, str(path))
            model = build_eqtransformer(settings)
            weights = h5["model_weights"] if "model_weights" in h5 else h5
            for layer_name, file_name in names.items():
                _copy_weights(model.get_layer(layer_name), weights, file_name, str(path))
    except (OSError, KeyError, TypeError) as exc:
        from picker.io.base import one_line

        raise ImportModelError(
            f"{path}: not a readable Keras HDF5 model ({one_line(exc, 160)})"
        ) from None
    from picker.models.provenance import EQTRANSFORMER_CITATION, describe_source, set_provenance

    set_provenance(model, describe_source("EQTransformer", EQTRANSFORMER_CITATION, [path]))
    window_s = settings.n_samples / EQT_INPUT.sampling_rate_hz
    return set_input_settings(
        model, dataclasses.replace(EQT_INPUT, normalization_window_s=window_s)
    )


def _weight_key(name: str, file_layer: str) -> tuple[str, str]:
    """(direction, short name) of a weight: ``forward_lstm_1/kernel:0`` -> ("forward",
    "kernel"), ``attentionP_Add_Wt:0`` -> ("", "Wt")."""
    parts = name.split("/")
    short = parts[-1].split(":")[0]
    for prefix in (f"{file_layer}_", "Add_", "Mul_"):
        short = short.removeprefix(prefix)
    direction = next(
        (d for d in ("forward", "backward") if any(p.startswith(d) for p in parts)), ""
    )
    return direction, short


def _copy_weights(layer, group, file_layer: str, where: str) -> None:
    """Assign the weights of ``file_layer`` in the HDF5 ``group`` to ``layer`` by name."""
    if file_layer not in group:
        raise ImportModelError(f"{where}: no weights for layer {file_layer!r}")
    g = group[file_layer]
    names = [
        n.decode() if isinstance(n, bytes) else str(n) for n in g.attrs.get("weight_names", [])
    ]
    stored = {_weight_key(n, file_layer): n for n in names}
    ours = {_weight_key(w.path, layer.name)[0:1] + (w.name,): w for w in layer.weights}
    if set(stored) != set(ours):
        raise ImportModelError(
            f"{where}: layer {file_layer!r} has weights {sorted(s for _, s in stored)}, "
            f"expected {sorted(s for _, s in ours)}"
        )
    for key, variable in ours.items():
        value = np.asarray(g[stored[key]], dtype=np.float32)
        if tuple(value.shape) != tuple(variable.shape):
            raise ImportModelError(
                f"{where}: weight {stored[key]!r} has shape {list(value.shape)}, the "
                f"architecture read from the file needs {list(variable.shape)}"
            )
        variable.assign(value)
