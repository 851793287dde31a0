import keras
import numpy as np
import pytest

from picker.training.losses import (
    FocalLoss,
    WeightedCategoricalCrossentropy,
    WeightedSparseCrossentropy,
    make_loss,
)


def probs(values):
    return np.asarray(values, np.float32)[None]  # (1, n_samples, 3)


def test_categorical_equals_hand_computed_cross_entropy():
    y_true = probs([[1, 0, 0], [0, 1, 0]])
    y_pred = probs([[0.5, 0.25, 0.25], [0.2, 0.6, 0.2]])
    loss = WeightedCategoricalCrossentropy()
    expected = np.mean([-np.log(0.5), -np.log(0.6)])
    assert float(loss(y_true, y_pred)) == pytest.approx(expected, rel=1e-5)


def test_class_weights_scale_the_samples_of_that_class():
    y_true = probs([[1, 0, 0], [0, 1, 0]])
    y_pred = probs([[0.5, 0.25, 0.25], [0.2, 0.6, 0.2]])
    loss = WeightedCategoricalCrossentropy(class_weights=(1.0, 10.0, 1.0))
    expected = np.mean([-np.log(0.5), -10 * np.log(0.6)])
    assert float(loss(y_true, y_pred)) == pytest.approx(expected, rel=1e-5)


def test_sparse_matches_categorical_on_one_hot_targets():
    rng = np.random.default_rng(0)
    classes = rng.integers(0, 3, (2, 50))
    logits = rng.standard_normal((2, 50, 3)).astype(np.float32)
    y_pred = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    weights = (0.5, 2.0, 3.0)
    sparse = WeightedSparseCrossentropy(weights)(classes, y_pred)
    dense = WeightedCategoricalCrossentropy(weights)(np.eye(3, dtype=np.float32)[classes], y_pred)
    assert float(sparse) == pytest.approx(float(dense), rel=1e-5)


def test_channels_first_axis_gives_the_same_value():
    rng = np.random.default_rng(1)
    y_true = np.eye(3, dtype=np.float32)[rng.integers(0, 3, (2, 40))]
    y_pred = np.full((2, 40, 3), 1 / 3, np.float32)
    last = WeightedCategoricalCrossentropy((1, 2, 3))(y_true, y_pred)
    first = WeightedCategoricalCrossentropy((1, 2, 3), class_axis=1)(
        y_true.transpose(0, 2, 1), y_pred.transpose(0, 2, 1)
    )
    assert float(first) == pytest.approx(float(last), rel=1e-6)


def test_focal_loss_down_weights_easy_samples():
    y_true = probs([[0, 1, 0]])
    easy, hard = probs([[0.05, 0.9, 0.05]]), probs([[0.45, 0.1, 0.45]])
    focal = FocalLoss(gamma=2.0)
    assert float(focal(y_true, easy)) == pytest.approx(0.1**2 * -np.log(0.9), rel=1e-4)
    ce = WeightedCategoricalCrossentropy()
    assert float(focal(y_true, easy)) / float(ce(y_true, easy)) < float(
        focal(y_true, hard)
    ) / float(ce(y_true, hard))
    assert float(FocalLoss(gamma=0.0)(y_true, hard)) == pytest.approx(
        float(ce(y_true, hard)), rel=1e-5
    )


def test_losses_serialise():
    for loss in (
        make_loss("categorical", (1, 2, 3)),
        make_loss("sparse", (1, 2, 3)),
        make_loss("focal", (1, 2, 3), gamma=1.5),
    ):
        restored = keras.losses.deserialize(keras.losses.serialize(loss))
        assert type(restored) is type(loss)
        assert restored.get_config() == loss.get_config()


def test_bad_arguments():
    with pytest.raises(ValueError, match="loss must be"):
        make_loss("hinge", (1, 1, 1))
    with pytest.raises(ValueError, match="class_weights must have 3 values"):
        WeightedCategoricalCrossentropy((1, 1))
