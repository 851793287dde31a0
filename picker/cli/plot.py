"""``picker plot``: review figures of traces, probabilities and picks."""

from __future__ import annotations

import argparse

from picker.cli import common


def add_parser(sub) -> None:
    p = sub.add_parser(
        "plot",
        help="write review figures: traces, probabilities, picks",
        description=(
            "One figure per window, or per station and time span of continuous data: the three "
            "components, predicted picks (solid), reference picks (dashed: the windows' own "
            "picks and --reference) and the P / S probabilities. --start and --duration-s give "
            "one span; --duration-s alone tiles the data; neither draws whole files."
        ),
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="files, folders or globs")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="output folder")
    p.add_argument("--model", help=".keras or .onnx model (default: the bundled model)")
    p.add_argument(
        "--reference", metavar="PICKS", help="reference picks to draw (CSV, JSON, QuakeML)"
    )
    common.add_hidden_alias(p, "--picks", "reference")
    p.add_argument(
        "--start",
        metavar="ISO",
        help="span start (UTC); an error for a record without a start time (e.g. such an NPZ)",
    )
    p.add_argument("--duration-s", type=float, metavar="S", help="span length in seconds")
    common.add_hidden_alias(p, "--duration", "duration_s", type=float)
    p.add_argument("--format", default="png", choices=("png", "pdf"), help="figure format")
    p.add_argument(
        "--trace",
        default="filtered",
        choices=("raw", "filtered", "both"),
        help="traces drawn: as read, high-passed like the model's input (default), or both",
    )
    p.add_argument(
        "--no-predict", action="store_true", help="draw only the data and reference picks"
    )
    common.add_input_options(p)
    p.set_defaults(handler=_cmd_plot)


def _cmd_plot(args: argparse.Namespace) -> int:
    from picker.config import ConfigError
    from picker.io.base import InputError
    from picker.io.outputs import check_output
    from picker.picks.formats import read_picks
    from picker.prediction.files import run_files
    from picker.review.files import plot_file

    start = None
    if args.start is not None:
        from obspy import UTCDateTime

        try:
            start = UTCDateTime(args.start)
        except Exception:
            raise ConfigError(f"--start must be an ISO-8601 time, got {args.start!r}") from None
    common.check_range("--duration-s", args.duration_s, 0.0, open_low=True)
    check_output(args.output, folder=True)
    reference = read_picks(args.reference) if args.reference else []
    model = None if args.no_predict else common.load_model_option(args.model)
    failures = common.FailureLog(args.strict)
    written: list = []

    def draw(path, _stations, _picks) -> None:
        written.extend(
            plot_file(
                path,
                args.output,
                model,
                predict=not args.no_predict,
                reference=reference,
                start=start,
                duration_s=args.duration_s,
                fmt=args.format,
                trace=args.trace,
                npz_options=common.reader_options(args, "npz"),
            )
        )

    def failed(path, exc: Exception) -> None:
        if isinstance(exc, InputError):
            failures.add(str(exc))
        else:
            failures.add(f"{path}: figure not written ({exc})")

    # one file per component (SDS day files, SAC): a station's files are drawn together
    selection = dict.fromkeys(common.grouped_inputs(args.inputs, failures))
    with common.progress_bar(len(selection), args.quiet) as bar:
        run = run_files(
            selection,
            draw,
            on_failure=failed,
            failures=(InputError, OSError, RuntimeError),
            progress=bar,
        )
    common.log.info("wrote %d figure(s) to %s", len(written), args.output)
    return failures.summary(run.n_files, "file(s)")
