"""Keras helpers: safe save / load, the bundled model, SavedModel export, summaries and diagrams.

Loading always keeps Keras' ``safe_mode=True``: a model that needs a lambda layer or pickled
code is refused. Only layers from Keras itself and from :mod:`picker` are accepted.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import zipfile
from pathlib import Path

from picker.models.settings import (  # noqa: F401  (part of this module's API)
    INPUT_SETTINGS_ENTRY,
    InputSettings,
    ModelFileError,
    input_settings,
    set_input_settings,
)

BUNDLED_MODEL = Path(__file__).resolve().parent / "bundled" / "picker_default.keras"


def save_model(model, path: str | os.PathLike) -> Path:
    """Save ``model`` as a ``.keras`` file atomically, with its :class:`InputSettings`."""
    from picker.io.base import atomic_output

    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"model path must end in .keras, got {path}")
    with atomic_output(path) as tmp:
        keras_tmp = tmp.with_suffix(".keras")  # Keras insists on the suffix
        try:
            model.save(keras_tmp)
            with zipfile.ZipFile(keras_tmp, "a") as archive:
                archive.writestr(INPUT_SETTINGS_ENTRY, input_settings(model).to_json())
            os.replace(keras_tmp, tmp)
        finally:
            keras_tmp.unlink(missing_ok=True)
    return path


def save_imported_model(model, path: str | os.PathLike) -> Path:
    """:func:`save_model` (atomic, with the input settings) plus the
    model's :class:`Provenance` as the archive entry :data:`PROVENANCE_ENTRY`."""
    from picker.io.base import atomic_output
    from picker.models.provenance import PROVENANCE_ENTRY, provenance

    record = provenance(model)
    path = Path(path)
    if record is None:
        return save_model(model, path)
    with atomic_output(path) as tmp:
        keras_tmp = save_model(model, tmp.with_name(tmp.name + ".keras"))
        try:
            with zipfile.ZipFile(keras_tmp, "a") as archive:
                archive.writestr(PROVENANCE_ENTRY, record.to_json())
            os.replace(keras_tmp, tmp)
        finally:
            keras_tmp.unlink(missing_ok=True)
    return path


def write_input_settings(path: str | os.PathLike, settings: InputSettings) -> Path:
    """Store ``settings`` in the ``.keras`` archive ``path`` (saved by Keras itself, e.g. by a
    ``ModelCheckpoint``), atomically; replaces settings it already holds."""
    from picker.io.base import atomic_output

    path = Path(path)
    with atomic_output(path) as tmp:
        with zipfile.ZipFile(path) as source, zipfile.ZipFile(tmp, "w") as target:
            for item in source.infolist():
                if item.filename != INPUT_SETTINGS_ENTRY:
                    with source.open(item) as src, target.open(item, "w") as dst:
                        shutil.copyfileobj(src, dst)
            target.writestr(INPUT_SETTINGS_ENTRY, settings.to_json())
    return path


def load_configured_model(source: str, setting: str):
    """Load the model a config setting names: a ``.keras`` path, or ``"bundled"``.

    Raises:
        picker.config.ConfigError: the file is missing or not a loadable picker model; the
            message starts with ``setting`` (e.g. ``train.teachers``).
    """
    from picker.config import ConfigError

    path = None if source == "bundled" else Path(source)
    if path is not None and not path.is_file():
        raise ConfigError(f"{setting}: {source} does not exist")
    try:
        return load_model(path)
    except ModelFileError as exc:
        raise ConfigError(f"{setting}: {exc}") from None


def load_model(path: str | os.PathLike | None = None):
    """Load a picker model (the bundled one when ``path`` is None) with ``safe_mode=True``.

    Raises:
        ModelFileError: missing file, not a ``.keras`` archive, lambda layers or classes from
            outside Keras and picker, or a model whose input is not 3-component waveforms.
    """
    import keras

    import picker.models.eqtransformer  # noqa: F401  (imported EQTransformer layers)
    import picker.models.phasenet  # noqa: F401  (imported PhaseNet layers)
    import picker.models.unet  # noqa: F401

    path = Path(path) if path is not None else BUNDLED_MODEL
    if not path.exists():
        raise ModelFileError(f"{path}: model file not found")
    settings = _check_archive(path)
    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:  # keras raises many types for bad archives
        from picker.io.base import one_line

        reason = one_line(exc, 200)
        raise ModelFileError(f"{path}: not a loadable picker model ({reason})") from None
    if not (_is_picker_io(model.input_shape, model.output_shape) or _is_eqt_io(model)):
        raise ModelFileError(
            f"{path}: not a picker model (input shape {model.input_shape}, output shape "
            f"{model.output_shape}; expected (batch, n_samples, 3) or (batch, 3, n_samples) "
            "both, or EQTransformer's three (batch, n_samples, 1) outputs)"
        )
    from picker.models.provenance import read_provenance, set_provenance

    record = read_provenance(path)  # imported published weights: where they came from
    if record is not None:
        set_provenance(model, record)
    return set_input_settings(model, settings)


def _is_eqt_io(model) -> bool:
    """EQTransformer's interface: ``(batch, n, 3)`` in; ``detector``, ``picker_P``,
    ``picker_S`` out, each ``(batch, n, 1)``."""
    from picker.models.eqt_config import OUTPUT_NAMES

    shape = model.input_shape
    outputs = model.output_shape
    if not (isinstance(shape, tuple) and len(shape) == 3 and shape[2] == 3):
        return False
    if not (isinstance(outputs, list) and len(outputs) == len(OUTPUT_NAMES)):
        return False
    names = tuple(getattr(model, "output_names", None) or ())
    return names == OUTPUT_NAMES and all(out == (shape[0], shape[1], 1) for out in outputs)


def _is_picker_io(input_shape, output_shape) -> bool:
    """One waveform input and one output, both ``(batch, T, 3)`` or both ``(batch, 3, T)``."""
    if not all(isinstance(s, tuple) and len(s) == 3 for s in (input_shape, output_shape)):
        return False
    channels_last = input_shape[2] == 3 and output_shape[2] == 3
    channels_first = input_shape[1] == 3 and output_shape[1] == 3
    return (channels_last and output_shape[1] == input_shape[1]) or (
        channels_first and output_shape[2] == input_shape[2]
    )


def _check_archive(path: Path) -> InputSettings:
    """Refuse archives whose config names classes outside keras and picker, or lambda layers;
    return the archive's :class:`InputSettings` (defaults when it has none)."""
    if not zipfile.is_zipfile(path):
        raise ModelFileError(f"{path}: not a .keras model archive")
    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
            names = set(archive.namelist())
            settings_text = (
                archive.read(INPUT_SETTINGS_ENTRY).decode("utf-8", "replace")
                if INPUT_SETTINGS_ENTRY in names
                else None
            )
    except (KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise ModelFileError(
            f"{path}: .keras archive without a readable config.json ({exc})"
        ) from None
    for item in _walk(config):
        module = str(item.get("module") or "")
        package = module.split(".", 1)[0]
        registered = str(item.get("registered_name") or "")
        if item.get("class_name") in ("Lambda", "__lambda__"):
            raise ModelFileError(
                f"{path}: model contains a Lambda layer; refused (code in a model file can run)"
            )
        from_picker = registered.startswith("picker>")
        if module:
            allowed = (package in ("keras", "builtins") and ">" not in registered) or (
                package == "picker" and from_picker
            )
        else:  # looked up by registered name only
            allowed = ">" not in registered or from_picker
        if not allowed:
            raise ModelFileError(
                f"{path}: model uses class {item.get('class_name')!r} from {module!r} "
                f"(registered as {registered!r}); only keras and picker classes are allowed"
            )
    if settings_text is None:
        return InputSettings()
    return InputSettings.from_json(settings_text, str(path))


def _walk(node):
    if isinstance(node, dict):
        if "class_name" in node:
            yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def export_saved_model(model, directory: str | os.PathLike) -> Path:
    """Export an inference-only TensorFlow SavedModel (for TF Serving / TFLite conversion)."""
    directory = Path(directory)
    model.export(str(directory), format="tf_saved_model")
    return directory


def count_parameters(model) -> dict[str, int]:
    """``{"trainable": n, "non_trainable": n, "total": n}`` parameter counts."""
    import numpy as np

    trainable = int(sum(np.prod(w.shape) for w in model.trainable_weights))
    non_trainable = int(sum(np.prod(w.shape) for w in model.non_trainable_weights))
    return {
        "trainable": trainable,
        "non_trainable": non_trainable,
        "total": trainable + non_trainable,
    }


def summary_text(model) -> str:
    """The Keras model summary as plain text."""
    lines: list[str] = []
    model.summary(print_fn=lambda line, **_: lines.append(line), line_length=100)
    return "\n".join(lines)


def plot_model(model, path: str | os.PathLike) -> tuple[Path, str]:
    """Write a diagram of ``model`` with ``keras.utils.plot_model`` (pydot and graphviz).

    When they are missing or fail, draws it with matplotlib instead
    (:func:`picker.models.diagram.draw_layer_diagram`): ``path`` is always a picture.

    Returns:
        (path written, message for the user).
    """
    import keras

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        buffer = io.StringIO()
        import contextlib

        with contextlib.redirect_stdout(buffer):
            keras.utils.plot_model(model, to_file=str(path), show_shapes=True)
        if not path.exists():
            raise ImportError(buffer.getvalue().strip() or "plot_model wrote nothing")
        return path, f"wrote model diagram {path}"
    except Exception as exc:  # ImportError without pydot/graphviz; pydot raises many others
        from picker.io.base import one_line
        from picker.models.diagram import draw_layer_diagram

        draw_layer_diagram(model, path)
        reason = one_line(exc, 120)
        return path, (
            f"wrote model diagram {path}, drawn with matplotlib (Keras' own needs pydot and "
            f"graphviz: {reason})"
        )


def shift_operating_point(model, p_threshold: float, s_threshold: float):
    """Move a picker model's operating point: afterwards probability 0.5 means what
    ``p_threshold`` / ``s_threshold`` meant before.

    The P and S biases of the final ``logits`` layer (``output_conv`` in the PhaseNet layout)
    are lowered by ``log(t / (1 - t))``, so
    for each phase against noise (the other phase near 0, as at a pick) the new probability is
    0.5 exactly where the old one was ``t``, and picks at 0.5 are the picks the old model made
    at ``t``. Probabilities stay monotone in the old ones and peaks stay where they were. Use it
    to ship a model whose F1-best thresholds on a hold-out are not 0.5, so that tools which
    threshold at 0.5 get the best picks. Changes ``model`` in place and returns it.
    """
    import numpy as np

    for name, t in (("p_threshold", p_threshold), ("s_threshold", s_threshold)):
        if not 0.0 < float(t) < 1.0:
            raise ValueError(f"{name} must be between 0 and 1 (exclusive), got {t}")
    names = {layer.name for layer in model.layers}
    logits = model.get_layer("logits" if "logits" in names else "output_conv")
    kernel, bias = logits.get_weights()
    shift = np.log([1.0, p_threshold / (1 - p_threshold), s_threshold / (1 - s_threshold)])
    logits.set_weights([kernel, (bias - shift).astype(bias.dtype)])
    return model
