"""The networks, their saving and loading (with input settings), ONNX export and runtime.

The bundled model's weights and model card are in ``picker/models/bundled/``.
"""

from picker.models.importing import import_model  # light: it imports the networks lazily

__all__ = ["import_model"]
