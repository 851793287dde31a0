"""picker: a Keras/TensorFlow seismic P and S phase picker."""

__version__ = "0.1.0"
