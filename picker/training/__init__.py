"""Training: labels, windows, crops, augmentations, synthetic events, tf.data, losses, fit."""
