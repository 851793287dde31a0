"""TFRecord reading and writing: round trip, sharding, classic-only files, tf.data parsing."""

from __future__ import annotations

import numpy as np
import pytest
from obspy import UTCDateTime

tf = pytest.importorskip("tensorflow")

from picker.io import InputError, Record, read_records, tfrecord  # noqa: E402
from picker.io.tfrecord import (  # noqa: E402
    count_tfrecord,
    expand_tfrecord_paths,
    parse_example_tf,
    read_tfrecord,
    write_tfrecord,
)


def _records() -> list[Record]:
    rng = np.random.default_rng(0)
    special = rng.normal(size=(250, 3)).astype(np.float32)
    special[:4, 0] = [np.float32(1e-42), np.float32(-0.0), np.float32(3.4e38), np.nan]
    return [
        Record(
            data=special,
            sampling_rate_hz=100.0,
            station_id="XX.HOLD..HH",
            start_time=UTCDateTime(ns=1_600_000_000_123_456_789),
            p_arrival_sample=40,
            s_arrival_sample=170,
            channels=("HHE", "HHN", "HHZ"),
            name="first",
        ),
        Record(
            data=rng.normal(size=(97, 3)).astype(np.float32),
            sampling_rate_hz=19.99,
            station_id="AB.CD.00.EH",
            start_time=UTCDateTime(0),  # a known epoch-0 start is not "unknown"
            p_arrival_sample=10,
            channels=("", "", "EHZ"),
            name="second",
        ),
        Record(
            data=rng.normal(size=(400, 3)).astype(np.float32),
            sampling_rate_hz=40.0,
            station_id="",
            start_time=None,
            channels=("BH2", "BH1", "BHZ"),
            name="",
        ),
    ]


def _assert_same(got: Record, want: Record) -> None:
    np.testing.assert_array_equal(got.data.view(np.uint32), want.data.view(np.uint32))
    assert got.data.dtype == np.float32 and got.data.shape == want.data.shape
    assert got.sampling_rate_hz == want.sampling_rate_hz
    assert (got.p_arrival_sample, got.s_arrival_sample) == (
        want.p_arrival_sample,
        want.s_arrival_sample,
    )
    assert (got.station_id, got.channels, got.name) == (want.station_id, want.channels, want.name)
    if want.start_time is None:
        assert got.start_time is None
    else:
        assert got.start_time.ns == want.start_time.ns


def _gaussian(n: int, at: int) -> np.ndarray:
    return np.exp(-0.5 * ((np.arange(n) - at) / 10.0) ** 2)


def _classic_example(traces: np.ndarray, p: int, s: int, start_s: int) -> bytes:
    """An example with only the six classic fields; ``traces`` is ``(n_traces, window)``."""
    n_traces, window = traces.shape
    label = np.zeros((3, window))
    if p >= 0:
        label[1] = _gaussian(window, p)
    if s >= 0:
        label[2] = _gaussian(window, s)
    label[0] = np.clip(1 - label[1] - label[2], 0, 1)

    def i64(v):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[v]))

    def raw(a):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[a.astype("<f4").tobytes()]))

    feature = {
        "window_size": i64(window),
        "n_traces": i64(n_traces),
        "data": raw(traces),
        "label": raw(label),
        "start_time": i64(start_s),
        "end_time": i64(start_s + window // 100),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


@pytest.fixture()
def classic_file(tmp_path):
    rng = np.random.default_rng(1)
    three = rng.normal(size=(3, 500)).astype(np.float32)
    one = rng.normal(size=(1, 300)).astype(np.float32)
    path = tmp_path / "classic.tfrecord"
    with tf.io.TFRecordWriter(str(path)) as writer:
        writer.write(_classic_example(three, 120, 301, 1_500_000_000))
        writer.write(_classic_example(three, -1, -1, 0))
        writer.write(_classic_example(one, 77, -1, 1_500_000_060))
    return path, three, one


def test_round_trip_is_bit_exact_with_metadata(tmp_path):
    records = _records()
    paths = write_tfrecord(records, tmp_path / "out" / "train.tfrecord")
    assert paths == [tmp_path / "out" / "train.tfrecord"]
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["train.tfrecord"]  # no temp left
    got = list(read_records(paths[0]))  # through the dispatcher
    assert len(got) == 3
    for g, w in zip(got, records, strict=True):
        _assert_same(g, w)
    assert count_tfrecord(paths) == 3

    gz = write_tfrecord(records, tmp_path / "gz" / "train", compression="GZIP")
    assert gz[0].name == "train.tfrecord.gz"
    for g, w in zip(read_tfrecord(gz[0]), records, strict=True):
        _assert_same(g, w)


def test_sharding_names_counts_and_order(tmp_path, monkeypatch):
    records = [Record(np.full((20 + i, 3), i, np.float32), 100.0, name=f"r{i}") for i in range(7)]
    by_size = write_tfrecord(iter(records), tmp_path / "a" / "train", records_per_shard=3)
    assert [p.name for p in by_size] == [f"train-{i:05d}-of-00003.tfrecord" for i in range(3)]
    assert [count_tfrecord(p) for p in by_size] == [3, 3, 1]
    assert count_tfrecord(str(tmp_path / "a" / "train-*")) == 7
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == [p.name for p in by_size]

    by_count = write_tfrecord(records, tmp_path / "b" / "train.tfrecord", n_shards=2)
    assert [p.name for p in by_count] == [
        "train-00000-of-00002.tfrecord",
        "train-00001-of-00002.tfrecord",
    ]
    assert [count_tfrecord(p) for p in by_count] == [4, 3]
    back = [r.name for p in expand_tfrecord_paths(tmp_path / "b") for r in read_tfrecord(p)]
    assert back == [f"r{i}" for i in range(7)]

    # without options, more than DEFAULT_RECORDS_PER_SHARD records are sharded automatically
    monkeypatch.setattr(tfrecord, "DEFAULT_RECORDS_PER_SHARD", 4)
    auto = write_tfrecord(iter(records), tmp_path / "d" / "train")
    assert [p.name for p in auto] == [
        "train-00000-of-00002.tfrecord",
        "train-00001-of-00002.tfrecord",
    ]
    assert write_tfrecord(records[:4], tmp_path / "e" / "train")[0].name == "train.tfrecord"

    with pytest.raises(InputError, match="n_shards=8"):
        write_tfrecord(records, tmp_path / "c" / "x", n_shards=8)
    with pytest.raises(InputError, match="no records"):
        write_tfrecord([], tmp_path / "c" / "x")


def test_classic_only_file_recovers_picks_and_start_time(classic_file):
    path, three, one = classic_file
    got = list(read_tfrecord(path))
    assert len(got) == 3
    first, noise, single = got
    np.testing.assert_array_equal(first.data, three.T)
    assert first.sampling_rate_hz == 100.0
    assert (first.p_arrival_sample, first.s_arrival_sample) == (120, 301)
    assert first.start_time == UTCDateTime(1_500_000_000)
    assert first.station_id == "" and first.channels == ("", "", "")
    assert first.name == "classic_000000"
    assert (noise.p_arrival_sample, noise.s_arrival_sample) == (-1, -1)
    assert noise.start_time is None
    # n_traces = 1: the trace is Z, E and N are zeros
    assert single.data.shape == (300, 3)
    np.testing.assert_array_equal(single.data[:, 2], one[0])
    assert not single.data[:, :2].any()
    assert (single.p_arrival_sample, single.s_arrival_sample) == (77, -1)
    assert single.start_time == UTCDateTime(1_500_000_060)


def test_parse_example_tf_in_pipeline_matches_reader(tmp_path, classic_file):
    ours = write_tfrecord(_records(), tmp_path / "ours")
    files = [str(p) for p in ours] + [str(classic_file[0])]
    expected = [r for f in files for r in read_tfrecord(f)]
    dataset = tf.data.TFRecordDataset(files).map(
        parse_example_tf, num_parallel_calls=tf.data.AUTOTUNE
    )
    got = list(dataset.as_numpy_iterator())
    assert len(got) == len(expected) == 6
    for item, record in zip(got, expected, strict=True):
        assert set(item) == {"data", "p_arrival_sample", "s_arrival_sample", "sampling_rate_hz"}
        assert item["data"].dtype == np.float32
        np.testing.assert_array_equal(item["data"].view(np.uint32), record.data.view(np.uint32))
        assert item["p_arrival_sample"] == record.p_arrival_sample
        assert item["s_arrival_sample"] == record.s_arrival_sample
        assert item["sampling_rate_hz"] == np.float32(record.sampling_rate_hz)

    def name_of(serialized):
        return parse_example_tf(serialized, with_metadata=True)["name"]

    names = tf.data.TFRecordDataset(files).map(name_of)
    got_names = [n.decode() for n in names.as_numpy_iterator()]
    assert got_names == ["first", "second", "", "", "", ""]  # classic files have no name
    # the static channel dimension is known to the pipeline
    spec = dataset.element_spec["data"]
    assert spec.shape.as_list() == [None, 3]


def test_bad_files_raise_input_error_naming_them(tmp_path, classic_file):
    good = write_tfrecord(_records(), tmp_path / "good")[0]
    truncated = tmp_path / "truncated.tfrecord"
    truncated.write_bytes(good.read_bytes()[:-100])
    with pytest.raises(InputError, match="truncated.tfrecord") as info:
        list(read_tfrecord(truncated))
    assert "\n" not in str(info.value)
    with pytest.raises(InputError, match="truncated.tfrecord"):
        count_tfrecord(truncated)

    garbage = tmp_path / "garbage.tfrecord"
    garbage.write_bytes(b"this is not a tfrecord file at all, just some text\n" * 3)
    with pytest.raises(InputError, match="garbage.tfrecord"):
        list(read_records(garbage))

    four = tmp_path / "four.tfrecord"
    with tf.io.TFRecordWriter(str(four)) as writer:
        writer.write(_classic_example(np.zeros((4, 50), np.float32), -1, -1, 0))
    with pytest.raises(InputError, match="four.tfrecord.*n_traces"):
        list(read_tfrecord(four))


def test_rewriting_with_another_shard_count_leaves_no_stale_shards(tmp_path):
    from picker.io.tfrecord import count_tfrecord, write_tfrecord
    from picker.training.synthetic import synthetic_records

    records = synthetic_records(5, n_samples=200, seed=3)
    write_tfrecord(records, tmp_path / "train", n_shards=3)
    written = write_tfrecord(records, tmp_path / "train", n_shards=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in written)
    assert count_tfrecord([str(tmp_path)]) == 5
    write_tfrecord(records, tmp_path / "train")
    assert [p.name for p in tmp_path.iterdir()] == ["train.tfrecord"]
