"""Settings for data, labels, augmentation, model, training and prediction.

A config file is YAML with up to six sections (``data``, ``labels``, ``augment``, ``model``,
``train``, ``predict``); any section or key may be left out and takes its default. An unknown
or misspelt key, a value of the wrong type or an out-of-range value is a :class:`ConfigError`
naming the file and the key. The resolved config (every default filled in) is saved beside
every trained model with :func:`save_config`.
"""

from __future__ import annotations

import dataclasses
import math
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    """A bad config file or value; the message names the file and the key."""


@dataclass
class DataConfig:
    """Where training windows come from and how they are cut.

    ``train``/``validation`` list files, folders or globs (NPZ, TFRecord, HDF5). Records whose
    rate differs from ``sampling_rate_hz`` are resampled. ``normalization`` ``sliding`` is what
    prediction does (:func:`picker.preprocess.model_input.model_input` with ``predict.highpass_hz`` and
    ``predict.normalization_window_s``); ``std``/``peak`` scale each window by one number per
    channel (and are only right for models run on such windows). ``npz_layout`` and
    ``npz_component_order`` tell the NPZ reader what a file cannot say itself.
    """

    train: list[str] = field(default_factory=list)
    validation: list[str] = field(default_factory=list)
    sampling_rate_hz: float = 100.0
    window_samples: int = 3001
    batch_size: int = 32
    shuffle_buffer: int = 1000
    cache: bool = True
    noise_window_fraction: float = 0.1
    validation_crops: int = 1
    normalization: str = "sliding"
    npz_layout: str = "auto"
    npz_component_order: str = ""
    seed: int = 0

    def validate(self) -> None:
        _positive(self, "sampling_rate_hz", "window_samples", "batch_size", "validation_crops")
        _non_negative(self, "shuffle_buffer")
        _fraction(self, "noise_window_fraction")
        _choice(self, "normalization", ("std", "peak", "sliding"))
        _choice(self, "npz_layout", ("auto", "channels_last", "channels_first"))
        if self.npz_component_order and sorted(self.npz_component_order.upper()) != ["E", "N", "Z"]:
            raise ConfigError(
                f"npz_component_order must be a permutation of 'ENZ', got {self.npz_component_order!r}"
            )


def check_label_width(width_samples) -> float:
    """A pick label's width in samples as a float > 0 (ValueError if not)."""
    try:
        w = float(width_samples)
    except (TypeError, ValueError):
        raise ValueError(f"width_samples must be a number > 0, got {width_samples!r}") from None
    if not (w > 0 and math.isfinite(w)):
        raise ValueError(f"width_samples must be > 0, got {width_samples}")
    return w


def phase_widths(width_samples) -> tuple[float, float]:
    """(P, S) widths from one number (both phases) or a ``(P, S)`` pair (ValueError if bad)."""
    import numpy as np

    if isinstance(width_samples, list | tuple | np.ndarray):
        if len(width_samples) != 2:
            raise ValueError(
                f"width_samples must be a number or a (P, S) pair, got {width_samples!r}"
            )
        return check_label_width(width_samples[0]), check_label_width(width_samples[1])
    w = check_label_width(width_samples)
    return w, w


@dataclass
class LabelConfig:
    """Pick label shape: ``gaussian`` (width = sigma), ``triangle`` or ``box`` (width = half-width).

    ``width_samples``: one width for both phases, or ``[P, S]``.
    """

    shape: str = "gaussian"
    width_samples: float | list[float] = 20.0

    def validate(self) -> None:
        _choice(self, "shape", ("gaussian", "triangle", "box"))
        try:
            phase_widths(self.width_samples)
        except ValueError as exc:
            raise ConfigError(f"labels.{exc}") from None


@dataclass
class AugmentConfig:
    """Probability of each augmentation per training window (0 switches it off)."""

    stack_event: float = 0.3
    scale_amplitude: float = 0.5
    flip_polarity: float = 0.5
    drop_channels: float = 0.2
    vertical_only: float = 0.0
    real_noise: float = 0.0
    gaussian_noise: float = 0.3
    lowpass: float = 0.0
    gap: float = 0.05
    glitch: float = 0.0

    def validate(self) -> None:
        _fraction(self, *[f.name for f in dataclasses.fields(self)])


def default_pad_to_stride(architecture: str, normalization: str) -> bool:
    """``model.pad_to_stride`` when the config leaves it out: off only for the PhaseNet layout
    on windows normalised one by one (``std`` or ``peak``), where every input is one window and
    the network is then the published one exactly. Zero padding at a 3001-sample window's end
    (71 samples) makes the published weights miss a P 1.1 s before the end (probability 0.16
    padded, 0.82 unpadded; benchmarks/RESULTS.md 7b)."""
    return not (architecture == "phasenet" and normalization in ("std", "peak"))


@dataclass
class ModelConfig:
    """1D U-Net: ``depth`` down-sampling stages with ``filters[i]`` channels each.

    ``architecture`` ``"unet"`` is picker's own U-Net (:func:`picker.models.unet.build_model`),
    ``"phasenet"`` the PhaseNet layout (:func:`picker.models.phasenet.build_phasenet`: same
    levels, the published network's layer names, so its imported weights can start training;
    channels-last only).

    ``pad_to_stride`` (PhaseNet layout only; the U-Net always pads): zero-pad the input at the
    end to a multiple of the total stride, so the down-sampling grid does not move with the
    input length. Off, the network is the published one exactly, as fits windows normalised one
    by one (``data.normalization: std``: every input is one window of the same length). None
    (the default): :func:`default_pad_to_stride` of the architecture and ``data.normalization``,
    resolved by :meth:`Config.validate`.
    """

    architecture: str = "unet"
    filters: list[int] = field(default_factory=lambda: [8, 16, 32, 64, 128])
    kernel_size: int = 7
    stride: int = 4
    dropout: float = 0.0
    data_format: str = ""  # "" = keras.config.image_data_format()
    pad_to_stride: bool | None = None

    def validate(self) -> None:
        if not self.filters or any(not isinstance(f, int) or f <= 0 for f in self.filters):
            raise ConfigError(
                f"filters must be a non-empty list of positive integers, got {self.filters}"
            )
        _positive(self, "kernel_size", "stride")
        _fraction(self, "dropout")
        _choice(self, "data_format", ("", "channels_last", "channels_first"))
        _choice(self, "architecture", ("unet", "phasenet"))
        if self.architecture == "phasenet" and self.data_format == "channels_first":
            raise ConfigError("model.architecture 'phasenet' is channels-last only")
        if self.architecture == "phasenet" and self.dropout:
            raise ConfigError("model.dropout must be 0 with model.architecture 'phasenet'")
        if self.architecture != "phasenet" and self.pad_to_stride is False:
            raise ConfigError(
                "model.pad_to_stride false needs model.architecture 'phasenet' "
                "(picker's U-Net always pads)"
            )


@dataclass
class TrainConfig:
    """Optimisation, callbacks and outputs of ``picker train``."""

    output_dir: str = "runs/picker"
    epochs: int = 30
    steps_per_epoch: int = 200
    validation_steps: int = 0  # 0 = the whole validation set
    learning_rate: float = 1e-3
    # "plateau": halve the rate after reduce_lr_patience epochs without a lower validation loss;
    # "cosine": decay it from learning_rate to 1 % of it along a cosine over all the steps
    lr_schedule: str = "plateau"
    ema_momentum: float = 0.0  # > 0: validate and keep an exponential moving average of weights
    initial_weights: str = ""  # fine-tune: a .keras model of the same architecture, or "bundled"
    loss: str = "categorical"
    focal_gamma: float = 2.0
    class_weights: list[float] = field(default_factory=lambda: [1.0, 1.0, 1.0])
    # distillation (picker.training.distill): trained .keras models (or "bundled") whose mean
    # probabilities make up distill_weight of each training target
    teachers: list[str] = field(default_factory=list)
    distill_weight: float = 0.5
    early_stopping_patience: int = 10
    reduce_lr_patience: int = 4
    mixed_precision: bool = False
    distribute: str = "auto"
    tensorboard: bool = True
    seed: int = 0

    def validate(self) -> None:
        _positive(self, "epochs", "steps_per_epoch", "learning_rate")
        _non_negative(
            self, "validation_steps", "early_stopping_patience", "reduce_lr_patience", "focal_gamma"
        )
        _choice(self, "loss", ("categorical", "sparse", "focal"))
        _choice(self, "lr_schedule", ("plateau", "cosine"))
        if not 0.0 < self.distill_weight <= 1.0:
            raise ConfigError(f"distill_weight must be in (0, 1], got {self.distill_weight}")
        if self.teachers and self.loss == "sparse":
            raise ConfigError(
                "teachers need soft targets: use loss categorical or focal, not sparse"
            )
        if not 0.0 <= self.ema_momentum < 1.0:
            raise ConfigError(f"ema_momentum must be in [0, 1), got {self.ema_momentum}")
        _choice(self, "distribute", ("auto", "none", "mirrored", "multi_worker"))
        if len(self.class_weights) != 3 or any(w < 0 for w in self.class_weights):
            raise ConfigError(
                f"class_weights must be 3 non-negative numbers (noise, P, S), got {self.class_weights}"
            )


#: How the overlapping outputs of a model of windows merge (:mod:`picker.prediction.windows`).
WINDOW_MERGE_MODES = ("center", "mean")


@dataclass
class PredictConfig:
    """Pick extraction, chunking and the model's input preprocessing for ``picker predict``.

    ``highpass_hz`` and ``normalization_window_s`` define the model's input (see
    :func:`picker.preprocess.model_input.model_input`); training with ``data.normalization: sliding`` uses
    the same two values, so a model is always run on what it was trained on.
    """

    p_threshold: float = 0.5
    s_threshold: float = 0.5
    min_pick_distance_s: float = 0.5
    chunk_s: float = 600.0
    context_s: float = 30.0
    batch_size: int | None = None  # None: 1 for ONNX models, 4 for Keras models
    normalization_window_s: float = 30.0
    highpass_hz: float = 1.0
    # models trained on windows normalised one by one (imported PhaseNet, EQTransformer):
    # overlap of their windows and how overlapping outputs merge (picker.prediction.windows)
    window_overlap: float = 0.5
    window_merge: str = "center"

    def validate(self) -> None:
        _non_negative(self, "highpass_hz")
        _fraction(self, "p_threshold", "s_threshold")
        if not 0.0 <= self.window_overlap < 1.0:
            raise ConfigError(
                f"predict.window_overlap must be >= 0 and < 1, got {self.window_overlap}"
            )
        _choice(self, "window_merge", WINDOW_MERGE_MODES)
        _positive(self, "chunk_s", "normalization_window_s")
        if self.batch_size is not None:
            _positive(self, "batch_size")
        _non_negative(self, "min_pick_distance_s", "context_s")


@dataclass
class Config:
    """All settings; each section is a dataclass above."""

    data: DataConfig = field(default_factory=DataConfig)
    labels: LabelConfig = field(default_factory=LabelConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    predict: PredictConfig = field(default_factory=PredictConfig)

    def validate(self) -> None:
        for section in dataclasses.fields(self):
            getattr(self, section.name).validate()
        if self.model.pad_to_stride is None:
            self.model.pad_to_stride = default_pad_to_stride(
                self.model.architecture, self.data.normalization
            )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def load_config(path: str | os.PathLike | None = None, overrides: dict | None = None) -> Config:
    """Read a YAML config file (or only defaults when ``path`` is None) into a :class:`Config`.

    Args:
        path: YAML file with optional sections ``data``, ``labels``, ``augment``, ``model``,
            ``train``, ``predict``.
        overrides: nested dict applied on top of the file, e.g. ``{"train": {"epochs": 1}}``.

    Raises:
        ConfigError: unreadable file, bad YAML, unknown section or key, wrong type, bad value;
            the message names the file and the key (e.g. ``configs/x.yaml: train.epocs: unknown key``).
    """
    where = str(path) if path is not None else "<defaults>"
    raw: dict = {}
    if path is not None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{where}: cannot read config ({exc.strerror or exc})") from None
        try:
            raw = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            first = str(exc).splitlines()[0] if str(exc) else "invalid YAML"
            raise ConfigError(f"{where}: not valid YAML ({first})") from None
        if not isinstance(raw, dict):
            raise ConfigError(
                f"{where}: a config must be a mapping of sections, got {type(raw).__name__}"
            )
    if overrides:
        raw = _merge(raw, overrides)
    return config_from_dict(raw, where)


def config_from_dict(raw: dict, where: str = "<dict>") -> Config:
    """Build and validate a :class:`Config` from nested plain data (see :func:`load_config`)."""
    cfg = _build(Config, raw, where, prefix="")
    try:
        cfg.validate()
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    return cfg


def save_config(cfg: Config, path: str | os.PathLike) -> Path:
    """Write the resolved config as YAML (atomically) and return the path."""
    from picker.io.base import atomic_output

    with atomic_output(path) as tmp:
        tmp.write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False), encoding="utf-8")
    return Path(path)


def _merge(base: dict, update: dict) -> dict:
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _build(cls: type, raw: Any, where: str, prefix: str) -> Any:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{where}: {prefix.rstrip('.') or 'config'}: expected a mapping, got {raw!r}"
        )
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for key in raw:
        if key not in names:
            known = ", ".join(sorted(names))
            raise ConfigError(f"{where}: {prefix}{key}: unknown key (known: {known})")
    values = {}
    for name in names & set(raw):
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            values[name] = _build(hint, raw[name], where, prefix=f"{prefix}{name}.")
        else:
            values[name] = _check_type(raw[name], hint, where, f"{prefix}{name}")
    return cls(**values)


def _check_type(value: Any, hint: Any, where: str, key: str) -> Any:
    """Return ``value`` converted to ``hint`` (int -> float allowed) or raise ConfigError."""
    origin = typing.get_origin(hint)
    if origin is list:
        (item_hint,) = typing.get_args(hint)
        if not isinstance(value, list):
            raise ConfigError(f"{where}: {key}: expected a list, got {value!r}")
        return [_check_type(v, item_hint, where, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(hint):
            try:
                return _check_type(value, option, where, key)
            except ConfigError:
                continue
        raise ConfigError(f"{where}: {key}: {value!r} does not match {hint}")
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is type(None) and value is None:
        return None
    if (
        isinstance(hint, type)
        and isinstance(value, hint)
        and not (hint is int and isinstance(value, bool))
    ):
        return value
    name = getattr(hint, "__name__", str(hint))
    raise ConfigError(f"{where}: {key}: expected {name}, got {value!r}")


def _positive(obj: Any, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        if not value > 0:
            raise ConfigError(f"{_section(obj)}.{name} must be > 0, got {value}")


def _non_negative(obj: Any, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        if value < 0:
            raise ConfigError(f"{_section(obj)}.{name} must be >= 0, got {value}")


def _fraction(obj: Any, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        if not 0.0 <= value <= 1.0:
            raise ConfigError(f"{_section(obj)}.{name} must be between 0 and 1, got {value}")


def _choice(obj: Any, name: str, choices: tuple[str, ...]) -> None:
    value = getattr(obj, name)
    if value not in choices:
        raise ConfigError(
            f"{_section(obj)}.{name} must be one of {', '.join(repr(c) for c in choices)}, got {value!r}"
        )


_SECTIONS = {
    "DataConfig": "data",
    "LabelConfig": "labels",
    "AugmentConfig": "augment",
    "ModelConfig": "model",
    "TrainConfig": "train",
    "PredictConfig": "predict",
}


def _section(obj: Any) -> str:
    return _SECTIONS.get(type(obj).__name__, type(obj).__name__)
