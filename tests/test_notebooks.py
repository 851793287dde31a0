"""The notebooks run from top to bottom (on small data) and are stored without outputs."""

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_there_are_three_notebooks():
    assert [p.name for p in NOTEBOOKS] == [
        "01_quickstart.ipynb",
        "02_train_your_own.ipynb",
        "03_continuous_day.ipynb",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stored_without_outputs(path):
    book = nbformat.read(path, as_version=4)
    for cell in book.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name} has outputs"


def run_notebook(path: Path):
    book = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        book, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    )
    client.execute()  # raises CellExecutionError with the failing cell's traceback
    return book


def printed(book) -> str:
    return "\n".join(
        output.get("text", "")
        for cell in book.cells
        if cell.cell_type == "code"
        for output in cell.outputs
    )


def images(book) -> int:
    """How many PNG images the executed notebook shows inline."""
    return sum(
        "image/png" in output.get("data", {})
        for cell in book.cells
        if cell.cell_type == "code"
        for output in cell.outputs
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_and_shows_its_figures_inline(path, monkeypatch):
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)  # as on a user's machine
    book = run_notebook(path)
    text = printed(book)
    assert "Traceback" not in text
    # no TensorFlow / CUDA start-up chatter (picker.quiet_tensorflow in the first cell)
    for chatter in ("cuInit", "oneDNN", "cuda drivers", "absl::InitializeLog"):
        assert chatter not in text, chatter
    # figures inline, not written to a temporary folder
    assert images(book) == {"01": 1, "02": 1, "03": 3}[path.name[:2]]
    assert "figure written to" not in text
    if path.name.startswith("01"):
        # the picks CSV names its source
        rows = [line.split(",") for line in text.splitlines() if ",BW.RJOB..EH," in line]
        assert len(rows) == 2 and all(row[0] == "rjob.mseed" for row in rows)
    if path.name.startswith("03"):
        # the score table's false picks per hour are a number (were nan without data_hours)
        table = [line for line in text.splitlines() if line.lstrip().startswith(("P ", "S "))]
        assert len(table) >= 2 and not any("nan" in line.split()[-1] for line in table), text
