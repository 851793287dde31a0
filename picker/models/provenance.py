"""Where an imported model's weights come from: authors, paper, licence notice, source file.

An imported model (:func:`picker.models.phasenet.import_phasenet_checkpoint`,
:func:`picker.models.eqtransformer.import_eqtransformer_h5`) keeps two records in its ``.keras``
archive: its input contract as :class:`~picker.models.saving.InputSettings` (entry
``picker_input.json``: 100 Hz, per-window std normalisation, no high-pass, the window length in
``normalization_window_s``) and a :class:`Provenance` (entry :data:`PROVENANCE_ENTRY`), whose
``licence`` is the text of the ``LICENSE`` file found beside the weights, so a model derived
from them can carry the copyright notice in its model card as the MIT licence asks.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import zipfile
from pathlib import Path

#: The entry of a ``.keras`` archive that holds the model's :class:`Provenance` as JSON.
PROVENANCE_ENTRY = "picker_provenance.json"

PHASENET_CITATION = (
    "Zhu, W., & Beroza, G. C. (2019). PhaseNet: a deep-neural-network-based seismic arrival-time "
    "picking method. Geophysical Journal International, 216(1), 261-273. doi:10.1093/gji/ggy423"
)
EQTRANSFORMER_CITATION = (
    "Mousavi, S. M., Ellsworth, W. L., Zhu, W., Chuang, L. Y., & Beroza, G. C. (2020). "
    "Earthquake transformer - an attentive deep-learning model for simultaneous earthquake "
    "detection and phase picking. Nature Communications, 11, 3952. "
    "doi:10.1038/s41467-020-17591-w"
)


@dataclasses.dataclass(frozen=True)
class Provenance:
    """Origin of imported weights.

    Attributes:
        model: the published network (``"PhaseNet"``, ``"EQTransformer"``).
        citation: the paper to cite.
        source: file name of the weights (no directories: paths are machine-specific).
        source_sha256: SHA-256 of the weight file(s) read, to tell versions apart.
        licence: text of the ``LICENSE`` file beside the weights ("" when there was none).
    """

    model: str
    citation: str
    source: str
    source_sha256: str
    licence: str = ""

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str, where: str) -> Provenance:
        """Parse :meth:`to_json` output; ``where`` names the file in the error."""
        from picker.models.settings import ModelFileError

        try:
            fields = json.loads(text)
            return cls(**{f.name: str(fields[f.name]) for f in dataclasses.fields(cls)})
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelFileError(f"{where}: unreadable provenance ({exc!r})") from None


def describe_source(model: str, citation: str, files) -> Provenance:
    """The :class:`Provenance` of weights read from ``files`` (the first names the source);
    the licence text comes from ``LICENSE`` in the first file's folder when it exists."""
    files = [Path(f) for f in files]
    digest = hashlib.sha256()
    for path in files:
        with open(path, "rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
    licence_path = files[0].parent / "LICENSE"
    licence = (
        licence_path.read_text(encoding="utf-8", errors="replace").strip()
        if licence_path.is_file()
        else ""
    )
    return Provenance(model, citation, files[0].name, digest.hexdigest(), licence)


def provenance(model) -> Provenance | None:
    """The :class:`Provenance` attached to ``model`` (None for picker's own models)."""
    return getattr(model, "picker_provenance", None)


def set_provenance(model, record: Provenance):
    """Attach ``record`` to ``model`` (kept by
    :func:`picker.models.saving.save_imported_model`); returns ``model``."""
    model.picker_provenance = record
    return model


def read_provenance(path: str | os.PathLike) -> Provenance | None:
    """The :class:`Provenance` stored in the ``.keras`` archive ``path`` (None without one)."""
    path = Path(path)
    with zipfile.ZipFile(path) as archive:
        if PROVENANCE_ENTRY not in archive.namelist():
            return None
        text = archive.read(PROVENANCE_ENTRY).decode("utf-8", "replace")
    return Provenance.from_json(text, str(path))
