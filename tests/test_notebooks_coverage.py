"""notebooks/audit_sample.ipynb runs top to bottom: it damages the sample's grids and audits them."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "audit_sample.ipynb"


def test_audit_notebook_runs(tmp_path):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        nb, kernel_name="python3", timeout=300, resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    out = tmp_path / "audit_out"
    assert (
        (out / "audit.gpkg").exists()
        and (out / "audit.md").exists()
        and (out / "audit_map.png").exists()
    )
    text = "\n".join(
        o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs
    )
    for defect in ("gap", "overlap", "straddle", "oversize", "code_invalid"):
        assert f"{defect}" in text
    assert "corrected: PROVED" in text
