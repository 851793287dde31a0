"""TensorFlow's devices: GPU memory growth, set by an explicit call at the start of ``train`` and
of ``predict`` with a Keras model (never at import)."""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)


def setup_devices(memory_growth: bool = True) -> list:
    """Switch on GPU memory growth (before any tensor exists) and log the devices found.

    Call it once, first thing in ``train`` / ``predict``. On a CPU-only machine it logs that and
    returns an empty list.

    Returns:
        The physical GPU devices.
    """
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        log.info("no GPU found; running on the CPU (%d cores)", os.cpu_count() or 1)
        return []
    for gpu in gpus:
        if memory_growth:
            try:
                tf.config.experimental.set_memory_growth(gpu, True)
            except RuntimeError as exc:  # devices already initialised
                log.warning("could not set memory growth on %s: %s", gpu.name, exc)
    log.info(
        "found %d GPU(s): %s (memory growth %s)",
        len(gpus),
        ", ".join(g.name for g in gpus),
        memory_growth,
    )
    return gpus
