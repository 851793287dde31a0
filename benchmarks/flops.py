"""The picker model's FLOPs per input sample, and the FLOP/s it reaches on this CPU.

    python benchmarks/flops.py [--model PATH.keras] [--seconds 3600] [--repeat 5]
        [--matmul 4096] [--layers] [--profiler] [--json OUT.json]

FLOPs are counted analytically from the Keras layers (:func:`count_flops`), one multiply-add =
2 FLOPs, for an input of ``n`` samples (a multiple of the model's total stride, so the count is
exactly linear in ``n``):

* ``Conv1D``: ``2 * out_len * out_ch * kernel * in_ch / groups`` (+ ``out_len * out_ch`` bias);
* ``Conv1DTranspose``: ``2 * in_len * in_ch * kernel * out_ch`` (+ bias), every input sample
  scattered into ``kernel`` outputs; products cropped by ``padding="same"`` are counted;
* ``Dense``: ``2 * in_features * out_features`` per output position (+ bias);
* ``BatchNormalization`` (inference, folded into one scale and shift): 2 per element;
* ReLU: 1 per element; softmax: 4 per element (subtract max, exp, sum, divide);
* padding, cropping, concatenation, permutes, dropout and the input: 0 (data movement).

Output lengths come from running the model once on zeros. ``--profiler`` cross-checks the
total with TensorFlow's graph profiler (``float_ops`` of the frozen graph; it knows convolutions
but not every element-wise op).

Achieved FLOP/s (medians of ``--repeat`` timed runs after one warm-up, random input of
``--seconds`` at 100 Hz, TensorFlow's default threads):

* model forward: one ``tf.function`` call on ``(1, n, 3)`` (the Keras path), and the same in
  ONNX Runtime (the path ``picker predict`` takes for the bundled model and ``.onnx`` files);
* ``predict_array``: the whole in-memory pipeline on the same data (causal high-pass, sliding
  normalisation, model, pick extraction); effective FLOP/s = model FLOPs / time;

compared with a float32 matrix product (``--matmul`` N: ``2 N^3`` FLOPs, best of the runs) in
NumPy and in TensorFlow as the practical peak, and with the theoretical peak ``cores x clock x
FLOPs/cycle``: clock from ``/proc/cpuinfo``; FLOPs/cycle per core for float32 assumed 64 with
AVX-512 (two 16-lane FMA units, as on Xeon Gold/Platinum; 32 if the CPU has one), 32 with
AVX2+FMA (two 8-lane FMA units), else 8.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import cpu_flags, cpu_mhz, machine_info, machine_line, markdown_table, write_json

SAMPLING_RATE_HZ = 100.0
#: FLOPs per element of element-wise layers (see the module docstring).
ELEMENTWISE_FLOPS = {"BatchNormalization": 2, "ReLU": 1, "relu": 1, "Softmax": 4, "softmax": 4}
#: Layers that only move data.
ZERO_FLOP_LAYERS = {
    "InputLayer",
    "PadToMultiple",
    "CropLike",
    "Concatenate",
    "Permute",
    "SpatialDropout1D",
    "Dropout",
    "Reshape",
    "Cropping1D",
    "ZeroPadding1D",
}


def _shape(tensor_shape) -> tuple[int, ...]:
    return tuple(int(d) for d in tensor_shape)


def model_stride(model) -> int:
    """The model's total down-sampling factor: lcm of its ``PadToMultiple`` multiples (or 1)."""
    stride = 1
    for layer in model.layers:
        multiple = getattr(layer, "multiple", None)
        if isinstance(multiple, int) and multiple > 0:
            stride = math.lcm(stride, multiple)
    return stride


def layer_output_shapes(model, n_samples: int) -> dict[str, tuple[int, ...]]:
    """Concrete output shape of every layer for one input of ``n_samples`` (model run on zeros)."""
    import keras

    from picker.models.unet import class_axis

    layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    probe = keras.Model(model.inputs, [layer.output for layer in layers])
    shape = (1, 3, n_samples) if class_axis(model) == 1 else (1, n_samples, 3)
    outputs = probe([np.zeros(shape, np.float32)], training=False)
    if not isinstance(outputs, list | tuple):  # a single layer: one tensor, not a list
        outputs = [outputs]
    return {layer.name: _shape(out.shape) for layer, out in zip(layers, outputs, strict=True)}


def layer_flops(layer, out_shape: tuple[int, ...]) -> int | None:
    """FLOPs of one layer for one example whose output has shape ``out_shape`` (batch first).

    Returns None for a layer type this counter does not know.
    """
    kind = type(layer).__name__
    if kind in ZERO_FLOP_LAYERS:
        return 0
    out_len, out_ch = out_shape[1], out_shape[-1]
    bias = out_len * out_ch if getattr(layer, "use_bias", False) else 0
    if kind == "Conv1D":
        kernel, in_per_group, _ = _shape(layer.kernel.shape)
        return 2 * out_len * out_ch * kernel * in_per_group + bias
    if kind == "Conv1DTranspose":
        kernel, _, in_ch = _shape(layer.kernel.shape)  # (kernel, out_ch, in_ch)
        in_len = -(-out_len // layer.strides[0])
        return 2 * in_len * in_ch * kernel * out_ch + bias
    if kind == "Dense":
        in_features, _ = _shape(layer.kernel.shape)
        return 2 * int(np.prod(out_shape[1:-1])) * in_features * out_ch + bias
    elements = int(np.prod(out_shape[1:]))
    if kind == "Activation":
        name = getattr(layer.activation, "__name__", "")
        return ELEMENTWISE_FLOPS[name] * elements if name in ELEMENTWISE_FLOPS else None
    if kind in ELEMENTWISE_FLOPS:
        return ELEMENTWISE_FLOPS[kind] * elements
    return None


def count_flops(model, n_samples: int) -> dict:
    """Analytic FLOPs of ``model`` on one input of ``n_samples`` samples.

    Returns:
        ``{"n_samples", "total", "per_sample", "layers": [(name, type, output shape, FLOPs)],
        "unknown": [names of layers not counted]}``.
    """
    shapes = layer_output_shapes(model, n_samples)
    rows, unknown, total = [], [], 0
    for layer in model.layers:
        if layer.name not in shapes:
            continue
        flops = layer_flops(layer, shapes[layer.name])
        if flops is None:
            unknown.append(layer.name)
            flops = 0
        rows.append((layer.name, type(layer).__name__, shapes[layer.name], flops))
        total += flops
    return {
        "n_samples": n_samples,
        "total": total,
        "per_sample": total / n_samples,
        "layers": rows,
        "unknown": unknown,
    }


def profiler_flops(model, n_samples: int) -> int | None:
    """TensorFlow's graph-profiler ``float_ops`` for one input of ``n_samples`` (None if it fails)."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    from picker.models.unet import class_axis

    shape = (1, 3, n_samples) if class_axis(model) == 1 else (1, n_samples, 3)
    try:
        fn = tf.function(lambda x: model(x, training=False))
        frozen = convert_variables_to_constants_v2(
            fn.get_concrete_function(tf.TensorSpec(shape, tf.float32))
        )
        options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
        options["output"] = "none"
        info = tf.compat.v1.profiler.profile(
            graph=frozen.graph, run_meta=tf.compat.v1.RunMetadata(), cmd="op", options=options
        )
        return int(info.total_float_ops)
    except Exception as exc:  # the v1 profiler is best effort
        print(f"profiler cross-check failed: {exc}", file=sys.stderr)
        return None


def theoretical_peak(cores: int | None = None) -> dict:
    """``cores x clock x FLOPs/cycle`` for float32, with the assumptions spelled out."""
    cores = cores or os.cpu_count() or 1
    flags = cpu_flags()
    mhz = cpu_mhz()
    if "avx512f" in flags:
        per_cycle, why = 64, "AVX-512: 2 FMA units x 16 float32 lanes x 2 (assumed 2 units)"
    elif "avx2" in flags and "fma" in flags:
        per_cycle, why = 32, "AVX2: 2 FMA units x 8 float32 lanes x 2"
    else:
        per_cycle, why = 8, "SSE: 4 lanes x (1 add + 1 multiply)"
    flops = cores * mhz * 1e6 * per_cycle if mhz else None
    return {"flops": flops, "cores": cores, "mhz": mhz, "per_cycle": per_cycle, "assumption": why}


def _median_time(fn, repeat: int) -> tuple[float, float]:
    """(median, best) seconds of ``repeat`` calls of ``fn`` after one warm-up call."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def matmul_flops(n: int, repeat: int) -> dict:
    """Best float32 ``n x n`` matrix product FLOP/s in NumPy and in TensorFlow."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    flops = 2.0 * n**3
    _, numpy_best = _median_time(lambda: a @ b, repeat)
    ta, tb = tf.constant(a), tf.constant(b)
    _, tf_best = _median_time(lambda: tf.linalg.matmul(ta, tb).numpy(), repeat)
    return {"numpy": flops / numpy_best, "tensorflow": flops / tf_best}


def load_or_build(path: str | None):
    """The model at ``path``, else the bundled one, else the untrained default-size stand-in."""
    from continuous_day import standin_model

    from picker.models.saving import BUNDLED_MODEL, load_model

    if path:
        return load_model(path), path
    if BUNDLED_MODEL.exists():
        return load_model(None), str(BUNDLED_MODEL)
    return standin_model(), "untrained default-size stand-in (continuous_day.standin_model)"


def measure(model, seconds: float, repeat: int) -> dict:
    """Model-forward and ``predict_array`` times on ``seconds`` of random 100 Hz data."""
    import tensorflow as tf

    from picker.models.unet import class_axis
    from picker.prediction.predict import predict_array

    n = int(round(seconds * SAMPLING_RATE_HZ))
    x = np.random.default_rng(0).standard_normal((n, 3)).astype(np.float32)
    channels_first = class_axis(model) == 1

    @tf.function(input_signature=[tf.TensorSpec((None, None, 3), tf.float32)])
    def forward(batch):
        if channels_first:
            batch = tf.transpose(batch, [0, 2, 1])
        return model(batch, training=False)

    batch = tf.constant(x[None])
    forward_s, _ = _median_time(lambda: forward(batch).numpy(), repeat)
    predict_s, _ = _median_time(lambda: predict_array(x, SAMPLING_RATE_HZ, model), repeat)
    with tempfile.TemporaryDirectory() as tmp:  # the ONNX Runtime path picker predict takes
        from picker.models.onnx_export import export_onnx
        from picker.models.onnx_model import OnnxModel

        onnx_model = OnnxModel(export_onnx(model, Path(tmp) / "model.onnx"))
        onnx_forward_s, _ = _median_time(lambda: onnx_model.predict(x[None]), repeat)
        onnx_predict_s, _ = _median_time(
            lambda: predict_array(x, SAMPLING_RATE_HZ, onnx_model), repeat
        )
    return {
        "n_samples": n,
        "forward_s": forward_s,
        "predict_s": predict_s,
        "onnx_forward_s": onnx_forward_s,
        "onnx_predict_s": onnx_predict_s,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", help=".keras model (default: bundled, else untrained default)")
    parser.add_argument("--seconds", type=float, default=3600.0, help="input length to time")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs (median)")
    parser.add_argument("--matmul", type=int, default=4096, help="matrix size for the peak")
    parser.add_argument("--layers", action="store_true", help="print the per-layer table")
    parser.add_argument("--profiler", action="store_true", help="cross-check with tf.profiler")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    if args.repeat < 1 or not args.seconds > 0:
        parser.error("--repeat must be >= 1 and --seconds > 0")

    info = machine_info()
    model, model_name = load_or_build(args.model)
    stride = model_stride(model)
    n_count = stride * max(1, 32768 // stride)
    counted = count_flops(model, n_count)
    per_sample = counted["per_sample"]
    per_day = per_sample * 86400 * SAMPLING_RATE_HZ
    profiled = profiler_flops(model, n_count) if args.profiler else None

    timing = measure(model, args.seconds, args.repeat)
    n_padded = -(-timing["n_samples"] // stride) * stride
    model_flops = per_sample * n_padded
    peak = matmul_flops(args.matmul, max(args.repeat, 3))
    theory = theoretical_peak()

    def pct(value, ref):
        return f"{100 * value / ref:.1f} %" if ref else "-"

    forward_rate = model_flops / timing["forward_s"]
    predict_rate = model_flops / timing["predict_s"]
    print(machine_line(info))
    print(f"model: {model_name}; timed on {args.seconds:g} s at 100 Hz, median of {args.repeat}")
    if counted["unknown"]:
        print(f"WARNING: layers not counted (unknown type): {counted['unknown']}")
    print()
    rows = [
        ("model FLOPs per input sample (analytic)", f"{per_sample:,.0f}", ""),
        ("model FLOPs per station-day (8.64 M samples)", f"{per_day / 1e9:,.1f} G", ""),
    ]
    if args.profiler:
        rows.append(
            (
                "tf.profiler float_ops per input sample",
                "-" if profiled is None else f"{profiled / n_count:,.0f}",
                "counts convolutions, not every element-wise op",
            )
        )
    rows += [
        (
            f"model forward, (1, {n_padded}, 3)",
            f"{timing['forward_s']:.3f} s",
            f"{forward_rate / 1e9:.1f} GFLOP/s; {pct(forward_rate, peak['tensorflow'])} of TF "
            f"matmul; {pct(forward_rate, theory['flops'])} of theoretical",
        ),
        (
            f"predict_array, {args.seconds:g} s",
            f"{timing['predict_s']:.3f} s",
            f"{predict_rate / 1e9:.1f} GFLOP/s effective; model forward is "
            f"{pct(timing['forward_s'], timing['predict_s'])} of the time",
        ),
        (
            f"model forward, ONNX Runtime, (1, {n_padded}, 3)",
            f"{timing['onnx_forward_s']:.3f} s",
            f"{model_flops / timing['onnx_forward_s'] / 1e9:.1f} GFLOP/s",
        ),
        (
            f"predict_array, ONNX Runtime (picker predict's path), {args.seconds:g} s",
            f"{timing['onnx_predict_s']:.3f} s",
            f"{model_flops / timing['onnx_predict_s'] / 1e9:.1f} GFLOP/s effective",
        ),
        (f"NumPy float32 matmul {args.matmul}", f"{peak['numpy'] / 1e9:.1f} GFLOP/s", "best run"),
        (
            f"TensorFlow float32 matmul {args.matmul}",
            f"{peak['tensorflow'] / 1e9:.1f} GFLOP/s",
            "best run (practical peak)",
        ),
        (
            "theoretical float32 peak",
            "-" if not theory["flops"] else f"{theory['flops'] / 1e9:.1f} GFLOP/s",
            f"{theory['cores']} cores x {theory['mhz']} MHz x {theory['per_cycle']} "
            f"FLOPs/cycle ({theory['assumption']})",
        ),
        (
            "station-days per hour, model forward only",
            f"{3600 / (per_day / forward_rate):,.0f}",
            "at the measured forward FLOP/s",
        ),
    ]
    print(markdown_table(["quantity", "value", "note"], rows))
    by_type: dict[str, int] = {}
    for _, kind, _, flops in counted["layers"]:
        by_type[kind] = by_type.get(kind, 0) + flops
    print()
    print(
        markdown_table(
            ["layer type", "FLOPs / sample", "share"],
            [
                (kind, f"{flops / n_count:,.1f}", pct(flops, counted["total"]))
                for kind, flops in sorted(by_type.items(), key=lambda kv: -kv[1])
            ],
        )
    )
    if args.layers:
        print()
        print(
            markdown_table(
                ["layer", "type", f"output shape (n = {n_count})", "FLOPs / sample"],
                [
                    (name, kind, shape, f"{flops / n_count:,.1f}")
                    for name, kind, shape, flops in counted["layers"]
                ],
            )
        )
    if args.json:
        write_json(
            args.json,
            {
                "machine": info,
                "model": model_name,
                "flops": {**counted, "per_station_day": per_day, "profiler_total": profiled},
                "timing": timing,
                "forward_flops_per_s": forward_rate,
                "predict_flops_per_s": predict_rate,
                "matmul_flops_per_s": peak,
                "theoretical_peak": theory,
            },
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
