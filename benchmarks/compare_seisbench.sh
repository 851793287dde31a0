#!/usr/bin/env bash
# picker vs SeisBench PhaseNet on the same continuous miniSEED, alternating whole-process runs.
#
#   benchmarks/compare_seisbench.sh [--setup-only] [--days 7] [--hours 24] [--repeat 3]
#       [--workdir DIR] [--model PATH.onnx|PATH.keras] [--threshold T] [--paths FILE ...] [--json OUT]
#       [--pretrained DIR] [--compare MODEL ...]
#
# 1. Makes the SeisBench environment unless it is already there: a venv at $SEISBENCH_VENV
#    (default benchmarks/.seisbench-venv) made with $BASE_PYTHON (default python3.11, the
#    Python of the local CPU torch wheel), then `pip install torch==$TORCH_VERSION` (default
#    2.13.0, the local CPU build) FIRST, then seisbench with torch pinned by a constraints file,
#    so pip can never swap in a CUDA torch. It checks that torch is $TORCH_VERSION, a CPU build
#    (torch.version.cuda is None) and that no nvidia-* package got in. $SEISBENCH_VERSION pins
#    seisbench (default: the newest that accepts the pinned torch).
# 2. Runs benchmarks/compare_seisbench_runs.py with the project's Python ($PICKER_PYTHON,
#    default .venv/bin/python) and every other argument: one station-day and the --days archive
#    (files made as by continuous_day.py; share --workdir with it to reuse them) through
#    benchmarks/seisbench_phasenet.py (PhaseNet.classify, untrained weights, default overlap)
#    and through `picker predict`, alternating, --repeat times each; prints the medians (wall,
#    CPU, peak RSS) and the ratios picker / SeisBench as Markdown tables. --pretrained DIR adds
#    `picker predict --model` with the published PhaseNet (DIR/phasenet/, imported once with
#    `picker import-model --onnx` into WORKDIR/imported) to every round: the same network as
#    SeisBench's, so that ratio compares the two runtimes on the same work.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
venv=${SEISBENCH_VENV:-$here/.seisbench-venv}
base_python=${BASE_PYTHON:-python3.11}
picker_python=${PICKER_PYTHON:-$root/.venv/bin/python}
torch_version=${TORCH_VERSION:-2.13.0}
seisbench_spec=seisbench${SEISBENCH_VERSION:+==$SEISBENCH_VERSION}

die() {
    echo "compare_seisbench.sh: $*" >&2
    exit 1
}

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'
}

check_venv() {
    local py=$venv/bin/python version
    version=$("$py" -c 'import torch; print(torch.__version__)' 2>/dev/null) || return 1
    [[ $version == "$torch_version" || $version == "$torch_version+"* ]] ||
        die "$venv has torch $version, expected $torch_version (remove the venv to rebuild it)"
    "$py" -c 'import sys, torch; sys.exit(torch.version.cuda is not None)' ||
        die "$venv has a CUDA build of torch; remove the venv to rebuild it"
    if "$py" -m pip list --format=freeze 2>/dev/null | grep -i '^nvidia'; then
        die "$venv holds nvidia packages (above): a CUDA torch got in; remove the venv"
    fi
    "$py" -c 'import seisbench, obspy' 2>/dev/null || return 1
}

setup_venv() {
    echo "making the SeisBench environment in $venv" >&2
    "$base_python" -m venv "$venv"
    printf '*\n' >"$venv/.gitignore" # never committed
    local py=$venv/bin/python constraints
    "$py" -m pip install --quiet "torch==$torch_version"
    constraints=$(mktemp)
    printf 'torch==%s\n' "$torch_version" >"$constraints"
    "$py" -m pip install --quiet -c "$constraints" "$seisbench_spec" ||
        die "no $seisbench_spec accepts torch $torch_version: set SEISBENCH_VERSION to an older one"
    rm -f "$constraints"
}

setup_only=0
if [[ ${1:-} == "-h" || ${1:-} == "--help" ]]; then
    usage
    exec "$picker_python" "$here/compare_seisbench_runs.py" --help
fi
if [[ ${1:-} == "--setup-only" ]]; then
    setup_only=1
    shift
fi

[[ -x $picker_python ]] || die "$picker_python not found: run 'make test' or set PICKER_PYTHON"
if ! { [[ -x $venv/bin/python ]] && check_venv; }; then
    setup_venv
    check_venv || die "the SeisBench environment in $venv does not work"
fi
"$venv/bin/python" -c 'import torch, seisbench; print(f"torch {torch.__version__}, seisbench {seisbench.__version__}, {torch.get_num_threads()} threads")' >&2
if ((setup_only)); then
    exit 0
fi
cd "$root"
exec "$picker_python" "$here/compare_seisbench_runs.py" --seisbench-python "$venv/bin/python" "$@"
