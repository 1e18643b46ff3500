"""notebooks/boards_sample.ipynb runs top to bottom (a few boards, to keep the suite quick)."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient
from pypdf import PdfReader

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "boards_sample.ipynb"


def test_boards_notebook_runs(tmp_path):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    params = nb.cells[1]
    assert "GRID_LIMIT = None" in params.source
    params.source = params.source.replace("GRID_LIMIT = None", "GRID_LIMIT = 2")
    NotebookClient(
        nb, kernel_name="python3", timeout=300, resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    out = tmp_path / "boards_out"
    pdf = out / "boards_370203026_A4.pdf"
    assert pdf.exists() and len(PdfReader(pdf).pages) == 4
    assert len(list(out.glob("*_board.png"))) == 2 and (out / "map.html").exists()
    text = "\n".join(
        o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs
    )
    assert "boards of street 370203026" in text
