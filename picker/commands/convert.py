"""``picker convert``: waveform windows between NPZ, TFRecord, HDF5 and miniSEED."""

from __future__ import annotations

import argparse

from picker import cli


def add_parser(sub) -> None:
    p = sub.add_parser(
        "convert", help="convert waveform windows between NPZ, TFRecord, HDF5 and miniSEED"
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="files, folders or globs")
    p.add_argument("-o", "--output", required=True, help="output folder")
    p.add_argument("--to", required=True, choices=("npz", "tfrecord", "hdf5", "stead", "mseed"))
    p.add_argument(
        "--records-per-shard", type=int, default=1000, help="TFRecord shard size (default 1000)"
    )
    cli._add_input_options(p)
    p.set_defaults(handler=_cmd_convert)


def _cmd_convert(args: argparse.Namespace) -> int:
    from picker.io import guess_format, read_records, write_records
    from picker.io.base import InputError

    failures = cli.FailureLog(args.strict)
    records = []
    for path in dict.fromkeys(cli._expand_inputs(args.inputs, failures)):
        try:
            fmt = guess_format(path)
            records.extend(list(read_records(path, fmt, **cli._reader_options(args, fmt))))
        except InputError as exc:
            failures.add(str(exc))
    options = {"records_per_shard": args.records_per_shard} if args.to == "tfrecord" else {}
    output = args.output
    if args.to == "tfrecord":
        output = f"{args.output}/records"
    elif args.to == "stead":
        output = f"{args.output}/waveforms_stead.hdf5"
    written = write_records(records, output, args.to, **options) if records else []
    cli.log.info(
        "wrote %d record(s) into %d file(s) under %s", len(records), len(written), args.output
    )
    return failures.summary(len(records), "record(s)")
