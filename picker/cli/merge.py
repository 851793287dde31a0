"""``picker merge``: merge the picks files of sharded ``predict`` runs into one."""

from __future__ import annotations

import argparse

from picker.cli import common


def add_parser(sub) -> None:
    p = sub.add_parser(
        "merge",
        help="merge the picks files of sharded runs into one",
        description=(
            "Merge picks files (CSV, JSON, QuakeML; e.g. the outputs of predict --shard I/N) "
            "into one file sorted like predict's output. Picks of the same station and phase "
            "within --tolerance-s of each other are one pick: the more probable is kept. A bad "
            "input is named and nothing is written."
        ),
    )
    p.add_argument("inputs", nargs="+", metavar="SHARD_PICKS", help="picks files to merge")
    common.add_picks_output_options(p, "merged picks file")
    p.add_argument(
        "--tolerance-s",
        type=float,
        default=0.05,
        metavar="S",
        help="picks of one station and phase this many seconds apart or less are one pick",
    )
    common.add_force_option(p)
    common.add_quiet_option(p)
    p.set_defaults(handler=_cmd_merge)


def _cmd_merge(args: argparse.Namespace) -> int:
    import contextlib

    from picker.io.base import InputError
    from picker.io.outputs import OutputError, check_output, is_stdout, output_lock
    from picker.picks.formats import write_picks
    from picker.picks.merge import merge_picks, read_shard

    common.check_range("--tolerance-s", args.tolerance_s, 0.0)
    check_output(args.output, inputs=args.inputs, picks=True, force=args.force)
    failures = common.FailureLog()
    shards = []
    for path in args.inputs:
        try:
            shards.append(read_shard(path))
        except InputError as exc:
            failures.add(str(exc))
    if failures.failures:
        common.log.error("nothing written to %s", args.output)
        return failures.summary(len(shards), "picks file(s)")
    picks, n_duplicates = merge_picks(shards, args.tolerance_s)
    try:
        lock = contextlib.nullcontext() if is_stdout(args.output) else output_lock(args.output)
        with lock:
            write_picks(picks, args.output, args.format)
    except OSError as exc:
        raise OutputError(f"{args.output}: picks not written ({exc})") from None
    common.log.info(
        "wrote %d pick(s) from %d file(s) to %s (%d duplicate(s) dropped)",
        len(picks),
        len(shards),
        "standard output" if is_stdout(args.output) else args.output,
        n_duplicates,
    )
    return common.EXIT_OK
