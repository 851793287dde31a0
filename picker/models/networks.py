"""Which network a :class:`~picker.config.ModelConfig` builds, and the ONNX export of any picker
network: picker's U-Net (:mod:`picker.models.unet`), the PhaseNet layout
(:mod:`picker.models.phasenet`) or an imported EQTransformer.

Every network maps ``(batch, n_samples, 3)`` E, N, Z waveforms (channels-last; the U-Net also
``(batch, 3, n_samples)`` channels-first) to per-sample softmax probabilities of noise, P, S in
the same layout.
"""

from __future__ import annotations

import os
from pathlib import Path

import keras

from picker.config import ModelConfig
from picker.models.phasenet import is_phasenet

__all__ = ["build_network", "export_model_onnx", "is_phasenet", "network_data_format"]


def network_data_format(cfg: ModelConfig) -> str:
    """The channel layout the network of ``cfg`` takes: the PhaseNet layout is channels-last
    only, the U-Net follows ``cfg.data_format`` (``""``: Keras' global setting)."""
    from picker.models.unet import resolve_data_format

    return "channels_last" if cfg.architecture == "phasenet" else resolve_data_format(cfg)


def build_network(cfg: ModelConfig | None = None) -> keras.Model:
    """The untrained network of ``cfg``: ``cfg.architecture`` ``"unet"``
    (:func:`picker.models.unet.build_model`) or ``"phasenet"``
    (:func:`picker.models.phasenet.build_phasenet` with ``cfg.filters``, ``kernel_size`` and
    ``stride``, zero-padded to the total stride unless ``cfg.pad_to_stride`` is false; its
    layer names are the published checkpoint's, so imported PhaseNet weights load into it with
    ``train.initial_weights``)."""
    cfg = cfg or ModelConfig()
    cfg.validate()
    if cfg.architecture == "phasenet":
        from picker.models.phasenet import build_phasenet

        return build_phasenet(
            cfg.filters, cfg.kernel_size, cfg.stride, pad_to_stride=cfg.pad_to_stride is not False
        )
    from picker.models.unet import build_model

    return build_model(cfg)


def export_model_onnx(model, path: str | os.PathLike) -> Path:
    """Write any picker Keras model as an ONNX file at ``path`` (atomically), with the exporter
    of its network: EQTransformer (three outputs), PhaseNet layout, or picker's U-Net."""
    if len(model.outputs) == 3:
        from picker.models.eqtransformer_onnx import export_eqtransformer_onnx

        return export_eqtransformer_onnx(model, path)
    if is_phasenet(model):
        from picker.models.phasenet_onnx import export_phasenet_onnx

        return export_phasenet_onnx(model, path)
    from picker.models.onnx_export import export_onnx

    return export_onnx(model, path)
