"""Pick waveform files with SeisBench's PhaseNet: the reference run of compare_seisbench.sh.

    SEISBENCH_PYTHON benchmarks/seisbench_phasenet.py INPUT... -o picks.csv
        [--threshold 0.3] [--batch-size 256] [--weights STATE_DICT.pt]

Runs in the SeisBench virtual environment (torch + seisbench + obspy; no picker, no
TensorFlow). For each file, in the order given: ``obspy.read``, then
``seisbench.models.PhaseNet().classify(stream, ...)``, which annotates the stream (3001-sample
windows at SeisBench's default overlap of 1500 samples, 'avg' stacking, batch size 256, on the
CPU) and turns the P and S probability traces into picks. Writes the picks as CSV
(``source,trace_id,phase,time,probability``).

The weights are PhaseNet's untrained initial weights unless ``--weights`` names a local
``state_dict`` file (nothing can be downloaded here): the compute is the same either way, but
an untrained model's pick count is meaningless. Pass the same threshold as picker's run when
comparing pick counts; the default is SeisBench's own (0.3).
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path


def pick_files(paths, output, threshold=None, batch_size=None, weights=None) -> int:
    """Pick every file in ``paths`` with PhaseNet; write the CSV; return the number of picks."""
    import obspy
    import seisbench.models as sbm
    import torch

    model = sbm.PhaseNet()
    if weights:
        model.load_state_dict(torch.load(weights, map_location="cpu"))
    model.eval()
    options = {}
    if threshold is not None:
        options.update(P_threshold=threshold, S_threshold=threshold)
    if batch_size is not None:
        options["batch_size"] = batch_size
    rows = []
    for path in paths:
        stream = obspy.read(str(path))
        with torch.no_grad():
            output_picks = model.classify(stream, **options).picks
        rows += [
            (Path(path).name, p.trace_id, p.phase, str(p.peak_time), f"{p.peak_value:.6f}")
            for p in output_picks
        ]
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    with open(output, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["source", "trace_id", "phase", "time", "probability"])
        writer.writerows(rows)
    return len(rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="waveform files (ObsPy)")
    parser.add_argument("-o", "--output", required=True, help="picks CSV")
    parser.add_argument("--threshold", type=float, help="P and S threshold (default: 0.3)")
    parser.add_argument("--batch-size", type=int, help="windows per batch (default: 256)")
    parser.add_argument("--weights", help="a local PhaseNet state_dict (default: untrained)")
    args = parser.parse_args(argv)
    n = pick_files(args.inputs, args.output, args.threshold, args.batch_size, args.weights)
    print(f"wrote {n} pick(s) from {len(args.inputs)} file(s) to {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
