"""picker: a Keras/TensorFlow seismic P and S phase picker."""

__version__ = "0.1.0"


_LAZY = {
    "predict_array": "picker.prediction.predict",
    "predict_stream": "picker.prediction.predict",
    "predict_file": "picker.prediction.predict",
    "load_model": "picker.models.saving",
    "quiet_tensorflow": "picker.models.devices",
}


def __getattr__(name: str):
    """Lazy re-exports (``picker.predict_array`` ...), so ``import picker`` stays light."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'picker' has no attribute {name!r}")
