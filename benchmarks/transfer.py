"""Start the bundled model from the published PhaseNet, and label what the analysts did not.

``train_bundled.py --init-phasenet DIR`` trains picker's PhaseNet-layout network
(``model.architecture: phasenet``) from the published PhaseNet weights (Zhu & Beroza, 2019; MIT
licence), fine-tuned under the input contract given (``--normalization``, ``--highpass-hz``);
``--new-sets`` adds the P-only deepdenoiser training records with S labels from the original
PhaseNet (:func:`teacher_s_labels`);
``--install`` mixes the fine-tuned weights back with the start (:func:`interpolate_weights`)
and writes the run's config beside the installed model (:func:`write_installed_config`).
"""

from __future__ import annotations

from pathlib import Path

from picker.io.base import Record


def phasenet_start(checkpoint: Path, settings, path: Path, pad_to_stride: bool = False) -> Path:
    """Write the published PhaseNet weights (checkpoint folder ``checkpoint``) as a picker model
    of ``model.architecture: phasenet`` (the checkpoint's levels and kernel; input padded to the
    total stride with ``pad_to_stride``, as ``model.pad_to_stride``) with the input contract
    ``settings`` (:class:`picker.models.settings.InputSettings`) to ``path``.

    The file is both ``train.initial_weights`` and, with ``--keep-init``, the teacher that keeps
    the fine-tuned network near what PhaseNet learned from its ~7 million windows. It carries
    PhaseNet's provenance (authors, paper, licence notice) on to every model trained from it.
    """
    from picker.models.phasenet import import_phasenet_checkpoint
    from picker.models.saving import save_imported_model
    from picker.models.settings import set_input_settings

    model = import_phasenet_checkpoint(checkpoint, pad_to_stride=pad_to_stride)  # + provenance
    return save_imported_model(set_input_settings(model, settings), path)


def teacher_s_labels(
    records: list[Record], teacher, threshold: float = 0.5, min_gap_s: float = 0.3
) -> list[Record]:
    """The P-only ``records`` with the teacher's S pick as S label; records where the teacher
    is not confident of an S are left out (their unlabelled S would be taught as noise).

    The S label is the teacher's most probable S pick at or above ``threshold``, at least
    ``min_gap_s`` after the record's P. All records at 100 Hz, ``(n_samples, 3)`` E, N, Z.
    """
    from picker.prediction.predict import predict_array

    out = []
    for record in records:
        picks = predict_array(
            record.data, 100.0, teacher, p_threshold=threshold, s_threshold=threshold
        )
        after_p = record.p_arrival_sample + round(min_gap_s * 100)
        s_picks = [p for p in picks if p.phase == "S" and p.index >= after_p]
        if s_picks:
            best = max(s_picks, key=lambda p: p.probability)
            out.append(record.with_data(record.data, s_arrival_sample=int(best.index)))
    return out


def interpolate_weights(start, tuned, alpha: float):
    """``tuned`` with every weight (batch-norm statistics included) moved to
    ``alpha * tuned + (1 - alpha) * start``: weight-space ensembling of a fine-tuned network
    with the network it was fine-tuned from (WiSE-FT; Wortsman et al., 2022, "Robust
    fine-tuning of zero-shot models", CVPR). ``alpha`` 1 keeps ``tuned``; in between, the
    network keeps more of what the start learned elsewhere (measured on the held-out region
    ta109c: see the model card). Both models must have the same layout. Returns ``tuned``.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    a, b = start.get_weights(), tuned.get_weights()
    if [w.shape for w in a] != [w.shape for w in b]:
        raise ValueError("the start and the fine-tuned model differ in layout")
    tuned.set_weights([alpha * wb + (1.0 - alpha) * wa for wa, wb in zip(a, b, strict=True)])
    return tuned


def write_installed_config(run_config: Path, model, model_path: Path) -> Path | None:
    """The training run's resolved ``run_config`` beside the installed ``model_path`` (same
    name, ``.yaml``), with the window overlap and merge the model now keeps; None (nothing
    written) when the run has no config."""
    from picker.config import load_config, save_config
    from picker.models.saving import input_settings

    if not run_config.is_file():
        return None
    cfg, settings = load_config(run_config), input_settings(model)
    cfg.predict.window_overlap, cfg.predict.window_merge = (
        settings.window_overlap,
        settings.window_merge,
    )
    return save_config(cfg, model_path.with_suffix(".yaml"))
