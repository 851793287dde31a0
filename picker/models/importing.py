"""Import a published picker's weights as a picker ``.keras`` model (``picker import-model``).

:func:`import_model` reads PhaseNet's TF1 checkpoint
(:func:`picker.models.phasenet.import_phasenet_checkpoint`) or EQTransformer's Keras 2 HDF5 file
(:func:`picker.models.eqtransformer.import_eqtransformer_h5`), and saves the rebuilt network with
its input contract and provenance (:func:`picker.models.saving.save_imported_model`), so
``picker predict / evaluate / plot --model`` run it as the original runs: overlapping windows of
its length, each normalised on its own (:mod:`picker.prediction.windows`). An imported PhaseNet
is also exported to ONNX on request (:mod:`picker.models.phasenet_onnx`).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["IMPORT_KINDS", "import_model"]

#: The published architectures :func:`import_model` knows and what their source is.
IMPORT_KINDS = {
    "phasenet": "TF1 checkpoint folder or prefix (model_95.ckpt)",
    "eqtransformer": "Keras 2 HDF5 file (EqT_original.h5)",
}


#: The module (written separately) that exports an imported EQTransformer to ONNX with a
#: function ``export_eqtransformer_onnx(model, path)``; used when it is installed.
def import_model(
    kind: str,
    source: str | os.PathLike,
    output: str | os.PathLike,
    onnx: str | os.PathLike | None = None,
) -> tuple[Path, Path | None]:
    """Import the published model ``source`` of architecture ``kind`` and save it.

    Args:
        kind: ``"phasenet"`` or ``"eqtransformer"`` (:data:`IMPORT_KINDS`).
        source: the checkpoint folder / prefix (PhaseNet) or HDF5 file (EQTransformer).
        output: the ``.keras`` file to write (atomically), with the input contract
            (``picker_input.json``) and the provenance (authors, paper, licence notice).
        onnx: also write this ONNX export (runs without TensorFlow, same picks).

    Returns:
        (the ``.keras`` path, the ONNX path or None).

    Raises:
        picker.models.saving.ModelFileError: an unknown ``kind``, a missing source, a source
            that is not such a model (:class:`~picker.models.settings.ImportModelError`, one
            line naming the file and what differs) or an ONNX export that is not available.
    """
    from picker.models.saving import ModelFileError

    if kind not in IMPORT_KINDS:
        raise ModelFileError(
            f"{source}: unknown model kind {kind!r}; known: {sorted(IMPORT_KINDS)}"
        )
    source, output = Path(source), Path(output)
    if output.suffix != ".keras":
        raise ModelFileError(f"{output}: the imported model must be saved as a .keras file")
    if onnx is not None and Path(onnx).suffix.lower() != ".onnx":
        raise ModelFileError(f"{onnx}: the ONNX export must end in .onnx")
    if not source.exists():
        raise ModelFileError(f"{source}: not found")
    from picker.models.settings import ImportModelError

    try:
        if kind == "phasenet":
            from picker.models.phasenet import import_phasenet_checkpoint

            model = import_phasenet_checkpoint(source)
        else:
            from picker.models.eqtransformer import import_eqtransformer_h5

            model = import_eqtransformer_h5(source)
    except ImportModelError as exc:
        raise ModelFileError(str(exc)) from None
    from picker.models.saving import save_imported_model

    keras_path = save_imported_model(model, output)
    onnx_path = None
    if onnx is not None:
        from picker.models.networks import export_model_onnx

        onnx_path = export_model_onnx(model, onnx)
    return keras_path, onnx_path
