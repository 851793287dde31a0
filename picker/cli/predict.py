"""``picker predict``: P and S picks on waveform files, in-process, by shard or on Dask."""

from __future__ import annotations

import argparse

from picker.cli import common


def add_parser(sub) -> None:
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
    common.add_picks_output_options(p, "picks file")
    p.add_argument("--model", help=".keras or .onnx model (default: the bundled model)")
    p.add_argument(
        "--int8",
        action="store_true",
        help="the bundled model's int8 export; windows where it sees a possible arrival are "
        "run again in float32: float32's picks (every one on the hold-out), about 1.1-1.2x "
        "faster on quiet continuous data (picker/models/bundled/MODEL_CARD.md)",
    )
    p.add_argument(
        "--threshold",
        type=float,
        metavar="PROB",
        help="probability threshold for P and S, 0-1 (default: 0.5)",
    )
    p.add_argument(
        "--p-threshold", type=float, metavar="PROB", help="P threshold, 0-1 (default: 0.5)"
    )
    p.add_argument(
        "--s-threshold", type=float, metavar="PROB", help="S threshold, 0-1 (default: 0.5)"
    )
    p.add_argument("--plot", metavar="DIR", help="write a review figure per station / record")
    p.add_argument(
        "--probabilities",
        metavar="OUT.mseed",
        help="write P/S probability traces (channels <band>P, <band>S, 100 Hz; <band>D: "
        "EQTransformer's detection) of stream inputs",
    )
    p.add_argument(
        "--batch-size",
        type=int,
        metavar="N",
        help="chunks per model call (default: 1 for ONNX models such as the bundled one, "
        "4 for .keras models)",
    )
    p.add_argument(
        "--chunk-s",
        type=float,
        metavar="S",
        help="model input chunk length in seconds (default: 600)",
    )
    p.add_argument("--shard", metavar="I/N", help="process only shard I (0-based) of N")
    p.add_argument(
        "--dask",
        nargs="?",
        const="",
        metavar="SCHEDULER",
        help="run the units on a Dask cluster (tcp://host:8786; bare --dask: 2 local workers); "
        "needs pip install picker[dask]",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="skip the inputs an interrupted run already finished: their picks come from the "
        "journal OUT.progress.jsonl (same file size, mtime and settings)",
    )
    common.add_force_option(p)
    common.add_input_options(p)
    p.set_defaults(handler=_cmd_predict)


def _predict_options(args: argparse.Namespace) -> dict:
    from picker.config import ConfigError

    if args.threshold is not None and (
        args.p_threshold is not None or args.s_threshold is not None
    ):
        raise ConfigError("--threshold sets P and S; use it or --p-threshold/--s-threshold")
    for flag in ("--threshold", "--p-threshold", "--s-threshold"):
        common.check_range(flag, getattr(args, flag[2:].replace("-", "_")), 0.0, 1.0)
    common.check_range("--batch-size", args.batch_size, 0, open_low=True)
    common.check_range("--chunk-s", args.chunk_s, 0.0, open_low=True)
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


def _plot_result(result, folder: str, highpass_hz: float) -> str | None:
    """Draw one result's review figure into ``folder``; the one-line error when it fails."""
    from picker.io.base import one_line
    from picker.review.files import plot_result

    try:
        plot_result(result, folder, highpass_hz=highpass_hz)
    except (OSError, ValueError, RuntimeError) as exc:
        return f"{result.source} {result.station_id}: figure not written ({one_line(exc, 200)})"
    return None


def _predict_dask(args, selection: dict, options: dict, failures: common.FailureLog):
    """``predict --dask``: the selection's units on a Dask cluster → (picks, files done, results)."""
    from picker.config import ConfigError
    from picker.prediction.dask_backend import dask_client, predict_units, units_of

    if args.plot or args.probabilities:
        raise ConfigError("--dask writes picks only; drop --plot and --probabilities")
    units = units_of(selection)
    picks, failed, n_results = [], set(), 0
    npz_options = common.reader_options(args, "npz")
    with dask_client(args.dask or None) as client:
        common.log.info("%d unit(s) on Dask cluster %s", len(units), client.scheduler.address)
        found = predict_units(client, units, args.model, npz_options=npz_options, **options)
        with common.progress_bar(len(units), args.quiet, unit="unit") as bar:
            for result in found:
                bar.set_postfix_str(f"{result.path.name} {result.station or ''}", refresh=False)
                bar.update()
                picks.extend(result.picks)
                n_results += result.n_results
                if result.error:
                    failed.add(result.path)
                    failures.add(result.error)
    return picks, len(selection) - len(failed), n_results


def _predict_local(
    args, model, selection: dict, options: dict, failures: common.FailureLog, journal=None
):
    """The selection's files in this process → (picks, files done, stations/records done).

    A file found in ``journal`` (``--resume``) is not computed again; every file finished here is
    recorded in it (:func:`picker.prediction.files.run_files`).
    """
    import contextlib

    from picker.prediction import predict
    from picker.prediction.files import ProbabilityWriter, run_files

    n_results = 0
    highpass_hz = None
    if args.plot:
        from picker.review.files import model_highpass_hz

        highpass_hz = model_highpass_hz(model, options)
    with contextlib.ExitStack() as stack:
        progress = stack.enter_context(common.progress_bar(len(selection), args.quiet))
        writer = None
        if args.probabilities:
            writer = stack.enter_context(ProbabilityWriter(args.probabilities))

        def process(path, stations, picks: list) -> None:
            nonlocal n_results
            for result in predict.iter_file(
                path,
                model,
                stations=stations,
                npz_options=common.reader_options(args, "npz"),
                **options,
            ):
                picks.extend(result.picks)
                n_results += 1
                progress.set_postfix_str(f"{path.name} {result.station_id}", refresh=False)
                if writer is not None and result.is_stream:
                    writer.write(result)
                if args.plot and (problem := _plot_result(result, args.plot, highpass_hz)):
                    failures.add(problem)
                del result  # free its arrays before the next station or file is read

        run = run_files(
            selection,
            process,
            on_failure=lambda path, exc: failures.add(str(exc)),
            journal=journal,
            progress=progress,
        )
    return run.picks, run.n_files, n_results


def _cmd_predict(args: argparse.Namespace) -> int:
    import contextlib

    from picker.config import ConfigError
    from picker.io.outputs import is_stdout, output_lock
    from picker.prediction import predict

    common.reuse_freed_memory()

    options = _predict_options(args)
    predict.check_options(**options)
    if args.int8:
        from picker.models.onnx_model import BUNDLED_INT8

        if args.model:
            raise ConfigError("--int8 picks the bundled model's int8 export; drop --model")
        args.model = str(BUNDLED_INT8)
    if args.resume and (args.dask is not None or args.probabilities):
        raise ConfigError("--resume works without --dask and --probabilities")
    if args.resume and is_stdout(args.output):
        raise ConfigError("--resume needs a picks file (-o picks.csv), not standard output")
    shard = _parse_shard(args.shard)
    failures = common.FailureLog(args.strict)
    inputs = common.input_paths(args.inputs, failures)
    _check_outputs(args, inputs)
    # a second run on the same output stops here (standard output: no lock, no journal)
    lock = contextlib.nullcontext() if is_stdout(args.output) else output_lock(args.output)
    with lock:
        return _predict_locked(args, options, shard, inputs, failures)


def _check_outputs(args: argparse.Namespace, inputs: list) -> None:
    """Refuse bad output paths before the model is loaded (see :mod:`picker.io.outputs`)."""
    from picker.io.outputs import check_output

    check_output(args.output, inputs=inputs, picks=True, force=args.force)
    if args.probabilities:
        from pathlib import Path

        from picker.io.outputs import OutputError, is_stdout

        if is_stdout(args.probabilities):
            raise OutputError("--probabilities writes miniSEED to a file; give a file name")
        check_output(args.probabilities, inputs=inputs, force=args.force, option="--probabilities")
        if Path(args.probabilities).absolute() == Path(args.output).absolute():
            raise OutputError(f"{args.output}: -o and --probabilities name the same file")
    if args.plot:
        check_output(args.plot, folder=True, option="--plot")


def _predict_locked(args, options: dict, shard, inputs: list, failures: common.FailureLog) -> int:
    """The run, holding the output's lock: the model, the work, the picks file."""
    from picker.io.groups import group_components
    from picker.io.outputs import OutputError, is_stdout
    from picker.picks.formats import write_picks
    from picker.picks.pick import pick_sort_key
    from picker.prediction import files as predict_files
    from picker.prediction.journal import Journal

    model = common.load_model_option(args.model)
    # one file per component (SDS day files, SAC): a station's files are read together
    station_ids: dict = {}  # from the grouping's header read, so --shard reads them once
    paths = group_components(inputs, station_ids)
    if shard is None:
        selection = dict.fromkeys(paths)
    else:
        units = predict_files.list_units(paths, station_ids)
        selection = predict_files.select_shard(units, *shard)
        common.log.info(
            "shard %d/%d: %d of %d file(s)", shard[0], shard[1], len(selection), len(paths)
        )
    journal = None
    if args.dask is not None:
        picks, n_files, n_results = _predict_dask(args, selection, options, failures)
    elif is_stdout(args.output):
        picks, n_files, n_results = _predict_local(args, model, selection, options, failures)
    else:
        try:
            journal = Journal(args.output, _settings(args, options), resume=args.resume)
        except OSError as exc:
            raise OutputError(f"{args.output}: cannot write the progress journal ({exc})") from None
        try:
            picks, n_files, n_results = _predict_local(
                args, model, selection, options, failures, journal
            )
        finally:
            journal.close()
    picks.sort(key=pick_sort_key)
    try:
        write_picks(picks, args.output, args.format)
    except OSError as exc:
        raise OutputError(f"{args.output}: picks not written ({exc})") from None
    common.log.info(
        "wrote %d pick(s) from %d station(s)/record(s) to %s",
        len(picks),
        n_results,
        "standard output" if is_stdout(args.output) else args.output,
    )
    if journal is not None and not failures.failures:
        journal.close(remove=True)  # all done: nothing to resume
    return failures.summary(n_files, "file(s)")


def _settings(args: argparse.Namespace, options: dict) -> str:
    """Fingerprint of what changes an input's picks: the model file, options, NPZ reading."""
    from pathlib import Path

    from picker.prediction.journal import settings_fingerprint

    model = None
    if args.model:
        stat = Path(args.model).stat()
        model = [str(Path(args.model).resolve()), stat.st_size, stat.st_mtime_ns]
    return settings_fingerprint(
        {"model": model, "options": options, "npz": common.reader_options(args, "npz")}
    )
