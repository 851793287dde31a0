"""``picker convert``: waveform windows between NPZ, TFRecord, HDF5, miniSEED and SAC.

Any ObsPy format is read too; SAC event files bring their header picks, and one file per
component of a station becomes one record (:mod:`picker.io.groups`)."""

from __future__ import annotations

import argparse

from picker import cli

#: :data:`picker.io.FORMATS`, written out: importing picker.io here would slow ``picker --help``.
OUTPUT_FORMATS = ("npz", "tfrecord", "hdf5", "stead", "mseed", "sac")


def add_parser(sub) -> None:
    p = sub.add_parser(
        "convert", help="convert waveform windows between NPZ, TFRecord, HDF5, miniSEED and SAC"
    )
    p.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="files, folders or globs (also SAC event files with picks in their headers)",
    )
    p.add_argument("-o", "--output", required=True, help="output folder")
    p.add_argument(
        "--to",
        required=True,
        choices=OUTPUT_FORMATS,
        help="sac: one file per component, picks in the headers (a = P, t0 = S)",
    )
    p.add_argument(
        "--records-per-shard", type=int, default=1000, help="TFRecord shard size (default 1000)"
    )
    cli._add_input_options(p)
    p.set_defaults(handler=_cmd_convert)


def _cmd_convert(args: argparse.Namespace) -> int:
    from picker.io import write_records
    from picker.io.base import InputError
    from picker.io.groups import group_components, input_format, read_input_records

    failures = cli.FailureLog(args.strict)
    records = []
    inputs = list(dict.fromkeys(cli._expand_inputs(args.inputs, failures)))
    for path in group_components(inputs):  # one file per component (SAC): one record
        try:
            path, fmt = input_format(path)
            records.extend(read_input_records(path, fmt, **cli._reader_options(args, fmt)))
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
