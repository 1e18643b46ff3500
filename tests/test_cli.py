"""The ``gridgeo`` command: help, ``sample`` then ``validate``, and exit statuses.

``gridgeo run`` on real data is covered by the maintainer's end-to-end checks, not here.
"""

from __future__ import annotations

import subprocess
import sys

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
from geopandas.testing import assert_geodataframe_equal

from gridgeo import __version__
from gridgeo.cli import main

COMMANDS = ("run", "validate", "sample", "codes")


def _listed(help_text: str) -> set[str]:
    """Commands named at the start of a line of the help's command list."""
    return {
        line.split()[0]
        for line in help_text.splitlines()
        if line.startswith("    ") and line.split()
    }


def test_help_lists_the_commands(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    assert set(COMMANDS) <= _listed(capsys.readouterr().out)


def test_python_m_gridgeo_help():
    proc = subprocess.run(
        [sys.executable, "-m", "gridgeo", "--help"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: gridgeo")
    assert set(COMMANDS) <= _listed(proc.stdout)


def test_python_m_gridgeo_error_is_one_line_and_exit_2(tmp_path):
    # The whole process, not only main(): no traceback reaches the user.
    missing = tmp_path / "district.toml"
    proc = subprocess.run(
        [sys.executable, "-m", "gridgeo", "validate", str(missing)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        "gridgeo validate: error: input problem:",
        f"  {missing}: config file not found",
    ]


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0 and capsys.readouterr().out.strip() == f"gridgeo {__version__}"


def test_no_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2 and "usage: gridgeo" in capsys.readouterr().err


def test_validate_without_inputs(capsys):
    assert main(["validate"]) == 2
    err = capsys.readouterr().err
    assert "give a config file or --communities and --buildings" in err and "Traceback" not in err


@pytest.fixture(scope="module")
def sample_dir(tmp_path_factory):
    """The folder ``gridgeo sample --out`` wrote (run once for this module)."""
    out = tmp_path_factory.mktemp("sample")
    assert main(["sample", "--out", str(out)]) == 0
    return out


def test_sample_writes_geopackage_and_config(sample_dir, sample_layers):
    assert sorted(p.name for p in sample_dir.iterdir()) == [
        "qingdao_sample.gpkg",
        "qingdao_sample.toml",
    ]
    gpkg = sample_dir / "qingdao_sample.gpkg"
    assert sorted(pyogrio.list_layers(gpkg)[:, 0]) == sorted(sample_layers)
    # What was written is the seed-0 sample the library generates.
    for name in ("communities", "buildings"):
        assert_geodataframe_equal(
            pyogrio.read_dataframe(gpkg, layer=name),
            sample_layers[name],
            check_dtype=False,
            check_less_precise=True,
        )


def test_validate_sample_prints_total_and_no_findings(sample_dir, sample_layers, capsys):
    capsys.readouterr()
    assert main(["validate", str(sample_dir / "qingdao_sample.toml")]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    total = [line for line in out.splitlines() if line.lstrip().startswith("TOTAL")]
    assert len(total) == 1
    bld = sample_layers["buildings"]
    n_com = len(sample_layers["communities"])
    fields = total[0].split()
    assert (
        f"{n_com}" in fields
        and str(len(bld)) in fields
        and str(int(bld["households"].sum())) in fields
    )
    assert "findings: none" in out


def test_validate_out_writes_summary_and_findings(sample_dir, sample_layers, tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["validate", str(sample_dir / "qingdao_sample.toml"), "--out", str(out)]) == 0
    summary = pd.read_csv(out / "summary.csv", dtype={"community_code": str})
    assert summary["community_code"].iloc[-1] == "TOTAL"
    assert summary["households"].iloc[-1] == sample_layers["buildings"]["households"].sum()
    assert len(gpd.read_file(out / "findings.gpkg", layer="findings")) == 0


def test_validate_layers_given_as_file_colon_layer(sample_dir, capsys):
    gpkg = sample_dir / "qingdao_sample.gpkg"
    argv = ["validate", "--communities", f"{gpkg}:communities", "--buildings", f"{gpkg}:buildings"]
    assert main(argv) == 0
    assert "TOTAL" in capsys.readouterr().out


def test_validate_out_that_is_a_file_exits_2(sample_dir, tmp_path, capsys):
    blocker = tmp_path / "report"
    blocker.write_text("not a folder")
    assert main(["validate", str(sample_dir / "qingdao_sample.toml"), "--out", str(blocker)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gridgeo validate: error:") and "Traceback" not in err
