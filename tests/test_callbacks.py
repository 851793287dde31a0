import keras
import numpy as np
import pytest

from picker.training.callbacks import PickMetricsCallback


class FixedOutput(keras.Model):
    """Returns stored probabilities whatever the input (a stand-in with known picks)."""

    def __init__(self, probs):
        super().__init__()
        self.probs = probs

    def predict(self, x, batch_size=None, verbose=0):
        return self.probs


def test_pick_f1_is_added_to_the_epoch_logs():
    probs = np.zeros((2, 1000, 3), np.float32)
    probs[..., 0] = 1
    probs[0, 300] = [0.1, 0.9, 0.0]  # P found (reference 305)
    probs[0, 700] = [0.1, 0.0, 0.9]  # S 20 samples late: outside 0.1 s
    probs[1, 400] = [0.1, 0.0, 0.9]  # S found (reference 405)
    callback = PickMetricsCallback(np.zeros((2, 1000, 3)), [(305, 680), (-1, 405)], 100.0)
    callback.set_model(FixedOutput(probs))
    logs = {}
    callback.on_epoch_end(0, logs)
    assert logs["val_p_f1"] == pytest.approx(1.0)
    assert logs["val_s_f1"] == pytest.approx(0.5)  # 1 TP, 1 FP, 1 FN
    assert logs["val_pick_f1"] == pytest.approx(0.75)


def test_channels_first_output_is_transposed():
    probs = np.zeros((1, 3, 500), np.float32)
    probs[0, 0] = 1
    probs[0, :, 100] = [0.0, 1.0, 0.0]
    callback = PickMetricsCallback(np.zeros((1, 3, 500)), [(100, -1)], 100.0, channels_first=True)
    callback.set_model(FixedOutput(probs))
    logs = {}
    callback.on_epoch_end(0, logs)
    assert logs["val_p_f1"] == 1.0 and logs["val_s_f1"] == 0.0
