"""What a saved picker model carries besides its weights: its input contract, and the errors
of reading model files. The lowest module of :mod:`picker.models` (imports nothing of it), so
the network builders, the importers and :mod:`picker.models.saving` can all use it.
"""

from __future__ import annotations

import dataclasses
import json

from picker.config import WINDOW_MERGE_MODES


class ImportModelError(ValueError):
    """A published model file that cannot be imported; the one-line message names the file
    and what differs from the architecture the importer knows."""


#: The entry of a ``.keras`` archive that holds the model's :class:`InputSettings` as JSON.
INPUT_SETTINGS_ENTRY = "picker_input.json"


class ModelFileError(ValueError):
    """A model file that is missing, unreadable or not a picker model (message names the file)."""


@dataclasses.dataclass(frozen=True)
class InputSettings:
    """The input preprocessing a model was trained with; prediction must repeat it.

    Kept with the model: the entry :data:`INPUT_SETTINGS_ENTRY` of a ``.keras`` archive, the
    metadata ``picker_input_settings`` of an ONNX export. A model saved without them (all
    models before they existed, the bundled one included) was trained with these defaults:
    100 Hz, a causal 1 Hz high-pass and a 30 s sliding normalisation
    (:func:`picker.preprocess.model_input.model_input`).

    ``window_overlap`` and ``window_merge`` are not preprocessing but how a model of windows
    normalised one by one (``"std"``) is run by default (``predict.window_overlap`` and
    ``predict.window_merge``, :mod:`picker.prediction.windows`; files without them: 0.5 and
    ``"center"``).
    """

    sampling_rate_hz: float = 100.0
    normalization: str = "sliding"
    highpass_hz: float = 1.0
    normalization_window_s: float = 30.0
    window_overlap: float = 0.5
    window_merge: str = "center"

    @classmethod
    def from_config(cls, cfg) -> InputSettings:
        """The settings a :class:`picker.config.Config` trains with."""
        return cls(
            float(cfg.data.sampling_rate_hz),
            str(cfg.data.normalization),
            float(cfg.predict.highpass_hz),
            float(cfg.predict.normalization_window_s),
            float(cfg.predict.window_overlap),
            str(cfg.predict.window_merge),
        )

    @classmethod
    def from_json(cls, text: str, where: str) -> InputSettings:
        """Parse :meth:`to_json` output; ``where`` names the file in the error.

        Raises:
            ModelFileError: not a JSON object of these fields with valid values.
        """
        try:
            fields = json.loads(text)
            settings = cls(
                float(fields["sampling_rate_hz"]),
                str(fields["normalization"]),
                float(fields["highpass_hz"]),
                float(fields["normalization_window_s"]),
                float(fields.get("window_overlap", 0.5)),
                str(fields.get("window_merge", "center")),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelFileError(f"{where}: unreadable input settings ({exc!r})") from None
        if not (
            settings.sampling_rate_hz > 0
            and settings.highpass_hz >= 0
            and settings.normalization_window_s > 0
            and 0 <= settings.window_overlap < 1
            and settings.window_merge in WINDOW_MERGE_MODES
        ):
            raise ModelFileError(f"{where}: invalid input settings {settings}")
        return settings

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    def check_predictable(self, model_name: str, rate_hz: float) -> None:
        """Raise ConfigError unless prediction can make this input for the model
        ``model_name``: ``rate_hz`` and a sliding normalisation, or windows normalised one by
        one (``"std"``) without a high-pass (the imported published models,
        :func:`picker.prediction.inference.run_windows`)."""
        std_windows = self.normalization == "std" and self.highpass_hz == 0
        if self.sampling_rate_hz != rate_hz or not (self.normalization == "sliding" or std_windows):
            from picker.config import ConfigError

            raise ConfigError(
                f"model {model_name!r} was trained on {self.sampling_rate_hz:g} Hz data with "
                f"data.normalization {self.normalization!r} (high-pass {self.highpass_hz:g} "
                f"Hz); picker predict runs models trained at {rate_hz:g} Hz with 'sliding' "
                "normalisation, or 'std' windows without a high-pass"
            )


def input_settings(model) -> InputSettings:
    """The :class:`InputSettings` of a Keras or ONNX picker model (defaults when it has none)."""
    return getattr(model, "picker_input_settings", None) or InputSettings()


def set_input_settings(model, settings: InputSettings):
    """Attach ``settings`` to ``model`` (kept by :func:`save_model`); returns ``model``."""
    model.picker_input_settings = settings
    return model
