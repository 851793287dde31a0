"""Shared test fixtures. Tests build their own small synthetic data; none reads ../shared."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # test-only: quieter TensorFlow start-up

import numpy as np
import pytest

from picker.config import config_from_dict


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def tiny_config():
    """A config for a tiny model and short windows: fast enough for unit tests."""

    def make(**sections):
        raw = {
            "data": {"window_samples": 512, "batch_size": 4, "shuffle_buffer": 16},
            "labels": {"shape": "gaussian", "width_samples": 10},
            "model": {"filters": [4, 8, 8], "kernel_size": 5, "stride": 4},
            "train": {
                "epochs": 1,
                "steps_per_epoch": 2,
                "tensorboard": False,
                "early_stopping_patience": 0,
            },
        }
        for name, values in sections.items():
            raw.setdefault(name, {}).update(values)
        return config_from_dict(raw, "<test>")

    return make
