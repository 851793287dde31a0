"""Distillation: train a network on the averaged probabilities of trained networks (teachers).

With ``train.teachers`` set, every training batch's target becomes

    (1 - train.distill_weight) * labels + train.distill_weight * mean over teachers of p(x)

where ``p(x)`` is a teacher's noise / P / S probability for the very window the student sees
(the same crop, augmentation and input preprocessing). The student keeps one network's compute
and learns what the teachers agree on; the labels keep it anchored where they all miss.

Teachers are ``.keras`` picker models (``"bundled"``: the bundled model) that were trained on
the same input preprocessing as the student (sampling rate, high-pass, normalisation window),
in either channel layout.
"""

from __future__ import annotations

from collections.abc import Sequence

from picker.config import ConfigError


def load_teachers(sources: Sequence[str], expected_settings) -> list:
    """Load the teacher models named in ``train.teachers``.

    Args:
        sources: ``.keras`` paths, or ``"bundled"``.
        expected_settings: the student's :class:`picker.models.saving.InputSettings`.

    Raises:
        ConfigError: a teacher is missing, not a picker model, or was trained on other input.
    """
    from picker.models.saving import input_settings, load_configured_model

    teachers = []
    for source in sources:
        teacher = load_configured_model(source, "train.teachers")
        if input_settings(teacher) != expected_settings:
            raise ConfigError(
                f"train.teachers: {source} was trained on other input "
                f"({input_settings(teacher)}) than this config's ({expected_settings})"
            )
        teachers.append(teacher)
    return teachers


def with_teacher_targets(ds, teachers: Sequence, weight: float, channels_first: bool):
    """Map a ``(x, y)`` training dataset to ``(x, (1 - weight) * y + weight * teachers' mean)``.

    Args:
        ds: batches of ``x`` and soft labels ``y``, both ``(batch, n_samples, 3)`` (channels
            last: E, N, Z in ``x``; noise, P, S in ``y``) or both ``(batch, 3, n_samples)``
            (``channels_first``).
        teachers: Keras picker models (either layout; each is fed its own).
        weight: the teachers' share of the target, in (0, 1].
    """
    import tensorflow as tf

    from picker.models.unet import class_axis

    def probabilities(teacher, x_last):
        """One teacher's ``(batch, n_samples, 3)`` probabilities for channels-last ``x_last``."""
        if class_axis(teacher) == 1:
            return tf.transpose(teacher(tf.transpose(x_last, (0, 2, 1)), training=False), (0, 2, 1))
        return teacher(x_last, training=False)

    def blend(x, y):
        x_last = tf.transpose(x, (0, 2, 1)) if channels_first else x
        mean = tf.add_n([probabilities(t, x_last) for t in teachers]) / len(teachers)
        if channels_first:
            mean = tf.transpose(mean, (0, 2, 1))
        return x, (1.0 - weight) * y + weight * tf.cast(mean, y.dtype)

    return ds.map(blend, num_parallel_calls=1).prefetch(tf.data.AUTOTUNE)
