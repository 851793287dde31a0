"""``picker convert``: waveform windows between NPZ, TFRecord, HDF5, miniSEED and SAC.

Any ObsPy format is read too; SAC event files bring their header picks, and one file per
component of a station becomes one record (:mod:`picker.io.groups`). With ``--reference``,
continuous data are cut into labelled training windows at a catalogue's picks
(:mod:`picker.training.label_windows`)."""

from __future__ import annotations

import argparse
from collections import Counter

from picker.cli import common

#: :data:`picker.io.FORMATS`, written out: importing picker.io here would slow ``picker --help``.
OUTPUT_FORMATS = ("npz", "tfrecord", "hdf5", "stead", "mseed", "sac")


def add_parser(sub) -> None:
    p = sub.add_parser(
        "convert",
        help="convert waveform windows between NPZ, TFRecord, HDF5, miniSEED and SAC, or cut "
        "labelled windows from continuous data at a catalogue's picks (--reference)",
        description=(
            "Convert waveform records between formats: NPZ, TFRecord, HDF5 (SeisBench, STEAD), "
            "miniSEED and SAC out; those and every format ObsPy reads in (SAC event files bring "
            "their header picks; one file per component of a station becomes one record). "
            "With --reference, continuous INPUTs are cut into labelled training windows at a "
            "catalogue's picks instead: one window per P pick, labelled with the station's "
            "first S pick after it."
        ),
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
    p.add_argument("--records-per-shard", type=int, default=1000, help="records per TFRecord file")
    p.add_argument(
        "--reference",
        metavar="PICKS",
        help="cut labelled training windows from continuous INPUTs at these reference picks "
        "(CSV, JSON, QuakeML or SEISAN Nordic): one window per P pick",
    )
    common.add_hidden_alias(p, "--picks", "reference")
    p.add_argument(
        "--window-s",
        type=float,
        default=60.0,
        metavar="S",
        help="with --reference: window length in seconds",
    )
    p.add_argument(
        "--before-p-s",
        type=float,
        default=10.0,
        metavar="S",
        help="with --reference: seconds of data before the P pick",
    )
    common.add_force_option(p)
    common.add_input_options(p)
    p.set_defaults(handler=_cmd_convert)


def _reference_picks(args: argparse.Namespace):
    """The ``--reference`` picks by station code
    (:func:`picker.training.label_windows.by_station_code`), or None without the option."""
    if args.reference is None:
        return None
    from picker.config import ConfigError
    from picker.picks.formats import read_picks
    from picker.training.label_windows import by_station_code

    if not 0.0 <= args.before_p_s < args.window_s:
        raise ConfigError(
            f"need 0 <= --before-p-s < --window-s, got {args.before_p_s:g} and {args.window_s:g}"
        )
    return by_station_code(read_picks(args.reference))


def _cmd_convert(args: argparse.Namespace) -> int:
    import itertools

    from picker.io import write_records
    from picker.io.groups import group_components
    from picker.io.outputs import OutputError, check_output
    from picker.training.label_windows import SKIP_REASONS

    check_output(args.output, inputs=args.inputs, folder=True, force=args.force)
    failures = common.FailureLog(args.strict)
    reference, skipped = _reference_picks(args), Counter()
    inputs = list(dict.fromkeys(common.expanded_inputs(args.inputs, failures)))
    n_records = 0
    groups = group_components(inputs)  # one file per component (SAC): one record
    options = {"records_per_shard": args.records_per_shard} if args.to == "tfrecord" else {}
    output = args.output
    if args.to == "tfrecord":
        output = f"{args.output}/records"
    elif args.to == "stead":
        output = f"{args.output}/waveforms_stead.hdf5"
    with common.progress_bar(len(groups), args.quiet) as bar:

        def counted():  # the records one at a time, counted as the writer takes them
            nonlocal n_records
            for record in _records(args, groups, reference, skipped, failures, bar):
                n_records += 1
                yield record

        records = counted()
        first = next(records, None)  # nothing is written (no empty file) without a record
        try:
            written = (
                []
                if first is None
                else write_records(itertools.chain([first], records), output, args.to, **options)
            )
        except OSError as exc:
            raise OutputError(f"{args.output}: not written ({exc})") from None
    for reason, count in sorted(skipped.items()):
        common.log.info("left out %d window(s) that %s", count, SKIP_REASONS[reason])
    common.log.info(
        "wrote %d record(s) into %d file(s) under %s", n_records, len(written), args.output
    )
    return failures.summary(n_records, "record(s)")


def _records(
    args, inputs: list, reference, skipped: Counter, failures: common.FailureLog, progress
):
    """The records to write, one input at a time (the writer streams them to disk); a bad
    input is logged in ``failures`` and skipped. ``progress`` moves on once per input."""
    from picker.io import WINDOW_FORMATS
    from picker.io.base import InputError, split_station_id
    from picker.io.groups import input_format, read_input_records
    from picker.training.label_windows import labelled_windows

    for path in inputs:
        progress.set_postfix_str(path.name, refresh=False)
        try:
            path, fmt = input_format(path)
            found = read_input_records(path, fmt, **common.reader_options(args, fmt))
            if reference is None:
                yield from found
            elif fmt in WINDOW_FORMATS:
                raise InputError(f"{path}: --reference cuts continuous data, not {fmt} windows")
            else:
                for record in found:
                    code = split_station_id(record.station_id)[1]
                    yield from labelled_windows(
                        record,
                        reference.get(code, []),
                        window_s=args.window_s,
                        before_p_s=args.before_p_s,
                        skipped=skipped,
                    )
        except InputError as exc:
            failures.add(str(exc))
        progress.update()
