"""The networks, their saving and loading (with input settings), ONNX export and runtime.

The bundled model's weights and model card are in ``picker/models/bundled/``.
"""
