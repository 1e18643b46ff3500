"""The map, staff and boards commands, end to end on one community of the sample."""

from __future__ import annotations

import pandas as pd
import pytest
from pypdf import PdfReader

from gridgeo.cli import main


@pytest.fixture(scope="module")
def files(first_community_files):
    folder, one, _roster = first_community_files("cli")
    return folder, one


def test_staff_then_boards_then_map(files, capsys):
    folder, one = files
    assert main(["staff", str(folder / "grids.gpkg"), "--roster", str(folder / "roster.csv"),
                 "--out", str(folder / "staff.csv"), "--time-limit", "1"]) == 0  # fmt: skip
    staff = pd.read_csv(folder / "staff.csv", dtype=str)
    assert set(staff.loc[staff["role"].isin(["leader", "full_time"]), "grid_code"]) == set(
        one["grid_code"]
    )

    street = one["community_code"].iloc[0][:9]
    assert main(["boards", str(folder / "grids.gpkg"), "--staff", str(folder / "staff.csv"), "--street", street,
                 "--out", str(folder / "boards"), "--paper", "A4", "--no-png"]) == 0  # fmt: skip
    text = "".join(
        p.extract_text() for p in PdfReader(folder / "boards" / f"boards_{street}_A4.pdf").pages
    )
    assert all(code in text for code in one["grid_code"]) and all(n in text for n in staff["name"])

    assert main(["map", str(folder / "grids.gpkg"), "--staff", str(folder / "staff.csv"),
                 "--out", str(folder / "map.html")]) == 0  # fmt: skip
    page = (folder / "map.html").read_text(encoding="utf-8")
    assert all(code in page for code in one["grid_code"])
    assert "map of" in capsys.readouterr().out


def test_errors_are_one_line_exit_2(files, capsys):
    folder, _ = files
    assert (
        main(
            [
                "staff",
                str(folder / "grids.gpkg"),
                "--roster",
                str(folder / "nope.csv"),
                "--out",
                str(folder / "s.csv"),
            ]
        )
        == 2
    )
    assert "roster file not found" in capsys.readouterr().err
    pd.DataFrame(
        {"worker_id": ["W1"], "name": ["张三"], "phone": ["138-0000-0001"], "kind": ["full_time"]}
    ).to_csv(folder / "short.csv", index=False)
    assert main(["staff", str(folder / "grids.gpkg"), "--roster", str(folder / "short.csv"),
                 "--out", str(folder / "s.csv"), "--time-limit", "1"]) == 2  # fmt: skip
    assert "full-time worker(s) short" in capsys.readouterr().err


def test_export_names_resolve_and_the_cli_starts_without_them():
    # Every public name of gridgeo.export resolves (loaded on first use), and building the
    # command line does not import folium or the PDF backend (every command would pay ~0.8 s).
    import subprocess
    import sys

    import gridgeo.export as export

    assert sorted(export.__all__) == sorted(export._HOME)
    for name in export.__all__:
        assert getattr(export, name).__name__ == name
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        export.nope  # noqa: B018
    code = (
        "import sys; from gridgeo.cli import build_parser; build_parser(); "
        "print(sorted(m for m in ('folium', 'matplotlib.backends.backend_pdf') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
