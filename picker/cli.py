"""The ``picker`` command. Every subcommand runs in-process through :func:`main`.

Exit status: 0 all inputs done, 1 some inputs failed (each named in a one-line error and in the
summary at the end), 2 bad usage or config. Heavy libraries are imported inside the
subcommands, so ``picker --help`` answers at once.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

log = logging.getLogger("picker")

EXIT_OK, EXIT_FAILED_INPUTS, EXIT_USAGE = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``picker`` with ``argv`` (``sys.argv[1:]`` when None) and return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(getattr(args, "quiet", False))
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_USAGE
    from picker.config import ConfigError
    from picker.io.base import InputError
    from picker.keras_utils import ModelFileError

    try:
        return int(args.handler(args) or EXIT_OK)
    except (ConfigError, InputError, ModelFileError) as exc:
        log.error("%s", exc)
        return EXIT_USAGE if isinstance(exc, ConfigError) else EXIT_FAILED_INPUTS
    except StrictStop:
        log.error("stopped at the first bad input (--strict)")
        return EXIT_FAILED_INPUTS
    except KeyboardInterrupt:
        log.error("interrupted")
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="picker", description="Seismic P and S phase picker.")
    from picker import __version__

    parser.add_argument("--version", action="version", version=f"picker {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser(
        "convert", help="convert waveform windows between NPZ, TFRecord, HDF5 and miniSEED"
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="files, folders or globs")
    p.add_argument("-o", "--output", required=True, help="output folder")
    p.add_argument("--to", required=True, choices=("npz", "tfrecord", "hdf5", "stead", "mseed"))
    p.add_argument(
        "--records-per-shard", type=int, default=1000, help="TFRecord shard size (default 1000)"
    )
    _add_reader_options(p)
    p.add_argument("--strict", action="store_true", help="stop at the first bad input")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(handler=_cmd_convert)

    p = sub.add_parser("train", help="train a picker model from a YAML config")
    p.add_argument("--config", required=True, help="YAML config (see configs/)")
    p.add_argument("-o", "--output", help="output folder (default: train.output_dir)")
    p.add_argument("--epochs", type=int, help="override train.epochs")
    p.add_argument("--steps-per-epoch", type=int, help="override train.steps_per_epoch")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(handler=_cmd_train)

    p = sub.add_parser("info", help="print a model's summary and parameter count, write a diagram")
    p.add_argument("model", nargs="?", help=".keras model (default: the bundled model)")
    p.add_argument(
        "--diagram", default="model_diagram.png", help="diagram file (default model_diagram.png)"
    )
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(handler=_cmd_info)

    _add_predict_parser(sub)
    _add_evaluate_parser(sub)
    _add_plot_parser(sub)
    _add_merge_parser(sub)
    return parser


def _add_reader_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--npz-layout",
        default="auto",
        choices=("auto", "channels_last", "channels_first"),
        help="array layout of NPZ files that cannot say it themselves",
    )
    p.add_argument(
        "--component-order",
        default=None,
        help="component order in NPZ files, e.g. ZNE (default: auto)",
    )


def _reader_options(args: argparse.Namespace, fmt: str) -> dict:
    if fmt != "npz":
        return {}
    return {"layout": args.npz_layout, "component_order": args.component_order}


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (callers and tests may swap it)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def _setup_logging(quiet: bool) -> None:
    """Send ``picker.*`` log messages to stderr; the caller's (root) logging is left alone."""
    logger = logging.getLogger("picker")
    logger.setLevel(logging.WARNING if quiet else logging.INFO)
    if not any(isinstance(handler, _StderrHandler) for handler in logger.handlers):
        logger.addHandler(_StderrHandler())


class StrictStop(Exception):
    """Raised by :class:`FailureLog` in ``--strict`` mode at the first bad input."""


class FailureLog:
    """Collects bad inputs: logs each on one line, summarises them at the end."""

    def __init__(self, strict: bool = False):
        self.strict = strict
        self.failures: list[str] = []

    def add(self, message: str) -> None:
        log.error("%s", message)
        self.failures.append(message)
        if self.strict:
            raise StrictStop(message)

    def summary(self, done: int, what: str) -> int:
        if self.failures:
            log.error("%d input(s) failed, %d %s done:", len(self.failures), done, what)
            for message in self.failures:
                log.error("  %s", message)
            return EXIT_FAILED_INPUTS
        log.info("%d %s done", done, what)
        return EXIT_OK


def _cmd_convert(args: argparse.Namespace) -> int:
    from picker.io import expand_inputs, guess_format, read_records, write_records
    from picker.io.base import InputError

    failures = FailureLog(args.strict)
    paths = []
    for item in args.inputs:  # one at a time: a missing input must not stop the others
        try:
            paths.extend(expand_inputs([item]))
        except InputError as exc:
            failures.add(str(exc))
    records = []
    for path in dict.fromkeys(paths):
        try:
            fmt = guess_format(path)
            records.extend(list(read_records(path, fmt, **_reader_options(args, fmt))))
        except InputError as exc:
            failures.add(str(exc))
    options = {"records_per_shard": args.records_per_shard} if args.to == "tfrecord" else {}
    output = args.output
    if args.to == "tfrecord":
        output = f"{args.output}/records"
    elif args.to == "stead":
        output = f"{args.output}/waveforms_stead.hdf5"
    written = write_records(records, output, args.to, **options) if records else []
    log.info("wrote %d record(s) into %d file(s) under %s", len(records), len(written), args.output)
    return failures.summary(len(records), "record(s)")


def _cmd_train(args: argparse.Namespace) -> int:
    from picker.config import ConfigError, load_config
    from picker.train import train

    overrides: dict = {"train": {}}
    if args.epochs is not None:
        overrides["train"]["epochs"] = args.epochs
    if args.steps_per_epoch is not None:
        overrides["train"]["steps_per_epoch"] = args.steps_per_epoch
    cfg = load_config(args.config, overrides)
    if not cfg.data.train:
        raise ConfigError(f"{args.config}: data.train is empty: name the training files or folders")
    result = train(cfg, args.output)
    if not result.chief:
        log.info(
            "trained %d epoch(s) as a non-chief worker; the chief wrote the model",
            result.epochs_run,
        )
        return EXIT_OK
    log.info("trained %d epoch(s); model written to %s", result.epochs_run, result.model_path)
    return EXIT_OK


def _cmd_info(args: argparse.Namespace) -> int:
    from pathlib import Path

    from picker.keras_utils import count_parameters, load_model, plot_model, summary_text

    model = load_model(args.model)
    print(summary_text(model))
    counts = count_parameters(model)
    print(f"parameters: {counts['total']:,} ({counts['trainable']:,} trainable)")
    written, message = plot_model(model, args.diagram)
    log.log(logging.INFO if written == Path(args.diagram) else logging.WARNING, "%s", message)
    return EXIT_OK


# ----------------------------------------------------------------------------- predict


def _add_predict_parser(sub) -> None:
    p = sub.add_parser(
        "predict",
        help="pick P and S arrivals on waveform files",
        description=(
            "Pick P and S arrivals on waveform files: continuous data in any ObsPy format "
            "(per station) or NPZ / TFRecord / HDF5 windows (per record). With --shard I/N the "
            "sorted inputs are cut into units ((file, station) pairs for continuous files, whole "
            "files for window files) and unit k goes to shard k % N; the N outputs together "
            "hold exactly the picks of one run (sort the rows to compare)."
        ),
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="files, folders or globs")
    p.add_argument("-o", "--output", required=True, help="picks file (.csv, .json, .xml)")
    p.add_argument(
        "--format", choices=("csv", "json", "quakeml"), help="picks format (default: from -o)"
    )
    p.add_argument("--model", help=".keras model (default: the bundled model)")
    p.add_argument("--threshold", type=float, help="probability threshold for P and S")
    p.add_argument("--p-threshold", type=float, help="P threshold (default 0.5)")
    p.add_argument("--s-threshold", type=float, help="S threshold (default 0.5)")
    p.add_argument("--plot", metavar="DIR", help="write a review figure per station / record")
    p.add_argument(
        "--probabilities",
        metavar="OUT.mseed",
        help="write P/S probability traces (channels <band>P, <band>S, 100 Hz) of stream inputs",
    )
    p.add_argument("--batch-size", type=int, help="chunks per model call (default 4)")
    p.add_argument("--chunk-s", type=float, help="chunk length in seconds (default 3600)")
    p.add_argument("--shard", metavar="I/N", help="process only shard I (0-based) of N")
    p.add_argument(
        "--dask",
        nargs="?",
        const="",
        metavar="SCHEDULER",
        help="run the units on a Dask cluster (tcp://host:8786; bare --dask: 2 local workers); "
        "needs pip install picker[dask]",
    )
    _add_reader_options(p)
    p.add_argument("--strict", action="store_true", help="stop at the first bad input")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(handler=_cmd_predict)


def _predict_options(args: argparse.Namespace) -> dict:
    from picker.config import ConfigError

    if args.threshold is not None and (
        args.p_threshold is not None or args.s_threshold is not None
    ):
        raise ConfigError("--threshold sets P and S; use it or --p-threshold/--s-threshold")
    options: dict = {}
    for name in ("p_threshold", "s_threshold"):
        value = args.threshold if args.threshold is not None else getattr(args, name)
        if value is not None:
            options[name] = value
    if args.batch_size is not None:
        options["batch_size"] = args.batch_size
    if args.chunk_s is not None:
        options["chunk_s"] = args.chunk_s
    return options


def _parse_shard(text: str | None) -> tuple[int, int] | None:
    from picker.config import ConfigError

    if text is None:
        return None
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise ConfigError(f"--shard must be I/N (e.g. 0/4), got {text!r}") from None
    if not 0 <= index < count:
        raise ConfigError(f"--shard must be I/N with 0 <= I < N, got {text!r}")
    return index, count


class _Progress:
    """A one-line progress display on stderr (only when it is a terminal)."""

    def __init__(self, total: int, enabled: bool):
        self.total, self.enabled, self.done = total, enabled, 0

    def show(self, text: str) -> None:
        if self.enabled:
            sys.stderr.write(f"\r\x1b[K[{self.done}/{self.total}] {text}"[:200])
            sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


def _plot_result(result, folder: str) -> None:
    from pathlib import Path

    from picker.plot import figure_name, plot_picks
    from picker.predict import MODEL_SAMPLING_RATE_HZ

    try:
        plot_picks(
            result.data,
            result.sampling_rate_hz,
            result.probabilities,
            result.picks,
            Path(folder) / figure_name(Path(result.source).stem, result.name),
            f"{result.station_id}  ({result.source})",
            probabilities_rate_hz=MODEL_SAMPLING_RATE_HZ,
            start_time=result.start_time,
        )
    except (OSError, ValueError, RuntimeError) as exc:
        log.warning("%s %s: figure not written (%s)", result.source, result.station_id, exc)


def _predict_dask(args, selection: dict, options: dict, failures: FailureLog):
    """``predict --dask``: the selection's units on a Dask cluster → (picks, files done, results)."""
    from picker.config import ConfigError
    from picker.dask_backend import dask_client, predict_units, units_of

    if args.plot or args.probabilities:
        raise ConfigError("--dask writes picks only; drop --plot and --probabilities")
    units = units_of(selection)
    progress = _Progress(len(units), enabled=not args.quiet and sys.stderr.isatty())
    picks, failed, n_results = [], set(), 0
    npz_options = _reader_options(args, "npz")
    with dask_client(args.dask or None) as client:
        log.info("%d unit(s) on Dask cluster %s", len(units), client.scheduler.address)
        for result in predict_units(client, units, args.model, npz_options=npz_options, **options):
            progress.done += 1
            progress.show(f"{result.path.name} {result.station or ''}")
            picks.extend(result.picks)
            n_results += result.n_results
            if result.error:
                progress.close()
                failed.add(result.path)
                failures.add(result.error)
    progress.close()
    return picks, len(selection) - len(failed), n_results


def _cmd_predict(args: argparse.Namespace) -> int:
    import contextlib

    from picker import predict, predict_files
    from picker.io import expand_inputs
    from picker.io.base import InputError
    from picker.keras_utils import BUNDLED_MODEL, ModelFileError, load_model
    from picker.picks import write_picks
    from picker.train import setup_devices

    options = _predict_options(args)
    predict.check_options(**options)
    shard = _parse_shard(args.shard)
    setup_devices()
    if args.model is None and not BUNDLED_MODEL.exists():
        raise ModelFileError(
            f"{BUNDLED_MODEL}: the bundled model is not installed; pass --model PATH.keras"
        )
    model = load_model(args.model)

    failures = FailureLog(args.strict)
    paths = []
    for item in args.inputs:
        try:
            paths.extend(expand_inputs([item]))
        except InputError as exc:
            failures.add(str(exc))
    paths = sorted(set(paths))
    if shard is None:
        selection = dict.fromkeys(paths)
    else:
        selection = predict_files.select_shard(predict_files.list_units(paths), *shard)
        log.info("shard %d/%d: %d of %d file(s)", shard[0], shard[1], len(selection), len(paths))
    if args.dask is not None:
        picks, n_files, n_results = _predict_dask(args, selection, options, failures)
        picks.sort(key=predict.pick_sort_key)
        write_picks(picks, args.output, args.format)
        log.info(
            "wrote %d pick(s) from %d station(s)/record(s) to %s",
            len(picks),
            n_results,
            args.output,
        )
        return failures.summary(n_files, "file(s)")

    picks = []
    n_files = n_results = 0
    progress = _Progress(len(selection), enabled=not args.quiet and sys.stderr.isatty())
    with contextlib.ExitStack() as stack:
        writer = None
        if args.probabilities:
            writer = stack.enter_context(predict_files.ProbabilityWriter(args.probabilities))
        for path, stations in selection.items():
            progress.show(path.name)
            try:
                for result in predict.iter_file(
                    path,
                    model,
                    stations=stations,
                    npz_options=_reader_options(args, "npz"),
                    **options,
                ):
                    picks.extend(result.picks)
                    n_results += 1
                    progress.show(f"{path.name} {result.station_id}")
                    if writer is not None and result.is_stream:
                        writer.write(result)
                    if args.plot:
                        _plot_result(result, args.plot)
                n_files += 1
            except InputError as exc:
                progress.close()
                failures.add(str(exc))
            progress.done += 1
        progress.close()
    picks.sort(key=predict.pick_sort_key)
    write_picks(picks, args.output, args.format)
    log.info(
        "wrote %d pick(s) from %d station(s)/record(s) to %s", len(picks), n_results, args.output
    )
    return failures.summary(n_files, "file(s)")


# ----------------------------------------------------------------------------- evaluate and plot


def _add_evaluate_parser(sub) -> None:
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
    p.add_argument("--model", help=".keras model (default: the bundled model)")
    p.add_argument(
        "--tolerance", type=float, default=0.1, help="pick time tolerance in s (default 0.1)"
    )
    p.add_argument(
        "--threshold", type=float, default=0.5, help="P and S probability threshold (default 0.5)"
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
    _add_reader_options(p)
    p.add_argument("--strict", action="store_true", help="stop at the first bad input")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(handler=_cmd_evaluate)


def _add_plot_parser(sub) -> None:
    p = sub.add_parser(
        "plot",
        help="write review figures: traces, probabilities, picks",
        description=(
            "One figure per window, or per station and time span of continuous data: the three "
            "components, predicted picks (solid), reference picks (dashed: the windows' own "
            "picks and --picks) and the P / S probabilities. --start and --duration give one "
            "span; --duration alone tiles the data; neither draws whole files."
        ),
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="files, folders or globs")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="output folder")
    p.add_argument("--model", help=".keras model (default: the bundled model)")
    p.add_argument("--picks", metavar="PICKS.csv", help="reference picks to draw (CSV/JSON/XML)")
    p.add_argument("--start", metavar="ISO", help="span start (UTC) for continuous data")
    p.add_argument("--duration", type=float, metavar="S", help="span length in seconds")
    p.add_argument("--format", default="png", choices=("png", "pdf"), help="default png")
    p.add_argument(
        "--no-predict", action="store_true", help="draw only the data and reference picks"
    )
    _add_reader_options(p)
    p.add_argument("--strict", action="store_true", help="stop at the first bad input")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(handler=_cmd_plot)


def _load_cli_model(path: str | None):
    """The ``--model`` (or the bundled model, with a clear error when it is not installed)."""
    from picker.keras_utils import BUNDLED_MODEL, ModelFileError, load_model
    from picker.train import setup_devices

    setup_devices()
    if path is None and not BUNDLED_MODEL.exists():
        raise ModelFileError(
            f"{BUNDLED_MODEL}: the bundled model is not installed; pass --model PATH.keras"
        )
    return load_model(path)


def _input_paths(inputs: Sequence[str], failures: FailureLog) -> list:
    """Expanded inputs, sorted and unique; a missing input is a failure, not a stop."""
    from picker.io import expand_inputs
    from picker.io.base import InputError

    paths = []
    for item in inputs:
        try:
            paths.extend(expand_inputs([item]))
        except InputError as exc:
            failures.add(str(exc))
    return sorted(set(paths))


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from picker import predict
    from picker.config import ConfigError
    from picker.evaluate import format_sources_table, format_sweep_table
    from picker.evaluate_files import Evaluator, write_report
    from picker.io.base import InputError
    from picker.picks import read_picks

    if not args.tolerance >= 0:
        raise ConfigError(f"--tolerance must be >= 0 seconds, got {args.tolerance}")
    predict.check_options(p_threshold=args.threshold, s_threshold=args.threshold)
    reference = read_picks(args.reference) if args.reference else None
    evaluator = Evaluator(
        _load_cli_model(args.model),
        tolerance_s=args.tolerance,
        threshold=args.threshold,
        sweep=args.sweep,
        baselines=args.baselines,
        reference=reference,
        npz_options=_reader_options(args, "npz"),
    )
    failures = FailureLog(args.strict)
    n_files = 0
    for path in _input_paths(args.inputs, failures):
        try:
            n_units = evaluator.add_file(path)
            log.info("%s: %d window(s) / station span(s)", path, n_units)
            n_files += 1
        except InputError as exc:
            failures.add(str(exc))
    report = evaluator.report()
    print(f"tolerance {report.tolerance_s:g} s, threshold {report.threshold:g}")
    print(format_sources_table(report.summaries()))
    if report.sweep is not None:
        print(format_sweep_table(report.sweep.rows(), report.sweep.best()))
    if args.output:
        written = write_report(report, args.output)
        log.info("wrote %d report file(s) to %s", len(written), args.output)
    return failures.summary(n_files, "file(s)")


def _cmd_plot(args: argparse.Namespace) -> int:
    from picker.config import ConfigError
    from picker.io.base import InputError
    from picker.picks import read_picks
    from picker.plot_files import plot_file

    start = None
    if args.start is not None:
        from obspy import UTCDateTime

        try:
            start = UTCDateTime(args.start)
        except Exception:
            raise ConfigError(f"--start must be an ISO-8601 time, got {args.start!r}") from None
    if args.duration is not None and not args.duration > 0:
        raise ConfigError(f"--duration must be > 0 seconds, got {args.duration}")
    reference = read_picks(args.picks) if args.picks else []
    model = None if args.no_predict else _load_cli_model(args.model)
    failures = FailureLog(args.strict)
    n_files = n_figures = 0
    for path in _input_paths(args.inputs, failures):
        try:
            written = plot_file(
                path,
                args.output,
                model,
                predict=not args.no_predict,
                reference=reference,
                start=start,
                duration_s=args.duration,
                fmt=args.format,
                npz_options=_reader_options(args, "npz"),
            )
            n_figures += len(written)
            n_files += 1
        except InputError as exc:
            failures.add(str(exc))
        except (OSError, RuntimeError) as exc:
            failures.add(f"{path}: figure not written ({exc})")
    log.info("wrote %d figure(s) to %s", n_figures, args.output)
    return failures.summary(n_files, "file(s)")


# ----------------------------------------------------------------------------- merge


def _add_merge_parser(sub) -> None:
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
    p.add_argument("-o", "--output", required=True, help="merged picks file (.csv, .json, .xml)")
    p.add_argument(
        "--format", choices=("csv", "json", "quakeml"), help="picks format (default: from -o)"
    )
    p.add_argument(
        "--tolerance-s", type=float, default=0.05, help="duplicate time tolerance (default 0.05)"
    )
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(handler=_cmd_merge)


def _cmd_merge(args: argparse.Namespace) -> int:
    from picker.config import ConfigError
    from picker.io.base import InputError
    from picker.merge import merge_picks, read_shard
    from picker.picks import write_picks

    if not args.tolerance_s >= 0:
        raise ConfigError(f"--tolerance-s must be >= 0, got {args.tolerance_s}")
    failures = FailureLog()
    shards = []
    for path in args.inputs:
        try:
            shards.append(read_shard(path))
        except InputError as exc:
            failures.add(str(exc))
    if failures.failures:
        log.error("nothing written to %s", args.output)
        return failures.summary(len(shards), "picks file(s)")
    picks, n_duplicates = merge_picks(shards, args.tolerance_s)
    write_picks(picks, args.output, args.format)
    log.info(
        "wrote %d pick(s) from %d file(s) to %s (%d duplicate(s) dropped)",
        len(picks),
        len(shards),
        args.output,
        n_duplicates,
    )
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
