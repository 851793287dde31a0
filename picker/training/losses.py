"""Per-sample losses over noise / P / S with weighting against the dominant noise class.

All losses take predictions ``y_pred`` as softmax probabilities ``(batch, n_samples, 3)``
(or ``(batch, 3, n_samples)`` with ``class_axis=1``) and return one value per window.

* :class:`WeightedCategoricalCrossentropy`: soft targets ``(batch, n_samples, 3)`` (Gaussian or
  triangle labels).
* :class:`WeightedSparseCrossentropy`: integer class targets ``(batch, n_samples)`` (box labels).
* :class:`FocalLoss`: soft or one-hot targets, ``-alpha_k (1 - p_k)^gamma y_k log p_k``.

``class_weights`` (noise, P, S) scale each sample's loss by the weight of its target class
(for soft targets, the target-weighted mean of the weights), so rare P and S samples are not
drowned by noise samples.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import ops

_EPSILON = 1e-7


class _PickerLoss(keras.losses.Loss):
    def __init__(
        self, class_weights: Sequence[float] = (1.0, 1.0, 1.0), class_axis: int = -1, **kwargs
    ):
        super().__init__(**kwargs)
        self.class_weights = [float(w) for w in class_weights]
        if len(self.class_weights) != 3:
            raise ValueError(
                f"class_weights must have 3 values (noise, P, S), got {self.class_weights}"
            )
        self.class_axis = int(class_axis)

    def _weights_shape(self, ndim: int) -> list[int]:
        shape = [1] * ndim
        shape[self.class_axis] = 3
        return shape

    def _weights(self, ndim: int):
        return ops.reshape(
            ops.convert_to_tensor(self.class_weights, "float32"), self._weights_shape(ndim)
        )

    def get_config(self):
        return {
            **super().get_config(),
            "class_weights": self.class_weights,
            "class_axis": self.class_axis,
        }


@keras.saving.register_keras_serializable(package="picker")
class WeightedCategoricalCrossentropy(_PickerLoss):
    """Cross-entropy against soft targets, weighted per class; mean over samples."""

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, "float32")
        y_pred = ops.clip(ops.cast(y_pred, "float32"), _EPSILON, 1.0)
        weights = self._weights(len(y_pred.shape))
        per_sample = -ops.sum(y_true * ops.log(y_pred), axis=self.class_axis)
        sample_weight = ops.sum(y_true * weights, axis=self.class_axis)
        return ops.mean(per_sample * sample_weight, axis=-1)


@keras.saving.register_keras_serializable(package="picker")
class WeightedSparseCrossentropy(_PickerLoss):
    """Cross-entropy against integer targets ``(batch, n_samples)``, weighted per class."""

    def call(self, y_true, y_pred):
        y_pred = ops.clip(ops.cast(y_pred, "float32"), _EPSILON, 1.0)
        one_hot = ops.one_hot(ops.cast(y_true, "int32"), 3, axis=self.class_axis)
        weights = self._weights(len(y_pred.shape))
        per_sample = -ops.sum(one_hot * ops.log(y_pred), axis=self.class_axis)
        sample_weight = ops.sum(one_hot * weights, axis=self.class_axis)
        return ops.mean(per_sample * sample_weight, axis=-1)


@keras.saving.register_keras_serializable(package="picker")
class FocalLoss(_PickerLoss):
    """Focal loss (Lin et al. 2017) with per-class alpha = ``class_weights`` and exponent ``gamma``."""

    def __init__(self, gamma: float = 2.0, **kwargs):
        super().__init__(**kwargs)
        self.gamma = float(gamma)

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, "float32")
        y_pred = ops.clip(ops.cast(y_pred, "float32"), _EPSILON, 1.0)
        alpha = self._weights(len(y_pred.shape))
        focal = alpha * ops.power(1.0 - y_pred, self.gamma) * y_true * -ops.log(y_pred)
        return ops.mean(ops.sum(focal, axis=self.class_axis), axis=-1)

    def get_config(self):
        return {**super().get_config(), "gamma": self.gamma}


def make_loss(name: str, class_weights: Sequence[float], class_axis: int = -1, gamma: float = 2.0):
    """Return the loss called ``name``: ``"categorical"``, ``"sparse"`` or ``"focal"``."""
    if name == "categorical":
        return WeightedCategoricalCrossentropy(class_weights, class_axis)
    if name == "sparse":
        return WeightedSparseCrossentropy(class_weights, class_axis)
    if name == "focal":
        return FocalLoss(gamma=gamma, class_weights=class_weights, class_axis=class_axis)
    raise ValueError(f"loss must be 'categorical', 'sparse' or 'focal', got {name!r}")
