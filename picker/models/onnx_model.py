"""Run a picker model exported to ONNX (:mod:`picker.models.onnx_export`) with ONNX Runtime on the CPU.

This is the inference path ``picker predict`` takes for the bundled model and for ``--model
X.onnx``: it computes the same probabilities as the Keras model (to float32 round-off) without
importing TensorFlow, which saves about 4 s of start-up and 0.5 GB of memory per process.
Keras models (``.keras``) still run through TensorFlow.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from picker.io.base import one_line
from picker.models.saving import InputSettings, ModelFileError

#: The bundled model's ONNX export, beside the Keras file it was exported from.
BUNDLED_ONNX = Path(__file__).resolve().parent / "bundled" / "picker_default.onnx"
#: Its int8 version (:func:`picker.models.onnx_export.quantize_int8`; ``picker predict --int8``).
BUNDLED_INT8 = BUNDLED_ONNX.with_name("picker_default.int8.onnx")
#: The int8 export runs a window again with the float model when its P or S probability
#: reaches this (:meth:`OnnxModel.predict`). On the hold-out every value up to 0.3 gave the
#: float model's F1 exactly; 0.1 leaves a margin (int8 moves probabilities by up to ~0.3).
INT8_RECHECK_PROBABILITY = 0.1


def is_onnx_path(path) -> bool:
    """True for a ``.onnx`` file name (run by ONNX Runtime; anything else is a Keras file)."""
    return str(path).lower().endswith(".onnx")


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask, e.g. a Slurm or taskset
    allocation; ``os.cpu_count()`` where the mask is not available)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class OnnxModelError(ModelFileError):
    """An ONNX file that is missing, unreadable or not a picker model (message names the file)."""


class OnnxModel:
    """A picker U-Net in ONNX form.

    Attributes:
        path: the ``.onnx`` file.
        name: the graph's name (the Keras model's name).
        total_stride: input lengths are padded at the end to a multiple of this.
        source_sha256: hash of the Keras weights it was exported from
            (:func:`picker.models.onnx_export.weights_sha256`).
        picker_input_settings: the :class:`~picker.models.saving.InputSettings` it was trained
            with (defaults for exports made before they were stored).
        picker_provenance: the :class:`~picker.models.provenance.Provenance` of imported
            published weights (absent otherwise).
    """

    def __init__(self, path: str | os.PathLike, threads: int | None = None):
        """Load ``path``; ``threads`` = intra-op threads of :meth:`predict` (default:
        :func:`usable_cores`)."""
        self.path = Path(path)
        if not self.path.is_file():
            raise OnnxModelError(f"{self.path}: model file not found")
        self._session = self._open(int(threads or usable_cores()))
        self._single_session = None  # made on first use by predict_single_threaded
        meta = self._session.get_modelmeta()
        props = meta.custom_metadata_map
        if "picker_total_stride" not in props:
            raise OnnxModelError(
                f"{self.path}: not a picker model export (no picker_total_stride metadata); "
                "export it with picker.models.onnx_export.export_onnx"
            )
        self.name = meta.graph_name
        self.total_stride = int(props["picker_total_stride"])
        #: The fixed input length of the export (EQTransformer: 6000), None for any length.
        window = props.get("picker_window_samples")
        self.window_samples = int(window) if window else None
        #: EQTransformer's three outputs (detector, picker_P, picker_S), or one (probabilities).
        self.output_names = [output.name for output in self._session.get_outputs()]
        self.source_sha256 = props.get("picker_source_sha256", "")
        settings = props.get("picker_input_settings")
        self.picker_input_settings = (
            InputSettings.from_json(settings, str(self.path)) if settings else InputSettings()
        )
        record = props.get("picker_provenance")
        if record:  # imported published weights (picker.models.provenance)
            from picker.models.provenance import Provenance

            self.picker_provenance = Provenance.from_json(record, str(self.path))
        #: The float model that runs again every window where this one may see an arrival
        #: (an int8 export's ``picker_recheck_model``; :meth:`predict`), or None.
        self.recheck_model = None
        #: A window is run again when its P or S probability reaches this anywhere.
        self.recheck_probability = 1.0
        if "picker_recheck_model" in props:
            self._open_recheck_model(props, threads)

    def _open_recheck_model(self, props: dict, threads: int | None) -> None:
        """The float companion named in the metadata: a plain ``.onnx`` file name in the same
        folder with the same input settings and stride (nothing else is opened)."""
        name = props["picker_recheck_model"]
        try:
            probability = float(props.get("picker_recheck_probability", ""))
        except ValueError:
            probability = -1.0
        if Path(name).name != name or not is_onnx_path(name) or name == self.path.name:
            raise OnnxModelError(f"{self.path}: bad picker_recheck_model {name!r} in metadata")
        if not 0.0 < probability <= 1.0:
            raise OnnxModelError(f"{self.path}: picker_recheck_probability must be in (0, 1]")
        try:
            companion = OnnxModel(self.path.with_name(name), threads)
        except OnnxModelError as exc:  # name the file whose metadata points there
            raise OnnxModelError(f"{self.path}: its recheck model: {exc}") from None
        if companion.recheck_model is not None or (
            companion.picker_input_settings,
            companion.total_stride,
        ) != (self.picker_input_settings, self.total_stride):
            raise OnnxModelError(
                f"{self.path}: its recheck model {name} has other input settings or stride"
            )
        self.recheck_model, self.recheck_probability = companion, probability

    def _open(self, threads: int):
        """An ONNX Runtime session on :attr:`path` with ``threads`` intra-op threads."""
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # Idle ORT threads (sessions with threads > 1) would spin between operators and runs,
        # taking the cores from other work in the process, such as the thread that preprocesses
        # the next batch (picker.prediction.inference.run_model): without spinning a 7-day archive ran in
        # 12.2 s instead of 15.2 s here (session 2, when every call used 2 threads).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            return ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        except Exception as err:  # ORT raises its own exception types
            reason = one_line(err, 200)
            raise OnnxModelError(f"{self.path}: not a readable ONNX model ({reason})") from None

    def __repr__(self) -> str:
        return f"OnnxModel({str(self.path)!r})"

    def predict(self, batch: np.ndarray, recheck: bool = True) -> np.ndarray:
        """Probabilities for ``(batch, n_samples, 3)`` E/N/Z float32 input (channels-last).

        The input is zero-padded at the end to a multiple of :attr:`total_stride` and the
        output cropped back, exactly as the Keras model does inside.

        Returns:
            ``(batch, n_samples, 3)`` float32 noise/P/S probabilities.

        A model with a :attr:`recheck_model` (the bundled int8 export) runs every window
        again with it wherever its own P or S probability reaches :attr:`recheck_probability`
        and returns those windows' float probabilities: the int8 network's speed on the
        quiet windows, the float network's picks on the others. ``recheck=False``: this
        model's own output (:func:`picker.prediction.inference.run_windows` rechecks itself,
        with the overlapping windows too).
        """
        out = self._run(self._session, batch)
        return self._rechecked(batch, out, single_threaded=False) if recheck else out

    def predict_single_threaded(self, batch: np.ndarray, recheck: bool = True) -> np.ndarray:
        """:meth:`predict` on one intra-op thread, for callers that run several at once.

        :func:`picker.prediction.inference.run_model` runs one of these per usable core, each on
        its own batch after preprocessing it in the same thread: on 2 cores a station-day took
        1.66 s instead of 1.87 s with one 2-thread call at a time (same probabilities).
        """
        if self._single_session is None:
            self._single_session = self._open(1)
        out = self._run(self._single_session, batch)
        return self._rechecked(batch, out, single_threaded=True) if recheck else out

    def reaches_recheck(self, out: np.ndarray) -> np.ndarray:
        """``(batch,)`` bool: the windows of ``out`` ``(batch, n_samples, >= 3)`` whose P or S
        probability reaches :attr:`recheck_probability` anywhere."""
        return out[:, :, 1:3].max(axis=(1, 2)) >= self.recheck_probability

    def _rechecked(self, batch, out: np.ndarray, single_threaded: bool) -> np.ndarray:
        """``out`` with the windows that may hold an arrival replaced by :attr:`recheck_model`'s
        probabilities (unchanged without one)."""
        if self.recheck_model is None:
            return out
        return self.rerun_in_float(
            batch, out, np.flatnonzero(self.reaches_recheck(out)), single_threaded
        )

    def rerun_in_float(self, batch, out: np.ndarray, rows, single_threaded: bool) -> np.ndarray:
        """``out`` ``(batch, n_samples, 3)`` with windows ``rows`` of ``batch`` (E/N/Z,
        channels-last) replaced by :attr:`recheck_model`'s probabilities, in place."""
        rows = np.asarray(rows, np.int64)
        if rows.size:
            again = self.recheck_model
            run = again.predict_single_threaded if single_threaded else again.predict
            out[rows] = run(np.asarray(batch)[rows])
        return out

    def _run(self, session, batch: np.ndarray) -> np.ndarray:
        batch = np.asarray(batch, dtype=np.float32)
        if batch.ndim != 3 or batch.shape[2] != 3:
            raise ValueError(f"input must have shape (batch, n_samples, 3), got {batch.shape}")
        n_samples = batch.shape[1]
        pad = (-n_samples) % self.total_stride
        if pad:
            batch = np.pad(batch, ((0, 0), (0, pad), (0, 0)))
        outputs = session.run(None, {"waveform": np.ascontiguousarray(batch)})
        if len(outputs) == 3:  # EQTransformer: detector, picker_P, picker_S, each (batch, n, 1)
            named = dict(zip(self.output_names, outputs, strict=True))
            return eqt_columns(named["detector"], named["picker_P"], named["picker_S"])[
                :, :n_samples
            ]
        return outputs[0][:, :n_samples]


def eqt_columns(detection: np.ndarray, p: np.ndarray, s: np.ndarray) -> np.ndarray:
    """EQTransformer's three ``(batch, n, 1)`` sigmoid outputs as picker's four columns.

    Returns:
        ``(batch, n, 4)`` float32: noise ``clip(1 - P - S, 0, 1)``, P, S, detection (the same
        columns as :func:`picker.prediction.inference` makes of the Keras model's outputs).
    """
    detection, p, s = (np.asarray(t, dtype=np.float32)[..., 0] for t in (detection, p, s))
    noise = np.clip(1.0 - p - s, 0.0, 1.0)
    return np.stack([noise, p, s, detection], axis=-1)
