from pathlib import Path

import pytest

from picker.config import Config, ConfigError, load_config, save_config

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))


def write(tmp_path, text):
    path = tmp_path / "cfg.yaml"
    path.write_text(text)
    return path


def test_defaults_without_file():
    cfg = load_config()
    assert isinstance(cfg, Config)
    assert cfg.data.window_samples == 3001
    assert cfg.labels.shape == "gaussian"


def test_values_are_read_and_ints_become_floats(tmp_path):
    cfg = load_config(write(tmp_path, "data:\n  sampling_rate_hz: 50\ntrain:\n  epochs: 3\n"))
    assert cfg.data.sampling_rate_hz == 50.0 and isinstance(cfg.data.sampling_rate_hz, float)
    assert cfg.train.epochs == 3


def test_unknown_key_names_key_and_file(tmp_path):
    path = write(tmp_path, "train:\n  epocs: 3\n")
    with pytest.raises(ConfigError, match=r"cfg\.yaml: train\.epocs: unknown key"):
        load_config(path)


def test_unknown_section(tmp_path):
    with pytest.raises(ConfigError, match=r"cfg\.yaml: trian: unknown key"):
        load_config(write(tmp_path, "trian:\n  epochs: 3\n"))


@pytest.mark.parametrize(
    "text, message",
    [
        ("train:\n  epochs: three\n", r"train\.epochs: expected int, got 'three'"),
        ("train:\n  epochs: true\n", r"train\.epochs: expected int, got True"),
        ("data:\n  window_samples: -5\n", r"data\.window_samples must be > 0, got -5"),
        ("labels:\n  shape: square\n", r"labels\.shape must be one of"),
        ("labels:\n  width_samples: [10]\n", r"labels\.width_samples must be a number or a"),
        ("labels:\n  width_samples: [10, 0]\n", r"labels\.width_samples must be > 0, got 0"),
        ("augment:\n  gap: 1.5\n", r"augment\.gap must be between 0 and 1, got 1\.5"),
        ("model:\n  filters: [8, -1]\n", r"filters must be a non-empty list of positive integers"),
        ("model:\n  filters: 8\n", r"model\.filters: expected a list"),
        ("data: [1, 2]\n", r"data: expected a mapping"),
    ],
)
def test_bad_values_are_rejected_with_the_file_name(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message) as info:
        load_config(write(tmp_path, text))
    assert "cfg.yaml" in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match=r"nope\.yaml: cannot read config"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match=r"cfg\.yaml: not valid YAML"):
        load_config(write(tmp_path, "data: [\n"))
    with pytest.raises(ConfigError, match=r"a config must be a mapping"):
        load_config(write(tmp_path, "- 1\n- 2\n"))


def test_yaml_is_loaded_safely(tmp_path):
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "data: !!python/object/apply:os.system ['true']\n"))


def test_overrides_and_save_round_trip(tmp_path):
    cfg = load_config(write(tmp_path, "train:\n  epochs: 3\n"), {"train": {"epochs": 7}})
    assert cfg.train.epochs == 7
    saved = save_config(cfg, tmp_path / "out" / "config.yaml")
    assert load_config(saved) == cfg


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_configs_load(path):
    load_config(path)
