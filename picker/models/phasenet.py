"""PhaseNet (Zhu & Beroza, 2019) rebuilt in Keras 3, and the import of its TF1 checkpoints.

The network is the published one, layer for layer, so that the published weights give the
original code's probabilities (to float32 round-off):

- input ``(batch, n_samples, 3)`` float32, channels-last, components **E, N, Z**, each channel
  of each window demeaned and divided by its standard deviation (a zero channel stays zero; see
  :data:`PHASENET_INPUT`); any ``n_samples >= 1``;
- output ``(batch, n_samples, 3)`` float32 softmax over (noise, P, S) per sample.

Architecture (the checkpoint's own variable names in brackets, ``d`` = level ``1..depth``):
an input convolution with bias (``Input/input_conv``) + batch norm (``input_bn``) + ReLU; per
level a convolution (``DownConv_{d-1}/down_conv1_d`` + ``down_bn1_d``) and, except at the
deepest level, a strided convolution (``down_conv3_d`` + ``down_bn3_d``); up the levels a
transposed convolution (``UpConv_{d-1}/up_conv0_d`` + ``up_bn0_d``), a centred crop to the
skip's length, a concatenation ``[skip, up]`` and a convolution (``up_conv1_d`` + ``up_bn1_d``);
a 1x1 output convolution with bias (``Output/output_conv``) and a softmax. Convolutions use
TensorFlow's ``SAME`` padding, so lengths that are not multiples of the stride work as in the
original (the up path is longer than the skip and is cropped around its centre).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import keras
import numpy as np
from keras import layers, ops

from picker.models.settings import ImportModelError, InputSettings, set_input_settings

#: The input the published PhaseNet was trained with: 30 s windows at 100 Hz, each window
#: demeaned and divided by its std per channel (:func:`picker.preprocess.normalize.normalize` ``"std"``),
#: no high-pass filter.
PHASENET_INPUT = InputSettings(
    sampling_rate_hz=100.0, normalization="std", highpass_hz=0.0, normalization_window_s=30.0
)
#: ``tf.compat.v1.layers.batch_normalization``'s epsilon, which PhaseNet keeps.
TF1_BATCH_NORM_EPSILON = 1e-3
#: Checkpoint variables that belong to the optimiser or the training loop, not the network.
_TRAINING_ONLY = re.compile(r"(^|/)(Adam(_\d+)?|beta[12]_power|global_step|Momentum)$")


@keras.saving.register_keras_serializable(package="picker")
class CenterCropLike(layers.Layer):
    """Crop the time axis of ``x`` around its centre to the length of ``reference``.

    ``call([reference, x])`` with both channels-last; keeps samples ``off .. off + n`` of ``x``
    with ``n`` the reference's length and ``off = (len(x) - n) // 2``, as PhaseNet's
    ``crop_and_concat`` does (``len(x) >= n``).
    """

    def call(self, inputs):
        reference, x = inputs
        n_ref = ops.shape(reference)[1]
        offset = (ops.shape(x)[1] - n_ref) // 2
        return x[:, offset : offset + n_ref, :]

    def compute_output_shape(self, input_shapes):
        ref_shape, x_shape = input_shapes
        return (x_shape[0], ref_shape[1], x_shape[2])


def build_phasenet(
    filters=(8, 16, 32, 64, 128),
    kernel_size: int = 7,
    stride: int = 4,
    n_channels: int = 3,
    n_classes: int = 3,
    batch_norm_epsilon: float = TF1_BATCH_NORM_EPSILON,
    name: str = "phasenet",
    pad_to_stride: bool = False,
) -> keras.Model:
    """Build PhaseNet (untrained) with ``len(filters)`` levels of ``filters[d]`` filters.

    ``pad_to_stride`` (picker's own models of this layout, ``model.architecture: phasenet``):
    zero-pad the input at the end to a multiple of the total stride ``stride ** (levels - 1)``
    and crop the output back, as picker's U-Net does, so every length puts sample 0 on the same
    down-sampling grid (without it, ``SAME`` padding moves the grid with ``n_samples`` modulo
    the stride, and picks move by a few samples with the window length). The published
    network has no padding (False). Padding changes the output near the window's end: the
    published weights, padded, give a P 1.1 s before the end of a 3001-sample window
    probability 0.16 where unpadded they give 0.82, so on fixed-length windows (normalised one
    by one) the bundled model does not pad (``model.pad_to_stride: false``).

    Layer names are the checkpoint's (``input_conv``, ``down_conv1_1``, ``up_bn0_1``, ...,
    ``output_conv``, then ``probabilities``), so :func:`import_phasenet_checkpoint` copies
    weights by name.

    Returns:
        A model mapping ``(batch, n_samples, n_channels)`` (E, N, Z for 3) to ``(batch,
        n_samples, n_classes)`` softmax probabilities (noise, P, S), any ``n_samples >= 1``.
    """
    filters = tuple(int(f) for f in filters)
    if not filters or min(filters) < 1 or kernel_size < 1 or stride < 1:
        raise ValueError(
            f"need at least one level and positive sizes, got filters={filters}, "
            f"kernel_size={kernel_size}, stride={stride}"
        )
    inputs = keras.Input(shape=(None, n_channels), name="waveform")
    x = inputs
    if pad_to_stride:
        from picker.models.unet import PadToMultiple

        x = PadToMultiple(stride ** (len(filters) - 1), name="pad_to_stride")(x)

    def conv_bn_relu(x, n_filters, conv_name, bn_name, strides=1, use_bias=False):
        x = layers.Conv1D(
            n_filters,
            kernel_size,
            strides=strides,
            padding="same",
            use_bias=use_bias,
            name=conv_name,
        )(x)
        x = layers.BatchNormalization(epsilon=batch_norm_epsilon, name=bn_name)(x)
        return layers.Activation("relu", name=conv_name.replace("conv", "relu"))(x)

    x = conv_bn_relu(x, filters[0], "input_conv", "input_bn", use_bias=True)
    skips = []
    for level, n_filters in enumerate(filters, start=1):
        x = conv_bn_relu(x, n_filters, f"down_conv1_{level}", f"down_bn1_{level}")
        skips.append(x)
        if level < len(filters):
            x = conv_bn_relu(
                x, n_filters, f"down_conv3_{level}", f"down_bn3_{level}", strides=stride
            )
    for level in range(len(filters) - 1, 0, -1):
        n_filters = filters[level - 1]
        x = layers.Conv1DTranspose(
            n_filters,
            kernel_size,
            strides=stride,
            padding="same",
            use_bias=False,
            name=f"up_conv0_{level}",
        )(x)
        x = layers.BatchNormalization(epsilon=batch_norm_epsilon, name=f"up_bn0_{level}")(x)
        x = layers.Activation("relu", name=f"up_relu0_{level}")(x)
        skip = skips[level - 1]
        x = CenterCropLike(name=f"crop_{level}")([skip, x])
        x = layers.Concatenate(name=f"skip_{level}")([skip, x])
        x = conv_bn_relu(x, n_filters, f"up_conv1_{level}", f"up_bn1_{level}")
    x = layers.Conv1D(n_classes, 1, name="output_conv")(x)
    if pad_to_stride:
        from picker.models.unet import CropLike

        x = CropLike(name="crop_to_input")([x, inputs])
    outputs = layers.Softmax(axis=-1, name="probabilities", dtype="float32")(x)
    return keras.Model(inputs, outputs, name=name)


def _checkpoint_prefix(checkpoint: str | os.PathLike) -> Path:
    """The checkpoint prefix (``.../model_95.ckpt``) of a directory or a prefix/index path."""
    import tensorflow as tf

    path = Path(checkpoint)
    if path.is_dir():
        latest = tf.train.latest_checkpoint(str(path))
        if latest is None:
            indexes = sorted(path.glob("*.index"))
            if len(indexes) != 1:
                raise ImportModelError(
                    f"{path}: no TensorFlow checkpoint (found {len(indexes)} *.index files and "
                    "no usable 'checkpoint' file)"
                )
            latest = str(indexes[0].with_suffix(""))
        return Path(latest)
    if path.suffix == ".index" or path.suffix.startswith(".data-"):
        return path.with_suffix("")
    return path


def _read_pool_and_dilation(prefix: Path) -> tuple[int, int]:
    """Stride and dilation from the ``config.log`` PhaseNet writes beside its checkpoint
    (``pool_size: [4, 1]``, ``dilation_rate: [1, 1]``); (4, 1) when it is absent."""
    config = prefix.parent / "config.log"
    stride, dilation = 4, 1
    if not config.is_file():
        return stride, dilation
    import yaml

    try:
        settings = yaml.safe_load(config.read_text(encoding="utf-8", errors="replace"))
        if isinstance(settings, dict):
            pool = settings.get("pool_size", [stride, 1])
            dilations = settings.get("dilation_rate", [dilation, 1])
            stride, dilation = int(pool[0]), int(dilations[0])
            if int(pool[1]) != 1 or int(dilations[1]) != 1:
                raise ValueError("pool_size / dilation_rate not 1 along the width")
    except (yaml.YAMLError, ValueError, TypeError, IndexError) as exc:
        raise ImportModelError(f"{config}: unreadable PhaseNet config ({exc})") from None
    return stride, dilation


def read_phasenet_checkpoint(checkpoint: str | os.PathLike) -> tuple[Path, dict]:
    """The network variables of a PhaseNet TF1 checkpoint, by name, as float32 arrays.

    ``checkpoint`` is the directory (its ``checkpoint`` file names the latest) or the prefix
    (``.../model_95.ckpt``). Optimiser slots and counters are left out.

    Returns:
        (checkpoint prefix, ``{variable name: array}``).
    """
    import tensorflow as tf

    prefix = _checkpoint_prefix(checkpoint)
    try:
        reader = tf.train.load_checkpoint(str(prefix))
        names = [n for n in reader.get_variable_to_shape_map() if not _TRAINING_ONLY.search(n)]
        variables = {n: np.asarray(reader.get_tensor(n), dtype=np.float32) for n in names}
    except (tf.errors.OpError, ValueError) as exc:
        from picker.io.base import one_line

        raise ImportModelError(
            f"{prefix}: not a readable TensorFlow checkpoint ({one_line(exc, 160)})"
        ) from None
    return prefix, variables


def phasenet_layout(variables: dict, where: str) -> tuple[tuple[int, ...], int, int, int]:
    """``(filters, kernel_size, n_channels, n_classes)`` of a PhaseNet checkpoint's variables.

    Raises:
        ImportModelError: the variables are not PhaseNet's (``where`` names the file).
    """
    kernel = variables.get("Input/input_conv/kernel")
    if kernel is None or kernel.ndim != 4 or kernel.shape[1] != 1:
        raise ImportModelError(
            f"{where}: not a PhaseNet checkpoint (no 2-D 'Input/input_conv/kernel' of width 1)"
        )
    kernel_size, n_channels = int(kernel.shape[0]), int(kernel.shape[2])
    filters = []
    while f"DownConv_{len(filters)}/down_conv1_{len(filters) + 1}/kernel" in variables:
        level = len(filters)
        filters.append(int(variables[f"DownConv_{level}/down_conv1_{level + 1}/kernel"].shape[3]))
    output = variables.get("Output/output_conv/kernel")
    if not filters or output is None or output.ndim != 4:
        raise ImportModelError(
            f"{where}: not a PhaseNet checkpoint (no DownConv_0/down_conv1_1 or Output/output_conv)"
        )
    return tuple(filters), kernel_size, n_channels, int(output.shape[3])


def _expected_shapes(filters, kernel_size, n_channels, n_classes) -> dict[str, tuple]:
    """Every network variable of a PhaseNet of this layout and its checkpoint shape."""
    shapes: dict[str, tuple] = {}

    def bn(scope, n):
        for part in ("gamma", "beta", "moving_mean", "moving_variance"):
            shapes[f"{scope}/{part}"] = (n,)

    shapes["Input/input_conv/kernel"] = (kernel_size, 1, n_channels, filters[0])
    shapes["Input/input_conv/bias"] = (filters[0],)
    bn("Input/input_bn", filters[0])
    n_in = filters[0]
    for level, n in enumerate(filters):
        scope, d = f"DownConv_{level}", level + 1
        shapes[f"{scope}/down_conv1_{d}/kernel"] = (kernel_size, 1, n_in, n)
        bn(f"{scope}/down_bn1_{d}", n)
        if level < len(filters) - 1:
            shapes[f"{scope}/down_conv3_{d}/kernel"] = (kernel_size, 1, n, n)
            bn(f"{scope}/down_bn3_{d}", n)
        n_in = n
    for level in range(len(filters) - 1):
        scope, d, n = f"UpConv_{level}", level + 1, filters[level]
        shapes[f"{scope}/up_conv0_{d}/kernel"] = (kernel_size, 1, n, filters[level + 1])
        bn(f"{scope}/up_bn0_{d}", n)
        shapes[f"{scope}/up_conv1_{d}/kernel"] = (kernel_size, 1, 2 * n, n)
        bn(f"{scope}/up_bn1_{d}", n)
    shapes["Output/output_conv/kernel"] = (1, 1, filters[0], n_classes)
    shapes["Output/output_conv/bias"] = (n_classes,)
    return shapes


def is_phasenet(model) -> bool:
    """Whether a Keras model is the PhaseNet layout (built by :func:`build_phasenet`: it has the
    checkpoint's ``input_conv``)."""
    return any(layer.name == "input_conv" for layer in model.layers)


def import_phasenet_checkpoint(
    checkpoint: str | os.PathLike, pad_to_stride: bool = False
) -> keras.Model:
    """Build PhaseNet with a checkpoint's weights (no TF1 graph code runs).

    ``pad_to_stride``: build picker's own variant (:func:`build_phasenet`), the start of a
    fine-tuning; the default is the published network.

    Depth, filters and kernel size come from the variables' names and shapes, the stride from
    the ``config.log`` beside the checkpoint (4 without it). The model carries
    :data:`PHASENET_INPUT` as its :class:`~picker.models.saving.InputSettings`.

    Args:
        checkpoint: the checkpoint directory or prefix (``.../model_95.ckpt``).

    Returns:
        The model of :func:`build_phasenet`: ``(batch, n_samples, 3)`` E/N/Z to ``(batch,
        n_samples, 3)`` noise/P/S probabilities.

    Raises:
        ImportModelError: unreadable checkpoint, or one whose variables are not PhaseNet's
            (message names the file and the first difference).
    """
    prefix, variables = read_phasenet_checkpoint(checkpoint)
    filters, kernel_size, n_channels, n_classes = phasenet_layout(variables, str(prefix))
    if (n_channels, n_classes) != (3, 3):
        raise ImportModelError(
            f"{prefix}: PhaseNet with {n_channels} input channels and {n_classes} classes; "
            "picker needs 3 (E, N, Z) and 3 (noise, P, S)"
        )
    stride, dilation = _read_pool_and_dilation(prefix)
    if dilation != 1:
        raise ImportModelError(f"{prefix}: dilation_rate {dilation} (only 1 is supported)")
    expected = _expected_shapes(filters, kernel_size, n_channels, n_classes)
    for var_name, shape in expected.items():
        if var_name not in variables:
            raise ImportModelError(
                f"{prefix}: PhaseNet layout filters={list(filters)} kernel={kernel_size} needs "
                f"variable {var_name!r}, which the checkpoint lacks"
            )
        if variables[var_name].shape != shape:
            raise ImportModelError(
                f"{prefix}: variable {var_name!r} has shape {list(variables[var_name].shape)}, "
                f"PhaseNet layout filters={list(filters)} kernel={kernel_size} needs {list(shape)}"
            )
    unexpected = sorted(set(variables) - set(expected))
    if unexpected:
        raise ImportModelError(
            f"{prefix}: variables not in a PhaseNet of filters={list(filters)}: "
            f"{', '.join(unexpected[:3])}{' ...' if len(unexpected) > 3 else ''}"
        )
    model = build_phasenet(
        filters, kernel_size, stride, n_channels, n_classes, pad_to_stride=pad_to_stride
    )
    for var_name in expected:
        scope_layer, part = var_name.rsplit("/", 1)
        layer = model.get_layer(scope_layer.split("/")[-1])
        value = variables[var_name]
        if part == "kernel":
            value = value[:, 0]  # (k, 1, in, out) -> Conv1D (k, in, out) / transposed (k, out, in)
        getattr(layer, part).assign(value)  # kernel, bias, gamma, beta, moving_mean, ...
    from picker.models.provenance import PHASENET_CITATION, describe_source, set_provenance

    files = [Path(f"{prefix}.index"), *sorted(prefix.parent.glob(f"{prefix.name}.data-*"))]
    set_provenance(model, describe_source("PhaseNet", PHASENET_CITATION, files))
    return set_input_settings(model, PHASENET_INPUT)
