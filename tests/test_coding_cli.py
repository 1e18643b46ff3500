"""The ``gridgeo codes`` subcommand, driven through its own argparse parser."""

from __future__ import annotations

import argparse
import json

import geopandas as gpd
import pytest
from shapely.geometry import box

from gridgeo.coding import CodeRegistry
from gridgeo.coding._cli import register
from gridgeo.errors import GridgeoError


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="gridgeo")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def test_validate_exit_status(capsys):
    assert _run(["codes", "validate", "3702030260041003000"]) == 0
    assert _run(["codes", "validate", "3702030260041003000", "99020302600430000"]) == 1
    out = capsys.readouterr().out
    assert "99020302600430000: invalid" in out and "has 17 characters" in out


def test_parse_json(capsys):
    assert _run(["codes", "parse", "3702030260041003000", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["community_name"] == "阜康社区居委会" and data["serial"] == 3


def test_parse_invalid_raises_gridgeo_error():
    with pytest.raises(GridgeoError):
        _run(["codes", "parse", "123"])


def test_assign_history_and_recode(tmp_path, capsys):
    grids = gpd.GeoDataFrame(
        {
            "grid_id": ["a", "b"],
            "community_code": ["370282100201", "370282100201"],
            "grid_class": ["community", "community"],
            "households": [300, 400],
            "residents": [800, 1000],
        },
        geometry=[box(0, 0, 100, 100), box(200, 0, 300, 100)],
        crs="EPSG:4547",
    )
    src, out, reg = tmp_path / "grids.gpkg", tmp_path / "coded.gpkg", tmp_path / "reg.sqlite"
    grids.to_file(src)
    argv = ["codes", "assign", str(src), "--registry", str(reg), "--out", str(out)]
    assert _run([*argv, "--date", "2016-05-01"]) == 0
    coded = gpd.read_file(out)
    assert list(coded["grid_code"]) == ["3702821002011001000", "3702821002011002000"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # temp dir gone
    assert _run(["codes", "recode", "370282100201", "370215100201", "--registry", str(reg)]) == 0
    capsys.readouterr()
    assert _run(["codes", "history", "3702821002011001000", "--registry", str(reg)]) == 0
    text = capsys.readouterr().out
    assert "replaced by 3702151002011001000 (community_recoded)" in text
    with CodeRegistry(reg) as r:
        assert r.record("3702151002011001000").status == "active"


def test_history_missing_registry(tmp_path):
    with pytest.raises(GridgeoError):
        _run(["codes", "history", "3702030260041003000", "--registry", str(tmp_path / "x")])


def test_schemes_listed(capsys):
    assert _run(["codes", "schemes"]) == 0
    out = capsys.readouterr().out
    assert "gridgeo-19 (19 digits)" in out and "cjt-349-2010 (20 digits)" in out


def test_history_opens_the_registry_read_only(tmp_path):
    from gridgeo.errors import RegistryError

    grids_file = tmp_path / "input.gpkg"
    gpd.GeoDataFrame({"grid_id": ["a"]}, geometry=[box(0, 0, 1, 1)], crs="EPSG:4549").to_file(grids_file)
    before = grids_file.read_bytes()
    with pytest.raises(RegistryError, match="not a gridgeo code registry"):
        _run(["codes", "history", "3702821002011001000", "--registry", str(grids_file)])
    assert grids_file.read_bytes() == before


def test_assign_refuses_to_write_over_its_input(tmp_path):
    from gridgeo.errors import InputError

    grids_file = tmp_path / "grids.gpkg"
    gpd.GeoDataFrame({"grid_id": ["a"], "community_code": ["370282100201"]}, geometry=[box(0, 0, 1, 1)],
                     crs="EPSG:4549").to_file(grids_file)  # fmt: skip
    before = grids_file.read_bytes()
    for extra in (["--out", str(grids_file)], ["--out", str(tmp_path / "o.gpkg"), "--registry", str(grids_file)]):
        with pytest.raises(InputError, match="input file"):
            _run(["codes", "assign", str(grids_file), *extra])
    assert grids_file.read_bytes() == before
