"""Make the small example files under data/examples/ (run from the repository root).

    python data/make_examples.py            # or: make examples

Writes:
  examples/npz/          8 synthetic labelled 30 s windows (3001 samples, 100 Hz), PhaseNet NPZ
  examples/tfrecord/     the same windows as one TFRecord file
  examples/hdf5/         the same windows as a SeisBench dataset (metadata.csv + waveforms.hdf5)
  examples/validation/   4 other synthetic windows (stations V000-V003), NPZ: validation data
                         that training never sees (configs/tiny.yaml)
  examples/rjob.mseed    a real local earthquake: ObsPy's example stream (BW.RJOB, 3 components)
  examples/continuous.mseed  10 minutes of synthetic continuous data with 2 events
  examples/continuous_picks.csv  the true P and S times of those events (picks CSV columns)

Everything is generated with fixed seeds; nothing is downloaded.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--output", type=Path, default=Path(__file__).resolve().parent / "examples")
    args = parser.parse_args(argv)
    out: Path = args.output
    out.mkdir(parents=True, exist_ok=True)

    import obspy

    from picker.io import write_records
    from picker.picks.formats import write_picks
    from picker.picks.pick import Pick, format_time
    from picker.training.synthetic import synthetic_continuous, synthetic_records

    records = synthetic_records(8, n_samples=3001, seed=2024)
    write_records(records, out / "npz", "npz")
    write_records(records, out / "tfrecord" / "examples", "tfrecord")
    write_records(records, out / "hdf5", "hdf5")
    validation = [
        rec.with_data(rec.data, station_id=f"SY.V{i:03d}..HH", name=f"validation_{i:05d}")
        for i, rec in enumerate(synthetic_records(4, n_samples=3001, seed=2025))
    ]
    write_records(validation, out / "validation", "npz")

    stream = obspy.read()  # ObsPy's bundled example: BW.RJOB..EH?, 100 Hz, a local event
    with _atomic(out / "rjob.mseed") as tmp:
        stream.write(str(tmp), format="MSEED")

    continuous, true_picks = synthetic_continuous(
        600,
        event_times_s=[120.0, 400.0],
        rng=np.random.default_rng(7),
        snr_db=25.0,
        start_time="2024-03-01T00:00:00",
    )
    for trace in continuous:
        trace.data = trace.data.astype(np.float32)
    with _atomic(out / "continuous.mseed") as tmp:
        continuous.write(str(tmp), format="MSEED", encoding="FLOAT32")
    start = continuous[0].stats.starttime
    picks = [
        Pick(
            "continuous.mseed",
            "SY.SYN..HH",
            phase,
            format_time(t),
            int(round((t - start) * 100)),
            1.0,
        )
        for phase, t in true_picks
    ]
    write_picks(picks, out / "continuous_picks.csv")
    print(f"wrote examples to {out}")
    return 0


def _atomic(path: Path):
    from picker.io.base import atomic_output

    return atomic_output(path)


if __name__ == "__main__":
    sys.exit(main())
