"""The picker network: a 1D convolutional U-Net with a per-sample softmax over noise / P / S.

Input ``(batch, n_samples, 3)`` (channels-last, components E, N, Z) or ``(batch, 3, n_samples)``
(channels-first); output the same layout with 3 classes (noise, P, S) in place of components.
Any ``n_samples`` works: the input is zero-padded at the end to a multiple of the total stride and
the output cropped back, so sample 0 always sits on the same down-sampling grid and a pick does
not move when the window gets longer or shorter.

Computation is always channels-last inside (the fast layout for CPU kernels); a channels-first
model transposes at its input and output, so the two layouts share weights exactly.
"""

from __future__ import annotations

import keras
from keras import layers, ops

from picker.config import ModelConfig
from picker.preprocess.model_input import total_stride

CLASS_NAMES = ("noise", "P", "S")


@keras.saving.register_keras_serializable(package="picker")
class PadToMultiple(layers.Layer):
    """Zero-pad the time axis (axis 1, channels-last) at the end up to a multiple of ``multiple``."""

    def __init__(self, multiple: int, **kwargs):
        super().__init__(**kwargs)
        self.multiple = int(multiple)

    def call(self, x):
        n_samples = ops.shape(x)[1]
        pad = (-n_samples) % self.multiple
        return ops.pad(x, [[0, 0], [0, pad], [0, 0]])

    def compute_output_shape(self, input_shape):
        n = input_shape[1]
        padded = None if n is None else n + (-n) % self.multiple
        return (input_shape[0], padded, input_shape[2])

    def get_config(self):
        return {**super().get_config(), "multiple": self.multiple}


@keras.saving.register_keras_serializable(package="picker")
class CropLike(layers.Layer):
    """Crop the time axis of the first input to the length of the second (both channels-last)."""

    def call(self, inputs):
        x, reference = inputs
        return x[:, : ops.shape(reference)[1], :]

    def compute_output_shape(self, input_shapes):
        x_shape, ref_shape = input_shapes
        return (x_shape[0], ref_shape[1], x_shape[2])


def resolve_data_format(cfg: ModelConfig) -> str:
    """``cfg.data_format``, or Keras' global ``image_data_format()`` when it is empty."""
    return cfg.data_format or keras.config.image_data_format()


def build_model(cfg: ModelConfig | None = None, name: str = "picker_unet") -> keras.Model:
    """Build the U-Net picker described by ``cfg`` (untrained).

    Args:
        cfg: depth and width (``filters`` per level), ``kernel_size``, ``stride``, ``dropout``,
            ``data_format`` (``""`` = Keras' global setting).

    Returns:
        A ``keras.Model`` mapping ``(batch, n_samples, 3)`` E/N/Z waveforms (or ``(batch, 3,
        n_samples)`` for channels-first) to softmax probabilities of the same layout over
        (noise, P, S). ``n_samples`` may be any length >= 1.
    """
    cfg = cfg or ModelConfig()
    cfg.validate()
    data_format = resolve_data_format(cfg)
    channels_first = data_format == "channels_first"
    inputs = keras.Input(shape=(3, None) if channels_first else (None, 3), name="waveform")
    x = layers.Permute((2, 1), name="to_channels_last")(inputs) if channels_first else inputs
    original = x
    x = PadToMultiple(total_stride(cfg), name="pad_to_stride")(x)

    def conv_bn(x, filters, name, strides=1):
        x = layers.Conv1D(
            filters,
            cfg.kernel_size,
            strides=strides,
            padding="same",
            use_bias=False,
            data_format="channels_last",
            name=f"{name}_conv",
        )(x)
        x = layers.BatchNormalization(name=f"{name}_bn")(x)
        return layers.Activation("relu", name=f"{name}_relu")(x)

    x = conv_bn(x, cfg.filters[0], "stem")
    skips = []
    for level, filters in enumerate(cfg.filters):
        x = conv_bn(x, filters, f"enc{level}")
        if cfg.dropout:
            x = layers.SpatialDropout1D(cfg.dropout, name=f"enc{level}_dropout")(x)
        if level < len(cfg.filters) - 1:
            skips.append(x)
            x = conv_bn(x, cfg.filters[level + 1], f"down{level}", strides=cfg.stride)
    for level in reversed(range(len(cfg.filters) - 1)):
        filters = cfg.filters[level]
        x = layers.Conv1DTranspose(
            filters,
            cfg.kernel_size,
            strides=cfg.stride,
            padding="same",
            use_bias=False,
            data_format="channels_last",
            name=f"up{level}_conv",
        )(x)
        x = layers.BatchNormalization(name=f"up{level}_bn")(x)
        x = layers.Activation("relu", name=f"up{level}_relu")(x)
        x = layers.Concatenate(name=f"skip{level}")([skips[level], x])
        x = conv_bn(x, filters, f"dec{level}")
    x = layers.Conv1D(len(CLASS_NAMES), 1, data_format="channels_last", name="logits")(x)
    x = CropLike(name="crop_to_input")([x, original])
    outputs = layers.Softmax(axis=-1, name="probabilities", dtype="float32")(x)
    if channels_first:
        outputs = layers.Permute((2, 1), name="to_channels_first")(outputs)
    return keras.Model(inputs, outputs, name=name)


def class_axis(model: keras.Model) -> int:
    """The axis of the class (or component) dimension of a picker model's input and output."""
    return 1 if model.input_shape[1] == 3 and model.input_shape[2] is None else -1
