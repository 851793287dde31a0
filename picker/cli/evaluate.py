"""``picker evaluate``: score the picker (and classical baselines) on labelled data."""

from __future__ import annotations

import argparse

from picker.cli import common


def add_parser(sub) -> None:
    p = sub.add_parser(
        "evaluate",
        help="score the picker (and classical baselines) on labelled data",
        description=(
            "Score the model on labelled NPZ / TFRecord / HDF5 windows (their own P and S "
            "arrivals; windows with neither are noise windows for the false picks per hour) "
            "or on continuous data against --reference picks (matched per NET.STA.LOC and "
            "phase on absolute times; false picks per hour of data). Prints precision, recall, "
            "F1 and residuals per phase; -o writes metrics.json, metrics.csv and figures."
        ),
    )
    p.add_argument("inputs", nargs="+", metavar="DATA", help="files, folders or globs")
    p.add_argument("--model", help=".keras or .onnx model (default: the bundled model)")
    p.add_argument(
        "--tolerance-s",
        type=float,
        default=0.1,
        metavar="S",
        help="a predicted pick within this many seconds of a reference pick finds it",
    )
    common.add_hidden_alias(p, "--tolerance", "tolerance_s", type=float)
    p.add_argument(
        "--threshold", type=float, default=0.5, metavar="PROB", help="P and S probability threshold"
    )
    p.add_argument(
        "--sweep", action="store_true", help="also sweep the threshold 0.05..0.95 (PR curve)"
    )
    p.add_argument(
        "--baselines",
        action="store_true",
        help="also score ObsPy's STA/LTA (windows and continuous) and AR-AIC (windows only)",
    )
    p.add_argument("-o", "--output", metavar="REPORT_DIR", help="write the report files here")
    p.add_argument(
        "--reference",
        metavar="PICKS.csv",
        help="reference picks for continuous data (CSV/JSON/XML)",
    )
    common.add_force_option(p)
    common.add_input_options(p)
    p.set_defaults(handler=_cmd_evaluate)


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from picker.evaluation.metrics import format_sources_table, format_sweep_table
    from picker.evaluation.runner import Evaluator, write_report
    from picker.io.outputs import OutputError, check_output
    from picker.picks.formats import read_picks
    from picker.prediction import predict
    from picker.prediction.files import run_files

    common.check_range("--tolerance-s", args.tolerance_s, 0.0)
    common.check_range("--threshold", args.threshold, 0.0, 1.0)
    predict.check_options(p_threshold=args.threshold, s_threshold=args.threshold)
    if args.output:
        inputs = [*args.inputs, *([args.reference] if args.reference else [])]
        check_output(args.output, inputs=inputs, folder=True, force=args.force)
    reference = read_picks(args.reference, need_time=True) if args.reference else None
    evaluator = Evaluator(
        common.load_model_option(args.model),
        tolerance_s=args.tolerance_s,
        threshold=args.threshold,
        sweep=args.sweep,
        baselines=args.baselines,
        reference=reference,
        npz_options=common.reader_options(args, "npz"),
    )
    failures = common.FailureLog(args.strict)

    n_scored = 0

    def score(path, _stations, _picks) -> None:
        nonlocal n_scored
        n_units = evaluator.add_file(path)
        n_scored += n_units
        common.log.debug("%s: %d window(s) / station span(s)", path, n_units)

    # one file per component (SDS day files, SAC): a station's files are scored together
    selection = dict.fromkeys(common.grouped_inputs(args.inputs, failures))
    with common.progress_bar(len(selection), args.quiet) as bar:
        run = run_files(
            selection,
            score,
            on_failure=lambda path, exc: failures.add(str(exc)),
            progress=bar,
        )
    if not n_scored:  # no table of zeros: nothing was scored
        common.log.error("nothing scored: no labelled window or station span in the inputs")
        return failures.summary(run.n_files, "file(s)") or common.EXIT_FAILED_INPUTS
    report = evaluator.report()
    print(f"tolerance {report.tolerance_s:g} s, threshold {report.threshold:g}")
    print(format_sources_table(report.summaries()))
    if report.sweep is not None:
        print(format_sweep_table(report.sweep.rows(), report.sweep.best()))
    if args.output:
        try:
            written = write_report(report, args.output)
        except OSError as exc:
            raise OutputError(f"{args.output}: report not written ({exc})") from None
        common.log.info("wrote %d report file(s) to %s", len(written), args.output)
    return failures.summary(run.n_files, "file(s)")
