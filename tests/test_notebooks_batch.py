"""notebooks/repartition_sample.ipynb runs top to bottom: a change in the sample, re-partitioned."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "repartition_sample.ipynb"


def test_repartition_notebook_runs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        nb,
        kernel_name="python3",
        timeout=300,
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    ).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = "\n".join(o.get("text", "") or o.get("data", {}).get("text/plain", "") for o in outputs)
    assert "unchanged communities identical: yes; coverage: PROVED" in text
    assert "code(s) retired" in text
    # The change map is shown and the lineage of the retired code is not empty.
    assert any("image/png" in o.get("data", {}) for o in outputs)
    assert "Empty DataFrame" not in text
