"""Running a picker model over a long array: chunks on the model's stride grid, batches, threads.

:func:`run_model` is the inference step of :mod:`picker.prediction.predict`: it cuts an ``(n_samples, 3)``
array at the model rate into chunks with context (:func:`picker.prediction.inference.plan_chunks`),
preprocesses each batch with :func:`picker.preprocess.model_input.model_input` and runs a Keras model (one
``tf.function`` per model) or an :class:`~picker.models.onnx_model.OnnxModel` on it, with bounded
memory, and stitches the chunks' cores back together. A model trained on windows normalised one
by one (``InputSettings.normalization == "std"``: the imported PhaseNet and EQTransformer) runs
on overlapping windows of its length instead (:func:`run_windows`, :mod:`picker.prediction.windows`).

A model with the three outputs ``detector``, ``picker_P``, ``picker_S`` (EQTransformer, each
``(batch, n, 1)`` sigmoid) gives four columns: noise ``max(0, 1 - P - S)``, P, S and detection.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

import numpy as np

from picker.config import ConfigError, PredictConfig
from picker.prediction.windows import WindowMerge, cut_windows, window_starts
from picker.preprocess.model_input import MODEL_SAMPLING_RATE_HZ, model_input, total_stride

_FUNCTIONS: dict[int, tuple[object, object]] = {}


def fixed_input_samples(model) -> int | None:
    """The input length a Keras model is built for (EQTransformer: 6000), None for any length
    (an :class:`~picker.models.onnx_model.OnnxModel` says it in its metadata)."""
    from picker.models.onnx_model import OnnxModel

    if isinstance(model, OnnxModel):
        return model.window_samples
    shape = getattr(model, "input_shape", None)
    if not isinstance(shape, tuple) or len(shape) != 3:
        return None
    from picker.models.unet import class_axis

    length = shape[2 if class_axis(model) == 1 else 1]
    return None if length is None else int(length)


def _model_function(model):
    """One ``tf.function`` per model, input ``(batch, n_samples, 3)`` channels-last float32.

    An :class:`~picker.models.onnx_model.OnnxModel` needs none: its ``predict`` is returned. Channels-first models (``class_axis(model) == 1``) are transposed inside, so the caller
    always passes and receives channels-last arrays. The fixed input signature means one trace
    for every chunk length. Output ``(batch, n_samples, 3)`` noise/P/S, or 4 columns
    noise/P/S/detection for a model with EQTransformer's three outputs (module docstring).
    """
    from picker.models.onnx_model import OnnxModel

    if isinstance(model, OnnxModel):
        return model.predict
    cached = _FUNCTIONS.get(id(model))
    if cached is not None and cached[0] is model:
        return cached[1]
    import tensorflow as tf

    from picker.models.unet import class_axis

    channels_first = class_axis(model) == 1

    @tf.function(input_signature=[tf.TensorSpec((None, None, 3), tf.float32)])
    def run(x):
        if channels_first:
            x = tf.transpose(x, [0, 2, 1])
        y = model(x, training=False)
        if isinstance(y, list | tuple):  # EQTransformer: detector, picker_P, picker_S
            detection, p, s = (tf.cast(t[..., 0], tf.float32) for t in y)
            noise = tf.clip_by_value(1.0 - p - s, 0.0, 1.0)
            return tf.stack([noise, p, s, detection], axis=-1)
        if channels_first:
            y = tf.transpose(y, [0, 2, 1])
        return tf.cast(y, tf.float32)

    if len(_FUNCTIONS) >= 4:
        _FUNCTIONS.pop(next(iter(_FUNCTIONS)))
    _FUNCTIONS[id(model)] = (model, run)
    return run


def _infer(run, batch: np.ndarray) -> np.ndarray:
    """Run the compiled model on ``(batch, n_samples, 3)`` float32; return the same shape."""
    return np.asarray(run(batch))


#: At most this many batches run at once (each holds its chunk's input and activations, tens of
#: MB): a 64-core node does not multiply one process's memory by 64.
MAX_WORKERS = 8


def run_model(model, x: np.ndarray, cfg: PredictConfig) -> np.ndarray:
    """Chunked, bounded-memory inference on one ``(n_samples, 3)`` E/N/Z array at model rate.

    Chunks of equal length go through the model ``cfg.batch_size`` at a time, each batch
    preprocessed with :func:`~picker.preprocess.model_input.model_input` first. Both release the GIL, so
    threads overlap on the cores:

    - ONNX models on several cores: one thread per usable core (at most :data:`MAX_WORKERS`)
      preprocesses a batch and runs it on a single-threaded session
      (:meth:`~picker.models.onnx_model.OnnxModel.predict_single_threaded`), so no thread waits for
      another and each core keeps its batch in its own cache. Default batch: 1 chunk (a
      7-day archive took 15.0 s with 1 chunk per call, 15.2 s with 4, and 100 MB less memory).
    - Otherwise (Keras models, one core): the next batch is preprocessed in a helper thread while
      the model runs the current one on its own threads. Default batch: 4 chunks.

    At most ``2 * threads`` batches are in flight. Returns ``(n_samples, 3)`` float32
    noise/P/S probabilities (4 columns, detection last, for EQTransformer). Models trained on
    windows normalised one by one go to :func:`run_windows`.
    """
    from picker.models.onnx_model import OnnxModel, usable_cores
    from picker.models.saving import input_settings

    if input_settings(model).normalization == "std":
        return run_windows(model, x, cfg)
    if fixed_input_samples(model) is not None:
        raise ValueError(
            f"model {model.name!r} takes a fixed {fixed_input_samples(model)} samples; "
            "predict needs a fully convolutional model (any input length)"
        )
    rate = MODEL_SAMPLING_RATE_HZ
    plan = plan_chunks(
        len(x), round(cfg.chunk_s * rate), round(cfg.context_s * rate), total_stride(model)
    )
    workers = min(usable_cores(), MAX_WORKERS)
    parallel = isinstance(model, OnnxModel) and workers > 1
    batch_size = cfg.batch_size or (1 if parallel else 4)
    batches: list[list[tuple[int, int, int, int]]] = []
    for entry in plan:
        last = batches[-1] if batches else None
        if last and len(last) < batch_size and entry[1] - entry[0] == last[0][1] - last[0][0]:
            last.append(entry)
        else:
            batches.append([entry])

    def prepare(batch: list[tuple[int, int, int, int]]) -> np.ndarray:
        chunks = np.stack([x[a:b] for a, b, _, _ in batch])
        return model_input(chunks, rate, cfg.normalization_window_s, cfg.highpass_hz)

    if parallel and len(batches) > 1:
        outputs = _ordered_map(
            lambda batch: model.predict_single_threaded(prepare(batch)), batches, workers
        )
    else:
        outputs = _prepared_ahead(_model_function(model), prepare, batches)
    out = np.zeros((len(x), 3), dtype=np.float32)
    for batch, y in zip(batches, outputs, strict=True):
        for (a, _, core_a, core_b), y_chunk in zip(batch, y, strict=True):
            out[core_a:core_b] = y_chunk[core_a - a : core_b - a]
    return out


#: Windows per model call in :func:`run_windows` when ``batch_size`` is not set (16 windows of
#: 30 s are 8 min of data, about one chunk of the sliding mode).
WINDOW_BATCH = 16


def run_windows(model, x: np.ndarray, cfg: PredictConfig) -> np.ndarray:
    """Per-window inference on one ``(n_samples, 3)`` E/N/Z array at model rate, for a model
    trained on windows of ``cfg.normalization_window_s`` each normalised on its own.

    Windows every ``cfg.window_overlap`` (:func:`~picker.prediction.windows.window_starts`),
    each normalised alone (:func:`~picker.prediction.windows.cut_windows`), ``batch_size``
    windows (default :data:`WINDOW_BATCH`) per model call, outputs merged as
    ``cfg.window_merge`` says (:class:`~picker.prediction.windows.WindowMerge`); threads as in
    :func:`run_model`. Data shorter than a window: one window, zero-padded to the model's fixed
    length, or as long as the data for a model that takes any length. An int8 model with a
    float32 recheck model runs through :class:`WindowRecheck`.

    Returns:
        ``(n_samples, n_columns)`` float32: noise/P/S (and detection for EQTransformer).

    Raises:
        picker.config.ConfigError: a model of a fixed input length other than the window's,
            or a high-pass asked for (these models were trained without one).
    """
    from picker.models.onnx_model import OnnxModel, usable_cores

    window = max(1, round(cfg.normalization_window_s * MODEL_SAMPLING_RATE_HZ))
    fixed = fixed_input_samples(model)
    name = getattr(model, "name", "")
    if fixed is not None and fixed != window:
        raise ConfigError(
            f"model {name!r} takes windows of {fixed} samples; predict.normalization_window_s "
            f"{cfg.normalization_window_s:g} s makes {window}"
        )
    if cfg.highpass_hz:
        raise ConfigError(
            f"model {name!r} normalises each window on its own and was trained without a "
            f"high-pass; predict.highpass_hz must be 0, got {cfg.highpass_hz:g}"
        )
    n = len(x)
    if fixed is None and 0 < n < window:
        window = n  # any-length model: short data are one window of their own length
    starts = window_starts(n, window, cfg.window_overlap)
    batch_size = cfg.batch_size or WINDOW_BATCH
    batches = [(i, min(i + batch_size, len(starts))) for i in range(0, len(starts), batch_size)]

    def prepare(batch: tuple[int, int]) -> np.ndarray:
        return cut_windows(x, starts[batch[0] : batch[1]], window)

    workers = min(usable_cores(), MAX_WORKERS)
    parallel = isinstance(model, OnnxModel) and workers > 1 and len(batches) > 1
    if getattr(model, "recheck_model", None) is not None:  # an int8 export: see WindowRecheck
        recheck = WindowRecheck(model, x, starts, window, cfg.window_merge)
        work = partial(recheck.run, single_threaded=parallel)
        outputs = _ordered_map(work, batches, workers) if parallel else map(work, batches)
    elif parallel:
        outputs = _ordered_map(
            lambda batch: model.predict_single_threaded(prepare(batch)), batches, workers
        )
    else:
        outputs = _prepared_ahead(_model_function(model), prepare, batches)
    merge = None
    for (first, _), y in zip(batches, outputs, strict=True):
        if merge is None:
            merge = WindowMerge(n, y.shape[2], starts, window, cfg.window_merge)
        merge.add(first, y)
    return merge.result() if merge is not None else np.zeros((n, 3), np.float32)


class WindowRecheck:
    """Batches of windows for an int8 model with a float32
    :attr:`~picker.models.onnx_model.OnnxModel.recheck_model`.

    A window is run again in float32 when its own P or S probability, or that of a window whose
    samples it shares in the ``"mean"`` merge, reaches the model's ``recheck_probability``:
    every sample of a window that reached it then gets float32 values from every window
    averaged there, which is the float32 model's merged output exactly. To know its
    neighbours' flags, each batch also runs the int8 model on the windows just before and
    after it.

    Args:
        model: the int8 :class:`~picker.models.onnx_model.OnnxModel`.
        x: the ``(n_samples, 3)`` E/N/Z data at model rate the windows are cut from.
        starts: every window's first sample, in order; ``window``: samples per window.
        mode: the window merge (``"center"``: a sample comes from one window, so only a
            window's own probabilities count).
    """

    def __init__(self, model, x: np.ndarray, starts, window: int, mode: str):
        self.model, self.x, self.window = model, x, int(window)
        self.starts = np.asarray(starts, np.int64)
        n = len(self.starts)
        if mode == "mean":  # windows lo[j] .. hi[j] - 1 share samples with window j
            self.lo = np.searchsorted(self.starts, self.starts - self.window, "right")
            self.hi = np.searchsorted(self.starts, self.starts + self.window, "left")
        else:
            self.lo, self.hi = np.arange(n), np.arange(1, n + 1)
        #: windows a batch needs on either side to know its neighbours' flags
        index = np.arange(n)
        self.reach = int(
            max((self.hi - 1 - index).max(initial=0), (index - self.lo).max(initial=0))
        )

    def run(self, batch: tuple[int, int], single_threaded: bool) -> np.ndarray:
        """Probabilities ``(stop - first, W, n_columns)`` of windows ``batch = (first, stop)``."""
        first, stop = batch
        a, b = max(first - self.reach, 0), min(stop + self.reach, len(self.starts))
        inputs = cut_windows(self.x, self.starts[a:b], self.window)
        runner = self.model.predict_single_threaded if single_threaded else self.model.predict
        out = runner(inputs, recheck=False)
        flagged = self.model.reaches_recheck(out)
        rows = [k - a for k in range(first, stop) if flagged[self.lo[k] - a : self.hi[k] - a].any()]
        self.model.rerun_in_float(inputs, out, rows, single_threaded)
        return out[first - a : stop - a]


def _ordered_map(function, items: list, workers: int) -> Iterator:
    """``function(item)`` for each item, computed by ``workers`` threads, yielded in order.

    At most ``2 * workers`` results exist at once (bounded memory).
    """
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending = deque()
        for item in items:
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
            pending.append(pool.submit(function, item))
        while pending:
            yield pending.popleft().result()


def _prepared_ahead(run, prepare, batches: list) -> Iterator[np.ndarray]:
    """``run(prepare(batch))`` for each batch; the next batch is prepared in a helper thread."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        upcoming = pool.submit(prepare, batches[0]) if batches else None
        for i in range(len(batches)):
            inputs = upcoming.result()
            upcoming = pool.submit(prepare, batches[i + 1]) if i + 1 < len(batches) else None
            yield _infer(run, inputs)


def plan_chunks(
    n_samples: int, chunk_samples: int, context_samples: int, align_samples: int = 1
) -> list[tuple[int, int, int, int]]:
    """Split ``n_samples`` into chunks with context on both sides.

    ``chunk_samples`` and ``context_samples`` are rounded up to multiples of ``align_samples``
    (the model's total stride), so every chunk starts on the model's down-sampling grid. Context
    is cut at the array's ends (no padding).

    Returns:
        ``(input_start, input_stop, core_start, core_stop)`` per chunk: the model sees
        ``[input_start, input_stop)`` and its output is kept on ``[core_start, core_stop)``;
        the cores tile ``[0, n_samples)``.
    """
    align = max(int(align_samples), 1)
    chunk = -(-max(int(chunk_samples), 1) // align) * align
    context = -(-max(int(context_samples), 0) // align) * align
    plan = []
    for core_start in range(0, n_samples, chunk):
        core_stop = min(core_start + chunk, n_samples)
        plan.append(
            (
                max(core_start - context, 0),
                min(core_stop + context, n_samples),
                core_start,
                core_stop,
            )
        )
    return plan
