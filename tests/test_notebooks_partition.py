"""The partition notebook runs from top to bottom on the sample."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_partition_notebook_runs():
    path = ROOT / "notebooks" / "partition_sample.ipynb"
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = "".join(o.get("text", "") for o in outputs)
    assert "unflagged community grids in [300, 500]: 100%" in text


@pytest.mark.parametrize("name", ["partition_sample", "audit_sample", "repartition_sample", "boards_sample"])
def test_notebook_explains_in_chinese_and_english(name):
    """Every markdown cell of every notebook gives its Chinese and keeps the English beside it."""
    import re

    nb = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    cells = [c.source for c in nb.cells if c.cell_type == "markdown"]
    assert cells
    for text in cells:
        assert re.search(r"[\u4e00-\u9fff]", text), text
        # English beside it: a Latin word outside the code spans.
        assert re.search(r"[A-Za-z]{3,}", re.sub(r"`[^`]*`", "", text)), text
