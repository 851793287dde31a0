"""The model-input contract, in NumPy and TensorFlow: resampling, high-pass, normalisation."""
